/* fd.h - what the port knows of an attached fd, and the table that finds it. */
#ifndef CPORT_FD_H
#define CPORT_FD_H

#include "lock.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cport;
struct cport_op;

/* fdent->state */
enum { FD_FREE = 0, FD_ATTACHED, FD_CLOSING };

/* Bytes each fd entry keeps for its backend, which alone reads and writes
 * them: epoll's two queue heads and flags, io_uring's read-ahead. */
#define FD_BACKEND_AREA 24

/* An attached fd. There is one per descriptor number the port has seen, so
 * it is kept small (56 bytes: docs/performance.md). Entries never move: an
 * op keeps a pointer to its fd's. */
struct fdent {
	lock_t lock; /* state, epoch, key or closer, the flags; the backend's area */
	int fd;
	/* Ops in flight: started - ended (fd_inflight). An op counts from its
	 * start until its completion is queued, so the closer is always queued
	 * last. Two counts, not one, so that a start, made under the lock,
	 * needs no locked instruction: only the lock's holder writes started;
	 * ended is added to, without the lock, as completions are queued. */
	atomic_uint started;
	atomic_uint ended;
	/* Bumped by cancel_fd, detach, close and the end of the fd's life: an op
	 * started under an older epoch was cancelled on purpose. */
	atomic_uint epoch;
	/* Written under lock; read without it only by fd_op_queued, which
	 * must see CLOSING if the close saw its op still counted. */
	_Atomic uint8_t state;
	bool close_fd : 1;
	bool finishing : 1;
	uint8_t modes; /* CPORT_SKIP_ON_SUCCESS, CPORT_RECV_AHEAD (under lock) */
	/* Pooled receives ask the pool for a large buffer while this is not 0:
	 * set to LARGE_STREAK by one that got a small buffer's worth or more,
	 * one less after each that got less. A hint, read and written without
	 * the lock. */
	_Atomic uint8_t pooled_big;
	union {
		uintptr_t key;           /* attached: every op started takes it */
		struct cport_op *closer; /* closing: the detach/close op (it has the key now), completes after the last op */
	};
	alignas(void *) unsigned char backend_area[FD_BACKEND_AREA];
};

/* Ops of fe's in flight: exact under fe->lock, where started stands
 * still (every caller holds it). ended is read first: an op ends only
 * after it started, so even a reader without the lock gets no less than
 * 0. */
static inline unsigned fd_inflight(const struct fdent *fe)
{
	unsigned e = atomic_load(&fe->ended);
	return atomic_load_explicit(&fe->started, memory_order_relaxed) - e;
}

/* One op more (1) or fewer (-1) started on fe: fe->lock held (or a
 * single-thread port). */
static inline void fd_count_start(struct fdent *fe, int d)
{
	lock_held_add(&fe->started, (unsigned)d);
}

#define LARGE_STREAK 4 /* see pooled_big */

#define FDTAB_CHUNK 1024
#define FDTAB_CHUNKS 4096 /* fds up to 4M */

struct fdtab {
	pthread_mutex_t lock; /* growing the table */
	_Atomic(struct fdent *) chunks[FDTAB_CHUNKS];
};

int fdtab_init(struct fdtab *t);
/* The entry for fd, or NULL if the table never held it. */
struct fdent *fdtab_get(struct fdtab *t, int fd);
/* The entry for fd, made if needed; NULL for an fd out of range or no memory. */
struct fdent *fdtab_get_or_make(struct fdtab *t, int fd, bool mt);
/* Call fn on every entry not FD_FREE (teardown; no locks taken). */
void fdtab_each_used(struct fdtab *t, void (*fn)(struct fdent *fe, void *arg), void *arg);
void fdtab_fini(struct fdtab *t);

#endif
