build/obj/tests/unit/test-error.o: tests/unit/test-error.c \
 libmailcore/include/mailcore/mc-error.h
libmailcore/include/mailcore/mc-error.h:
