/* clock.c - milliseconds on the monotonic clock, for pauses and timeouts. */
#include "clock.h"

#include <time.h>

static uint64_t ts_ms(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000u + (uint64_t)ts->tv_nsec / 1000000u;
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail with a valid clock */
	return ts_ms(&ts);
}

uint64_t coarse_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
		return now_ms();
	return ts_ms(&ts);
}

/* 0: this thread takes no batches. */
static __thread uint64_t tls_batch_ms;

void clock_batch(void)
{
	tls_batch_ms = coarse_ms() | 1; /* never 0; a millisecond is below the stamps' grain */
}

uint64_t batch_ms(void)
{
	return tls_batch_ms ? tls_batch_ms : coarse_ms();
}
