build/obj/tests/unit/test-workers.o: tests/unit/test-workers.c \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-server.h \
 libmailcore/include/mailcore/mc-addr.h \
 libmailcore/include/mailcore/mc-workers.h
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-server.h:
libmailcore/include/mailcore/mc-addr.h:
libmailcore/include/mailcore/mc-workers.h:
