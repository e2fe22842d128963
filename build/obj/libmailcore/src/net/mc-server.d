build/obj/libmailcore/src/net/mc-server.o: \
 libmailcore/src/net/mc-server.c libmailcore/include/mailcore/mc-server.h \
 libmailcore/include/mailcore/mc-addr.h \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-log.h \
 libmailcore/include/mailcore/mc-pool.h
libmailcore/include/mailcore/mc-server.h:
libmailcore/include/mailcore/mc-addr.h:
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-log.h:
libmailcore/include/mailcore/mc-pool.h:
