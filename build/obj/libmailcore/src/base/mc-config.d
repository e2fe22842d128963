build/obj/libmailcore/src/base/mc-config.o: \
 libmailcore/src/base/mc-config.c \
 libmailcore/include/mailcore/mc-config.h \
 libmailcore/include/mailcore/mc-addr.h \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-pool.h \
 libmailcore/include/mailcore/mc-str.h
libmailcore/include/mailcore/mc-config.h:
libmailcore/include/mailcore/mc-addr.h:
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-pool.h:
libmailcore/include/mailcore/mc-str.h:
