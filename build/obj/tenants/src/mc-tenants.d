build/obj/tenants/src/mc-tenants.o: tenants/src/mc-tenants.c \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-pg.h /usr/include/postgresql/libpq-fe.h \
 /usr/include/postgresql/postgres_ext.h \
 /usr/include/postgresql/pg_config_ext.h \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-pool.h \
 libmailcore/include/mailcore/mc-str.h \
 tenants/include/mailcore/mc-tenants.h
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-pg.h:
/usr/include/postgresql/libpq-fe.h:
/usr/include/postgresql/postgres_ext.h:
/usr/include/postgresql/pg_config_ext.h:
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-pool.h:
libmailcore/include/mailcore/mc-str.h:
tenants/include/mailcore/mc-tenants.h:
