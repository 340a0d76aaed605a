/* cport.h - an I/O completion port for Linux, on io_uring or epoll.
 *
 * The model is Windows' IOCP: a port is a queue that finished I/O flows out
 * of; sockets are attached to it under a key; operations are caller-owned
 * structs (the OVERLAPPED) handed back with every completion; any number of
 * threads dequeue completions from one port.
 *
 * Conventions: every call returns 0 (or a count) on success and -errno on
 * failure. The library never prints, exits or aborts.
 */
#ifndef CPORT_H
#define CPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CPORT_API __attribute__((visibility("default")))

#define CPORT_VERSION_MAJOR 0
#define CPORT_VERSION_MINOR 1
#define CPORT_VERSION_PATCH 0
#define CPORT_VERSION_STRING "0.1.0"

/* A completion port. Opaque; owned by the library. */
typedef struct cport cport_t;

/* Which backend turns the kernel's events into completions. */
enum cport_backend {
	CPORT_BACKEND_AUTO = 0, /* io_uring if usable, else epoll; CPORT_BACKEND env overrides */
	CPORT_BACKEND_URING = 1,
	CPORT_BACKEND_EPOLL = 2,
};

/* cport_options.flags */
#define CPORT_SINGLE_THREAD 0x1u /* one thread uses the port: no locks at all */

struct cport_options {
	int backend;              /* enum cport_backend */
	unsigned flags;           /* CPORT_SINGLE_THREAD */
	unsigned queue_depth;     /* kernel queue size hint; 0 = 256 */
	unsigned concurrency;     /* threads running completions at once; 0 = the CPUs this process may run on */
	unsigned pool_buffers;    /* buffers in the receive pool; 0 = 1024 */
	unsigned pool_buffer_size; /* bytes per pool buffer; 0 = 16384 */
	/* Large pool buffers, for pooled receives on a socket whose receives
	 * lately filled a buffer: a message bigger than a buffer then costs one
	 * receive, not several. 0 = none. */
	unsigned pool_large_buffers;
	unsigned pool_large_buffer_size; /* bytes per large buffer; 0 = 65536 */
	/* Room for options to come without changing the struct's size: zero
	 * (cport_options_init does it), or cport_create says -EINVAL. */
	unsigned reserved[8];
};

/* The kinds of operation; read back with cport_op_kind(). */
enum cport_op_kind {
	CPORT_OP_NONE = 0,
	CPORT_OP_RECV,
	CPORT_OP_SEND,
	CPORT_OP_RECVFROM,
	CPORT_OP_SENDTO,
	CPORT_OP_ACCEPT,
	CPORT_OP_CONNECT,
	CPORT_OP_RECV_POOLED,
	CPORT_OP_POST,
	CPORT_OP_DETACH,
	CPORT_OP_CLOSE,
	CPORT_OP_RECVMSG,
	CPORT_OP_SENDMSG,
	CPORT_OP_POLL,
};

/* A link in one of the library's intrusive lists. Private. */
struct cport_link {
	struct cport_link *_next, *_prev;
};

/*
 * One operation: the OVERLAPPED. The caller owns it, embeds it in its own
 * per-I/O struct and recovers that struct from a completion with
 * container_of. Zero it (or call cport_op_init) before first use; it may be
 * reused once its completion has been dequeued. Its memory and the buffers
 * and addresses it names must stay valid until then. Every field is the
 * library's: do not touch them while the op is in flight. A server keeps one
 * per idle connection, so fields that are never needed at once share their
 * bytes: 144 on 64-bit Linux.
 */
struct cport_op {
	/* The port core's: */
	struct cport_link _queue_link; /* the completion queue, or a batch bound for it */
	union { /* an op in flight is held by the pool or by the backend, never both */
		struct cport_link _pool_link;    /* the pool's list of receives waiting for a buffer */
		struct cport_link _backend_link; /* the backend's: epoll's per-fd queues, io_uring's unconfirmed cancels */
	};
	void *_fd_entry;               /* the attached fd it runs on; NULL for posts */
	uintptr_t _key;
	int64_t _result;
	union {
		struct msghdr _msg; /* recv, send, recvfrom, sendto: what the kernel is given; connect: msg_namelen;
				     * poll: msg_flags, the events */
		const void *_addr;  /* _msg.msg_name: the address; recvmsg/sendmsg: the caller's msghdr */
	};
	void *_addrlen;     /* recvfrom, accept: the caller's address length */
	int _fd;
	uint32_t _epoch;    /* the fd's cancel epoch when the op started */
	uint32_t _buf_id;   /* pooled receive: the pool buffer granted it, then the one it completed with */
	uint32_t _backend_word; /* the backend's own */
	uint16_t _bits;     /* cancel asked, readiness wanted, ... */
	uint16_t _restarts; /* times the kernel ended it on its own and it was started again */
	uint8_t _state;     /* idle, in flight, done */
	uint8_t _kind;
	uint8_t _flags;     /* CPORT_CF_* of the completion */
};

/* cport_completion.flags */
#define CPORT_CF_BUFFER 0x1u /* buf holds pooled data: give it back with cport_buf_release */

/* One dequeued completion. */
struct cport_completion {
	uintptr_t key;        /* the key the fd was attached under, or the posted key */
	struct cport_op *op;  /* the op that finished (NULL for a post without op) */
	int64_t result;       /* bytes (or new fd for accept) >= 0, or -errno */
	uint32_t flags;       /* CPORT_CF_* */
	uint32_t kind;        /* enum cport_op_kind */
	void *buf;            /* pooled receive: the data; NULL otherwise */
};

/* Fill *o with the defaults (backend auto, every size default). */
CPORT_API void cport_options_init(struct cport_options *o);

/* Create a port. opts may be NULL for the defaults. On success *out is the port.
 * -ENOSYS/-EPERM/-EOPNOTSUPP: the backend asked for (or named by CPORT_BACKEND
 * when auto is asked) cannot run here; -EINVAL: bad option or an unknown
 * CPORT_BACKEND name. Only auto without CPORT_BACKEND falls back to epoll. */
CPORT_API int cport_create(const struct cport_options *opts, cport_t **out);

/* Destroy a port: wakes every waiter (their wait returns -ESHUTDOWN), cancels
 * every op in flight (their completions are discarded; connections accepted
 * but never dequeued are closed), closes the fds closed through it, frees
 * everything. Attached fds that were not closed through the port stay open.
 * A single-thread port is destroyed by the thread that used it.
 * Returns 0, -EINVAL for NULL, -EALREADY if already being destroyed. */
CPORT_API int cport_destroy(cport_t *port);

/* The backend a name stands for (the one parser of backend names): "auto", "io_uring" (or "uring"), "epoll".
 * Returns an enum cport_backend, or -EINVAL for NULL or any other name. */
CPORT_API int cport_backend_parse(const char *name);

/* Keep the port's memory valid past cport_destroy, for a caller whose other
 * threads may still be on their way into cport_wait or cport_post on it (a
 * wrapper that cannot tell when they got there): those calls then return
 * -ESHUTDOWN instead of reading freed memory. Every other call stays
 * forbidden after cport_destroy. Each cport_retain needs one cport_release;
 * the memory goes with the last of them and cport_destroy's.
 * Returns 0, or -EINVAL for NULL. */
CPORT_API int cport_retain(cport_t *port);

/* Drop a reference taken with cport_retain. NULL is ignored. */
CPORT_API void cport_release(cport_t *port);

/* The name of the backend this port runs on: "io_uring" or "epoll". */
CPORT_API const char *cport_backend_name(const cport_t *port);

/* The number of threads that may run completions at once. */
CPORT_API unsigned cport_concurrency(const cport_t *port);

/* Attach a socket fd under key. The fd is made non-blocking. An fd belongs to
 * one port: -EEXIST if attached already here (attaching one fd to two ports
 * is not detected, and not supported), -EBADF if not an open fd. */
CPORT_API int cport_attach(cport_t *port, int fd, uintptr_t key);

/* cport_set_completion_modes() modes */
#define CPORT_SKIP_ON_SUCCESS 0x1u /* an op that succeeds inside its start call completes there (returns 1) */
#define CPORT_RECV_AHEAD 0x2u      /* pooled receives on a stream socket may read ahead (io_uring) */

/* Set fd's completion modes (Windows' SetFileCompletionNotificationModes).
 * With CPORT_SKIP_ON_SUCCESS an op on fd that the kernel completes with
 * success while its start call runs is done when that call returns 1: its
 * result is cport_op_result(op), the op is the caller's again, and no
 * completion for it comes through the port. A failure, and an op that has
 * to wait, still completes through the port (the call returns 0). Pooled
 * receives always complete through the port. With epoll the library tries
 * every op at once whose socket was ready; with io_uring it tries sends,
 * except those of a thread running a batch of the port's completions
 * (they ride its next wait; see cport_set_completion_modes(3)).
 * With CPORT_RECV_AHEAD only pooled receives read fd: on io_uring one
 * kernel request keeps taking the stream's bytes into pool buffers between
 * them (at most two buffers' worth), and the next pooled receive completes
 * with what was read ahead. Other reads of fd (cport_recv, cport_recvfrom,
 * cport_recvmsg, cport_accept, cport_poll for POLLIN) are refused with
 * -EINVAL while the mode is set, and clearing it fails with -EBUSY while
 * bytes are held or a read is armed. cport_detach drops bytes read ahead.
 * 0, -EINVAL for unknown modes, -EBADF if fd is not attached, -EBUSY
 * (clearing CPORT_RECV_AHEAD, see above). */
CPORT_API int cport_set_completion_modes(cport_t *port, int fd, unsigned modes);

/* The result of an op whose start call returned 1 (and of one dequeued). */
CPORT_API int64_t cport_op_result(const struct cport_op *op);

/* Zero an op before its first use. */
CPORT_API void cport_op_init(struct cport_op *op);

/* The kind of the op that just completed (enum cport_op_kind). */
CPORT_API int cport_op_kind(const struct cport_op *op);

/* Every start call below returns 0 when the op was started (one completion
 * follows), 1 when it was done at once on an fd with CPORT_SKIP_ON_SUCCESS
 * (no completion follows: see cport_set_completion_modes), or -errno.
 *
 * Receive into iov[0..iovcnt). Completes with bytes received, 0 at end of
 * stream, or -errno. -EBUSY if op is in flight; -EBADF if fd is not attached;
 * -EINVAL on a NULL or empty buffer list; -EAGAIN if the kernel's queue is
 * full and takes nothing now (try again after a wait); -ESHUTDOWN once the
 * port is being destroyed (the same for every start call below). The iovec array itself, not only
 * the buffers, must stay valid until the op completes. */
CPORT_API int cport_recv(cport_t *port, int fd, struct cport_op *op, const struct iovec *iov, int iovcnt);

/* Send iov[0..iovcnt). Completes with the bytes sent, which may be fewer than
 * asked (a partial send): the caller sends the rest. */
CPORT_API int cport_send(cport_t *port, int fd, struct cport_op *op, const struct iovec *iov, int iovcnt);

/* Receive one datagram; *addrlen is in/out and is set when the op completes. */
CPORT_API int cport_recvfrom(cport_t *port, int fd, struct cport_op *op, const struct iovec *iov, int iovcnt,
		   struct sockaddr *addr, socklen_t *addrlen);

/* Send one datagram to addr. */
CPORT_API int cport_sendto(cport_t *port, int fd, struct cport_op *op, const struct iovec *iov, int iovcnt,
		 const struct sockaddr *addr, socklen_t addrlen);

/* Receive with a control buffer and flags: msg is the caller's msghdr, which
 * must stay valid until completion (recvmsg(2) semantics; msg_flags and
 * msg_controllen are updated). */
CPORT_API int cport_recvmsg(cport_t *port, int fd, struct cport_op *op, struct msghdr *msg);

/* Send with a control buffer (e.g. IP_PKTINFO): sendmsg(2) semantics. */
CPORT_API int cport_sendmsg(cport_t *port, int fd, struct cport_op *op, const struct msghdr *msg);

/* Accept one connection on a listening fd. Completes with the new fd (not
 * attached, non-blocking, close-on-exec) or -errno. addr/addrlen may be NULL. */
CPORT_API int cport_accept(cport_t *port, int listen_fd, struct cport_op *op, struct sockaddr *addr,
		 socklen_t *addrlen);

/* Connect fd to addr. Completes with 0 or -errno. */
CPORT_API int cport_connect(cport_t *port, int fd, struct cport_op *op, const struct sockaddr *addr,
		  socklen_t addrlen);

/* Receive into a buffer the port takes from its pool only when data is ready,
 * so an idle connection holds no buffer. The completion has CPORT_CF_BUFFER
 * and buf set when result > 0; hand buf back with cport_buf_release. When the
 * pool is empty the op waits (backpressure), it does not fail. */
CPORT_API int cport_recv_pooled(cport_t *port, int fd, struct cport_op *op);

/* Wait until fd is ready for events, POLLIN or POLLOUT (one of them), and
 * do nothing else: the caller makes its own call then (a zero-byte receive
 * in IOCP terms, AFD's poll in wepoll's). It completes with the events that
 * are ready, POLLERR and POLLHUP among them, or -errno; the data stays in
 * the socket. For calls the port has no op for, such as splice(2) from a
 * socket into a pipe and out again. -EINVAL for any other events. */
CPORT_API int cport_poll(cport_t *port, int fd, struct cport_op *op, short events);

/* Give a pooled buffer back. -EINVAL if buf is not one of this port's. */
CPORT_API int cport_buf_release(cport_t *port, void *buf);

/* The size of each pool buffer (of the small ones, on a port with large
 * pool buffers: those hold pool_large_buffer_size). */
CPORT_API size_t cport_buf_size(const cport_t *port);

/* Give back to the system the memory of the pool buffers that stayed free
 * since the last call (malloc_trim for the receive pool): call it now and
 * then, a second apart say, and a burst's buffers do not stay resident once
 * it is over. Any thread. 0, -EINVAL for NULL, or -errno: madvise(2)
 * failed, or an io_uring port could not open /dev/null, which it reads to
 * take buffers back out of the kernel's ring (cport_trim(3)). */
CPORT_API int cport_trim(cport_t *port);

/* Queue a completion of your own (PostQueuedCompletionStatus): it is
 * dequeued with this key, op and result. op may be NULL. Any thread, also
 * on a CPORT_SINGLE_THREAD port (the one call other threads may make there):
 * it wakes the owner's wait. */
CPORT_API int cport_post(cport_t *port, uintptr_t key, struct cport_op *op, int64_t result);

/* Dequeue up to max completions into out, waiting up to timeout_ms
 * (-1 forever, 0 poll). Returns the count, 0 on timeout, -ESHUTDOWN once the
 * port is being destroyed; signals do not end a wait. Completions are
 * FIFO; waiting threads are released most-recent first; at most the
 * concurrency limit of threads run completions at once (a thread counts from
 * the return of its wait until it waits again). */
CPORT_API int cport_wait(cport_t *port, struct cport_completion *out, int max, int timeout_ms);

/* Cancel one op. It completes with -ECANCELED unless it finished first, in
 * which case it completes with its real result (as CancelIoEx, a cancel that
 * races with the op's completion and its reuse may reach the op's next use). -ENOENT if not in flight
 * (done, even if not yet dequeued; or a post, detach or close). */
CPORT_API int cport_cancel(cport_t *port, struct cport_op *op);

/* Cancel every op on fd. Returns 0, or -EBADF if fd is not attached (or is
 * being detached or closed already). */
CPORT_API int cport_cancel_fd(cport_t *port, int fd);

/* Detach fd from the port: cancels its ops; once every one of them has
 * completed, op (may be NULL) completes with 0 and the fd may be attached
 * again or closed. The fd stays open. */
CPORT_API int cport_detach(cport_t *port, int fd, struct cport_op *op);

/* Close fd through the port: cancels its ops; once every one of them has
 * completed the fd is closed and then op (may be NULL) completes with 0 or
 * -errno from close. No completion for this fd follows op's. */
CPORT_API int cport_close(cport_t *port, int fd, struct cport_op *op);

/* The library version as a string. */
CPORT_API const char *cport_version(void);

/* Recover the struct that embeds a member, e.g. the per-I/O data from an op. */
#ifndef cport_container_of
#define cport_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

#ifdef __cplusplus
}
#endif
#endif
