# The Win32 shim (compat/win32): build/libcport-win32.{a,so}, the classic
# IOCP programs in examples/win32/, the shim's tests, and its install.
# Included by the Makefile.
COMPAT_SRC := $(wildcard compat/win32/*.c)
COMPAT_OBJ := $(COMPAT_SRC:compat/win32/%.c=$(B)/obj/compat/%.o)
COMPAT_HDR := compat/win32/windows.h compat/win32/winsock2.h compat/win32/ws2tcpip.h compat/win32/mswsock.h \
	compat/win32/process.h compat/win32/tchar.h compat/win32/cport-win32-crt.h compat/win32/strsafe.h
W32_EXAMPLES := $(patsubst examples/win32/%.c,$(B)/examples/win32/%,$(wildcard examples/win32/*.c))
W32_TESTS := $(patsubst tests/compat/%.c,$(B)/tests/win32/%,$(wildcard tests/compat/*.c))
# What cport-win32.pc gives a program (#pragma comment(lib, ...) is ignored).
W32_CFLAGS := -Icompat/win32 -Wno-unknown-pragmas
W32_LINK := $(B)/libcport-win32.a $(B)/libcport.a $(LDLIBS_ALL)

all: $(B)/libcport-win32.a $(B)/libcport-win32.so $(W32_EXAMPLES)

$(B)/obj/compat/%.o: compat/win32/%.c $(wildcard compat/win32/*.h) include/cport.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Icompat/win32 -fPIC -fvisibility=hidden -c -o $@ $<

$(B)/libcport-win32.a: $(COMPAT_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# It finds libcport.so.0 where it is itself installed (a distribution, where
# both are in the linker's path, sets W32_RPATH empty).
W32_RPATH ?= -Wl,-rpath,'$$ORIGIN'
$(B)/libcport-win32.so: $(COMPAT_OBJ) $(B)/libcport.so
	$(CC) $(SANFLAGS) $(LDFLAGS) -shared -Wl,-soname,libcport-win32.so.0 $(W32_RPATH) -o $@ $(COMPAT_OBJ) -L$(B) -lcport -lpthread

# Programs as a Windows programmer writes them, with what the .pc file gives.
$(B)/examples/win32/%: examples/win32/%.c $(COMPAT_HDR) $(B)/libcport-win32.a $(B)/libcport.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(W32_CFLAGS) -o $@ $< $(W32_LINK)

$(B)/tests/win32/%: tests/compat/%.c tests/compat/w32test.h $(COMPAT_HDR) $(B)/libcport-win32.a $(B)/libcport.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(W32_CFLAGS) -Itests/compat -o $@ $< $(W32_LINK)

.PHONY: test-compat install-win32
test-compat: $(W32_EXAMPLES) $(W32_TESTS) $(PROGS) $(B)/libcport-win32.so
	@echo "== Win32 shim tests (both backends)"
	CPORT_BUILD=$(B) CPORT_SANFLAGS="$(SANFLAGS)" CPORT_MAKEFLAGS="$(if $(filter 1,$(SANITIZE)),SANITIZE=1)$(if $(filter 1,$(TSAN)),TSAN=1)" \
		python3 -m pytest -q -rs -p no:cacheprovider $(PYTEST_PAR) tests/compat

# Its own include folder, so that its windows.h never shadows anything.
install: install-win32
install-win32: $(B)/libcport-win32.a $(B)/libcport-win32.so
	install -d $(DESTDIR)$(PREFIX)/include/cport-win32 $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 $(COMPAT_HDR) $(DESTDIR)$(PREFIX)/include/cport-win32/
	install -m 644 $(B)/libcport-win32.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(B)/libcport-win32.so $(DESTDIR)$(LIBDIR)/libcport-win32.so.0
	ln -sf libcport-win32.so.0 $(DESTDIR)$(LIBDIR)/libcport-win32.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@VERSION@|0.1.0|g' compat/win32/cport-win32.pc.in \
		> $(DESTDIR)$(LIBDIR)/pkgconfig/cport-win32.pc

TEST_EXTRA += test-compat
TEST_BINS += $(W32_EXAMPLES) $(W32_TESTS) $(B)/libcport-win32.so
