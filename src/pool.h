/* pool.h - the receive pool: its buffers, who holds each, and who waits
 * for one. The one policy for both backends:
 *  - a pooled receive asks the pool for a buffer only once data is known to
 *    be waiting, so an idle connection never holds one;
 *  - when none is free it parks, first in first out;
 *  - a buffer that comes back goes to the longest-parked receive before any
 *    other: while anyone is parked, pool_take refuses newcomers and returned
 *    buffers stay out of the kernel's store;
 *  - the next buffer out is one freed lately, still in the cache: the pool's
 *    stack gives the last freed first, and the kernel's store, which gives
 *    first in first out, holds only a few (pool_class.depth).
 * Buffers come in two classes: the pool's own size, and optionally a few
 * large ones for receives on a socket whose receives lately filled a buffer
 * (a message bigger than one buffer then costs one receive, not several). A receive
 * asks for a class; any free buffer does when its class has none. */
#ifndef CPORT_POOL_H
#define CPORT_POOL_H

#include "fd.h"
#include "list.h"
#include "lock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

enum { POOL_SMALL, POOL_LARGE, POOL_CLASSES };

/* One size of buffer: ids first .. first + count - 1, laid out one after
 * the other from base (the large ones follow the small ones). */
struct pool_class {
	char *base;
	size_t size;           /* bytes per buffer */
	unsigned shift;        /* log2(size) when size is a power of two, else 0 */
	unsigned first, count; /* its ids */
	unsigned *free_ids;    /* its buffers the pool holds itself */
	unsigned nfree;
	/* The kernel's store holds given - taken of them (pool_in_kernel).
	 * Two counts, not one, so that handing a buffer over (under the lock,
	 * once a message) needs no locked instruction: only the lock's holder
	 * writes given; taken is added to once a reaped batch, by whichever
	 * thread reaped it. */
	atomic_uint given;
	atomic_uint taken;
	/* With a kernel store: how many free buffers it may hold. The kernel
	 * takes them first in, first out, so the fewer it holds, the sooner a
	 * buffer just freed, still in the cache, is filled again; the rest wait
	 * in free_ids, the last freed on top (see pool_reaped). */
	atomic_uint depth;      /* written under the lock */
	unsigned depth_min;     /* the least depth (0: DEPTH_MIN, pool.c) */
	atomic_uint took;       /* taken from the kernel's store since the last pool_reaped */
	atomic_uint burst_peak; /* the most taken between two reaps in this window (a hint) */
	atomic_uint window;     /* reaps counted in this window */
	/* Memory given back (pool_trim): free_ids[0 .. cold) went back to the
	 * system and have not been taken since; low is the fewest free_ids held
	 * since the last trim, so free_ids[0 .. low) stayed free all along. */
	unsigned cold, low;
	atomic_bool kernel_busy; /* the kernel's store gave out a buffer since the last trim */
};

struct pool {
	char *base;
	size_t map_bytes; /* the mapping, whole pages */
	struct pool_class cls[POOL_CLASSES];
	bool mt;          /* false: one thread, no lock */
	lock_t lock;      /* the free lists, waiters, the kernel store */
	atomic_uchar *lent;   /* per buffer: handed to the caller, not yet released */
	struct list waiters; /* pooled recvs waiting for a buffer, longest first (op->_pool_link) */
	atomic_uint parked;  /* waiters' length, for a look without the lock */
	/* Small buffers the caller holds now, counted only once a backend
	 * asked (pool_count_lent): a hint, not paid for per message otherwise. */
	atomic_bool count_lent;
	atomic_uint lent_small;
	/* A backend may keep the free buffers in the kernel (io_uring's buffer
	 * rings, one per class): then free buffers go to kernel_put, called
	 * with the lock held. */
	void (*kernel_put)(void *ctx, unsigned id);
	void *kernel_ctx;
};

/* count buffers of size bytes, and large_count of large_size (0: none). */
int pool_init(struct pool *pl, unsigned count, size_t size, unsigned large_count, size_t large_size, bool mt);
void pool_fini(struct pool *pl);
/* The kernel's store of class c holds at least min free buffers (if the
 * pool has them), where it would otherwise be kept shallow. */
void pool_set_depth_min(struct pool *pl, int c, unsigned min);
/* From now on free buffers live in the kernel's store; every free one moves there. */
void pool_use_kernel_store(struct pool *pl, void (*put)(void *ctx, unsigned id), void *ctx);

static inline int pool_class_of(const struct pool *pl, unsigned id)
{
	return id < pl->cls[POOL_SMALL].count ? POOL_SMALL : POOL_LARGE;
}

static inline void *pool_buf(const struct pool *pl, unsigned id)
{
	const struct pool_class *c = &pl->cls[pool_class_of(pl, id)];
	return c->base + (size_t)(id - c->first) * c->size;
}

static inline size_t pool_buf_size(const struct pool *pl, unsigned id)
{
	return pl->cls[pool_class_of(pl, id)].size;
}

/* The class a pooled receive on fe asks for: a large one while the fd's
 * streak of big receives lasts (fe->pooled_big). */
static inline int pool_class_wanted(const struct pool *pl, const struct fdent *fe)
{
	return pl->cls[POOL_LARGE].count && atomic_load_explicit(&fe->pooled_big, memory_order_relaxed)
		       ? POOL_LARGE
		       : POOL_SMALL;
}

/* How many buffers of k the kernel's store holds: exact under the lock
 * but for takes not yet counted, else a hint. taken is read first: a
 * buffer is taken only after it was given, so the later read of given is
 * at least as large. */
static inline unsigned pool_in_kernel(const struct pool_class *k)
{
	unsigned t = atomic_load_explicit(&k->taken, memory_order_acquire);
	unsigned n = atomic_load_explicit(&k->given, memory_order_relaxed) - t;
	return n <= k->count ? n : 0; /* never more than the class has */
}

/* Whether the kernel's store seems to hold buffers of class c. */
static inline bool pool_kernel_has(struct pool *pl, int c)
{
	return pool_in_kernel(&pl->cls[c]) > 0;
}
/* From now on count the small buffers the caller holds (those lent before
 * are not counted). */
void pool_count_lent(struct pool *pl);
/* Small buffers the caller holds now (a hint; 0 before pool_count_lent). */
static inline unsigned pool_lent_small(struct pool *pl)
{
	return atomic_load_explicit(&pl->lent_small, memory_order_relaxed);
}
/* Whether receives wait for a buffer now (a hint). */
static inline bool pool_has_waiters(struct pool *pl)
{
	return atomic_load_explicit(&pl->parked, memory_order_relaxed) > 0;
}
/* The id of a buffer address, -EINVAL if it is not the start of one. */
int pool_id_of(const struct pool *pl, const void *buf, unsigned *id);

/* A free buffer from the pool's own store for a receive with data waiting,
 * of class want if one is free, else of the other; -ENOBUFS if none is free
 * or others wait for one already. */
int pool_take(struct pool *pl, int want, unsigned *id);
/* The kernel took took[c] buffers of class c from its store (io_uring
 * reported them used). A reaper counts them per batch of
 * completions, and calls this before it acts on any of them, rather than
 * two locked adds per buffer. */
void pool_kernel_took(struct pool *pl, const unsigned took[POOL_CLASSES]);
/* A reap of the kernel's completions is over: size the kernel's store to
 * what it took lately and fill it up again from the pool's own stack. */
void pool_reaped(struct pool *pl);
/* The kernel's store had no buffer for a receive that asked for class
 * want. True if the pool had some of its own (of that class, else of the
 * other): the store is deeper now, and the receive may simply be tried
 * again. */
bool pool_kernel_grow(struct pool *pl, int want);
/* A buffer is free again. Returns the longest-parked receive, now granted
 * it (OPB_GRANTED, _buf_id): the caller restarts that op. Otherwise the
 * buffer goes back to the store and NULL is returned. */
struct cport_op *pool_put(struct pool *pl, unsigned id);

/* What pool_wait decided for a receive that found no buffer. */
enum pool_wait {
	POOL_GRANTED, /* a buffer is the op's now: restart it */
	POOL_RETRY,   /* the kernel's store seems to hold buffers: restart it as before */
	POOL_PARKED,  /* it waits; pool_put hands it a buffer in its turn */
	POOL_REFUSED, /* it was cancelled, or its fd is ending: complete it -ECANCELED */
};
/* A pooled receive known to have data waiting found no buffer. */
enum pool_wait pool_wait(struct pool *pl, struct cport_op *op);
/* Take a parked op off the waiters; false if it was not parked. */
bool pool_unpark(struct pool *pl, struct cport_op *op);
/* Move the parked ops of fd entry fe that started before epoch to out (a
 * batch, linked by _queue_link). */
void pool_unpark_fd(struct pool *pl, const void *fe, unsigned epoch, struct list *out);

/* Give back to the system the pages of the free buffers that stayed free
 * since the last call (whole pages only: a page shared with a buffer that
 * was taken keeps its memory), and keep the kernel's store at its least
 * depth while it gave out nothing since the last call. A buffer given back
 * costs a page fault per page when it is next used. excess[c]: how many
 * buffers the kernel's store of class c holds beyond that depth after such
 * a quiet spell (else 0), which a backend may take out of the store and
 * free with pool_kernel_returned, so they can be given back too. 0 or
 * -errno (madvise). */
int pool_trim(struct pool *pl, unsigned excess[POOL_CLASSES]);
/* The kernel's store gave buffer id back unused (a backend took it out
 * after a quiet spell). As pool_put, but to the bottom of the stack, not
 * the top: the next pool_trim gives it back, and buffers still in the
 * cache go out before it. Not counted as taken (pool_kernel_took): the
 * store's depth follows receives only. */
struct cport_op *pool_kernel_returned(struct pool *pl, unsigned id);

/* A buffer goes to the caller in a completion / comes back from it
 * (-EINVAL for one the caller does not hold). */
void pool_lend(struct pool *pl, unsigned id);
int pool_unlend(struct pool *pl, unsigned id);

#endif
