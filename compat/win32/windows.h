/* windows.h - the Win32 subset classic IOCP programs use, over cport.
 *
 * A thin, honest shim: a port or a thread is a handle of the shim's own
 * table, a socket is its fd, OVERLAPPED carries a cport_op, errors come
 * from GetLastError(). Every difference from Windows is in docs/win32.md. */
#ifndef CPORT_COMPAT_WINDOWS_H
#define CPORT_COMPAT_WINDOWS_H

/* Windows programs raise FD_SETSIZE (a count of sockets there) before
 * including winsock2.h; glibc's fd_set is a fixed bitmap of fds below 1024
 * and its headers define FD_SETSIZE themselves: the program's value is
 * dropped here, before any system header, so that it does not clash. */
#ifdef FD_SETSIZE
#undef FD_SETSIZE
#endif

#include <cport.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WINAPI
#define WINAPIV
#define CALLBACK
#define PASCAL
#define APIENTRY
/* Calling conventions mean nothing on x86-64 and arm64 Linux. */
#ifndef __stdcall
#define __stdcall
#endif
#ifndef _stdcall
#define _stdcall
#endif
#ifndef __cdecl
#define __cdecl
#endif
#ifndef _cdecl
#define _cdecl
#endif
#ifndef __fastcall
#define __fastcall
#endif
#define VOID void
#define CONST const
#define IN
#define OUT
#define OPTIONAL
#define TRUE 1
#define FALSE 0
#define INFINITE 0xFFFFFFFFu
#define MAX_PATH 260

/* LLP64 sizes, as on 64-bit Windows: LONG and DWORD are 32 bits, the
 * *_PTR types as wide as a pointer. */
typedef int BOOL, *PBOOL, *LPBOOL;
typedef uint8_t BYTE, *PBYTE, *LPBYTE;
typedef uint8_t BOOLEAN;
typedef char CHAR, *PCHAR, *LPCH;
typedef unsigned char UCHAR, *PUCHAR;
typedef uint16_t WORD, *PWORD, *LPWORD;
typedef int16_t SHORT;
typedef uint16_t USHORT;
typedef uint32_t DWORD, *PDWORD, *LPDWORD;
typedef int32_t LONG, *PLONG, *LPLONG;
typedef uint32_t ULONG, *PULONG;
typedef int64_t LONGLONG, LONG64;
typedef uint64_t ULONGLONG, DWORD64, ULONG64;
typedef int INT, *PINT, *LPINT;
typedef unsigned int UINT, *PUINT;
typedef float FLOAT;
typedef intptr_t INT_PTR, LONG_PTR;
typedef uintptr_t UINT_PTR, ULONG_PTR, DWORD_PTR, *PULONG_PTR, *PDWORD_PTR;
typedef size_t SIZE_T, *PSIZE_T;
typedef intptr_t SSIZE_T;
typedef void *HANDLE, **PHANDLE, **LPHANDLE;
typedef void *LPVOID, *PVOID;
typedef const void *LPCVOID, *PCVOID;
typedef void *HGLOBAL, *HLOCAL, *HMODULE, *HINSTANCE;
typedef char *LPSTR, *PSTR;
typedef const char *LPCSTR, *PCSTR;
typedef wchar_t WCHAR, *LPWSTR, *PWSTR;
typedef const wchar_t *LPCWSTR, *PCWSTR;
typedef LONG HRESULT;

/* TCHAR for an ANSI build (UNICODE builds are not covered: docs/win32.md). */
#ifdef UNICODE
typedef WCHAR TCHAR, *PTCHAR;
typedef LPWSTR LPTSTR, PTSTR;
typedef LPCWSTR LPCTSTR, PCTSTR;
#define __TEXT(quote) L##quote
#else
typedef char TCHAR, *PTCHAR;
typedef unsigned char TBYTE, *PTBYTE;
typedef LPSTR LPTSTR, PTSTR;
typedef LPCSTR LPCTSTR, PCTSTR;
#define __TEXT(quote) quote
#endif
#define TEXT(quote) __TEXT(quote)

typedef union _LARGE_INTEGER {
	struct {
		DWORD LowPart;
		LONG HighPart;
	};
	LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

#define INVALID_HANDLE_VALUE ((HANDLE)(intptr_t)-1)
#define MAKEWORD(a, b) ((WORD)(((BYTE)(a)) | ((WORD)((BYTE)(b))) << 8))
#define MAKELONG(a, b) ((LONG)(((WORD)(a)) | ((DWORD)((WORD)(b))) << 16))
#define LOBYTE(w) ((BYTE)((w)&0xff))
#define HIBYTE(w) ((BYTE)(((w) >> 8) & 0xff))
#define LOWORD(l) ((WORD)((l)&0xffff))
#define HIWORD(l) ((WORD)(((l) >> 16) & 0xffff))
#define UNREFERENCED_PARAMETER(p) ((void)(p))
#ifndef NOMINMAX
#ifndef max
#define max(a, b) (((a) > (b)) ? (a) : (b))
#endif
#ifndef min
#define min(a, b) (((a) < (b)) ? (a) : (b))
#endif
#endif
#define FIELD_OFFSET(type, field) ((LONG)offsetof(type, field))
#define CONTAINING_RECORD(address, type, field) ((type *)((char *)(address)-offsetof(type, field)))

/* The shim's state of one overlapped operation. Private: the OVERLAPPED
 * carries it so that starting I/O allocates nothing. */
struct cport_win32_io {
	struct cport_op op;
	struct iovec iov1;  /* a single WSABUF (the common case), or ConnectEx's data */
	struct iovec *iovs; /* several WSABUFs: allocated, freed at completion */
	int *user_addrlen;  /* WSARecvFrom: the caller's lpFromlen */
	void *accept_out;   /* AcceptEx: lpOutputBuffer */
	socklen_t addrlen;  /* WSARecvFrom: what the kernel writes back */
	int fd;             /* the socket the operation runs on */
	int accept_sock;    /* AcceptEx: the socket the connection lands on */
	DWORD local_len, remote_len;
	int step; /* ConnectEx with data: which step is in flight */
	HANDLE port; /* the port the operation completes through */
};

/* Windows' fields first, then the shim's (larger than Windows' 32 bytes). */
typedef struct _OVERLAPPED {
	ULONG_PTR Internal;     /* the NTSTATUS once complete, STATUS_PENDING while in flight */
	ULONG_PTR InternalHigh; /* bytes transferred once complete */
	union {
		struct {
			DWORD Offset;
			DWORD OffsetHigh;
		};
		PVOID Pointer;
	};
	HANDLE hEvent;
	struct cport_win32_io cport_io; /* the shim's; do not touch */
} OVERLAPPED, *LPOVERLAPPED;

typedef struct _OVERLAPPED_ENTRY {
	ULONG_PTR lpCompletionKey;
	LPOVERLAPPED lpOverlapped;
	ULONG_PTR Internal;
	DWORD dwNumberOfBytesTransferred;
} OVERLAPPED_ENTRY, *LPOVERLAPPED_ENTRY;

typedef struct _SYSTEM_INFO {
	union {
		DWORD dwOemId;
		struct {
			WORD wProcessorArchitecture;
			WORD wReserved;
		};
	};
	DWORD dwPageSize;
	LPVOID lpMinimumApplicationAddress;
	LPVOID lpMaximumApplicationAddress;
	DWORD_PTR dwActiveProcessorMask;
	DWORD dwNumberOfProcessors;
	DWORD dwProcessorType;
	DWORD dwAllocationGranularity;
	WORD wProcessorLevel;
	WORD wProcessorRevision;
} SYSTEM_INFO, *LPSYSTEM_INFO;

#define PROCESSOR_ARCHITECTURE_INTEL 0
#define PROCESSOR_ARCHITECTURE_ARM 5
#define PROCESSOR_ARCHITECTURE_AMD64 9
#define PROCESSOR_ARCHITECTURE_ARM64 12
#define PROCESSOR_ARCHITECTURE_UNKNOWN 0xffff

typedef DWORD(WINAPI *PTHREAD_START_ROUTINE)(LPVOID);
typedef PTHREAD_START_ROUTINE LPTHREAD_START_ROUTINE;
typedef struct _SECURITY_ATTRIBUTES {
	DWORD nLength;
	LPVOID lpSecurityDescriptor;
	BOOL bInheritHandle;
} SECURITY_ATTRIBUTES, *PSECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

/* A recursive mutex, as a critical section is. */
typedef struct _RTL_CRITICAL_SECTION {
	pthread_mutex_t cport_mutex; /* the shim's */
} CRITICAL_SECTION, *PCRITICAL_SECTION, *LPCRITICAL_SECTION, RTL_CRITICAL_SECTION;

/* Win32 error codes (Windows' numbers), as GetLastError returns them. */
#define NO_ERROR 0
#define ERROR_SUCCESS 0
#define ERROR_INVALID_FUNCTION 1
#define ERROR_FILE_NOT_FOUND 2
#define ERROR_ACCESS_DENIED 5
#define ERROR_INVALID_HANDLE 6
#define ERROR_NOT_ENOUGH_MEMORY 8
#define ERROR_OUTOFMEMORY 14
#define ERROR_GEN_FAILURE 31
#define ERROR_NOT_SUPPORTED 50
#define ERROR_NETNAME_DELETED 64
#define ERROR_INVALID_PARAMETER 87
#define ERROR_BROKEN_PIPE 109
#define ERROR_INSUFFICIENT_BUFFER 122
#define ERROR_SEM_TIMEOUT 121
#define ERROR_ALREADY_EXISTS 183
#define ERROR_MORE_DATA 234
#define ERROR_MR_MID_NOT_FOUND 317
#define WAIT_TIMEOUT 258
#define ERROR_ABANDONED_WAIT_0 735
#define ERROR_OPERATION_ABORTED 995
#define ERROR_IO_INCOMPLETE 996
#define ERROR_IO_PENDING 997
#define ERROR_NOT_FOUND 1168
#define ERROR_CONNECTION_REFUSED 1225
#define ERROR_ADDRESS_ALREADY_ASSOCIATED 1227
#define ERROR_CONNECTION_INVALID 1229
#define ERROR_NETWORK_UNREACHABLE 1231
#define ERROR_HOST_UNREACHABLE 1232
#define ERROR_PORT_UNREACHABLE 1234
#define ERROR_CONNECTION_ABORTED 1236
#define ERROR_NO_SYSTEM_RESOURCES 1450
#define ERROR_TIMEOUT 1460
#define ERROR_RESOURCE_LANG_NOT_FOUND 1815

/* NTSTATUS values an OVERLAPPED's Internal holds. */
#define STATUS_SUCCESS 0x00000000u
#define STATUS_PENDING 0x00000103u
#define STATUS_BUFFER_OVERFLOW 0x80000005u
#define STATUS_UNSUCCESSFUL 0xC0000001u
#define STATUS_INVALID_HANDLE 0xC0000008u
#define STATUS_INVALID_PARAMETER 0xC000000Du
#define STATUS_INSUFFICIENT_RESOURCES 0xC000009Au
#define STATUS_IO_TIMEOUT 0xC00000B5u
#define STATUS_NOT_SUPPORTED 0xC00000BBu
#define STATUS_CANCELLED 0xC0000120u
#define STATUS_INVALID_CONNECTION 0xC0000140u
#define STATUS_ADDRESS_ALREADY_EXISTS 0xC000020Au
#define STATUS_CONNECTION_RESET 0xC000020Du
#define STATUS_CONNECTION_REFUSED 0xC0000236u
#define STATUS_NETWORK_UNREACHABLE 0xC000023Cu
#define STATUS_HOST_UNREACHABLE 0xC000023Du
#define STATUS_PORT_UNREACHABLE 0xC000023Fu
#define STATUS_CONNECTION_ABORTED 0xC0000241u
/* Internal is written by the thread that dequeues the completion: read it atomically. */
#define HasOverlappedIoCompleted(ov) (((DWORD)__atomic_load_n(&(ov)->Internal, __ATOMIC_ACQUIRE)) != STATUS_PENDING)

#define WAIT_OBJECT_0 0
#define WAIT_ABANDONED 0x80
#define WAIT_ABANDONED_0 0x80
#define WAIT_IO_COMPLETION 0xC0
#define WAIT_FAILED 0xFFFFFFFFu
#define MAXIMUM_WAIT_OBJECTS 64
#define STILL_ACTIVE 259
#define CREATE_SUSPENDED 0x4

#define GMEM_FIXED 0x0000
#define GMEM_MOVEABLE 0x0002
#define GMEM_ZEROINIT 0x0040
#define GPTR (GMEM_FIXED | GMEM_ZEROINIT)
#define GHND (GMEM_MOVEABLE | GMEM_ZEROINIT)
#define LMEM_FIXED 0x0000
#define LMEM_MOVEABLE 0x0002
#define LMEM_ZEROINIT 0x0040
#define LPTR (LMEM_FIXED | LMEM_ZEROINIT)
#define LHND (LMEM_MOVEABLE | LMEM_ZEROINIT)
#define HEAP_NO_SERIALIZE 0x1
#define HEAP_GENERATE_EXCEPTIONS 0x4
#define HEAP_ZERO_MEMORY 0x8

/* Memory helpers are macros on Windows too. */
#define RtlZeroMemory(dst, len) memset((dst), 0, (len))
#define RtlFillMemory(dst, len, fill) memset((dst), (fill), (len))
#define RtlCopyMemory(dst, src, len) memcpy((dst), (src), (len))
#define RtlMoveMemory(dst, src, len) memmove((dst), (src), (len))
#define RtlEqualMemory(a, b, len) (!memcmp((a), (b), (len)))
#define ZeroMemory RtlZeroMemory
#define FillMemory RtlFillMemory
#define CopyMemory RtlCopyMemory
#define MoveMemory RtlMoveMemory
#define EqualMemory RtlEqualMemory
#define SecureZeroMemory(dst, len) explicit_bzero((dst), (len))

/* The Interlocked family: full barriers, as on Windows. Each returns what
 * its Windows namesake returns (the new value for Increment, Decrement and
 * Add; the old one for the others). */
#define CPORT_W32_ATOMIC __ATOMIC_SEQ_CST
static inline LONG InterlockedIncrement(LONG volatile *p) { return __atomic_add_fetch(p, 1, CPORT_W32_ATOMIC); }
static inline LONG InterlockedDecrement(LONG volatile *p) { return __atomic_sub_fetch(p, 1, CPORT_W32_ATOMIC); }
static inline LONG InterlockedAdd(LONG volatile *p, LONG v) { return __atomic_add_fetch(p, v, CPORT_W32_ATOMIC); }
static inline LONG InterlockedExchangeAdd(LONG volatile *p, LONG v) { return __atomic_fetch_add(p, v, CPORT_W32_ATOMIC); }
static inline LONG InterlockedExchange(LONG volatile *p, LONG v) { return __atomic_exchange_n(p, v, CPORT_W32_ATOMIC); }
static inline LONG InterlockedAnd(LONG volatile *p, LONG v) { return __atomic_fetch_and(p, v, CPORT_W32_ATOMIC); }
static inline LONG InterlockedOr(LONG volatile *p, LONG v) { return __atomic_fetch_or(p, v, CPORT_W32_ATOMIC); }
static inline LONG InterlockedXor(LONG volatile *p, LONG v) { return __atomic_fetch_xor(p, v, CPORT_W32_ATOMIC); }
static inline LONG InterlockedCompareExchange(LONG volatile *p, LONG exchange, LONG comparand)
{
	__atomic_compare_exchange_n(p, &comparand, exchange, 0, CPORT_W32_ATOMIC, CPORT_W32_ATOMIC);
	return comparand; /* the initial value, whether or not it matched */
}
static inline LONG64 InterlockedIncrement64(LONG64 volatile *p) { return __atomic_add_fetch(p, 1, CPORT_W32_ATOMIC); }
static inline LONG64 InterlockedDecrement64(LONG64 volatile *p) { return __atomic_sub_fetch(p, 1, CPORT_W32_ATOMIC); }
static inline LONG64 InterlockedAdd64(LONG64 volatile *p, LONG64 v) { return __atomic_add_fetch(p, v, CPORT_W32_ATOMIC); }
static inline LONG64 InterlockedExchangeAdd64(LONG64 volatile *p, LONG64 v)
{
	return __atomic_fetch_add(p, v, CPORT_W32_ATOMIC);
}
static inline LONG64 InterlockedExchange64(LONG64 volatile *p, LONG64 v)
{
	return __atomic_exchange_n(p, v, CPORT_W32_ATOMIC);
}
static inline LONG64 InterlockedCompareExchange64(LONG64 volatile *p, LONG64 exchange, LONG64 comparand)
{
	__atomic_compare_exchange_n(p, &comparand, exchange, 0, CPORT_W32_ATOMIC, CPORT_W32_ATOMIC);
	return comparand;
}
static inline PVOID InterlockedExchangePointer(PVOID volatile *p, PVOID v)
{
	return __atomic_exchange_n(p, v, CPORT_W32_ATOMIC);
}
static inline PVOID InterlockedCompareExchangePointer(PVOID volatile *p, PVOID exchange, PVOID comparand)
{
	__atomic_compare_exchange_n(p, &comparand, exchange, 0, CPORT_W32_ATOMIC, CPORT_W32_ATOMIC);
	return comparand;
}
#define MemoryBarrier() __atomic_thread_fence(__ATOMIC_SEQ_CST)

#define CPORT_W32_API __attribute__((visibility("default")))

CPORT_W32_API DWORD GetLastError(void);
CPORT_W32_API void SetLastError(DWORD dwErrCode);

/* Ports: a port handle, a socket associated with a port. */
CPORT_W32_API HANDLE CreateIoCompletionPort(HANDLE FileHandle, HANDLE ExistingCompletionPort,
					    ULONG_PTR CompletionKey, DWORD NumberOfConcurrentThreads);
CPORT_W32_API BOOL GetQueuedCompletionStatus(HANDLE CompletionPort, LPDWORD lpNumberOfBytesTransferred,
					     PULONG_PTR lpCompletionKey, LPOVERLAPPED *lpOverlapped,
					     DWORD dwMilliseconds);
CPORT_W32_API BOOL GetQueuedCompletionStatusEx(HANDLE CompletionPort, LPOVERLAPPED_ENTRY lpCompletionPortEntries,
					       ULONG ulCount, PULONG ulNumEntriesRemoved, DWORD dwMilliseconds,
					       BOOL fAlertable);
CPORT_W32_API BOOL PostQueuedCompletionStatus(HANDLE CompletionPort, DWORD dwNumberOfBytesTransferred,
					      ULONG_PTR dwCompletionKey, LPOVERLAPPED lpOverlapped);
CPORT_W32_API BOOL CancelIo(HANDLE hFile);
CPORT_W32_API BOOL CancelIoEx(HANDLE hFile, LPOVERLAPPED lpOverlapped);
CPORT_W32_API BOOL CloseHandle(HANDLE hObject);

/* Threads. */
CPORT_W32_API HANDLE CreateThread(LPSECURITY_ATTRIBUTES lpThreadAttributes, SIZE_T dwStackSize,
				  LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter,
				  DWORD dwCreationFlags, LPDWORD lpThreadId);
CPORT_W32_API DWORD WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds);
CPORT_W32_API DWORD WaitForMultipleObjects(DWORD nCount, const HANDLE *lpHandles, BOOL bWaitAll,
					   DWORD dwMilliseconds);
CPORT_W32_API BOOL GetExitCodeThread(HANDLE hThread, LPDWORD lpExitCode);
CPORT_W32_API DWORD GetCurrentThreadId(void);
CPORT_W32_API DWORD GetCurrentProcessId(void);
CPORT_W32_API void Sleep(DWORD dwMilliseconds);
/* No APCs can be queued here: an alertable sleep is a plain one (returns 0). */
CPORT_W32_API DWORD SleepEx(DWORD dwMilliseconds, BOOL bAlertable);
CPORT_W32_API BOOL SwitchToThread(void);
/* The exit code is what GetExitCodeThread and the waits see. */
CPORT_W32_API __attribute__((noreturn)) void ExitThread(DWORD dwExitCode);
/* Flushes stdio, then ends every thread at once; atexit handlers do not run. */
CPORT_W32_API __attribute__((noreturn)) void ExitProcess(UINT uExitCode);
CPORT_W32_API DWORD WaitForSingleObjectEx(HANDLE hHandle, DWORD dwMilliseconds, BOOL bAlertable);
CPORT_W32_API DWORD WaitForMultipleObjectsEx(DWORD nCount, const HANDLE *lpHandles, BOOL bWaitAll,
					     DWORD dwMilliseconds, BOOL bAlertable);

/* Events: unnamed, manual- or auto-reset, waitable with threads. */
CPORT_W32_API HANDLE CreateEventA(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset, BOOL bInitialState,
				  LPCSTR lpName);
CPORT_W32_API HANDLE CreateEventW(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset, BOOL bInitialState,
				  LPCWSTR lpName);
CPORT_W32_API BOOL SetEvent(HANDLE hEvent);
CPORT_W32_API BOOL ResetEvent(HANDLE hEvent);

/* The result of an overlapped operation, from its OVERLAPPED. */
CPORT_W32_API BOOL GetOverlappedResult(HANDLE hFile, LPOVERLAPPED lpOverlapped,
				       LPDWORD lpNumberOfBytesTransferred, BOOL bWait);
CPORT_W32_API BOOL GetOverlappedResultEx(HANDLE hFile, LPOVERLAPPED lpOverlapped,
					 LPDWORD lpNumberOfBytesTransferred, DWORD dwMilliseconds,
					 BOOL bAlertable);

/* FormatMessage: FORMAT_MESSAGE_FROM_SYSTEM texts for the codes the shim produces. */
#define FORMAT_MESSAGE_ALLOCATE_BUFFER 0x00000100
#define FORMAT_MESSAGE_IGNORE_INSERTS 0x00000200
#define FORMAT_MESSAGE_FROM_STRING 0x00000400
#define FORMAT_MESSAGE_FROM_HMODULE 0x00000800
#define FORMAT_MESSAGE_FROM_SYSTEM 0x00001000
#define FORMAT_MESSAGE_ARGUMENT_ARRAY 0x00002000
#define FORMAT_MESSAGE_MAX_WIDTH_MASK 0x000000FF
#define LANG_NEUTRAL 0x00
#define LANG_ENGLISH 0x09
#define SUBLANG_NEUTRAL 0x00
#define SUBLANG_DEFAULT 0x01
#define SUBLANG_SYS_DEFAULT 0x02
#define SUBLANG_ENGLISH_US 0x01
#define MAKELANGID(p, s) ((((WORD)(s)) << 10) | (WORD)(p))
#define PRIMARYLANGID(lgid) ((WORD)(lgid)&0x3ff)
#define LANG_SYSTEM_DEFAULT MAKELANGID(LANG_NEUTRAL, SUBLANG_SYS_DEFAULT)
#define LANG_USER_DEFAULT MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT)
CPORT_W32_API DWORD FormatMessageA(DWORD dwFlags, LPCVOID lpSource, DWORD dwMessageId, DWORD dwLanguageId,
				   LPSTR lpBuffer, DWORD nSize, va_list *Arguments);

/* String helpers of kernel32 and user32 (ANSI). */
CPORT_W32_API int lstrlenA(LPCSTR lpString);
CPORT_W32_API LPSTR lstrcpyA(LPSTR lpString1, LPCSTR lpString2);
CPORT_W32_API LPSTR lstrcpynA(LPSTR lpString1, LPCSTR lpString2, int iMaxLength);
CPORT_W32_API LPSTR lstrcatA(LPSTR lpString1, LPCSTR lpString2);
CPORT_W32_API int lstrcmpA(LPCSTR lpString1, LPCSTR lpString2);
CPORT_W32_API int lstrcmpiA(LPCSTR lpString1, LPCSTR lpString2);
CPORT_W32_API int WINAPIV wsprintfA(LPSTR lpOut, LPCSTR lpFmt, ...);
CPORT_W32_API int wvsprintfA(LPSTR lpOut, LPCSTR lpFmt, va_list arglist);

/* Console control events: signals here (docs/win32.md). */
typedef BOOL(WINAPI *PHANDLER_ROUTINE)(DWORD CtrlType);
#define CTRL_C_EVENT 0        /* SIGINT */
#define CTRL_BREAK_EVENT 1    /* SIGQUIT */
#define CTRL_CLOSE_EVENT 2    /* SIGHUP */
#define CTRL_LOGOFF_EVENT 5   /* never sent */
#define CTRL_SHUTDOWN_EVENT 6 /* SIGTERM */
CPORT_W32_API BOOL SetConsoleCtrlHandler(PHANDLER_ROUTINE HandlerRoutine, BOOL Add);
#define STD_INPUT_HANDLE ((DWORD)-10)
#define STD_OUTPUT_HANDLE ((DWORD)-11)
#define STD_ERROR_HANDLE ((DWORD)-12)
CPORT_W32_API HANDLE GetStdHandle(DWORD nStdHandle);
CPORT_W32_API BOOL WriteConsoleA(HANDLE hConsoleOutput, const VOID *lpBuffer, DWORD nNumberOfCharsToWrite,
				 LPDWORD lpNumberOfCharsWritten, LPVOID lpReserved);

/* HRESULTs (winerror.h). */
#define S_OK ((HRESULT)0)
#define S_FALSE ((HRESULT)1)
#define E_FAIL ((HRESULT)0x80004005L)
#define E_INVALIDARG ((HRESULT)0x80070057L)
#define E_OUTOFMEMORY ((HRESULT)0x8007000EL)
#define SUCCEEDED(hr) (((HRESULT)(hr)) >= 0)
#define FAILED(hr) (((HRESULT)(hr)) < 0)
#define HRESULT_FROM_WIN32(x) ((HRESULT)(x) <= 0 ? ((HRESULT)(x)) : ((HRESULT)(((x)&0x0000FFFF) | (7 << 16) | 0x80000000)))

#ifndef UNICODE
#define WriteConsole WriteConsoleA
#define CreateEvent CreateEventA
#define FormatMessage FormatMessageA
#define lstrlen lstrlenA
#define lstrcpy lstrcpyA
#define lstrcpyn lstrcpynA
#define lstrcat lstrcatA
#define lstrcmp lstrcmpA
#define lstrcmpi lstrcmpiA
#define wsprintf wsprintfA
#define wvsprintf wvsprintfA
#endif

CPORT_W32_API void InitializeCriticalSection(LPCRITICAL_SECTION cs);
CPORT_W32_API BOOL InitializeCriticalSectionAndSpinCount(LPCRITICAL_SECTION cs, DWORD dwSpinCount);
CPORT_W32_API void EnterCriticalSection(LPCRITICAL_SECTION cs);
CPORT_W32_API BOOL TryEnterCriticalSection(LPCRITICAL_SECTION cs);
CPORT_W32_API void LeaveCriticalSection(LPCRITICAL_SECTION cs);
CPORT_W32_API void DeleteCriticalSection(LPCRITICAL_SECTION cs);

/* The system. */
CPORT_W32_API void GetSystemInfo(LPSYSTEM_INFO lpSystemInfo);
CPORT_W32_API DWORD GetTickCount(void);
CPORT_W32_API ULONGLONG GetTickCount64(void);
CPORT_W32_API BOOL QueryPerformanceCounter(LARGE_INTEGER *lpPerformanceCount);
CPORT_W32_API BOOL QueryPerformanceFrequency(LARGE_INTEGER *lpFrequency);

/* Memory: every block lies below 4 GiB (see docs/win32.md). */
CPORT_W32_API HGLOBAL GlobalAlloc(UINT uFlags, SIZE_T dwBytes);
CPORT_W32_API HGLOBAL GlobalFree(HGLOBAL hMem);
CPORT_W32_API LPVOID GlobalLock(HGLOBAL hMem);
CPORT_W32_API BOOL GlobalUnlock(HGLOBAL hMem);
CPORT_W32_API HLOCAL LocalAlloc(UINT uFlags, SIZE_T uBytes);
CPORT_W32_API HLOCAL LocalFree(HLOCAL hMem);
CPORT_W32_API HANDLE GetProcessHeap(void);
CPORT_W32_API LPVOID HeapAlloc(HANDLE hHeap, DWORD dwFlags, SIZE_T dwBytes);
CPORT_W32_API BOOL HeapFree(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem);

#ifdef __cplusplus
}
#endif

/* What MSVC's CRT headers give (sprintf_s, _stricmp, _countof, ...). */
#include "cport-win32-crt.h"

/* Windows programs get Winsock from windows.h too. */
#include "winsock2.h"

#endif
