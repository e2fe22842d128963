build/obj/tests/unit/test-config.o: tests/unit/test-config.c \
 libmailcore/include/mailcore/mc-config.h \
 libmailcore/include/mailcore/mc-error.h
libmailcore/include/mailcore/mc-config.h:
libmailcore/include/mailcore/mc-error.h:
