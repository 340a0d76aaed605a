/* cport-win32-crt.h - what MSVC's C runtime headers (stdio.h, string.h,
 * stdlib.h) give classic Windows programs beyond ISO C: the "secure"
 * string calls with their usual non-template signatures, _snprintf,
 * _stricmp, _countof. glibc's headers cannot carry them, so windows.h,
 * tchar.h and process.h include this one.
 *
 * The _s calls report a bad argument as MSVC's do when the invalid
 * parameter handler returns: an error code (EINVAL, ERANGE), the
 * destination emptied, errno set. They never end the program (MSVC's
 * default handler would): see docs/win32.md. */
#ifndef CPORT_COMPAT_WIN32_CRT_H
#define CPORT_COMPAT_WIN32_CRT_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef CPORT_W32_API
#define CPORT_W32_API __attribute__((visibility("default")))
#endif

#ifndef _ERRNO_T_DEFINED
#define _ERRNO_T_DEFINED
typedef int errno_t;
#endif
#ifndef _RSIZE_T_DEFINED
#define _RSIZE_T_DEFINED
typedef size_t rsize_t;
#endif
#ifndef _TRUNCATE
#define _TRUNCATE ((size_t)-1)
#endif
#ifndef STRUNCATE
#define STRUNCATE 80
#endif

#ifndef _countof
#define _countof(array) (sizeof(array) / sizeof((array)[0]))
#endif

/* _snprintf and _vsnprintf: MSVC's, not C99's: -1 when the text did not
 * fit, and then no terminating NUL. */
CPORT_W32_API int _snprintf(char *buffer, size_t count, const char *format, ...)
	__attribute__((format(printf, 3, 4)));
CPORT_W32_API int _vsnprintf(char *buffer, size_t count, const char *format, va_list argptr)
	__attribute__((format(printf, 3, 0)));
/* The _s forms: the text must fit (with its NUL), else -1 and an empty
 * buffer; _snprintf_s with count _TRUNCATE truncates and returns -1. */
CPORT_W32_API int sprintf_s(char *buffer, size_t sizeOfBuffer, const char *format, ...)
	__attribute__((format(printf, 3, 4)));
CPORT_W32_API int vsprintf_s(char *buffer, size_t numberOfElements, const char *format, va_list argptr)
	__attribute__((format(printf, 3, 0)));
CPORT_W32_API int _snprintf_s(char *buffer, size_t sizeOfBuffer, size_t count, const char *format, ...)
	__attribute__((format(printf, 4, 5)));
CPORT_W32_API int _vsnprintf_s(char *buffer, size_t sizeOfBuffer, size_t count, const char *format,
			       va_list argptr) __attribute__((format(printf, 4, 0)));
CPORT_W32_API errno_t strcpy_s(char *dest, rsize_t dest_size, const char *src);
CPORT_W32_API errno_t strcat_s(char *dest, rsize_t dest_size, const char *src);
CPORT_W32_API errno_t strncpy_s(char *dest, rsize_t dest_size, const char *src, rsize_t count);
CPORT_W32_API errno_t strncat_s(char *dest, rsize_t dest_size, const char *src, rsize_t count);

#define printf_s printf
#define fprintf_s fprintf
#define vprintf_s vprintf
#define vfprintf_s vfprintf
#define _vsprintf vsprintf
#define _stricmp strcasecmp
#define _strnicmp strncasecmp
#define _strcmpi strcasecmp
#define stricmp strcasecmp
#define strnicmp strncasecmp
#define _strdup strdup
#define _getpid getpid

#ifdef __cplusplus
}
#endif
#endif
