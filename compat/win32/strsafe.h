/* strsafe.h - the ANSI StringCch and StringCb calls MSDN's samples use
 * (header-only, as Windows' is). Each always terminates its destination
 * when it has room for anything, returns S_OK, or
 * STRSAFE_E_INSUFFICIENT_BUFFER with the text truncated, or
 * STRSAFE_E_INVALID_PARAMETER. Char counts and byte counts are the same
 * in an ANSI build. */
#ifndef CPORT_COMPAT_STRSAFE_H
#define CPORT_COMPAT_STRSAFE_H

#include "windows.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define STRSAFE_MAX_CCH 2147483647
#define STRSAFE_E_INSUFFICIENT_BUFFER ((HRESULT)0x8007007AL)
#define STRSAFE_E_INVALID_PARAMETER ((HRESULT)0x80070057L)
#define STRSAFE_E_END_OF_FILE ((HRESULT)0x80070026L)

static inline __attribute__((format(printf, 3, 0))) HRESULT StringCchVPrintfA(LPSTR dst, size_t cch, LPCSTR fmt,
									     va_list ap)
{
	if (!dst || cch == 0 || cch > STRSAFE_MAX_CCH)
		return STRSAFE_E_INVALID_PARAMETER;
	int n = vsnprintf(dst, cch, fmt, ap);
	if (n < 0) {
		dst[0] = '\0';
		return STRSAFE_E_INVALID_PARAMETER;
	}
	return (size_t)n < cch ? S_OK : STRSAFE_E_INSUFFICIENT_BUFFER;
}

static inline __attribute__((format(printf, 3, 4))) HRESULT StringCchPrintfA(LPSTR dst, size_t cch, LPCSTR fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	HRESULT r = StringCchVPrintfA(dst, cch, fmt, ap);
	va_end(ap);
	return r;
}

static inline HRESULT StringCchCopyNA(LPSTR dst, size_t cch, LPCSTR src, size_t max)
{
	if (!dst || cch == 0 || cch > STRSAFE_MAX_CCH)
		return STRSAFE_E_INVALID_PARAMETER;
	size_t n = src ? strnlen(src, max) : 0;
	HRESULT r = S_OK;
	if (n >= cch) {
		n = cch - 1;
		r = STRSAFE_E_INSUFFICIENT_BUFFER;
	}
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
	return r;
}

static inline HRESULT StringCchCopyA(LPSTR dst, size_t cch, LPCSTR src)
{
	return StringCchCopyNA(dst, cch, src, STRSAFE_MAX_CCH);
}

static inline HRESULT StringCchCatA(LPSTR dst, size_t cch, LPCSTR src)
{
	if (!dst || cch == 0 || cch > STRSAFE_MAX_CCH)
		return STRSAFE_E_INVALID_PARAMETER;
	size_t d = strnlen(dst, cch);
	if (d == cch)
		return STRSAFE_E_INVALID_PARAMETER; /* dst is not terminated within cch */
	return StringCchCopyNA(dst + d, cch - d, src, STRSAFE_MAX_CCH);
}

static inline HRESULT StringCchLengthA(LPCSTR s, size_t max, size_t *len)
{
	size_t n = s && max <= STRSAFE_MAX_CCH ? strnlen(s, max) : max;
	if (!s || max > STRSAFE_MAX_CCH || n == max) {
		if (len)
			*len = 0;
		return STRSAFE_E_INVALID_PARAMETER;
	}
	if (len)
		*len = n;
	return S_OK;
}

#define StringCbVPrintfA StringCchVPrintfA
#define StringCbPrintfA StringCchPrintfA
#define StringCbCopyA StringCchCopyA
#define StringCbCopyNA StringCchCopyNA
#define StringCbCatA StringCchCatA
#define StringCbLengthA StringCchLengthA

#ifndef UNICODE
#define StringCchVPrintf StringCchVPrintfA
#define StringCchPrintf StringCchPrintfA
#define StringCchCopy StringCchCopyA
#define StringCchCopyN StringCchCopyNA
#define StringCchCat StringCchCatA
#define StringCchLength StringCchLengthA
#define StringCbVPrintf StringCbVPrintfA
#define StringCbPrintf StringCbPrintfA
#define StringCbCopy StringCbCopyA
#define StringCbCopyN StringCbCopyNA
#define StringCbCat StringCbCatA
#define StringCbLength StringCbLengthA
#endif

#endif
