build/obj/tests/unit/test-addr.o: tests/unit/test-addr.c \
 libmailcore/include/mailcore/mc-addr.h \
 libmailcore/include/mailcore/mc-error.h
libmailcore/include/mailcore/mc-addr.h:
libmailcore/include/mailcore/mc-error.h:
