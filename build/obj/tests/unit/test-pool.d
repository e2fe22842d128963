build/obj/tests/unit/test-pool.o: tests/unit/test-pool.c \
 libmailcore/include/mailcore/mc-pool.h
libmailcore/include/mailcore/mc-pool.h:
