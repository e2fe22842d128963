build/obj/tests/unit/test-str.o: tests/unit/test-str.c \
 libmailcore/include/mailcore/mc-pool.h \
 libmailcore/include/mailcore/mc-str.h
libmailcore/include/mailcore/mc-pool.h:
libmailcore/include/mailcore/mc-str.h:
