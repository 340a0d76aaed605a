/* fault.h - test-only fault injection. Built with -DCPORT_FAULTS (the test
 * build of the library), each FAULT point calls the hook a test installed,
 * which may change the value passing through or act at that moment (release
 * a buffer, close an fd) to force an interleaving no real timing gives on
 * demand. In every other build a FAULT point is its value and nothing else. */
#ifndef CPORT_FAULT_H
#define CPORT_FAULT_H

#include <stdint.h>

enum fault_point {
	FAULT_SUBMIT,      /* op is about to be submitted; a -errno refuses it before the backend sees it */
	FAULT_REPORT,      /* the kernel's result v for op reaches the core */
	FAULT_POOL_ASK,    /* op, with data and no buffer, is about to ask the pool */
	FAULT_POOL_TAKEN,  /* epoll took pool buffer v for op, before it reads */
	FAULT_DELIVER,     /* a batch whose first op is op is about to be queued */
	FAULT_CANCEL_FD,   /* io_uring cancels by number fd v (op NULL); a hook may name another fd */
	FAULT_CANCEL_MISSED, /* io_uring asks the kernel to cancel op (NULL: a whole fd); nonzero: the kernel misses it */
	FAULT_SQ_FULL,     /* io_uring: looking for a free SQE for op; nonzero makes the SQ full */
	FAULT_TRY,         /* a send tried at once in the gate (skip on success) gave v */
	FAULT_WATCH,       /* epoll is about to watch a non-TCP fd again for op (EPOLLOUT added, or the fd
			    * added back after a hot spell); a -errno fails it unmade */
	FAULT_RECV_CAP,    /* io_uring: a port's read-ahead cap v (0: none), as the probe found it */
	FAULT_TRIM,        /* the pool is about to give a run of buffers back to the system, or io_uring to take
			    * buffers out of its store (v: the fd it reads); a -errno fails it unmade */
	FAULT_POINTS
};

struct cport_op;

/* A hook: returns the value that goes on (return v to change nothing). */
typedef int64_t (*cport_fault_fn)(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx);

#ifdef CPORT_FAULTS
/* Install fn for pt (NULL removes it). Tests only; not thread-safe against
 * a point being hit while it changes. */
__attribute__((visibility("default"))) void cport_fault_set(enum fault_point pt, cport_fault_fn fn, void *ctx);
int64_t fault_hit(enum fault_point pt, struct cport_op *op, int64_t v);
#define FAULT(pt, op, v) fault_hit(pt, op, v)
#else
#define FAULT(pt, op, v) (v)
#endif

#endif
