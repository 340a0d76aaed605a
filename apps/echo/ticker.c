/* ticker.c - a thread that calls a function every period, until stopped.
 *
 * cport-echo's workers wait on their port with no timeout: a timed wait
 * costs the kernel a timer armed and cancelled each time a thread sleeps,
 * which at one connection is once a message. Their housekeeping comes from
 * this thread instead, which wakes every loop each TICK_MS. */
#include "ticker.h"

#include "log.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static void deadline_add(struct timespec *d, unsigned ms)
{
	d->tv_sec += ms / 1000;
	d->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (d->tv_nsec >= 1000000000L) {
		d->tv_sec++;
		d->tv_nsec -= 1000000000L;
	}
}

static void *ticker_main(void *arg)
{
	struct ticker *t = arg;
	struct timespec next;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		/* From now, not from the last deadline: a late tick (a busy
		 * machine) is followed by a period, not by a burst. */
		clock_gettime(CLOCK_MONOTONIC, &next);
		deadline_add(&next, t->period_ms);
		while (!t->stop && pthread_cond_timedwait(&t->cv, &t->lock, &next) != ETIMEDOUT)
			;
		if (t->stop)
			break;
		pthread_mutex_unlock(&t->lock);
		t->fn(t->ctx);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int ticker_start(struct ticker *t, ticker_fn *fn, void *ctx, unsigned period_ms)
{
	pthread_condattr_t ca;
	int r;

	memset(t, 0, sizeof(*t));
	t->fn = fn;
	t->ctx = ctx;
	t->period_ms = period_ms;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	r = pthread_create(&t->tid, NULL, ticker_main, t);
	if (r != 0) {
		log_msg(LOG_ERR, "cannot start the housekeeping ticker: %s", strerror(r));
		return -r;
	}
	t->started = 1;
	return 0;
}

void ticker_stop(struct ticker *t)
{
	if (!t->started)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->tid, NULL);
	t->started = 0;
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cv);
}
