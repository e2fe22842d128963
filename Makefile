# mailcore: the one entry point.
#   make            build libmailcore (.a, .so, .pc), the frontends and the tests
#   make deps       install the Debian packages the project needs (idempotent)
#   make test       unit + integration tests against a private stack; ends "N passed, N failed"
#   make run        dev stack + demo tenant + every frontend on loopback, until Ctrl-C
#   make SAN=1      the same with ASan + UBSan
#   make install PREFIX=/usr/local DESTDIR=

PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0
SAN     ?= 0
B       := $(if $(filter 1,$(SAN)),build-san,build)
export MAILCORE_STATE ?= $(CURDIR)/var

PKGS    := libevent libevent_openssl libevent_pthreads openssl libpq hiredis inih jansson libcrypt libargon2 zlib \
           libunbound opendkim libcurl libpsl libclamav libpcre2-8
# libspf2 and libmagic ship no .pc file
NOPC_LIBS := -lspf2 -lmagic -lm
CC      ?= gcc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -fPIC -pthread \
           -Ilibmailcore/include -Itenants/include -Iapi/include
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
DEPCFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
DEPLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(NOPC_LIBS)
CFLAGS  += $(DEPCFLAGS) -MMD -MP

LIB_SRC  := $(sort $(wildcard libmailcore/src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/obj/%.o)
TEN_SRC  := $(sort $(wildcard tenants/src/*.c))
TEN_OBJ  := $(TEN_SRC:%.c=$(B)/obj/%.o)
API_SRC  := $(sort $(wildcard api/src/*.c))
API_OBJ  := $(API_SRC:%.c=$(B)/obj/%.o)
# CivetWeb (no .pc file) and libcsv: only mc-webd and the tenants library.
WEBLIBS  := -lcivetweb -ldl
CSVLIBS  := -lcsv
SCHEMA   := $(sort $(wildcard schema/[0-9][0-9][0-9][0-9]_*.sql))
SCHEMA_C := $(B)/gen/mc-schema-data.c
SCHEMA_O := $(B)/obj/gen/mc-schema-data.o

FRONTENDS := mc-smtpd mc-imapd mc-pop3d mc-deliverd mc-webd mailctl
BINS      := $(FRONTENDS:%=$(B)/bin/%)
UNIT_SRC  := $(sort $(wildcard tests/unit/test-*.c))
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

.PHONY: all build deps test unit run bench install clean stack-start stack-stop stack-status fmt
# The packages first, then the build (a sub-make, so -j never races them).
all: deps
	@$(MAKE) --no-print-directory build

build: $(B)/lib/libmailcore.a $(B)/lib/libmailcore.so $(B)/lib/mailcore.pc $(BINS) $(UNIT_BINS) \
       $(B)/lib/mailcore/libssl.so

deps:
	@ops/deps.sh

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(SCHEMA_C): $(SCHEMA) ops/embed-schema.sh
	@mkdir -p $(@D)
	@echo "  GEN     $@"
	@ops/embed-schema.sh $(SCHEMA) > $@.tmp && mv $@.tmp $@

$(SCHEMA_O): $(SCHEMA_C)
	@mkdir -p $(@D)
	@$(CC) $(CFLAGS) -c $< -o $@

$(B)/lib/libmailcore.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	@echo "  AR      $@"
	@rm -f $@ && ar rcs $@ $^

$(B)/lib/libmailcore.so: $(LIB_OBJ)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) -shared -Wl,-soname,libmailcore.so.0 $(LDFLAGS) -o $@ $^ $(DEPLIBS)

$(B)/lib/libmctenants.a: $(TEN_OBJ) $(SCHEMA_O)
	@mkdir -p $(@D)
	@echo "  AR      $@"
	@rm -f $@ && ar rcs $@ $^

$(B)/lib/mailcore.pc: ops/mailcore.pc.in Makefile
	@mkdir -p $(@D)
	@sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@REQUIRES@|$(PKGS)|g' -e 's|@LIBS_PRIVATE@|$(NOPC_LIBS)|g' $< > $@

$(B)/lib/libmcapi.a: $(API_OBJ)
	@mkdir -p $(@D)
	@echo "  AR      $@"
	@rm -f $@ && ar rcs $@ $^

# CivetWeb loads OpenSSL with dlopen("libssl.so") and wants the 1.1 API's
# SSL_get_peer_certificate, which OpenSSL 3 only has as a macro. mc-webd
# loads this shim (named libssl.so, linked to the real libssl) first, so
# CivetWeb's dlopen finds it (frontends/webd/sslshim/README).
$(B)/lib/mailcore/libssl.so: frontends/webd/sslshim/shim.c
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) -shared -fPIC -O2 -Wall -Wextra -Werror -Wl,-soname,libssl.so \
	    -o $@ $< -Wl,--no-as-needed -lssl -lcrypto

# Each frontend is the files of its directory linked against the static
# libraries; $(3) are its extra libraries.
define frontend
$(B)/bin/$(1): $$(patsubst %.c,$(B)/obj/%.o,$$(wildcard frontends/$(2)/*.c)) $(4) $(B)/lib/libmctenants.a $(B)/lib/libmailcore.a
	@mkdir -p $$(@D)
	@echo "  LD      $$@"
	@$$(CC) $$(LDFLAGS) -pthread -o $$@ $$^ $$(DEPLIBS) $(3)
endef
$(eval $(call frontend,mc-smtpd,smtpd))
$(eval $(call frontend,mc-imapd,imapd))
$(eval $(call frontend,mc-pop3d,pop3d))
$(eval $(call frontend,mc-deliverd,deliverd))
$(eval $(call frontend,mc-webd,webd,$(WEBLIBS) $(CSVLIBS),$(B)/lib/libmcapi.a))
$(eval $(call frontend,mailctl,mailctl,$(CSVLIBS)))

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(B)/obj/tests/unit/mc-test.o $(B)/lib/libmcapi.a $(B)/lib/libmctenants.a $(B)/lib/libmailcore.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -pthread -o $@ $^ $(DEPLIBS) $(CSVLIBS) $(WEBLIBS) -lcmocka

unit: all
	@tests/run-unit.sh $(B)/tests $(B)/results && tests/summary.py $(B)/results

test: all
	@B=$(B) ops/test.sh

run: all
	@ops/run.sh

# make bench [BENCHES="ingest imap-load imap-idle"]: every benchmark runs
# even when one fails; the target fails if any did (tests/bench/README.md).
BENCHES ?= ingest imap-load imap-idle deliver filters
bench: all
	@rc=0; for b in $(BENCHES); do tests/bench/$$b.sh || rc=1; done; exit $$rc

stack-start stack-stop stack-status:
	@ops/stack.sh $(@:stack-%=%)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/include/mailcore $(DESTDIR)$(PREFIX)/share/mailcore/schema
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/lib/mailcore
	install -m 755 $(B)/lib/mailcore/libssl.so $(DESTDIR)$(PREFIX)/lib/mailcore/
	install -m 644 $(B)/lib/libmailcore.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/lib/libmailcore.so $(DESTDIR)$(PREFIX)/lib/libmailcore.so.$(VERSION)
	ln -sf libmailcore.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libmailcore.so.0
	ln -sf libmailcore.so.0 $(DESTDIR)$(PREFIX)/lib/libmailcore.so
	install -m 644 $(B)/lib/mailcore.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 644 libmailcore/include/mailcore/*.h $(DESTDIR)$(PREFIX)/include/mailcore/
	install -m 644 $(SCHEMA) $(DESTDIR)$(PREFIX)/share/mailcore/schema/

fmt:
	clang-format -i $(LIB_SRC) $(TEN_SRC) $(API_SRC) libmailcore/include/mailcore/*.h \
	    tenants/include/mailcore/*.h frontends/*/*.c tests/unit/*.c

clean:
	rm -rf build build-san

.SECONDARY:
-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
