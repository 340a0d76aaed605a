/* backend.h - the one interface every backend meets. */
#ifndef CPORT_BACKEND_H
#define CPORT_BACKEND_H

#include "port.h"

/*
 * A backend turns kernel events into completions. Every slot may be called
 * from any thread unless it says otherwise; the port serialises nothing for
 * it except poll, which runs in one thread at a time (the poller).
 */
struct backend {
	const char *name;
	/* Set up p->be. -errno if this backend cannot run here (then nothing is left allocated). */
	int (*init)(struct cport *p);
	/* Tear down p->be; no thread is inside any slot. Ops in flight are dropped. */
	void (*fini)(struct cport *p);
	/* An fd joins (attach) or leaves (detach, after its last op completed). */
	int (*attach)(struct cport *p, struct fdent *fe);
	void (*detach)(struct cport *p, struct fdent *fe);
	/* Start op on fe (fe->inflight already counted). Returns 0, or -errno
	 * when the op could not be started (then it is not in flight). */
	int (*submit)(struct cport *p, struct fdent *fe, struct cport_op *op);
	/* Ask for op to end early. 0 if asked, -ENOENT if it is not pending. */
	int (*cancel)(struct cport *p, struct cport_op *op);
	/* Ask every op on fe to end early. fd and epoch are fe's number and
	 * cancel_epoch as they were under fe->lock: by now fe may be finished and
	 * attached anew, and its new owner's ops must not be cancelled (io_uring
	 * restarts any it cancels by mistake). */
	void (*cancel_fd)(struct cport *p, struct fdent *fe, int fd, uint32_t epoch);
	/* Push queued submissions to the kernel now (called before a thread parks). */
	void (*flush)(struct cport *p);
	/* Poller only: wait up to timeout_ms for kernel events and hand what
	 * finished to port_deliver. Returns how many ops it completed (>= 0),
	 * or -errno (-EINTR). */
	int (*poll)(struct cport *p, int timeout_ms);
	/* Make a poll in progress return soon. */
	void (*wake)(struct cport *p);
	/* A pool buffer came back: ops waiting for one may go on. */
	void (*buf_returned)(struct cport *p, unsigned id);
};

extern const struct backend backend_uring;
extern const struct backend backend_epoll;

#endif
