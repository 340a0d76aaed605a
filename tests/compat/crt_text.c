/* crt_text.c - tchar.h for an ANSI build, MSVC's CRT string calls
 * (results and errors), kernel32's lstr* and wsprintf, TEXT, _countof,
 * and FormatMessage(FROM_SYSTEM) for the codes the shim produces. */
#include "w32test.h"
#include <tchar.h>

static void tchar_maps_to_char(void)
{
	TCHAR buf[32];
	_TCHAR other[32];
	LPCTSTR lit = _T("Port");
	LPTSTR p = buf;
	CHECK(sizeof(TCHAR) == 1 && sizeof(_TCHAR) == 1);
	CHECK(_tcscpy(p, lit) == buf && _tcslen(buf) == 4);
	CHECK(_tcscmp(buf, TEXT("Port")) == 0 && _tcsicmp(buf, _TEXT("PORT")) == 0);
	CHECK(_tcsncpy(other, _T("5150"), _countof(other)) == other);
	CHECK(_ttoi(other) == 5150 && _tstoi(_T("-7")) == -7);
	CHECK(_stprintf(buf, _T("%s:%d"), lit, 80) == 7 && _tcscmp(buf, _T("Port:80")) == 0);
	CHECK(_sntprintf(buf, _countof(buf), _T("%d"), 12345) == 5);
	CHECK(_tprintf(_T("%s"), _T("")) == 0 && _ftprintf(stdout, _T("%s"), _T("")) == 0);
}

static void snprintf_is_msvcs(void)
{
	char b[8];
	memset(b, '#', sizeof(b));
	CHECK(_snprintf(b, 4, "%s", "ab") == 2 && strcmp(b, "ab") == 0);
	memset(b, '#', sizeof(b));
	CHECK(_snprintf(b, 4, "%s", "abcd") == 4 && memcmp(b, "abcd#", 5) == 0); /* fits exactly: no NUL */
	memset(b, '#', sizeof(b));
	CHECK(_snprintf(b, 4, "%s", "abcdef") == -1 && memcmp(b, "abcd#", 5) == 0); /* too long: -1, no NUL */
	CHECK(_snprintf_s(b, sizeof(b), _TRUNCATE, "%s", "abcdefghij") == -1 && strcmp(b, "abcdefg") == 0);
	CHECK(_snprintf_s(b, sizeof(b), 3, "%s", "abcdef") == -1 && strcmp(b, "abc") == 0);
	CHECK(_snprintf_s(b, sizeof(b), 5, "%d", 42) == 2 && strcmp(b, "42") == 0);
}

static void the_secure_calls_report_errors(void)
{
	char b[8];
	CHECK(sprintf_s(b, sizeof(b), "%d-%d", 1, 2) == 3 && strcmp(b, "1-2") == 0);
	errno = 0;
	CHECK(sprintf_s(b, sizeof(b), "%s", "too long for it") == -1 && b[0] == '\0' && errno == ERANGE);
	CHECK(strcpy_s(b, sizeof(b), "abc") == 0 && strcmp(b, "abc") == 0);
	CHECK(strcat_s(b, sizeof(b), "def") == 0 && strcmp(b, "abcdef") == 0);
	CHECK(strcat_s(b, sizeof(b), "gh") == ERANGE && b[0] == '\0');
	CHECK(strcpy_s(b, sizeof(b), "12345678") == ERANGE && b[0] == '\0');
	CHECK(strcpy_s(b, sizeof(b), NULL) == EINVAL && b[0] == '\0');
	CHECK(strcpy_s(NULL, 4, "a") == EINVAL);
	CHECK(strncpy_s(b, sizeof(b), "abcdef", 3) == 0 && strcmp(b, "abc") == 0);
	CHECK(strncpy_s(b, sizeof(b), "abcdefghij", _TRUNCATE) == STRUNCATE && strcmp(b, "abcdefg") == 0);
	CHECK(strncpy_s(b, sizeof(b), "abcdefghij", 9) == ERANGE && b[0] == '\0');
	CHECK(_stricmp("Hello", "hELLO") == 0 && _strnicmp("HelloX", "helloY", 5) == 0 && _stricmp("a", "B") < 0);
	char *d = _strdup("dup");
	CHECK(d && strcmp(d, "dup") == 0);
	free(d);
	int arr[13];
	CHECK(_countof(arr) == 13);
	CHECK(max(3, 9) == 9 && min(3, 9) == 3);
}

static void kernel32_string_calls(void)
{
	char b[64];
	CHECK(lstrlenA("abc") == 3 && lstrlen(NULL) == 0);
	CHECK(lstrcpy(b, "one") == b && lstrcat(b, "two") == b && strcmp(b, "onetwo") == 0);
	CHECK(lstrcpynA(b, "abcdef", 4) == b && strcmp(b, "abc") == 0);
	CHECK(lstrcmp("a", "b") < 0 && lstrcmpi("ABC", "abc") == 0 && lstrcmpA(NULL, "a") < 0);
	CHECK(wsprintf(b, "%s %d %u", "x", -1, 7u) == 6 && strcmp(b, "x -1 7") == 0);
	static char big[2048], out[2048];
	memset(big, 'z', 1500);
	CHECK(wsprintfA(out, "%s", big) == 1024 && strlen(out) == 1024); /* Windows' limit */
}

static void formatmessage_from_system(void)
{
	static const DWORD codes[] = {
		ERROR_SUCCESS, ERROR_INVALID_HANDLE, ERROR_NOT_ENOUGH_MEMORY, ERROR_NOT_SUPPORTED,
		ERROR_NETNAME_DELETED, ERROR_INVALID_PARAMETER, WAIT_TIMEOUT, ERROR_ABANDONED_WAIT_0,
		ERROR_OPERATION_ABORTED, ERROR_IO_INCOMPLETE, ERROR_IO_PENDING, ERROR_NOT_FOUND,
		ERROR_CONNECTION_REFUSED, ERROR_ADDRESS_ALREADY_ASSOCIATED, ERROR_CONNECTION_INVALID,
		ERROR_NETWORK_UNREACHABLE, ERROR_HOST_UNREACHABLE, ERROR_CONNECTION_ABORTED, ERROR_NO_SYSTEM_RESOURCES,
		ERROR_SEM_TIMEOUT, ERROR_MORE_DATA, ERROR_GEN_FAILURE, ERROR_ACCESS_DENIED,
		WSAEINTR, WSAEACCES, WSAEFAULT, WSAEINVAL, WSAEMFILE, WSAEWOULDBLOCK, WSAEINPROGRESS,
		WSAEALREADY, WSAENOTSOCK, WSAEDESTADDRREQ, WSAEMSGSIZE, WSAEPROTOTYPE, WSAENOPROTOOPT,
		WSAEPROTONOSUPPORT, WSAESOCKTNOSUPPORT, WSAEOPNOTSUPP, WSAEAFNOSUPPORT, WSAEADDRINUSE,
		WSAEADDRNOTAVAIL, WSAENETDOWN, WSAENETUNREACH, WSAENETRESET, WSAECONNABORTED, WSAECONNRESET,
		WSAENOBUFS, WSAEISCONN, WSAENOTCONN, WSAESHUTDOWN, WSAETIMEDOUT, WSAECONNREFUSED, WSAEHOSTDOWN,
		WSAEHOSTUNREACH, WSASYSNOTREADY, WSAVERNOTSUPPORTED, WSANOTINITIALISED, WSATYPE_NOT_FOUND,
		WSAHOST_NOT_FOUND, WSATRY_AGAIN, WSANO_RECOVERY, WSANO_DATA,
	};
	char buf[512];
	for (size_t i = 0; i < _countof(codes); i++) {
		DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, codes[i],
					 MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT), buf, sizeof(buf), NULL);
		CHECK(n > 2 && n == strlen(buf) && buf[n - 2] == '\r' && buf[n - 1] == '\n');
	}
	CHECK(FormatMessage(FORMAT_MESSAGE_FROM_SYSTEM, NULL, WSAECONNRESET, 0, buf, sizeof(buf), NULL) > 0);
	CHECK(strcmp(buf, "An existing connection was forcibly closed by the remote host.\r\n") == 0);
	/* The usual sample: ALLOCATE_BUFFER, freed with LocalFree. */
	LPSTR msg = NULL;
	DWORD n = FormatMessage(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM |
					FORMAT_MESSAGE_IGNORE_INSERTS,
				NULL, ERROR_NETNAME_DELETED, MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT), (LPSTR)&msg, 0,
				NULL);
	CHECK(n > 0 && msg && strcmp(msg, "The specified network name is no longer available.\r\n") == 0);
	CHECK(LocalFree(msg) == NULL);
	/* No line end with a width limit. */
	n = FormatMessage(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_MAX_WIDTH_MASK, NULL, WAIT_TIMEOUT, 0, buf,
			  sizeof(buf), NULL);
	CHECK(n == strlen("The wait operation timed out.") && buf[n - 1] == '.');
	/* The errors. */
	CHECK(FormatMessage(FORMAT_MESSAGE_FROM_SYSTEM, NULL, 123456, 0, buf, sizeof(buf), NULL) == 0);
	CHECK(GetLastError() == ERROR_MR_MID_NOT_FOUND);
	CHECK(FormatMessage(FORMAT_MESSAGE_FROM_SYSTEM, NULL, WSAECONNRESET, 0, buf, 8, NULL) == 0);
	CHECK(GetLastError() == ERROR_INSUFFICIENT_BUFFER);
	CHECK(FormatMessage(FORMAT_MESSAGE_FROM_STRING, "text %1", 0, 0, buf, sizeof(buf), NULL) == 0);
	CHECK(GetLastError() == ERROR_NOT_SUPPORTED);
	CHECK(FormatMessage(FORMAT_MESSAGE_FROM_SYSTEM, NULL, WSAECONNRESET, MAKELANGID(0x07, 0x01), buf,
			    sizeof(buf), NULL) == 0);
	CHECK(GetLastError() == ERROR_RESOURCE_LANG_NOT_FOUND);
}

int _tmain(int argc, _TCHAR *argv[])
{
	(void)argc;
	(void)argv;
	test_start();
	RUN(tchar_maps_to_char);
	RUN(snprintf_is_msvcs);
	RUN(the_secure_calls_report_errors);
	RUN(kernel32_string_calls);
	RUN(formatmessage_from_system);
	return 0;
}
