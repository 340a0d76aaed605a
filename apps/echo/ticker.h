/* ticker.h - a thread that calls a function every period, until stopped. */
#ifndef ECHO_TICKER_H
#define ECHO_TICKER_H

#include <pthread.h>

typedef void ticker_fn(void *ctx);

struct ticker {
	ticker_fn *fn;
	void *ctx;
	unsigned period_ms;
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t cv; /* on CLOCK_MONOTONIC: ticker_stop ends the wait */
	int stop;
	int started;
};

/* Start calling fn(ctx) every period_ms: 0, or -errno (logged) and no thread. */
int ticker_start(struct ticker *t, ticker_fn *fn, void *ctx, unsigned period_ms);

/* Stop and join the thread (at once, not at the next tick); nothing if it
 * never started. */
void ticker_stop(struct ticker *t);

#endif
