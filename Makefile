# tproxyd - the entry point: make, make check, make demo, make bench,
# make install. ./configure runs by itself the first time (config.mk).
-include config.mk

PREFIX     ?= $(if $(prefix),$(prefix),/usr/local)
DESTDIR    ?=
BUILD      ?= build
SAN        ?=
OPT        ?= -O2
CFLAGS_ALL  = -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers -g $(OPT) $(SAN) \
              -Isrc -Imodules -I$(BUILD) $(DEP_CFLAGS) \
              -DTP_DEFAULT_CONF='"$(PREFIX:/usr=)/etc/tproxyd/tproxyd.conf"' \
              $(CFLAGS)
LDLIBS_ALL  = $(DEP_LIBS) $(LDFLAGS) $(SAN)

CORE_SRC   := $(filter-out src/main.c,$(wildcard src/*.c))
MOD_SRC    := $(wildcard modules/*.c)
UNIT_SRC   := $(wildcard t/unit/test_*.c)
CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/%.o) $(MOD_SRC:%.c=$(BUILD)/%.o) \
              $(BUILD)/modules_table.o
UNIT_OBJ   := $(UNIT_SRC:%.c=$(BUILD)/%.o) $(BUILD)/t/unit/run.o \
              $(BUILD)/suites_table.o

.PHONY: all check deps-test unit integration asan-check demo bench fuzz install \
        clean distclean

all: $(BUILD)/tproxyd tproxyd

config.mk: configure.ac config.mk.in
	contrib/install-deps.sh build
	aclocal && autoconf && ./configure

tproxyd: $(BUILD)/tproxyd
	@[ "$(BUILD)" = build ] && ln -sf $(BUILD)/tproxyd tproxyd || true

$(BUILD)/tproxyd: $(BUILD)/src/main.o $(CORE_OBJ)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/%.o: %.c config.mk $(wildcard src/*.h modules/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_ALL) -c -o $@ $<

# The static module table: every `const struct tp_module tp_mod_X` in
# modules/ (one list, written once, by the files themselves).
$(BUILD)/modules_table.c: $(MOD_SRC)
	@mkdir -p $(BUILD)
	@{ echo '#include "module.h"'; \
	  names=$$(sed -n 's/^const struct tp_module \(tp_mod_[a-z0-9_]*\) = .*/\1/p' $(MOD_SRC) | sort); \
	  for n in $$names; do echo "extern const struct tp_module $$n;"; done; \
	  echo 'const struct tp_module *const tp_modules[] = {'; \
	  for n in $$names; do echo "    &$$n,"; done; \
	  echo '};'; \
	  echo 'const size_t tp_modules_count = sizeof(tp_modules) / sizeof(tp_modules[0]);'; } > $@

$(BUILD)/suites_table.c: $(UNIT_SRC)
	@mkdir -p $(BUILD)
	@{ echo '#include <check.h>'; \
	  names=$$(for f in $(UNIT_SRC); do basename $$f .c | sed 's/^test_//'; done); \
	  for n in $$names; do echo "Suite *suite_$$n(void);"; done; \
	  echo 'Suite *(*const tp_suites[])(void) = {'; \
	  for n in $$names; do echo "    suite_$$n,"; done; \
	  echo '    0 };'; } > $@

$(BUILD)/modules_table.o: $(BUILD)/modules_table.c
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/suites_table.o: $(BUILD)/suites_table.c
	$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -c -o $@ $<

$(BUILD)/t/unit/%.o: t/unit/%.c config.mk $(wildcard src/*.h modules/*.h t/unit/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -c -o $@ $<

$(BUILD)/unit-tests: $(UNIT_OBJ) $(CORE_OBJ)
	$(CC) -o $@ $^ $(CHECK_LIBS) $(LDLIBS_ALL)

# make check: unit tests, then the integration tests (root + netns).
check: deps-test all unit integration

deps-test:
	contrib/install-deps.sh build test

unit: $(BUILD)/unit-tests
	cd t/unit && CK_FORK=$${CK_FORK:-yes} ../../$(BUILD)/unit-tests

integration: all
	t/integration/run.sh

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan-check:
	$(MAKE) BUILD=build-asan OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    build-asan/unit-tests
	cd t/unit && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    CK_FORK=no ../../build-asan/unit-tests

fuzz:
	contrib/install-deps.sh fuzz
	t/fuzz/run.sh $${FUZZ_SECONDS:-30}

demo: deps-test all
	contrib/demo.sh

bench: all
	contrib/install-deps.sh bench
	bench/run.sh

install: all
	install -D -m 0755 $(BUILD)/tproxyd $(DESTDIR)$(PREFIX)/sbin/tproxyd
	install -D -m 0644 man/tproxyd.8 $(DESTDIR)$(PREFIX)/share/man/man8/tproxyd.8
	install -D -m 0644 man/tproxyd.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/tproxyd.conf.5
	install -D -m 0755 contrib/tproxyd-rules $(DESTDIR)$(PREFIX)/sbin/tproxyd-rules
	install -d $(DESTDIR)$(PREFIX)/share/doc/tproxyd/examples
	install -m 0644 conf/examples/*.conf contrib/tproxyd.service \
	    contrib/tproxyd.init contrib/tproxyd.openrc contrib/tproxyd.logrotate \
	    $(DESTDIR)$(PREFIX)/share/doc/tproxyd/examples/
	[ -e $(DESTDIR)$(PREFIX:/usr=)/etc/tproxyd/tproxyd.conf ] || \
	    install -D -m 0644 conf/tproxyd.conf $(DESTDIR)$(PREFIX:/usr=)/etc/tproxyd/tproxyd.conf

clean:
	rm -rf build build-asan build-fuzz tproxyd

distclean: clean
	rm -rf config.mk config.log config.status configure autom4te.cache
