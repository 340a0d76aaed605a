/* crt.c - MSVC's C runtime extras (cport-win32-crt.h) and kernel32's and
 * user32's ANSI string helpers (lstrlen, wsprintf, ...). */
#include "shim.h"

#include <errno.h>
#include <stdio.h>

/* MSVC's: a text of len <= count characters is stored whole, with a NUL
 * only if len < count; a longer one fills count characters (no NUL) and
 * -1 is returned. */
int _vsnprintf(char *buf, size_t count, const char *fmt, va_list ap)
{
	va_list again;
	va_copy(again, ap);
	int n = vsnprintf(buf, count, fmt, ap);
	if (n >= 0 && (size_t)n >= count && count > 0) {
		char *whole = malloc((size_t)n + 1);
		if (whole) {
			vsnprintf(whole, (size_t)n + 1, fmt, again);
			memcpy(buf, whole, count);
			free(whole);
		} else {
			n = -1;
		}
	}
	va_end(again);
	if (n < 0)
		return -1;
	return (size_t)n <= count ? n : -1;
}

int _snprintf(char *buf, size_t count, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = _vsnprintf(buf, count, fmt, ap);
	va_end(ap);
	return n;
}

int _vsnprintf_s(char *buf, size_t size, size_t count, const char *fmt, va_list ap)
{
	if (!buf || !fmt || size == 0) {
		errno = EINVAL;
		if (buf && size)
			buf[0] = '\0';
		return -1;
	}
	size_t room = count == _TRUNCATE || count >= size ? size : count + 1;
	int n = vsnprintf(buf, room, fmt, ap);
	if (n < 0) {
		buf[0] = '\0';
		errno = EINVAL;
		return -1;
	}
	if ((size_t)n < room)
		return n;
	if (count == _TRUNCATE || count < size)
		return -1; /* truncated to what was asked: MSVC returns -1, the text stays */
	buf[0] = '\0';
	errno = ERANGE;
	return -1;
}

int _snprintf_s(char *buf, size_t size, size_t count, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = _vsnprintf_s(buf, size, count, fmt, ap);
	va_end(ap);
	return n;
}

int vsprintf_s(char *buf, size_t size, const char *fmt, va_list ap)
{
	if (!buf || !fmt || size == 0) {
		errno = EINVAL;
		return -1;
	}
	int n = vsnprintf(buf, size, fmt, ap);
	if (n < 0 || (size_t)n >= size) {
		buf[0] = '\0';
		errno = n < 0 ? EINVAL : ERANGE;
		return -1;
	}
	return n;
}

int sprintf_s(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsprintf_s(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* The _s string calls: the destination emptied and an errno_t on a bad
 * argument or when the result does not fit. */
static errno_t bad(char *dest, rsize_t size, errno_t e)
{
	if (dest && size > 0)
		dest[0] = '\0';
	errno = e;
	return e;
}

errno_t strcpy_s(char *dest, rsize_t size, const char *src)
{
	if (!dest || size == 0)
		return bad(NULL, 0, EINVAL);
	if (!src)
		return bad(dest, size, EINVAL);
	size_t n = strlen(src);
	if (n >= size)
		return bad(dest, size, ERANGE);
	memcpy(dest, src, n + 1);
	return 0;
}

errno_t strcat_s(char *dest, rsize_t size, const char *src)
{
	if (!dest || size == 0)
		return bad(NULL, 0, EINVAL);
	if (!src)
		return bad(dest, size, EINVAL);
	size_t d = strnlen(dest, size);
	if (d == size)
		return bad(dest, size, EINVAL); /* dest is not terminated within its size */
	size_t n = strlen(src);
	if (d + n >= size)
		return bad(dest, size, ERANGE);
	memcpy(dest + d, src, n + 1);
	return 0;
}

errno_t strncpy_s(char *dest, rsize_t size, const char *src, rsize_t count)
{
	if (!dest || size == 0)
		return bad(NULL, 0, EINVAL);
	if (!src)
		return bad(dest, size, EINVAL);
	size_t n = strnlen(src, count == _TRUNCATE ? size : count);
	if (n >= size) {
		if (count != _TRUNCATE)
			return bad(dest, size, ERANGE);
		memcpy(dest, src, size - 1);
		dest[size - 1] = '\0';
		return STRUNCATE;
	}
	memcpy(dest, src, n);
	dest[n] = '\0';
	return 0;
}

errno_t strncat_s(char *dest, rsize_t size, const char *src, rsize_t count)
{
	if (!dest || size == 0)
		return bad(NULL, 0, EINVAL);
	if (!src)
		return bad(dest, size, EINVAL);
	size_t d = strnlen(dest, size);
	if (d == size)
		return bad(dest, size, EINVAL);
	size_t n = strnlen(src, count == _TRUNCATE ? size : count);
	if (d + n >= size) {
		if (count != _TRUNCATE)
			return bad(dest, size, ERANGE);
		memcpy(dest + d, src, size - 1 - d);
		dest[size - 1] = '\0';
		return STRUNCATE;
	}
	memcpy(dest + d, src, n);
	dest[d + n] = '\0';
	return 0;
}

/* kernel32's: NULL tolerated where Windows tolerates it. */
int lstrlenA(LPCSTR s)
{
	return s ? (int)strlen(s) : 0;
}

LPSTR lstrcpyA(LPSTR dst, LPCSTR src)
{
	if (!dst || !src)
		return NULL;
	return strcpy(dst, src);
}

LPSTR lstrcpynA(LPSTR dst, LPCSTR src, int max_len)
{
	if (!dst || !src || max_len <= 0)
		return max_len == 0 ? dst : NULL;
	size_t n = strnlen(src, (size_t)max_len - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
	return dst;
}

LPSTR lstrcatA(LPSTR dst, LPCSTR src)
{
	if (!dst || !src)
		return NULL;
	return strcat(dst, src);
}

/* Windows compares by locale (CompareString); these compare bytes, as in
 * the C locale. NULL sorts first. */
int lstrcmpA(LPCSTR a, LPCSTR b)
{
	if (!a || !b)
		return a ? 1 : b ? -1 : 0;
	int r = strcmp(a, b);
	return r < 0 ? -1 : r > 0;
}

int lstrcmpiA(LPCSTR a, LPCSTR b)
{
	if (!a || !b)
		return a ? 1 : b ? -1 : 0;
	int r = strcasecmp(a, b);
	return r < 0 ? -1 : r > 0;
}

/* user32's: at most 1024 characters are written, as on Windows. */
#define WSPRINTF_MAX 1024

int wvsprintfA(LPSTR out, LPCSTR fmt, va_list ap)
{
	if (!out || !fmt)
		return -1;
	int n = vsnprintf(out, WSPRINTF_MAX + 1, fmt, ap);
	if (n < 0)
		return -1;
	return n > WSPRINTF_MAX ? WSPRINTF_MAX : n;
}

int wsprintfA(LPSTR out, LPCSTR fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = wvsprintfA(out, fmt, ap);
	va_end(ap);
	return n;
}
