/* worker.h - a worker thread: set up its loop (or wait for that), wait on the port, dispatch. */
#ifndef ECHO_WORKER_H
#define ECHO_WORKER_H

#include "counters.h"

#include <pthread.h>

struct loop;

/* What a worker tells whoever started it (the server), as calls, so that
 * the worker never sees the server's struct. Each may be called from any
 * worker thread. */
struct worker_host {
	void (*loop_ready)(void *ctx, struct loop *lp, int err); /* an owner's setup: 0 or -errno */
	void (*fatal)(void *ctx); /* a wait failed: stop everything now, exit status 1 */
	void (*left)(void *ctx);  /* this thread is about to return */
};

struct worker {
	struct counters ctr; /* first: its own cache lines */
	struct loop *loop;
	const struct worker_host *host;
	void *host_ctx;
	pthread_t tid;
	int started;
	int owner; /* sets the loop up (creates its port) */
};

/* The thread's function; arg is its struct worker. */
void *worker_main(void *arg);

#endif
