build/obj/tests/unit/test-tenants.o: tests/unit/test-tenants.c \
 libmailcore/include/mailcore/mc-error.h \
 tenants/include/mailcore/mc-tenants.h
libmailcore/include/mailcore/mc-error.h:
tenants/include/mailcore/mc-tenants.h:
