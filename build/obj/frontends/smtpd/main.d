build/obj/frontends/smtpd/main.o: frontends/smtpd/main.c \
 libmailcore/include/mailcore/mc-config.h \
 libmailcore/include/mailcore/mc-service.h \
 libmailcore/include/mailcore/mc-server.h \
 libmailcore/include/mailcore/mc-addr.h
libmailcore/include/mailcore/mc-config.h:
libmailcore/include/mailcore/mc-service.h:
libmailcore/include/mailcore/mc-server.h:
libmailcore/include/mailcore/mc-addr.h:
