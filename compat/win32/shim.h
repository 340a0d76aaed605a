/* shim.h - what the Win32 shim's files share: last error and error codes,
 * the handle table, the socket map. Internal: never installed. */
#ifndef CPORT_COMPAT_SHIM_H
#define CPORT_COMPAT_SHIM_H

#include "mswsock.h"
#include "ws2tcpip.h"

#include <stdbool.h>
#include <time.h>

/* errors.c: an errno as each Windows convention reports it. */
void w32_set_error(DWORD err);
DWORD w32_wsa_error(int errnum);    /* WSAGetLastError() after a synchronous call */
DWORD w32_io_error(int errnum);     /* GetLastError() after a failed completion */
ULONG_PTR w32_ntstatus(int errnum); /* OVERLAPPED.Internal of a failed completion */
int w32_fail(int errnum, int ret);  /* set the WSA error for errnum, return ret */

/* handle.c: ports and threads are slots of one table; a HANDLE names a
 * slot and its generation, so a closed handle is refused, never followed.
 * A slot's object lives while the handle is open or anyone holds a pin. */
enum w32_kind { W32_PORT = 1, W32_THREAD, W32_EVENT, W32_KINDS };
struct w32_slot;
struct w32_kind_ops {
	void (*shut)(void *obj); /* CloseHandle, once no busy caller is left */
	void (*fin)(void *obj);  /* the last pin is gone after the close */
};
void w32_kind_register(int kind, const struct w32_kind_ops *ops);
/* A new open handle for obj, with pins already held; NULL if the table is full. */
HANDLE w32_handle_new(int kind, void *obj, unsigned pins, struct w32_slot **slot);
/* Pin h's object if h is an open handle of that kind. A busy pin also keeps
 * CloseHandle from shutting the object down until it is dropped: take it
 * for a call that uses the object and returns soon; a plain pin keeps only
 * the memory (for a wait). */
void *w32_handle_get(HANDLE h, int kind, bool busy, struct w32_slot **slot);
/* The same for a handle of any kind in mask (1 << kind each); *kind says which. */
void *w32_handle_get_any(HANDLE h, unsigned mask, int *kind, bool busy, struct w32_slot **slot);
/* Whether h's object is gone: closed and its last pin dropped (nobody can
 * use it any more), or never a handle of the table. */
bool w32_handle_gone(HANDLE h);
void w32_handle_put(struct w32_slot *slot, bool busy);
/* Close h: refuse it from now on, wait for busy pins, shut the object down.
 * Returns false (ERROR_INVALID_HANDLE set) if h is not an open handle of
 * that kind. */
bool w32_handle_close(HANDLE h, int kind);
/* Whether h could be a handle of the table (not a socket). */
bool w32_is_table_handle(HANDLE h);

/* wait.c: threads and events are waitable; their state is under one lock,
 * and every change of it is broadcast on one condition (waits are rare). */
struct w32_waitable {
	bool signaled;
	bool manual; /* false: a satisfied wait resets it (auto-reset event) */
};
extern pthread_mutex_t w32_wait_lock;
void w32_wait_init(void);    /* before the first waitable exists */
void w32_wait_changed(void); /* with w32_wait_lock held */
/* Wait on the condition with w32_wait_lock held, until *deadline (CLOCK_MONOTONIC)
 * or, with deadline NULL, a change. Returns ETIMEDOUT or 0. */
int w32_wait_until(const struct timespec *deadline);
void w32_deadline_after(struct timespec *ts, DWORD ms);
/* event.c */
bool w32_event_set(HANDLE h); /* SetEvent without touching the last error */
bool w32_event_reset(HANDLE h);

/* port.c */
cport_t *w32_port_cport(void *port);

/* socket.c: which port each socket is associated with, and its key. */
#define W32_MAX_FDS (1 << 20)
bool w32_socket_ok(SOCKET s);
void w32_socket_associate(SOCKET s, HANDLE port, ULONG_PTR key);
/* The port s is associated with, pinned busy (w32_handle_put(*slot, true)
 * when done); NULL if none or closed. */
cport_t *w32_socket_port(SOCKET s, struct w32_slot **slot, ULONG_PTR *key);
HANDLE w32_socket_forget(SOCKET s);
HANDLE w32_socket_port_handle(SOCKET s); /* NULL if not associated */
bool w32_socket_nonblocking(SOCKET s);
bool w32_socket_exclusive(SOCKET s);
void w32_socket_set_exclusive(SOCKET s, bool on);
/* A new fd from the kernel (an accepted connection) as a SOCKET: within the
 * map's range (else closed, WSAEMFILE), its map entry clean. */
SOCKET w32_socket_adopt(int fd);
/* A blocking transfer for a call made without an OVERLAPPED; the WSA error
 * is set on failure. Returns 0 or SOCKET_ERROR. */
int w32_sync_io(SOCKET s, struct msghdr *m, int flags, bool is_send, DWORD *done);

/* overlapped.c: what GetQueuedCompletionStatus does with a dequeued
 * completion before handing it out: *bytes, *err (0 or a positive errno),
 * and the OVERLAPPED's Internal and InternalHigh. Returns false if the
 * completion was consumed (a multi-step operation went on to its next step).
 * cp is NULL when the port is closing: no next step is started then. */
bool w32_complete(cport_t *cp, struct cport_completion *c, DWORD *bytes, int *err);
/* An operation is over: Internal and InternalHigh as Windows fills them,
 * its hEvent signalled, waiting GetOverlappedResult calls woken. Returns
 * false if hEvent has its low bit set: no completion packet is handed out. */
bool w32_io_done(LPOVERLAPPED ov, DWORD bytes, int err);
/* ov starts an operation that completes through port. */
void w32_io_begin(LPOVERLAPPED ov, HANDLE port);
/* DisconnectEx's completion, posted by the shim itself. */
#define W32_STEP_POSTED 0x44495343
/* errors.c: the errno an NTSTATUS of an OVERLAPPED stands for. */
int w32_errno_of_status(ULONG_PTR status);

/* A blocking wait for fd to be ready, for calls on a socket that an
 * association made non-blocking. Returns 0 or -errno. */
int w32_wait_ready(int fd, short events);

#endif
