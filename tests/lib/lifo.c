/* lifo.c - waiting threads are released most recent first, as IOCP does. */
#include "cport_test.h"

#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

TEST_SUITE(lifo);

#define WAITERS 3
#define ROUNDS 50

struct release_log {
	int order[WAITERS];
	atomic_int n;
	sem_t released;
	sem_t finish; /* released waiters stay alive until the test ends */
};

/* Runs on a waiter's thread once its single wait returns. The thread then
 * lingers (neither waiting again nor exiting) so the remaining waiters are
 * exactly the ones still parked. */
static void record_release(struct test_waiter *w)
{
	struct release_log *log = w->arg;
	int slot = atomic_fetch_add(&log->n, 1);

	if (slot < WAITERS)
		log->order[slot] = w->id;
	sem_post(&log->released);
	while (sem_wait(&log->finish) < 0 && errno == EINTR)
		;
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

/* Park WAITERS threads one at a time, post one completion at a time, and
 * check they come out newest first. linger: released threads stay alive
 * until the end; otherwise each exits as soon as it has its completion. */
static void release_round(cport_t *port, bool linger, int round)
{
	struct release_log log = {.n = 0};
	struct test_waiter w[WAITERS];

	cr_assert_eq(sem_init(&log.released, 0, 0), 0);
	cr_assert_eq(sem_init(&log.finish, 0, linger ? 0 : WAITERS), 0);
	for (int i = 0; i < WAITERS; i++) {
		w[i] = (struct test_waiter){.port = port, .id = i, .after = record_release,
					    .arg = &log};
		test_waiter_start(&w[i]);
	}
	for (int k = 0; k < WAITERS; k++) {
		cr_assert_eq(cport_post(port, (uintptr_t)k, NULL, k), 0);
		wait_released(&log);
	}
	if (linger)
		for (int i = 0; i < WAITERS; i++)
			sem_post(&log.finish);
	for (int i = 0; i < WAITERS; i++) {
		test_waiter_join(&w[i]);
		cr_assert_eq(w[i].rc, 1, "waiter %d: cport_wait gave %d", i, w[i].rc);
	}
	for (int k = 0; k < WAITERS; k++)
		cr_assert_eq(log.order[k], WAITERS - 1 - k,
			     "round %d: release %d went to waiter %d, want %d (order %d,%d,%d)", round,
			     k, log.order[k], WAITERS - 1 - k, log.order[0], log.order[1],
			     log.order[2]);
	/* FIFO completions: the k-th released waiter got the k-th post. */
	for (int i = 0; i < WAITERS; i++)
		cr_assert_eq(w[i].c.key, (uintptr_t)(WAITERS - 1 - i));
	sem_destroy(&log.finish);
	sem_destroy(&log.released);
}

static cport_t *lifo_port(void)
{
	struct cport_options o;

	test_options(&o);
	o.concurrency = WAITERS; /* the limit must not hold anyone back here */
	return test_port_new(&o);
}

Test(lifo, blocked_waiters_are_released_most_recent_first, .timeout = TEST_TIMEOUT)
{
	cport_t *port = lifo_port();

	release_round(port, true, 0);
	cport_destroy(port);
}

Test(lifo, waiters_that_exit_after_their_completion_do_not_disturb_the_order,
     .timeout = TEST_TIMEOUT)
{
	cport_t *port = lifo_port();

	for (int round = 0; round < ROUNDS; round++)
		release_round(port, false, round);
	cport_destroy(port);
}
