build/obj/tenants/src/mc-tenants-names.o: tenants/src/mc-tenants-names.c \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-str.h \
 tenants/include/mailcore/mc-tenants.h
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-str.h:
tenants/include/mailcore/mc-tenants.h:
