/* port.h - the port's core: the struct every part of the core shares, and
 * the named calls a backend makes into the core (its half of backend.h). */
#ifndef CPORT_PORT_H
#define CPORT_PORT_H

#include "cport.h"
#include "fd.h"
#include "list.h"
#include "op.h"
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct backend;

struct cport {
	const struct backend *be_ops;
	void *be; /* the backend's own state */
	bool mt;  /* false: CPORT_SINGLE_THREAD, no locks */
	unsigned queue_depth;
	unsigned concurrency;

	pthread_mutex_t lock; /* the completion queue and the waiters */
	struct list queue;    /* completed ops (op->_queue_link), first in first out */
	struct list waiters;    /* parked followers (struct waiter), most recent first */
	unsigned woken;         /* followers released but not yet running again */
	/* Bit queue_thread_slot() % 64 of each follower parked now: a backend
	 * whose kernel requests belong to the thread that made them (io_uring's
	 * task work) moves a request off a thread that sleeps (uring_stream.c,
	 * uring_dgram.c). */
	atomic_uint_least64_t parked;
	unsigned nwaiters;      /* threads inside cport_wait */
	unsigned running;       /* threads between a wait's return and the next wait */
	bool polling;           /* a waiter is inside backend poll */
	atomic_bool wake_pending;
	atomic_bool shutdown;
	pthread_cond_t idle_cv; /* destroy waits here for waiters to leave */
	atomic_uint refs;
	pthread_condattr_t cattr;

	struct pool pool;
	struct fdtab fdtab;

	/* Single-thread ports: posts from other threads wait here for the owner
	 * (a token of its own names it) to move them to the queue. */
	pthread_mutex_t remote_lock;
	struct list remote;
	atomic_bool remote_pending;
	_Atomic(const void *) owner;
};

/* Locks that vanish on a single-thread port. */
static inline void plock(const struct cport *p, pthread_mutex_t *m)
{
	if (p->mt)
		pthread_mutex_lock(m);
}
static inline void punlock(const struct cport *p, pthread_mutex_t *m)
{
	if (p->mt)
		pthread_mutex_unlock(m);
}

/* An fd entry's lock, which vanishes on a single-thread port too. */
static inline void fd_lock(const struct cport *p, struct fdent *fe)
{
	lock_take_if(p->mt, &fe->lock);
}
static inline void fd_unlock(const struct cport *p, struct fdent *fe)
{
	lock_give_if(p->mt, &fe->lock);
}

/* A batch: ops gathered for the queue, linked by _queue_link. */
static inline void batch_init(struct list *b)
{
	list_init(b);
}
static inline void batch_add(struct list *b, struct cport_op *op)
{
	list_push_back(b, &op->_queue_link);
}

/* ---- The calls a backend makes into the core (gate.c, fd.c) ---- */

/* The kernel said res for op, which the backend no longer holds. The core
 * decides what follows: the op completes into b, or it is started again
 * through the gate (a restart the kernel forced, a receive that waits for
 * data or a buffer), or it waits in the pool. Never call it holding an fd's lock. */
void core_report(struct cport *p, struct cport_op *op, int64_t res, struct list *b);
/* The same for a pooled receive that ran into pool buffer id (one the
 * kernel picked, pool_take gave, or the pool granted the op): with res > 0
 * the buffer goes to the caller, otherwise back to the pool. */
void core_report_buf(struct cport *p, struct cport_op *op, int64_t res, unsigned id, struct list *b);
/* A pool buffer an op did not keep (a receive that read nothing) is free
 * again; a receive waiting for one may be restarted, into b on failure. */
void core_buf_free(struct cport *p, unsigned id, struct list *b);
/* As core_buf_free, for a buffer a backend took out of the kernel's store
 * after a quiet spell (pool_kernel_returned): not to be used again first. */
void core_buf_free_cold(struct cport *p, unsigned id, struct list *b);
/* fd.c: append b to the completion queue, wake whoever should run it, and only
 * then count each op off its fd: an fd whose last op that was finishes, and
 * its closer is queued after it. b is left empty. */
void core_deliver(struct cport *p, struct list *b);

/* fd.c: a request of the backend's own that reads fe (not an op) keeps fe
 * from finishing while the kernel holds it, as an op would: hold under
 * fe->lock, release once its last completion is reaped (no fd lock held;
 * fe may finish then, its closer queued after whatever is queued). */
void core_fd_hold(struct fdent *fe);
void core_fd_release(struct cport *p, struct fdent *fe);

/* ---- Inside the core ---- */

/* gate.c: the one way an op reaches a backend. First start: 0, or -errno
 * (the op is idle again, nothing completes). */
int gate_start(struct cport *p, struct fdent *fe, struct cport_op *op);
/* Every later start: an op that cannot be restarted completes into b. */
void gate_restart(struct cport *p, struct cport_op *op, struct list *b);

/* queue.c: the completion queue and its waiters. */
int queue_init(struct cport *p);
/* Append b (completed ops) to the queue and wake whoever should run them. */
void port_queue_append(struct cport *p, struct list *b);
/* Destroy's first step: release every waiter, wait for them to leave, and
 * discard what nobody dequeued. */
void queue_shutdown(struct cport *p);
/* The calling thread drops its reference to p, if it holds one. */
void queue_forget_thread(struct cport *p);
/* The calling thread runs p's completions now (its cport_wait returned)
 * and comes back to wait, or leaves the port, which flushes (backend.h:
 * what it starts may be batched until then). */
bool queue_caller_returns(const struct cport *p);
/* What the calling thread starts now waits for its next cport_wait on p,
 * to go to the kernel in one system call with everything else it started
 * (io_uring), and it has more than this one completion to run before then.
 * False when its last wait took the only completion there was: it will
 * wait again as soon as it has run it, so its next enter would carry little
 * but this, and a send made at once costs less than the trip through the
 * ring and the port. A guess, for CPORT_SKIP_ON_SUCCESS sends (gate.c). */
bool queue_caller_batches(const struct cport *p);
/* Drop a reference; the last frees the port's memory. */
void queue_unref(struct cport *p);
/* A small number naming the calling thread (threads may share one: a
 * name, not an identity), and whether a thread of that number is parked
 * on p now (a follower that waits for the port to release it). */
unsigned queue_thread_slot(void);
static inline bool queue_slot_parked(struct cport *p, unsigned slot)
{
	return atomic_load_explicit(&p->parked, memory_order_relaxed) >> (slot % 64) & 1;
}
/* fd.c: an fd whose last op is done and whose end was asked: finish it. */
void fd_finish(struct cport *p, struct fdent *fe);
/* fd.c: one completion of fe is in the queue now. */
void fd_op_queued(struct cport *p, struct fdent *fe);

#endif
