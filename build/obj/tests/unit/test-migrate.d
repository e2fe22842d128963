build/obj/tests/unit/test-migrate.o: tests/unit/test-migrate.c \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-migrate.h \
 libmailcore/include/mailcore/mc-pg.h /usr/include/postgresql/libpq-fe.h \
 /usr/include/postgresql/postgres_ext.h \
 /usr/include/postgresql/pg_config_ext.h \
 libmailcore/include/mailcore/mc-error.h
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-migrate.h:
libmailcore/include/mailcore/mc-pg.h:
/usr/include/postgresql/libpq-fe.h:
/usr/include/postgresql/postgres_ext.h:
/usr/include/postgresql/pg_config_ext.h:
libmailcore/include/mailcore/mc-error.h:
