build/obj/libmailcore/src/service/mc-service.o: \
 libmailcore/src/service/mc-service.c \
 libmailcore/include/mailcore/mc-config.h \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-log.h \
 libmailcore/include/mailcore/mc-pg.h /usr/include/postgresql/libpq-fe.h \
 /usr/include/postgresql/postgres_ext.h \
 /usr/include/postgresql/pg_config_ext.h \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-pool.h \
 libmailcore/include/mailcore/mc-redis.h /usr/include/hiredis/hiredis.h \
 /usr/include/hiredis/read.h /usr/include/hiredis/sds.h \
 /usr/include/hiredis/alloc.h libmailcore/include/mailcore/mc-service.h \
 libmailcore/include/mailcore/mc-server.h \
 libmailcore/include/mailcore/mc-addr.h \
 libmailcore/include/mailcore/mc-str.h \
 libmailcore/include/mailcore/mc-tls.h \
 libmailcore/include/mailcore/mc-workers.h
libmailcore/include/mailcore/mc-config.h:
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-log.h:
libmailcore/include/mailcore/mc-pg.h:
/usr/include/postgresql/libpq-fe.h:
/usr/include/postgresql/postgres_ext.h:
/usr/include/postgresql/pg_config_ext.h:
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-pool.h:
libmailcore/include/mailcore/mc-redis.h:
/usr/include/hiredis/hiredis.h:
/usr/include/hiredis/read.h:
/usr/include/hiredis/sds.h:
/usr/include/hiredis/alloc.h:
libmailcore/include/mailcore/mc-service.h:
libmailcore/include/mailcore/mc-server.h:
libmailcore/include/mailcore/mc-addr.h:
libmailcore/include/mailcore/mc-str.h:
libmailcore/include/mailcore/mc-tls.h:
libmailcore/include/mailcore/mc-workers.h:
