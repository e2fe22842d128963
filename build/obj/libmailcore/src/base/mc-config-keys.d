build/obj/libmailcore/src/base/mc-config-keys.o: \
 libmailcore/src/base/mc-config-keys.c \
 libmailcore/include/mailcore/mc-config.h
libmailcore/include/mailcore/mc-config.h:
