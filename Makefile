# cport - build, test, install. `make run` and `make test` are the two commands.
PREFIX ?= /usr/local
# Where the libraries and their .pc files go (debian/rules: the multiarch directory).
LIBDIR ?= $(PREFIX)/lib
# Where the systemd units go (debian/rules: Debian 12's /lib/systemd/system).
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
# Tests use Debian's python3 and its python3-* packages, whatever python3 comes first in PATH.
export PATH := /usr/bin:$(PATH)
DESTDIR ?=
CC ?= cc
OBJCOPY ?= objcopy
SANITIZE ?=
TSAN ?=

ifeq ($(TSAN),1)
B := build-tsan
SANFLAGS := -fsanitize=thread -O1 -g
else ifeq ($(SANITIZE),1)
B := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -O1 -g
else
# The release build optimises at link time: the library's calls from file to
# file (ops, gate, backend, pool, queue) and cport-echo's into the library
# inline, for 11 % fewer user-space instructions a message (docs/performance.md,
# "Kept: link-time optimisation"). Its objects are fat: plain code beside GCC's
# link-time code, so the links that do not ask for it (tests, the Win32 shim)
# work as before; `make install` strips the link-time code from the libcport.a
# it installs, as Debian's dh_strip does, for another compiler or GCC cannot
# read it. `make LTO=` builds without, in build-nolto/.
LTO ?= 1
B := build$(if $(LTO),,-nolto)
SANFLAGS := -O2 -g
LTOFLAGS := $(if $(LTO),-flto=auto -ffat-lto-objects)
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS_ALL := -std=gnu11 $(WARN) $(SANFLAGS) -D_GNU_SOURCE -Iinclude $(CPPFLAGS) $(CFLAGS)
LDLIBS_ALL := -luring -lpthread $(LDLIBS)

LIB_SRC := $(wildcard src/*.c)
LIB_OBJ := $(LIB_SRC:src/%.c=$(B)/obj/lib/%.o)
# The library tests link a build with test-only fault-injection points (src/fault.h).
FAULT_OBJ := $(LIB_SRC:src/%.c=$(B)/obj/lib-faults/%.o)
ECHO_SRC := $(wildcard apps/echo/*.c)
BENCH_SRC := $(wildcard apps/bench/*.c)
TEST_SRC := $(wildcard tests/lib/*.c)
TEST_HELPERS := $(wildcard tests/helpers/*.c)
COMPAT_TESTS := $(wildcard tests/compat/*.c)

PROGS := $(B)/cport-echo $(if $(BENCH_SRC),$(B)/cport-bench)

.PHONY: all run test test-lib test-echo test-sanitize test-tsan deps deps-test install clean bench
all: $(B)/libcport.a $(B)/libcport.so $(PROGS)

$(B)/obj/lib/%.o: src/%.c include/cport.h $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LTOFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

$(B)/obj/lib-faults/%.o: src/%.c include/cport.h $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DCPORT_FAULTS -fPIC -fvisibility=hidden -c -o $@ $<

$(B)/libcport-faults.a: $(FAULT_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/libcport.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/libcport.so: $(LIB_OBJ)
	$(CC) $(SANFLAGS) $(LTOFLAGS) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,libcport.so.0 -o $@ $^ $(LDLIBS_ALL)

# cport-echo alone links libsystemd (socket activation, sd_notify); the library never does.
ECHO_LIBS := $(or $(shell pkg-config --libs libsystemd 2>/dev/null),-lsystemd)
$(B)/cport-echo: $(ECHO_SRC) $(wildcard apps/echo/*.h) $(B)/libcport.a
	$(CC) $(CFLAGS_ALL) $(LTOFLAGS) $(LDFLAGS) -Iapps/echo -o $@ $(ECHO_SRC) $(B)/libcport.a $(LDLIBS_ALL) $(ECHO_LIBS)

$(B)/cport-bench: $(BENCH_SRC) $(wildcard apps/bench/*.h) $(B)/libcport.a
	$(CC) $(CFLAGS_ALL) $(LTOFLAGS) $(LDFLAGS) -Iapps/bench -o $@ $(BENCH_SRC) $(B)/libcport.a $(LDLIBS_ALL) -lm

$(B)/tests/lib-tests: $(TEST_SRC) $(TEST_HELPERS) $(wildcard tests/helpers/*.h) $(B)/libcport-faults.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DCPORT_FAULTS -Itests/helpers -Isrc -o $@ $(TEST_SRC) $(TEST_HELPERS) $(B)/libcport-faults.a $(LDLIBS_ALL) -lcriterion -lseccomp

deps:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh test

# The first of the two commands: build and serve echo on port 5150 (and install
# socat, which the README's "try it" line uses).
run:
	@scripts/deps.sh run
	@$(MAKE) --no-print-directory all
	exec ./$(B)/cport-echo

# Exit 0 where io_uring works with every feature cport needs (raw syscalls).
URING_PROBE := $(B)/tests/uring-probe
$(URING_PROBE): tests/tools/uring_probe.c tests/helpers/uring_raw.c tests/helpers/uring_raw.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/helpers -o $@ tests/tools/uring_probe.c tests/helpers/uring_raw.c

# The second: build and run the whole suite on both backends. Where io_uring
# works here, CPORT_URING_EXPECTED=1 makes every suite fail, not skip, when
# cport cannot use it.
# Everything the suites run is built first, BUILD_JOBS at a time (each
# mk/*.mk adds its programs to TEST_BINS); the suites then run one by one.
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps-test
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) all $(B)/tests/lib-tests $(URING_PROBE) $(TEST_BINS)
	@CPORT_URING_EXPECTED=$$($(URING_PROBE) >/dev/null && echo 1 || echo 0) \
		$(MAKE) --no-print-directory test-lib test-echo $(TEST_EXTRA)

# Each run also writes a TAP report, from which the skipped tests are counted
# and listed by reason (Criterion's own summary leaves skips out).
SKIP_SUMMARY := awk -F '  \# SKIP ' '/\# SKIP / { sub(/^ok - /, "", $$1); n++; k[$$2]++; t[$$2] = $$1 } \
	END { printf "[====] Skipped: %d\n", n; \
	for (r in k) if (k[r] == 1) printf "[SKIP] %s: %s\n", t[r], r; else printf "[SKIP] %d tests: %s\n", k[r], r }'

test-lib: $(B)/tests/lib-tests
	@for be in io_uring epoll; do \
		echo "== library tests, backend $$be"; \
		tap=$(B)/tests/lib-tests-$$be.tap; rm -f $$tap; \
		CPORT_TEST_BACKEND=$$be ./$(B)/tests/lib-tests --jobs 2 -Otap:$$tap; rc=$$?; \
		[ -f $$tap ] && $(SKIP_SUMMARY) $$tap; \
		[ $$rc -eq 0 ] || exit $$rc; \
	done

# The pytest suites whose cases mostly wait (on a peer, a timeout, a child
# process) run PYTEST_JOBS at a time (pytest-xdist); a module that needs a
# fixed resource to itself (port 7, one install) names its xdist_group.
# The adversarial and fairness suites load the CPUs and run one at a time.
PYTEST_JOBS ?= 4
PYTEST_PAR := -n $(PYTEST_JOBS) --dist loadgroup

test-echo: $(PROGS)
	@echo "== echo server tests (both backends)"
	CPORT_BUILD=$(B) python3 -m pytest -q -rs -p no:cacheprovider $(PYTEST_PAR) tests/echo

test-sanitize:
	@$(MAKE) --no-print-directory test SANITIZE=1

test-tsan:
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) TSAN=1 build-tsan/tests/lib-tests build-tsan/tests/stress-ledger
	@$(MAKE) --no-print-directory test-lib test-stress TSAN=1

install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man3
	install -m 644 include/cport.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(B)/libcport.a $(DESTDIR)$(LIBDIR)/
	$(OBJCOPY) -R '.gnu.lto_*' -R '.gnu.debuglto_*' -N __gnu_lto_v1 -N __gnu_lto_slim $(DESTDIR)$(LIBDIR)/libcport.a
	install -m 755 $(B)/libcport.so $(DESTDIR)$(LIBDIR)/libcport.so.0
	ln -sf libcport.so.0 $(DESTDIR)$(LIBDIR)/libcport.so
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@VERSION@|0.1.0|g' cport.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/cport.pc
	install -m 644 man/man1/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	install -m 644 systemd/cport-echo.socket $(DESTDIR)$(SYSTEMDUNITDIR)/
	sed 's|/usr/local/bin/|$(PREFIX)/bin/|' systemd/cport-echo.service > $(DESTDIR)$(SYSTEMDUNITDIR)/cport-echo.service
	install -m 644 man/man3/*.3 $(DESTDIR)$(PREFIX)/share/man/man3/

# Optional pieces (bench, ...) add their targets and TEST_EXTRA here.
-include $(wildcard mk/*.mk)

clean:
	rm -rf build build-san build-tsan build-nolto
