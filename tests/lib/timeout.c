/* timeout.c - cport_wait's timeout: 0 polls, a positive timeout returns 0
 * when nothing arrives, with or without I/O pending. */
#include "cport_test.h"

#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

TEST_SUITE(timeout);

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
	struct cport_completion c;

	cr_assert_eq(cport_wait(port, &c, 1, 50), 0);

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
	cr_assert_eq(cport_wait(port, &c, 1, 50), 0);
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
