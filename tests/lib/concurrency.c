/* concurrency.c - the concurrency limit caps how many threads run
 * completions at once; a thread runs from its wait's return to its next wait. */
#include "cport_test.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

TEST_SUITE(concurrency);

#define WAITERS 4
#define POSTS 20000
#define KEY_STOP ((uintptr_t)-1)
#define BUSY_SPINS 200

struct crowd {
	cport_t *port;
	unsigned limit;
	atomic_int running;
	atomic_int max_running;
	atomic_int over_limit;
	atomic_int delivered;
	atomic_int errors;
};

static void *crowd_member_main(void *arg)
{
	struct crowd *cr = arg;
	struct cport_completion cs[8];

	for (;;) {
		int n = cport_wait(cr->port, cs, 8, -1);

		if (n == -EINTR)
			continue;
		if (n <= 0) {
			atomic_fetch_add(&cr->errors, 1);
			return NULL;
		}
		int now = atomic_fetch_add(&cr->running, 1) + 1;

		if (now > (int)cr->limit)
			atomic_fetch_add(&cr->over_limit, 1);
		for (int seen = atomic_load(&cr->max_running); now > seen;)
			if (atomic_compare_exchange_weak(&cr->max_running, &seen, now))
				break;
		/* Stay "running" a little, so an overlap would be seen. */
		for (volatile int spin = 0; spin < BUSY_SPINS; spin++)
			;
		int stops = 0;

		for (int k = 0; k < n; k++) {
			if (cs[k].key == KEY_STOP)
				stops++;
			else
				atomic_fetch_add(&cr->delivered, 1);
		}
		atomic_fetch_sub(&cr->running, 1);
		if (stops) {
			for (int k = 1; k < stops; k++)
				if (cport_post(cr->port, KEY_STOP, NULL, 0) < 0)
					atomic_fetch_add(&cr->errors, 1);
			return NULL;
		}
	}
}

static void crowd_never_exceeds(unsigned limit)
{
	struct cport_options o;
	struct crowd *cr = calloc(1, sizeof(*cr));
	pthread_t t[WAITERS];

	cr_assert_not_null(cr);
	test_options(&o);
	o.concurrency = limit;
	cr->port = test_port_new(&o);
	cr->limit = limit;
	cr_assert_eq(cport_concurrency(cr->port), limit);
	for (int i = 0; i < WAITERS; i++)
		test_thread_start(&t[i], crowd_member_main, cr);
	for (int i = 0; i < POSTS; i++)
		cr_assert_eq(cport_post(cr->port, 1, NULL, i), 0);
	for (int i = 0; i < WAITERS; i++)
		cr_assert_eq(cport_post(cr->port, KEY_STOP, NULL, 0), 0);
	for (int i = 0; i < WAITERS; i++)
		test_thread_join(t[i]);

	cr_log_info("%s: limit %u, at most %d ran at once", test_backend_label(), limit,
		    atomic_load(&cr->max_running));
	cr_assert_eq(atomic_load(&cr->errors), 0);
	cr_assert_eq(atomic_load(&cr->over_limit), 0, "%d times more than %u threads ran at once",
		     atomic_load(&cr->over_limit), limit);
	cr_assert_eq(atomic_load(&cr->delivered), POSTS);

	cport_destroy(cr->port);
	free(cr);
}

Test(concurrency, a_limit_of_one_never_lets_two_of_four_waiters_run_at_once, .timeout = 60)
{
	crowd_never_exceeds(1);
}

Test(concurrency, a_limit_of_two_never_lets_three_of_four_waiters_run_at_once, .timeout = 60)
{
	crowd_never_exceeds(2);
}

Test(concurrency, the_default_limit_is_the_number_of_cpus, .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	unsigned got = cport_concurrency(port);

	cr_log_info("default concurrency %u, %ld CPUs configured", got, cpus);
	cr_assert_geq(got, 1);
	cr_assert_leq(got, (unsigned)(cpus > 0 ? cpus : 1024), "limit %u above %ld CPUs", got,
		      cpus);

	cport_destroy(port);
}

Test(concurrency, a_thread_that_exits_while_running_stops_counting_against_the_limit,
     .timeout = TEST_TIMEOUT)
{
	struct cport_options o;
	struct test_waiter first, second;

	test_options(&o);
	o.concurrency = 1;
	cport_t *port = test_port_new(&o);

	first = (struct test_waiter){.port = port, .id = 0};
	second = (struct test_waiter){.port = port, .id = 1};
	test_waiter_start(&first);
	test_waiter_start(&second);
	/* One of them takes a post and exits without waiting again: while it
	 * runs the other is held back, once it has exited the other must run. */
	cr_assert_eq(cport_post(port, 1, NULL, 1), 0);
	cr_assert_eq(cport_post(port, 2, NULL, 2), 0);
	test_waiter_join(&first);
	test_waiter_join(&second);
	cr_assert_eq(first.rc, 1, "first waiter: cport_wait gave %d", first.rc);
	cr_assert_eq(second.rc, 1, "second waiter: cport_wait gave %d", second.rc);
	cr_assert_eq(first.c.key + second.c.key, 3);

	cport_destroy(port);
}
