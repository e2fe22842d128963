build/obj/tests/unit/test-redis.o: tests/unit/test-redis.c \
 libmailcore/include/mailcore/mc-error.h \
 libmailcore/include/mailcore/mc-redis.h /usr/include/hiredis/hiredis.h \
 /usr/include/hiredis/read.h /usr/include/hiredis/sds.h \
 /usr/include/hiredis/alloc.h
libmailcore/include/mailcore/mc-error.h:
libmailcore/include/mailcore/mc-redis.h:
/usr/include/hiredis/hiredis.h:
/usr/include/hiredis/read.h:
/usr/include/hiredis/sds.h:
/usr/include/hiredis/alloc.h:
