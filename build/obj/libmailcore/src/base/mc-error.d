build/obj/libmailcore/src/base/mc-error.o: \
 libmailcore/src/base/mc-error.c libmailcore/include/mailcore/mc-error.h
libmailcore/include/mailcore/mc-error.h:
