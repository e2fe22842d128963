build/obj/frontends/mailctl/cmd-db.o: frontends/mailctl/cmd-db.c \
 libmailcore/include/mailcore/mc-migrate.h \
 tenants/include/mailcore/mc-schema.h frontends/mailctl/mailctl.h \
 libmailcore/include/mailcore/mc-error.h
libmailcore/include/mailcore/mc-migrate.h:
tenants/include/mailcore/mc-schema.h:
frontends/mailctl/mailctl.h:
libmailcore/include/mailcore/mc-error.h:
