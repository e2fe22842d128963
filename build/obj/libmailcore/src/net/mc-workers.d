build/obj/libmailcore/src/net/mc-workers.o: \
 libmailcore/src/net/mc-workers.c \
 libmailcore/include/mailcore/mc-workers.h \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-pool.h \
 libmailcore/include/mailcore/mc-server.h \
 libmailcore/include/mailcore/mc-addr.h
libmailcore/include/mailcore/mc-workers.h:
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-pool.h:
libmailcore/include/mailcore/mc-server.h:
libmailcore/include/mailcore/mc-addr.h:
