build/obj/frontends/imapd/main.o: frontends/imapd/main.c \
 libmailcore/include/mailcore/mc-service.h \
 libmailcore/include/mailcore/mc-server.h \
 libmailcore/include/mailcore/mc-addr.h
libmailcore/include/mailcore/mc-service.h:
libmailcore/include/mailcore/mc-server.h:
libmailcore/include/mailcore/mc-addr.h:
