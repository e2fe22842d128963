build/obj/tests/unit/test-log.o: tests/unit/test-log.c \
 libmailcore/include/mailcore/mc-log.h
libmailcore/include/mailcore/mc-log.h:
