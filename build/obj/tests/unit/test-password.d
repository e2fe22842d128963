build/obj/tests/unit/test-password.o: tests/unit/test-password.c \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-password.h
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-password.h:
