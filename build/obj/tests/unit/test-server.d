build/obj/tests/unit/test-server.o: tests/unit/test-server.c \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-log.h \
 libmailcore/include/mailcore/mc-server.h \
 libmailcore/include/mailcore/mc-addr.h \
 libmailcore/include/mailcore/mc-tls.h
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-log.h:
libmailcore/include/mailcore/mc-server.h:
libmailcore/include/mailcore/mc-addr.h:
libmailcore/include/mailcore/mc-tls.h:
