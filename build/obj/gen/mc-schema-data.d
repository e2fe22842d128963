build/obj/gen/mc-schema-data.o: build/gen/mc-schema-data.c \
 tenants/include/mailcore/mc-schema.h \
 libmailcore/include/mailcore/mc-migrate.h
tenants/include/mailcore/mc-schema.h:
libmailcore/include/mailcore/mc-migrate.h:
