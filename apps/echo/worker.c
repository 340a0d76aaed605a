/* worker.c - a worker thread: set up its loop (or wait for that), wait on the port, dispatch. */
#include "worker.h"

#include "clock.h"
#include "conn.h"
#include "housekeep.h"
#include "log.h"
#include "loop.h"
#include "req.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Completions taken per cport_wait: all a busy port has queued, as a rule.
 * The replies a batch starts go out together at the next wait, so the
 * bigger the batch the fewer the enters, and the fewer the times a client
 * runs dry and sleeps, whose wake-up the server's send pays for on
 * loopback (docs/performance.md, "Kept: a wait takes all that is
 * queued"). Where other threads may run too, the port shares a large
 * queue out among them (cport_wait(3)). */
#define WAIT_BATCH 1024

/* A turn this small, after one of more than BATCH_BIG, gives the array's
 * unused pages back: a burst fills the whole array (40 KiB a worker), and
 * a server that goes idle after it should not keep that resident (the
 * idle-memory bound is per connection held). Between the two thresholds
 * nothing happens, so a steady load does not fault pages in and out. */
#define BATCH_SMALL 16
#define BATCH_BIG 256

static void dispatch(struct worker *w, const struct cport_completion *c)
{
	struct req *r;

	if (!c->op) {
		if (c->key == KEY_WAKE)
			housekeep_soon(w->loop);
		return;
	}
	if (c->key & KEY_CONN) {
		conn_done(c, &w->ctr);
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

/* Give back the whole pages of comp past its first used entries. They
 * hold only completions already dispatched; the next turn that reaches
 * them finds zeroed pages. false: madvise refused (locked memory, say):
 * the pages stay, as they would without this, and the worker does not
 * try again (it would be refused again). */
static bool give_back_tail(struct cport_completion *comp, int used)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t from = ((uintptr_t)(comp + used) + page - 1) & ~(page - 1);
	uintptr_t to = (uintptr_t)(comp + WAIT_BATCH) & ~(page - 1);

	return to <= from || madvise((void *)from, to - from, MADV_DONTNEED) == 0;
}

static void worker_run(struct worker *w)
{
	struct loop *lp = w->loop;
	struct cport_completion comp[WAIT_BATCH];
	int high = 0; /* the largest turn since the array's tail last went back */
	bool may_give_back = true;

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
		high = n > high ? n : high;
		if (n <= BATCH_SMALL && high > BATCH_BIG && may_give_back) {
			may_give_back = give_back_tail(comp, BATCH_SMALL);
			high = n;
		}
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
