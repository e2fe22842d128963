build/obj/libmailcore/src/net/mc-tls.o: libmailcore/src/net/mc-tls.c \
 libmailcore/include/mailcore/mc-tls.h \
 libmailcore/include/mailcore/mc-error.h
libmailcore/include/mailcore/mc-tls.h:
libmailcore/include/mailcore/mc-error.h:
