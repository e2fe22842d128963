build/obj/libmailcore/src/base/mc-pool.o: libmailcore/src/base/mc-pool.c \
 libmailcore/include/mailcore/mc-pool.h
libmailcore/include/mailcore/mc-pool.h:
