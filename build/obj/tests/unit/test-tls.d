build/obj/tests/unit/test-tls.o: tests/unit/test-tls.c \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-tls.h
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-tls.h:
