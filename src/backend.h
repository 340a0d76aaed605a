/* backend.h - the one interface every backend meets, and the registry.
 *
 * The contract, normative:
 *  - Ownership. The core owns struct cport, struct fdent and every op field
 *    but _backend_link and _backend_word; a backend reads the core's fields
 *    and writes only its own state (p->be), its fd area (fe->backend_area,
 *    FD_BACKEND_AREA bytes, under fe->lock), and those two op fields (and
 *    _result and _buf_id of an op its submit answers at once). It never
 *    touches the completion queue, an op's state, the pool's lists or an
 *    fd's counts: it asks the core through core_report, core_report_buf,
 *    core_buf_free and core_deliver, and core_fd_hold/core_fd_release for
 *    a request of its own that reads an fd (port.h).
 *    _backend_link shares its bytes with the pool's _pool_link: it is the
 *    backend's only while the backend holds the op (below), and whatever
 *    the backend put it on, it takes it off before it reports the op.
 *  - Data flows one way. A backend never starts an op on its own authority:
 *    every start, first or again, comes through the gate (gate.c) as a call
 *    to submit. A backend that has an answer from the kernel for an op
 *    (which it then no longer holds) reports it with core_report (or
 *    core_report_buf for a pooled receive that used a pool buffer), with no
 *    fd lock held, and the core decides: complete, restart, or wait.
 *  - An op is held by exactly one party at a time: the backend (from a
 *    submit that returned 0 until its report), the pool's waiters, or the
 *    core in transit. Whoever holds it is the only one that may let it go.
 *  - Threads. Every slot may be called from any thread, except poll, which
 *    one thread at a time runs (the poller). On a CPORT_SINGLE_THREAD port
 *    every slot but wake runs on the owner's thread and p->mt is false:
 *    plock/punlock take no lock.
 */
#ifndef CPORT_BACKEND_H
#define CPORT_BACKEND_H

#include "port.h"

/* The most pool buffers a backend keeps for one fd (detach). */
#define DETACH_IDS 2

struct backend {
	const char *name;
	int id;         /* enum cport_backend */
	int preference; /* auto tries every backend, highest preference first */
	/* -ENOBUFS from this backend means data was waiting (epoll looks
	 * before it asks the pool); otherwise the core waits for data first. */
	bool nobufs_means_data;
	/* submit tries the syscall itself when the socket may be ready (epoll);
	 * otherwise the gate tries a send at once for an fd that skips the port
	 * on success (CPORT_SKIP_ON_SUCCESS). */
	bool tries_at_once;
	/* Set up p->be (p->pool is ready). 0, or -errno if this backend cannot
	 * run here (then nothing is left allocated). May block. */
	int (*init)(struct cport *p);
	/* Tear down p->be. No thread is inside any slot; ops still held are
	 * dropped without a report (accepted fds among them are closed). */
	void (*fini)(struct cport *p);
	/* fe joins, fe->lock held, fe->fd/key set: set up fe->backend_area.
	 * 0 or -errno (then the attach fails and nothing is left). */
	int (*attach)(struct cport *p, struct fdent *fe);
	/* fe leaves, fe->lock held, after its last op was reported. Pool
	 * buffers the backend still kept for fe go to ids (room for
	 * DETACH_IDS): the core frees them once the lock is dropped. Returns
	 * how many. */
	unsigned (*detach)(struct cport *p, struct fdent *fe, unsigned *ids);
	/* Start op on fe; fe->lock held. Returns 0: the backend holds the op
	 * and will report it; 1: the kernel answered at once, the result is in
	 * op->_result and the backend no longer holds it (the gate reports it
	 * once the lock is dropped); 2: as 1, for a pooled receive answered
	 * with data in pool buffer op->_buf_id (bytes read ahead), which the
	 * backend writes then; -errno: not started, the backend does not
	 * hold it. A pooled receive with OPB_GRANTED receives into pool buffer
	 * op->_buf_id; one with OPB_WANT_READY only waits for data (its report
	 * is >= 0 once data, end of stream or an error is there). Never blocks. */
	int (*submit)(struct cport *p, struct fdent *fe, struct cport_op *op);
	/* Ask for op (held by the backend, or in transit) to end early; fe->lock
	 * held. Returns 1 if the backend dropped it (the core completes it
	 * -ECANCELED), 0 if asked (the report follows, -ECANCELED or the real
	 * result), -ENOENT if the backend does not hold it. */
	int (*cancel)(struct cport *p, struct fdent *fe, struct cport_op *op);
	/* Ask every op on fe to end early; fe->lock held, fe's epoch just
	 * bumped. Ops the backend drops go to dropped (a batch, by _queue_link;
	 * the core completes them -ECANCELED); the rest are asked and reported.
	 * A cancel that reaches an op of a later owner of the same fd number is
	 * harmless: the core restarts an op the kernel ended unasked. */
	void (*cancel_fd)(struct cport *p, struct fdent *fe, struct list *dropped);
	/* Whether the backend holds bytes read ahead on fe, or a request that
	 * reads ahead (CPORT_RECV_AHEAD); fe->lock held. NULL: it never does. */
	bool (*reads_ahead)(struct cport *p, struct fdent *fe);
	/* cport_trim, after the pool gave back what it holds itself: take out
	 * of the kernel's store the excess[c] buffers of each class it holds
	 * beyond its depth after a quiet spell (pool_trim), for the pool to
	 * give back at its next trim. 0 or -errno. NULL: the backend keeps no
	 * store. */
	int (*trim)(struct cport *p, const unsigned excess[POOL_CLASSES]);
	/* Push queued submissions to the kernel now (a thread is about to park). */
	void (*flush)(struct cport *p);
	/* Poller only: wait up to timeout_ms (-1 forever) for the kernel, report
	 * what finished and core_deliver it. Returns how many ops it reported
	 * (>= 0), or -errno (-EINTR, -ETIME: try again). */
	int (*poll)(struct cport *p, int timeout_ms);
	/* Make a poll in progress return soon. Any thread, also on a
	 * single-thread port; async-signal-safe is not required. */
	void (*wake)(struct cport *p);
};

/* The backends, best first; cport_create walks it. */
extern const struct backend *const backends[];
extern const unsigned backends_count;
/* The backend with this enum cport_backend id, or NULL. */
const struct backend *backend_by_id(int id);

#endif
