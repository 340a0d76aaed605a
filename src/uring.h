/* uring.h - what the io_uring backend's files share: the backend's state
 * and the SQ helpers (backend_uring.c), and the datagram receives
 * (uring_dgram.c). */
#ifndef CPORT_URING_H
#define CPORT_URING_H

#include "backend.h"

#include <liburing.h>

struct dg_table;

/* A cancel of a whole fd, asked again until the fd's epoch moves on (its
 * next cancel, or its end): the port keeps these, not the fd entry, whose
 * io_uring area holds the fd's read-ahead (uring_stream.c). */
struct asked_fd {
	struct fdent *fe;
	int fd;         /* fe's number when asked: read here, not in fe, which may be reused */
	unsigned epoch; /* fe's epoch the cancel was for */
	int retries;
};

struct uring_be {
	struct io_uring ring;
	lock_t sq_lock;
	/* SQEs written but not yet handed to the kernel, and requests given to
	 * it and not yet ended (started - ended). unflushed and started change
	 * only under sq_lock, so with plain adds (sq_wrote, req_started), not
	 * a locked add per request (docs/performance.md, "Kept: fewer locked
	 * instructions a message");
	 * ended is added to by whoever reaps, once per batch. */
	atomic_uint unflushed;
	atomic_uint started;
	atomic_uint ended;
	int efd;
	uint64_t efd_val;
	/* The kernel's store of free pool buffers, a ring per class (none for
	 * a class without buffers); written under the pool's lock. */
	struct io_uring_buf_ring *br[POOL_CLASSES];
	size_t br_bytes[POOL_CLASSES];
	unsigned br_mask[POOL_CLASSES];
	bool disabled; /* single-issuer ring, not yet enabled by the thread that uses it */
	bool wake_armed; /* the eventfd read is in flight (sq_lock) */
	/* Cancels not yet confirmed (see CANCEL_RETRY_MS), under sq_lock. */
	struct list asked_ops;     /* by op->_backend_link */
	struct asked_fd *asked_fd; /* cancels of whole fds: an array, grown and never shrunk */
	unsigned asked_fds, asked_fd_room;
	atomic_uint asked; /* entries on both, for a look without the lock */
	int64_t retry_at_ms;
	/* Datagram sockets' multishot receives (uring_dgram.c); made with the first. */
	struct dg_table *dg;
	/* Read-ahead on stream sockets (uring_stream.c): the cap of a request
	 * in bytes (0: this kernel cannot cap one, or it is turned off), the
	 * pool buffers it keeps now, the requests armed. */
	unsigned recv_cap;
	atomic_uint kept_bufs;
	atomic_uint armed; /* read-ahead requests in the kernel */
	atomic_uint ring_for;  /* the small buffers' ring holds at least this many (0: not yet asked) */
	int null_fd;           /* /dev/null, read to take buffers out of the store (uring_trim.c); -errno if it did not open */
};

static inline struct uring_be *UB(struct cport *p)
{
	return p->be;
}

/* op->_backend_word: whether a cancel of the op waits to be confirmed by
 * its completion, or that the op waits in user space for a read-ahead
 * request (QUEUED, under fe->lock). Changed atomically: the canceller and
 * the reaper race. */
enum { OPW_OUT = 0, OPW_CANCEL_ASKED = 1, OPW_REAPED = 2, OPW_QUEUED = 3 };

/* A free SQE; if the SQ is full, submit what it holds first. sq_lock held. */
struct io_uring_sqe *get_sqe(struct uring_be *b, struct cport_op *op);

/* An SQE was written (sq_lock held). */
static inline void sq_wrote(struct uring_be *b)
{
	lock_held_add(&b->unflushed, 1);
}

/* An SQE that the kernel will answer with a completion to reap was written
 * (sq_lock held); req_ended when it is reaped. */
static inline void req_started(struct uring_be *b)
{
	sq_wrote(b);
	lock_held_add(&b->started, 1);
}

static inline void req_ended(struct uring_be *b, unsigned n)
{
	atomic_fetch_add_explicit(&b->ended, n, memory_order_relaxed);
}

/* Requests the kernel holds (fini: once nothing else runs). */
static inline unsigned req_inflight(struct uring_be *b)
{
	return atomic_load(&b->started) - atomic_load(&b->ended);
}

/* sq_lock held: give it up, and hand what the SQ holds to the kernel now
 * unless the calling thread's next wait will (queue_caller_returns). */
void sq_release(struct cport *p, struct uring_be *b);

/* ---- uring_dgram.c: a datagram socket's receives share one multishot
 * recvmsg; the ops wait in user space, as on epoll. ---- */

/* user_data that names no op: the eventfd read that wakes the poller; a
 * cancel request (its own result does not matter); a multishot request (its
 * socket's record, tagged). */
#define UD_WAKE 1ull
#define UD_CANCEL 2ull
#define UD_DRAIN 3ull /* a read that takes a buffer out of the kernel's store (uring_trim.c) */
#define UD_DGRAM_TAG 4ull
#define UD_STREAM_TAG 5ull
/* The buffer groups of the pool's small and large buffers (the datagram
 * store's is 1). */
#define GROUP_SMALL 0
#define GROUP_LARGE 2
static inline unsigned short pool_group(int c)
{
	return c == POOL_SMALL ? GROUP_SMALL : GROUP_LARGE;
}
static inline bool ud_is_dgram(uint64_t ud)
{
	return (ud & 7) == UD_DGRAM_TAG;
}
static inline bool ud_is_stream(uint64_t ud)
{
	return (ud & 7) == UD_STREAM_TAG;
}
/* Either tag (4 or 5): ops are 8-aligned, and the wake, cancel and drain are 1, 2 and 3. */
static inline bool ud_is_multishot(uint64_t ud)
{
	return ud & UD_DGRAM_TAG;
}

/* fe joins (fe->lock held), a socket of this type (SO_TYPE, 0 if not a
 * socket): a datagram socket gets its record. 0 or -errno. */
int dg_attach(struct cport *p, struct fdent *fe, int type);
/* fe leaves (fe->lock held, its last op reported). */
void dg_detach(struct cport *p, struct fdent *fe);
/* Whether op is a receive on a datagram socket, which dg_submit takes. fe->lock held. */
bool dg_takes(struct cport *p, struct fdent *fe, const struct cport_op *op);
/* Start op (fe->lock held): as backend submit. */
int dg_submit(struct cport *p, struct fdent *fe, struct cport_op *op);
/* Cancel op if it waits (fe->lock held): as backend cancel. */
int dg_cancel(struct cport *p, struct fdent *fe, struct cport_op *op);
/* Every waiting op of fe goes to dropped (fe->lock held). Returns whether
 * fe's multishot request is in the kernel (it counts as no op of fe's). */
bool dg_cancel_fd(struct cport *p, struct fdent *fe, struct list *dropped);
/* A CQE of a multishot request: reports what it filled into out. */
void dg_reap(struct cport *p, uint64_t ud, int res, unsigned flags, struct list *out);
/* Teardown: a CQE nobody reports; then everything freed. */
void dg_discard(struct cport *p, uint64_t ud, unsigned flags);
void dg_fini(struct cport *p);

/* ---- uring_stream.c: a stream socket's pooled receives read ahead
 * (CPORT_RECV_AHEAD) through one capped multishot receive. ---- */

/* Once per port: the cap every request gets (0: none). */
unsigned st_probe(const struct pool *pl);
/* fe joins (fe->lock held), a socket of this type. */
void st_attach(struct fdent *fe, int type);
/* fe leaves (fe->lock held, nothing armed): the buffers it kept go to ids. */
unsigned st_detach(struct cport *p, struct fdent *fe, unsigned *ids);
/* Whether op goes through fe's read-ahead. fe->lock held. The first test
 * inline: it is made for every op. */
bool st_takes(struct cport *p, struct fdent *fe, const struct cport_op *op);
static inline bool st_may_take(const struct fdent *fe, const struct cport_op *op)
{
	return (fe->modes & CPORT_RECV_AHEAD) && op->_kind == CPORT_OP_RECV_POOLED;
}
/* Start op (fe->lock held): as backend submit, or ST_PLAIN: submit it as
 * any op. */
#define ST_PLAIN 3
int st_submit(struct cport *p, struct fdent *fe, struct cport_op *op);
/* Drop op if it waits for the read-ahead (fe->lock held): 1, else 0. */
int st_cancel(struct fdent *fe, struct cport_op *op);
/* Every op waiting on fe goes to dropped (fe->lock held). */
void st_cancel_fd(struct fdent *fe, struct list *dropped);
/* As backend reads_ahead. */
bool st_reads_ahead(struct cport *p, struct fdent *fe);
/* A CQE of a read-ahead request: reports what it filled into out (the
 * reaper has told the pool of the buffer it took). */
void st_reap(struct cport *p, uint64_t ud, int res, unsigned flags, struct list *out);
/* Teardown: a CQE nobody reports. */
void st_discard(struct cport *p, uint64_t ud, unsigned flags);

/* ---- uring_trim.c: the kernel's store given back after a burst ---- */

/* The descriptor the drains read, or -errno. */
int trim_open(void);
/* cport_trim's part on io_uring (backend.h, trim). */
int ur_trim(struct cport *p, const unsigned excess[POOL_CLASSES]);
/* The completion of a drain (UD_DRAIN) with these flags: its buffer, if it
 * took one, goes back to the pool. */
void trim_reap(struct cport *p, unsigned flags, struct list *out);

#endif
