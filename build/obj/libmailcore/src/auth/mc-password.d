build/obj/libmailcore/src/auth/mc-password.o: \
 libmailcore/src/auth/mc-password.c \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-password.h \
 libmailcore/include/mailcore/mc-pool.h
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-password.h:
libmailcore/include/mailcore/mc-pool.h:
