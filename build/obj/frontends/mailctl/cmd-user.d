build/obj/frontends/mailctl/cmd-user.o: frontends/mailctl/cmd-user.c \
 libmailcore/include/mailcore/mc-config.h \
 libmailcore/include/mailcore/mc-password.h \
 libmailcore/include/mailcore/mc-pool.h \
 tenants/include/mailcore/mc-tenants.h frontends/mailctl/mailctl.h \
 libmailcore/include/mailcore/mc-error.h
libmailcore/include/mailcore/mc-config.h:
libmailcore/include/mailcore/mc-password.h:
libmailcore/include/mailcore/mc-pool.h:
tenants/include/mailcore/mc-tenants.h:
frontends/mailctl/mailctl.h:
libmailcore/include/mailcore/mc-error.h:
