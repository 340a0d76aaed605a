/* windows.h - the Win32 subset classic IOCP programs use, over cport.
 *
 * A thin, honest shim: handles are cport ports or socket fds, OVERLAPPED
 * carries a cport_op, errors come from GetLastError(). Differences from
 * Windows are listed in compat/win32/README.md. */
#ifndef CPORT_COMPAT_WINDOWS_H
#define CPORT_COMPAT_WINDOWS_H

#include <cport.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WINAPI
#define CALLBACK
#define VOID void
#define TRUE 1
#define FALSE 0
#define INFINITE 0xFFFFFFFFu

typedef int BOOL;
typedef uint8_t BYTE;
typedef char CHAR;
typedef uint16_t WORD;
typedef uint32_t DWORD;
typedef int32_t LONG;
typedef uint32_t ULONG;
typedef int INT;
typedef unsigned int UINT;
typedef uintptr_t ULONG_PTR;
typedef uintptr_t DWORD_PTR;
typedef uintptr_t SIZE_T;
typedef void *HANDLE;
typedef void *LPVOID;
typedef void *PVOID;
typedef const void *LPCVOID;
typedef DWORD *LPDWORD;
typedef BOOL *LPBOOL;
typedef ULONG_PTR *PULONG_PTR;
typedef void *HGLOBAL;
typedef char *LPSTR;
typedef const char *LPCSTR;

#define INVALID_HANDLE_VALUE ((HANDLE)(intptr_t)-1)

/* The OVERLAPPED: Windows' fields, then the cport op the shim runs it on. */
typedef struct _OVERLAPPED {
	ULONG_PTR Internal;     /* the status (an error code) once complete */
	ULONG_PTR InternalHigh; /* bytes transferred once complete */
	union {
		struct {
			DWORD Offset;
			DWORD OffsetHigh;
		};
		PVOID Pointer;
	};
	HANDLE hEvent;
	struct cport_op cport; /* the shim's; do not touch */
	uintptr_t shim[6];     /* the shim's; do not touch */
} OVERLAPPED, *LPOVERLAPPED;

typedef struct _OVERLAPPED_ENTRY {
	ULONG_PTR lpCompletionKey;
	LPOVERLAPPED lpOverlapped;
	ULONG_PTR Internal;
	DWORD dwNumberOfBytesTransferred;
} OVERLAPPED_ENTRY, *LPOVERLAPPED_ENTRY;

typedef struct _SYSTEM_INFO {
	DWORD dwPageSize;
	DWORD dwNumberOfProcessors;
	DWORD dwProcessorType;
	DWORD dwAllocationGranularity;
} SYSTEM_INFO, *LPSYSTEM_INFO;

typedef DWORD(WINAPI *LPTHREAD_START_ROUTINE)(LPVOID);
typedef struct _SECURITY_ATTRIBUTES SECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

/* Error codes the shim reports (Windows' numbers). */
#define ERROR_SUCCESS 0
#define ERROR_INVALID_HANDLE 6
#define ERROR_NOT_ENOUGH_MEMORY 8
#define ERROR_INVALID_PARAMETER 87
#define ERROR_NOT_SUPPORTED 50
#define ERROR_NETNAME_DELETED 64
#define WAIT_TIMEOUT 258
#define ERROR_ABANDONED_WAIT_0 735
#define ERROR_OPERATION_ABORTED 995
#define ERROR_IO_PENDING 997
#define ERROR_NOT_FOUND 1168
#define WAIT_OBJECT_0 0
#define STATUS_PENDING 0x103
#define HasOverlappedIoCompleted(ov) ((ov)->Internal != STATUS_PENDING)
#define WAIT_FAILED 0xFFFFFFFFu

#define GMEM_FIXED 0x0000
#define GMEM_ZEROINIT 0x0040
#define GPTR (GMEM_FIXED | GMEM_ZEROINIT)

DWORD GetLastError(void);
void SetLastError(DWORD err);

HANDLE CreateIoCompletionPort(HANDLE FileHandle, HANDLE ExistingCompletionPort, ULONG_PTR CompletionKey,
			      DWORD NumberOfConcurrentThreads);
BOOL GetQueuedCompletionStatus(HANDLE CompletionPort, LPDWORD lpNumberOfBytesTransferred,
			       PULONG_PTR lpCompletionKey, LPOVERLAPPED *lpOverlapped, DWORD dwMilliseconds);
BOOL GetQueuedCompletionStatusEx(HANDLE CompletionPort, LPOVERLAPPED_ENTRY lpCompletionPortEntries, ULONG ulCount,
				 ULONG *ulNumEntriesRemoved, DWORD dwMilliseconds, BOOL fAlertable);
BOOL PostQueuedCompletionStatus(HANDLE CompletionPort, DWORD dwNumberOfBytesTransferred, ULONG_PTR dwCompletionKey,
				LPOVERLAPPED lpOverlapped);
BOOL CancelIo(HANDLE hFile);
BOOL CancelIoEx(HANDLE hFile, LPOVERLAPPED lpOverlapped);
BOOL CloseHandle(HANDLE hObject);

HANDLE CreateThread(LPSECURITY_ATTRIBUTES attrs, SIZE_T stack, LPTHREAD_START_ROUTINE start, LPVOID param,
		    DWORD flags, LPDWORD thread_id);
DWORD WaitForSingleObject(HANDLE h, DWORD ms);
void Sleep(DWORD ms);
void GetSystemInfo(LPSYSTEM_INFO info);
HGLOBAL GlobalAlloc(UINT flags, SIZE_T bytes);
HGLOBAL GlobalFree(HGLOBAL mem);

#ifdef __cplusplus
}
#endif
#endif
