build/obj/libmailcore/src/base/mc-log.o: libmailcore/src/base/mc-log.c \
 libmailcore/include/mailcore/mc-log.h \
 libmailcore/include/mailcore/mc-str.h
libmailcore/include/mailcore/mc-log.h:
libmailcore/include/mailcore/mc-str.h:
