build/obj/libmailcore/src/base/mc-addr.o: libmailcore/src/base/mc-addr.c \
 libmailcore/include/mailcore/mc-addr.h \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-str.h
libmailcore/include/mailcore/mc-addr.h:
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-str.h:
