build/obj/frontends/mailctl/cmd-tenant.o: frontends/mailctl/cmd-tenant.c \
 tenants/include/mailcore/mc-tenants.h frontends/mailctl/mailctl.h \
 libmailcore/include/mailcore/mc-error.h
tenants/include/mailcore/mc-tenants.h:
frontends/mailctl/mailctl.h:
libmailcore/include/mailcore/mc-error.h:
