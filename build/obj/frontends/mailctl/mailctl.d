build/obj/frontends/mailctl/mailctl.o: frontends/mailctl/mailctl.c \
 libmailcore/include/mailcore/mc-config.h \
 libmailcore/include/mailcore/mc-log.h \
 libmailcore/include/mailcore/mc-pg.h /usr/include/postgresql/libpq-fe.h \
 /usr/include/postgresql/postgres_ext.h \
 /usr/include/postgresql/pg_config_ext.h \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-pool.h \
 libmailcore/include/mailcore/mc-service.h \
 libmailcore/include/mailcore/mc-server.h \
 libmailcore/include/mailcore/mc-addr.h frontends/mailctl/mailctl.h \
 libmailcore/include/mailcore/mc-error.h
libmailcore/include/mailcore/mc-config.h:
libmailcore/include/mailcore/mc-log.h:
libmailcore/include/mailcore/mc-pg.h:
/usr/include/postgresql/libpq-fe.h:
/usr/include/postgresql/postgres_ext.h:
/usr/include/postgresql/pg_config_ext.h:
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-pool.h:
libmailcore/include/mailcore/mc-service.h:
libmailcore/include/mailcore/mc-server.h:
libmailcore/include/mailcore/mc-addr.h:
frontends/mailctl/mailctl.h:
libmailcore/include/mailcore/mc-error.h:
