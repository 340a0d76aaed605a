/* port.h - the port's internals shared by the port, the ops and the backends. */
#ifndef CPORT_PORT_H
#define CPORT_PORT_H

#include "cport.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct backend;

/* op->_state */
enum { OP_IDLE = 0, OP_INFLIGHT = 1, OP_DONE = 2 };
/* op->_bits */
#define OPB_CANCEL 0x1u   /* the caller asked to cancel this op */
#define OPB_NODE 0x2u     /* a node the port allocated for a post with no op */
#define OPB_WAITBUF 0x4u  /* pooled recv waiting for a free buffer */
#define OPB_POLLCONN 0x8u /* connect: in progress, wait for writability */
#define OPB_LINK 0x10u    /* internal: queued on a backend list */

/* op->_bits may be changed by cport_cancel on another thread: always atomically. */
static inline void op_bits_set(struct cport_op *op, uint16_t b)
{
	__atomic_fetch_or(&op->_bits, b, __ATOMIC_SEQ_CST);
}
static inline void op_bits_clear(struct cport_op *op, uint16_t b)
{
	__atomic_fetch_and(&op->_bits, (uint16_t)~b, __ATOMIC_SEQ_CST);
}
static inline bool op_bits_test(const struct cport_op *op, uint16_t b)
{
	return __atomic_load_n(&op->_bits, __ATOMIC_SEQ_CST) & b;
}

/* fdent->state */
enum { FD_FREE = 0, FD_ATTACHED, FD_CLOSING };

/* What the port knows of an attached fd. Never moves once allocated. */
struct fdent {
	pthread_mutex_t lock; /* submit vs close; epoll's op queues */
	uintptr_t key;
	int fd;
	int state;
	uint32_t inflight;        /* ops started, not yet completed */
	uint32_t cancel_epoch;    /* bumped by cancel_fd: older ops were cancelled on purpose */
	struct cport_op *closer;  /* detach/close op, completes after the last op */
	bool close_fd;
	bool finishing;
	/* epoll backend: ops waiting for readiness, FIFO per direction */
	struct cport_op *rq_head, *rq_tail;
	struct cport_op *wq_head, *wq_tail;
	/* epoll backend: false once a syscall said EAGAIN, true again with the
	 * next readiness event, so a new op skips a syscall bound to fail. */
	bool rd_ready, wr_ready;
	bool stream;   /* SOCK_STREAM: a short read or write means empty or full... */
	bool no_infer; /* ...unless end of stream, an error or urgent data was seen */
	bool waitbuf_listed; /* on the pool's wait list */
	struct fdent *waitbuf_next;
};

/* A list of completions being gathered, appended to the port in one go. */
struct batch {
	struct cport_op *head, *tail;
	unsigned n;
};

struct waiter;

/* The receive pool: one region cut into equal buffers. */
struct pool {
	char *base;
	size_t map_bytes; /* the mapping, whole pages */
	size_t size;     /* bytes per buffer */
	unsigned count;  /* buffers */
	pthread_mutex_t lock;
	unsigned char *lent; /* per buffer: handed to the caller, not yet released */
	unsigned *free_ids; /* epoll: stack of free buffer ids */
	unsigned nfree;
	struct fdent *wait_head, *wait_tail; /* epoll: fds with a pooled recv waiting for a buffer */
};

#define FDTAB_CHUNK 1024
#define FDTAB_CHUNKS 4096 /* fds up to 4M */

struct cport {
	const struct backend *be_ops;
	void *be;
	bool mt; /* false: CPORT_SINGLE_THREAD, no locks */
	unsigned queue_depth;
	unsigned concurrency;

	pthread_mutex_t lock; /* the completion queue and the waiters */
	struct cport_op *q_head, *q_tail;
	unsigned q_len;
	struct waiter *waiters; /* parked followers, most recent first */
	unsigned woken;         /* followers released but not yet running again */
	unsigned nwaiters;      /* threads inside cport_wait */
	unsigned running;       /* threads between a wait's return and the next wait */
	bool polling;           /* a waiter is inside backend poll */
	atomic_bool wake_pending;
	atomic_bool shutdown;
	pthread_cond_t idle_cv; /* destroy waits here for waiters to leave */
	atomic_uint refs;
	pthread_condattr_t cattr;

	struct pool pool;

	/* Single-thread ports: posts from other threads, pushed lock-free, and
	 * the thread that waits (a token of its own), to tell them apart. */
	_Atomic(struct cport_op *) remote;
	_Atomic(const void *) owner;

	pthread_mutex_t fdtab_lock; /* growing the table */
	_Atomic(struct fdent *) fdtab[FDTAB_CHUNKS];
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

/* fdtab.c */
struct fdent *fdtab_get(struct cport *p, int fd);
struct fdent *fdtab_get_or_make(struct cport *p, int fd);
void fdtab_free(struct cport *p);

/* port.c: completion plumbing for backends */
void batch_add(struct batch *b, struct cport_op *op);
/* An fd op finished with res: count it off fe, set the result, and add it
 * (and the fd's closer, if it was the last op of a closing fd) to b. */
void port_op_done(struct cport *p, struct cport_op *op, int64_t res, struct batch *b);
/* fe is closing and its last op is done (fe->finishing claimed): detach it,
 * close it if asked, and add its closer to b. */
void port_finish_fd(struct cport *p, struct fdent *fe, struct batch *b);
/* Append b to the completion queue and wake whoever should run it. */
void port_deliver(struct cport *p, struct batch *b);

/* pool.c */
int pool_init(struct cport *p, unsigned count, size_t size);
void pool_fini(struct cport *p);
int pool_id_of(const struct cport *p, const void *buf, unsigned *id);
static inline void *pool_buf(const struct cport *p, unsigned id)
{
	return p->pool.base + (size_t)id * p->pool.size;
}
/* epoll: take a free buffer id (-ENOBUFS if none) / give one back. */
int pool_take(struct cport *p, unsigned *id);
void pool_put(struct cport *p, unsigned id);
/* A buffer goes to the caller in a completion / comes back from it. */
void pool_lend(struct cport *p, unsigned id);
int pool_unlend(struct cport *p, unsigned id);

/* Is this op kind a read-side op (waits for readability)? */
static inline bool op_is_read(unsigned kind)
{
	return kind == CPORT_OP_RECV || kind == CPORT_OP_RECVFROM || kind == CPORT_OP_ACCEPT ||
	       kind == CPORT_OP_RECV_POOLED || kind == CPORT_OP_RECVMSG;
}

#endif
