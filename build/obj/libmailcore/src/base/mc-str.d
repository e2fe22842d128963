build/obj/libmailcore/src/base/mc-str.o: libmailcore/src/base/mc-str.c \
 libmailcore/include/mailcore/mc-str.h \
 libmailcore/include/mailcore/mc-pool.h
libmailcore/include/mailcore/mc-str.h:
libmailcore/include/mailcore/mc-pool.h:
