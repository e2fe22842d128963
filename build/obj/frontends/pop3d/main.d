build/obj/frontends/pop3d/main.o: frontends/pop3d/main.c \
 libmailcore/include/mailcore/mc-service.h \
 libmailcore/include/mailcore/mc-server.h \
 libmailcore/include/mailcore/mc-addr.h
libmailcore/include/mailcore/mc-service.h:
libmailcore/include/mailcore/mc-server.h:
libmailcore/include/mailcore/mc-addr.h:
