# The Win32 shim (compat/win32) and the classic IOCP program built on it.
COMPAT_SRC := $(wildcard compat/win32/*.c)
all: $(B)/libcport-win32.a $(B)/tests/iocp_echo

$(B)/libcport-win32.a: $(COMPAT_SRC) $(wildcard compat/win32/*.h) include/cport.h
	@mkdir -p $(B)/obj/compat
	$(CC) $(CFLAGS_ALL) -Icompat/win32 -c -o $(B)/obj/compat/win32.o compat/win32/win32.c
	$(AR) rcs $@ $(B)/obj/compat/win32.o

$(B)/tests/iocp_echo: tests/compat/iocp_echo.c $(B)/libcport-win32.a $(B)/libcport.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Icompat/win32 -o $@ $< $(B)/libcport-win32.a $(B)/libcport.a $(LDLIBS_ALL)

.PHONY: test-compat
test-compat: $(B)/tests/iocp_echo
	@echo "== Win32 shim tests (both backends)"
	CPORT_BUILD=$(B) python3 -m pytest -q -rs -p no:cacheprovider tests/compat

TEST_EXTRA += test-compat
