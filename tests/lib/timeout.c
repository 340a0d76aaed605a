/* timeout.c - cport_wait's timeout: 0 polls, a positive timeout returns 0
 * when nothing arrives, with or without I/O pending, and not before it has
 * passed, for the thread that polls the kernel and for a parked follower. */
#include "cport_test.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

TEST_SUITE(timeout);

/* A timeout long enough that returning at once cannot pass for it. */
#define LONG_TIMEOUT_MS 300
/* The test reads the clock in whole milliseconds around the call. */
#define CLOCK_SLACK_MS 2

/* A wait of timeout_ms on port that nothing completes: assert it gives 0,
 * not before timeout_ms and well before TEST_WAIT_MS. */
static void wait_times_out_after(cport_t *port, int max, int timeout_ms)
{
	struct cport_completion c[16];
	int64_t t0 = test_now_ms();
	int rc = cport_wait(port, c, max, timeout_ms);
	int64_t took = test_now_ms() - t0;

	cr_assert_eq(rc, 0, "a %d ms wait on an idle port gave %d", timeout_ms, rc);
	cr_assert_geq(took, timeout_ms - CLOCK_SLACK_MS, "a %d ms wait returned after %lld ms",
		      timeout_ms, (long long)took);
	cr_assert_lt(took, TEST_WAIT_MS, "a %d ms wait took %lld ms", timeout_ms, (long long)took);
}

Test(timeout, a_wait_of_zero_ms_on_an_empty_port_returns_zero_at_once, .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	struct cport_completion c[4];

	cr_assert_eq(cport_wait(port, c, 4, 0), 0);
	cr_assert_eq(cport_wait(port, c, 1, 0), 0);

	cport_destroy(port);
}

Test(timeout, a_wait_of_fifty_ms_with_nothing_queued_returns_zero, .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);

	wait_times_out_after(port, 1, 50);

	cport_destroy(port);
}

Test(timeout, a_wait_of_300_ms_on_an_idle_port_does_not_return_before_300_ms,
     .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);

	wait_times_out_after(port, 1, LONG_TIMEOUT_MS);
	wait_times_out_after(port, 16, LONG_TIMEOUT_MS);

	cport_destroy(port);
}

Test(timeout, a_wait_of_300_ms_on_an_idle_single_thread_port_does_not_return_before_300_ms,
     .timeout = TEST_TIMEOUT)
{
	struct cport_options o;

	test_options(&o);
	o.flags = CPORT_SINGLE_THREAD;
	cport_t *port = test_port_new(&o);

	wait_times_out_after(port, 1, LONG_TIMEOUT_MS);
	wait_times_out_after(port, 16, LONG_TIMEOUT_MS);

	cport_destroy(port);
}

/* A thread making one cport_wait with a finite timeout. */
struct timed_wait {
	cport_t *port;
	int timeout_ms;
	_Atomic pid_t tid;
	atomic_bool done;
	int rc;
	int64_t took_ms;
	struct cport_completion c;
	pthread_t thread;
};

static void *timed_wait_main(void *arg)
{
	struct timed_wait *tw = arg;
	int64_t t0 = test_now_ms();

	atomic_store(&tw->tid, gettid());
	while ((tw->rc = cport_wait(tw->port, &tw->c, 1, tw->timeout_ms)) == -EINTR)
		;
	tw->took_ms = test_now_ms() - t0;
	atomic_store(&tw->done, true);
	return NULL;
}

/* Start tw's thread and assert it goes to sleep inside cport_wait. */
static void timed_wait_start(struct timed_wait *tw)
{
	int64_t deadline = test_now_ms() + TEST_WAIT_MS;

	test_thread_start(&tw->thread, timed_wait_main, tw);
	while (atomic_load(&tw->tid) == 0 && test_now_ms() < deadline)
		sched_yield();
	cr_assert(test_thread_parked(atomic_load(&tw->tid), TEST_WAIT_MS),
		  "a %d ms waiter never went to sleep in cport_wait", tw->timeout_ms);
}

