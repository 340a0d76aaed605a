/* tchar.h - MSVC's generic-text mappings for an ANSI build: _TCHAR is
 * char, _T("x") is "x", _tmain is main and each _t/_tcs name is its char
 * function. UNICODE (_UNICODE) builds are not covered: docs/win32.md. */
#ifndef CPORT_COMPAT_TCHAR_H
#define CPORT_COMPAT_TCHAR_H

#ifdef _UNICODE
#error "cport-win32: tchar.h covers ANSI builds only; _UNICODE (wchar_t text) is not supported"
#endif

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cport-win32-crt.h"

#ifndef _TCHAR_DEFINED
#define _TCHAR_DEFINED
typedef char _TCHAR;
typedef signed char _TSCHAR;
typedef unsigned char _TUCHAR;
typedef char _TXCHAR;
typedef int _TINT;
#endif

#define __T(x) x
#define _T(x) __T(x)
#define _TEXT(x) __T(x)
#define _TEOF EOF

#define _tmain main
#define _tenviron environ

/* Formatted I/O. */
#define _tprintf printf
#define _ftprintf fprintf
#define _stprintf sprintf
#define _sntprintf _snprintf
#define _stprintf_s sprintf_s
#define _sntprintf_s _snprintf_s
#define _vtprintf vprintf
#define _vftprintf vfprintf
#define _vstprintf vsprintf
#define _vsntprintf _vsnprintf
#define _vstprintf_s vsprintf_s
#define _tprintf_s printf
#define _ftprintf_s fprintf
#define _tscanf scanf
#define _ftscanf fscanf
#define _stscanf sscanf

/* Strings. */
#define _tcslen strlen
#define _tcsnlen strnlen
#define _tcscpy strcpy
#define _tcscpy_s strcpy_s
#define _tcsncpy strncpy
#define _tcsncpy_s strncpy_s
#define _tcscat strcat
#define _tcscat_s strcat_s
#define _tcsncat strncat
#define _tcsncat_s strncat_s
#define _tcscmp strcmp
#define _tcsncmp strncmp
#define _tcsicmp _stricmp
#define _tcsnicmp _strnicmp
#define _tcschr strchr
#define _tcsrchr strrchr
#define _tcsstr strstr
#define _tcsspn strspn
#define _tcscspn strcspn
#define _tcspbrk strpbrk
#define _tcstok strtok
#define _tcsdup _strdup
#define _tcsftime strftime

/* Conversions. */
#define _ttoi atoi
#define _tstoi atoi
#define _ttol atol
#define _tstol atol
#define _ttoi64 atoll
#define _tstoi64 atoll
#define _tstof atof
#define _tcstol strtol
#define _tcstoul strtoul
#define _tcstod strtod
#define _tcstoi64 strtoll
#define _tcstoui64 strtoull

/* Characters. */
#define _istalpha isalpha
#define _istdigit isdigit
#define _istalnum isalnum
#define _istspace isspace
#define _istupper isupper
#define _istlower islower
#define _istxdigit isxdigit
#define _istprint isprint
#define _totupper toupper
#define _totlower tolower

/* Streams and the environment. */
#define _tfopen fopen
#define _fgetts fgets
#define _fputts fputs
#define _fgettc fgetc
#define _fputtc fputc
#define _gettchar getchar
#define _puttchar putchar
#define _putts puts
#define _tgetenv getenv
#define _tperror perror
#define _tremove remove
#define _trename rename

#endif
