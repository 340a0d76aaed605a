/* worker.c - a worker thread: set up its loop (or wait for that), wait on the port, dispatch. */
#include "worker.h"

#include "clock.h"
#include "housekeep.h"
#include "log.h"
#include "loop.h"
#include "req.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

/* Completions taken per cport_wait: all a busy port has queued, as a rule.
 * The replies a batch starts go out together at the next wait, so the
 * bigger the batch the fewer the enters, and the fewer the times a client
 * runs dry and sleeps, whose wake-up the server's send pays for on
 * loopback (docs/performance.md, "Kept: a wait takes all that is
 * queued"). Where other threads may run too, the port shares a large
 * queue out among them (cport_wait(3)). */
#define WAIT_BATCH 1024

static void dispatch(struct worker *w, const struct cport_completion *c)
{
	struct req *r;

	if (!c->op) {
		if (c->key == KEY_WAKE)
			housekeep_soon(w->loop);
		return;
	}
	r = cport_container_of(c->op, struct req, op);
	r->done(r, c, &w->ctr);
}

/* The owner sets the loop up; the others wait for it. 0: run the loop. */
static int worker_start(struct worker *w)
{
	struct loop *lp = w->loop;

	if (w->owner) {
		int r = loop_setup(lp, &w->ctr);

		loop_set_ready(lp, r == 0);
		w->host->loop_ready(w->host_ctx, lp, r);
	} else {
		(void)loop_wait_ready(lp);
	}
	/* A loop whose setup failed half way still runs, to close what it
	 * started; one without a port has nothing to run. */
	return lp->core.port ? 0 : -1;
}

static void worker_run(struct worker *w)
{
	struct loop *lp = w->loop;
	struct cport_completion comp[WAIT_BATCH];

	while (!atomic_load(&lp->core.done)) {
		/* No timeout: the server's ticker wakes the loop (loop_wake). */
		int n = cport_wait(lp->core.port, comp, WAIT_BATCH, lp->wait_ms);

		if (n == -EINTR)
			continue;
		if (n < 0) {
			log_msg(LOG_ERR, "cport_wait: %s", strerror(-n));
			w->host->fatal(w->host_ctx);
			break;
		}
		if (n == 0) { /* timed out: there is no ticker */
			housekeep_soon(lp);
			/* Without a ticker this is the only turn the other
			 * threads get from a poller that finds nothing to do:
			 * under valgrind a thread in io_uring_enter holds its one
			 * lock, which a yield (a call it knows may block) hands
			 * on, or SIGTERM is never taken. Ten times a second at
			 * most: no cost to speak of outside valgrind. */
			sched_yield();
		}
		clock_batch();
		for (int i = 0; i < n; i++)
			dispatch(w, &comp[i]);
		housekeep(lp, &w->ctr);
	}
}

void *worker_main(void *arg)
{
	struct worker *w = arg;

	if (worker_start(w) == 0) {
		worker_run(w);
		loop_core_leave(&w->loop->core);
	}
	/* A loop with one worker is its port's only user: a single-thread
	 * port must be destroyed by its own thread. */
	if (w->loop->core.nworkers == 1)
		loop_close_port(w->loop);
	w->host->left(w->host_ctx);
	return NULL;
}