Test(timeout, a_follower_parked_behind_the_polling_thread_returns_zero_at_its_own_timeout,
     .timeout = TEST_TIMEOUT)
{
	struct cport_options o;

	test_options(&o);
	o.concurrency = 2;
	cport_t *port = test_port_new(&o);
	/* The first waiter polls the kernel for a long time; the second finds
	 * the poller busy and parks as a follower with a short timeout of its
	 * own, which must end its wait while the poller still waits. */
	struct timed_wait poller = {.port = port, .timeout_ms = TEST_WAIT_MS};
	struct timed_wait follower = {.port = port, .timeout_ms = LONG_TIMEOUT_MS};

	timed_wait_start(&poller);
	timed_wait_start(&follower);
	cr_assert(test_thread_join_within(follower.thread, TEST_WAIT_MS / 2),
		  "a follower with a %d ms timeout was still waiting after %d ms",
		  LONG_TIMEOUT_MS, TEST_WAIT_MS / 2);
	cr_assert_eq(follower.rc, 0, "the follower's wait gave %d", follower.rc);
	cr_assert_geq(follower.took_ms, LONG_TIMEOUT_MS - CLOCK_SLACK_MS,
		      "the follower's %d ms wait returned after %lld ms", LONG_TIMEOUT_MS,
		      (long long)follower.took_ms);
	cr_assert_not(atomic_load(&poller.done), "the poller's wait ended early (gave %d)",
		      poller.rc);
	cr_assert_eq(cport_post(port, 7, NULL, 0), 0);
	test_thread_join(poller.thread);
	cr_assert_eq(poller.rc, 1, "the poller's wait gave %d", poller.rc);
	cr_assert_eq(poller.c.key, 7);

	cport_destroy(port);
}

Test(timeout, a_wait_with_a_timeout_returns_zero_while_io_is_still_pending,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char buf[8];
	struct iovec iov = {buf, sizeof(buf)};

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_recv(port, a, &op, &iov, 1), 0);
	wait_times_out_after(port, 1, 50);
	cr_assert_eq(cport_wait(port, &c, 1, 0), 0);
	/* The op is still live and completes when data comes. */
	cr_assert_eq(test_write_all(b, "late", 4), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, 4);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(timeout, a_wait_of_zero_ms_returns_what_is_already_queued, .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	struct cport_completion c[4];

	cr_assert_eq(cport_post(port, 1, NULL, 10), 0);
	cr_assert_eq(cport_post(port, 2, NULL, 20), 0);
	cr_assert_eq(cport_wait(port, c, 4, 0), 2);
	cr_assert_eq(c[0].key, 1);
	cr_assert_eq(c[1].key, 2);
	cr_assert_eq(cport_wait(port, c, 4, 0), 0);

	cport_destroy(port);
}

static atomic_int signals_seen;

static void count_signal(int sig)
{
	(void)sig;
	atomic_fetch_add(&signals_seen, 1);
}

Test(timeout, a_signal_does_not_end_a_wait, .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	struct test_waiter w = {.port = port};
	struct sigaction sa = {.sa_handler = count_signal}; /* no SA_RESTART */

	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	test_waiter_start(&w);
	cr_assert_eq(pthread_kill(w.thread, SIGUSR1), 0);
	int64_t deadline = test_now_ms() + TEST_WAIT_MS;

	while (atomic_load(&signals_seen) == 0 && test_now_ms() < deadline)
		sched_yield();
	cr_assert_eq(atomic_load(&signals_seen), 1, "the signal was not delivered");
	/* Still waiting, asleep again, with nothing returned. */
	cr_assert(test_thread_parked(atomic_load(&w.tid), TEST_WAIT_MS),
		  "the waiter did not go back to sleep after the signal");
	cr_assert_eq(cport_post(port, 5, NULL, 0), 0);
	test_waiter_join(&w);
	cr_assert_eq(w.eintr, 0, "cport_wait returned -EINTR on a signal");
	cr_assert_eq(w.rc, 1);
	cr_assert_eq(w.c.key, 5);

	cport_destroy(port);
}
