/* lifo.c - waiting threads are released most recent first, as IOCP does. */
#include "cport_test.h"

#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <time.h>

TEST_SUITE(lifo);

#define WAITERS 3

struct release_log {
	int order[WAITERS];
	atomic_int n;
	sem_t released;
};

/* Runs on a waiter's thread once its single wait returns. */
static void record_release(struct test_waiter *w)
{
	struct release_log *log = w->arg;
	int slot = atomic_fetch_add(&log->n, 1);

	if (slot < WAITERS)
		log->order[slot] = w->id;
	sem_post(&log->released);
}

static void wait_released(struct release_log *log)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += TEST_WAIT_MS / 1000;
	int rc;

	while ((rc = sem_timedwait(&log->released, &ts)) < 0 && errno == EINTR)
		;
	cr_assert_eq(rc, 0, "no waiter was released by a post");
}

Test(lifo, blocked_waiters_are_released_most_recent_first, .timeout = TEST_TIMEOUT)
{
	struct cport_options o;
	struct release_log log = {.n = 0};
	struct test_waiter w[WAITERS];

	test_options(&o);
	o.concurrency = WAITERS; /* the limit must not hold anyone back here */
	cport_t *port = test_port_new(&o);

	cr_assert_eq(sem_init(&log.released, 0, 0), 0);
	/* Park them one at a time so the order they wait in is known. */
	for (int i = 0; i < WAITERS; i++) {
		w[i] = (struct test_waiter){.port = port, .id = i, .after = record_release,
					    .arg = &log};
		test_waiter_start(&w[i]);
	}
	/* One completion at a time: each goes to the newest waiter left. */
	for (int k = 0; k < WAITERS; k++) {
		cr_assert_eq(cport_post(port, (uintptr_t)k, NULL, k), 0);
		wait_released(&log);
	}
	for (int i = 0; i < WAITERS; i++) {
		test_waiter_join(&w[i]);
		cr_assert_eq(w[i].rc, 1, "waiter %d: cport_wait gave %d", i, w[i].rc);
	}
	for (int k = 0; k < WAITERS; k++)
		cr_assert_eq(log.order[k], WAITERS - 1 - k,
			     "release %d went to waiter %d, want %d (order %d,%d,%d)", k, log.order[k],
			     WAITERS - 1 - k, log.order[0], log.order[1], log.order[2]);
	/* FIFO completions: the k-th released waiter got the k-th post. */
	for (int i = 0; i < WAITERS; i++)
		cr_assert_eq(w[i].c.key, (uintptr_t)(WAITERS - 1 - i));

	sem_destroy(&log.released);
	cport_destroy(port);
}
