/* process.h - the CRT's thread calls, over the shim's thread objects: the
 * handle _beginthreadex returns works with WaitForSingleObject,
 * WaitForMultipleObjects, GetExitCodeThread and CloseHandle; the one
 * _beginthread returns closes itself when its thread ends, as on Windows. */
#ifndef CPORT_COMPAT_PROCESS_H
#define CPORT_COMPAT_PROCESS_H

#include <stdint.h>
#include <unistd.h>

#include "cport-win32-crt.h"

#ifndef __stdcall
#define __stdcall
#endif
#ifndef __cdecl
#define __cdecl
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef unsigned(__stdcall *_beginthreadex_proc_type)(void *);
typedef void(__cdecl *_beginthread_proc_type)(void *);

/* 0 on failure, errno set (EINVAL, EAGAIN) and GetLastError() too;
 * initflag CREATE_SUSPENDED is not supported (EINVAL, ERROR_NOT_SUPPORTED). */
CPORT_W32_API uintptr_t _beginthreadex(void *security, unsigned stack_size, _beginthreadex_proc_type start_address,
				       void *arglist, unsigned initflag, unsigned *thrdaddr);
CPORT_W32_API __attribute__((noreturn)) void _endthreadex(unsigned retval);
/* (uintptr_t)-1 on failure, errno set. */
CPORT_W32_API uintptr_t _beginthread(_beginthread_proc_type start_address, unsigned stack_size, void *arglist);
CPORT_W32_API __attribute__((noreturn)) void _endthread(void);

#ifdef __cplusplus
}
#endif
#endif
