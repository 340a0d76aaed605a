/* concurrency.c - the concurrency limit caps how many threads run
 * completions at once; a thread runs from its wait's return to its next wait.
 * The default limit is the number of CPUs the process may run on. */
#include "cport_test.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TEST_SUITE(concurrency);

#define WAITERS 4
#define POSTS 64
#define WAIT_BATCH 4
#define KEY_WORK 1
#define KEY_STOP ((uintptr_t)-1)

/* Threads that hold on to their completions at a gate the test opens: while
 * it is shut, every thread the port let run stays running, so the test sees
 * exactly how many the limit let through. */
struct gate {
	cport_t *port;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool open;
	int running; /* threads between their wait's return and their next wait */
	int max_running;
	int delivered;
	int errors;
	bool held[WAITERS]; /* which threads got completions while it was shut */
};

struct gated_waiter {
	struct gate *g;
	int id;
	_Atomic pid_t tid;
	pthread_t thread;
};

/* Hold at the gate until it opens (bounded). g->lock held. */
static void gate_pass(struct gate *g, int id)
{
	struct timespec ts;

	test_abstime(&ts, TEST_WAIT_MS);
	if (!g->open)
		g->held[id] = true;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		if (pthread_cond_timedwait(&g->cv, &g->lock, &ts) == ETIMEDOUT) {
			g->errors++;
			return;
		}
}

static void *gated_waiter_main(void *arg)
{
	struct gated_waiter *w = arg;
	struct gate *g = w->g;
	struct cport_completion cs[WAIT_BATCH];

	atomic_store(&w->tid, gettid());
	for (;;) {
		int n = cport_wait(g->port, cs, WAIT_BATCH, TEST_WAIT_MS);

		if (n == -EINTR)
			continue;
		pthread_mutex_lock(&g->lock);
		if (n <= 0) { /* a timeout or an error: either way the test failed */
			g->errors++;
			pthread_mutex_unlock(&g->lock);
			return NULL;
		}
		g->running++;
		if (g->running > g->max_running)
			g->max_running = g->running;
		gate_pass(g, w->id);
		int stops = 0;

		for (int k = 0; k < n; k++) {
			if (cs[k].key == KEY_STOP)
				stops++;
			else if (cs[k].key == KEY_WORK)
				g->delivered++;
			else
				g->errors++;
		}
		g->running--;
		pthread_mutex_unlock(&g->lock);
		/* One stop per thread: pass on any extra this batch took. */
		for (int k = 1; k < stops; k++) {
			if (cport_post(g->port, KEY_STOP, NULL, 0) < 0) {
				pthread_mutex_lock(&g->lock);
				g->errors++;
				pthread_mutex_unlock(&g->lock);
			}
		}
		if (stops)
			return NULL;
	}
}

/* Wait (bounded) until `want` threads are running; returns how many are. */
static int gate_await_running(struct gate *g, int want)
{
	struct timespec ts;

	test_abstime(&ts, TEST_WAIT_MS);
	pthread_mutex_lock(&g->lock);
	while (g->running < want && pthread_cond_timedwait(&g->cv, &g->lock, &ts) == 0)
		;
	int n = g->running;

	pthread_mutex_unlock(&g->lock);
	return n;
}

/* WAITERS threads wait on a port limited to `limit`; POSTS completions are
 * queued at once. Exactly `limit` threads must come out and run (fewer
 * means the port serialises, more that it ignores the limit), the others
 * must stay asleep in cport_wait with work queued, and every post is
 * delivered once the gate opens. */
static void exactly_limit_threads_run(unsigned limit)
{
	struct cport_options o;
	struct gate *g = calloc(1, sizeof(*g));
	struct gated_waiter w[WAITERS];

	cr_assert_not_null(g);
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cv, NULL);
	test_options(&o);
	o.concurrency = limit;
	g->port = test_port_new(&o);
	cr_assert_eq(cport_concurrency(g->port), limit);
	for (int i = 0; i < WAITERS; i++) {
		w[i] = (struct gated_waiter){.g = g, .id = i};
		test_thread_start(&w[i].thread, gated_waiter_main, &w[i]);
		int64_t deadline = test_now_ms() + TEST_WAIT_MS;

		while (atomic_load(&w[i].tid) == 0 && test_now_ms() < deadline)
			sched_yield();
		cr_assert(test_thread_parked(atomic_load(&w[i].tid), TEST_WAIT_MS),
			  "waiter %d never went to sleep in cport_wait", i);
	}
	for (int i = 0; i < POSTS; i++)
		cr_assert_eq(cport_post(g->port, KEY_WORK, NULL, i), 0);
	int running = gate_await_running(g, (int)limit);

	cr_assert_eq(running, (int)limit,
		     "%s: limit %u, but %d of %d threads ran with %d completions queued",
		     test_backend_label(), limit, running, WAITERS, POSTS);
	/* The rest must be (and stay) asleep in cport_wait: had the port let
	 * one more through, it would now be held at the gate as well. */
	for (int i = 0; i < WAITERS; i++) {
		pthread_mutex_lock(&g->lock);
		bool held = g->held[i];

		pthread_mutex_unlock(&g->lock);
		if (!held)
			cr_assert(test_thread_parked(atomic_load(&w[i].tid), TEST_WAIT_MS),
				  "waiter %d neither runs nor sleeps", i);
	}
	pthread_mutex_lock(&g->lock);
	int max_shut = g->max_running;

	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->lock);
	cr_assert_eq(max_shut, (int)limit, "%s: limit %u, but %d threads ran at once",
		     test_backend_label(), limit, max_shut);
	for (int i = 0; i < WAITERS; i++)
		cr_assert_eq(cport_post(g->port, KEY_STOP, NULL, 0), 0);
	for (int i = 0; i < WAITERS; i++)
		test_thread_join(w[i].thread);

	cr_log_info("%s: limit %u, at most %d ran at once", test_backend_label(), limit,
		    g->max_running);
	cr_assert_eq(g->errors, 0, "%d waits or gates failed or timed out", g->errors);
	cr_assert_eq(g->max_running, (int)limit, "limit %u, but %d threads ran at once", limit,
		     g->max_running);
	cr_assert_eq(g->delivered, POSTS);
	test_expect_idle(g->port, 0);

	cport_destroy(g->port);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

Test(concurrency, a_limit_of_one_lets_exactly_one_of_four_waiters_run_while_work_is_queued,
     .timeout = TEST_TIMEOUT)
{
	exactly_limit_threads_run(1);
}

Test(concurrency, a_limit_of_two_lets_exactly_two_of_four_waiters_run_while_work_is_queued,
     .timeout = TEST_TIMEOUT)
{
	exactly_limit_threads_run(2);
}

Test(concurrency, a_limit_of_three_lets_exactly_three_of_four_waiters_run_while_work_is_queued,
     .timeout = TEST_TIMEOUT)
{
	exactly_limit_threads_run(3);
}

/* The CPUs this process may run on. */
static unsigned cpus_allowed(cpu_set_t *set)
{
	CPU_ZERO(set);
	cr_assert_eq(sched_getaffinity(0, sizeof(*set), set), 0, "sched_getaffinity: %s",
		     strerror(errno));
	return (unsigned)CPU_COUNT(set);
}

Test(concurrency, the_default_limit_is_the_number_of_cpus_the_process_may_run_on,
     .timeout = TEST_TIMEOUT)
{
	cpu_set_t set;
	unsigned cpus = cpus_allowed(&set);
	cport_t *port = test_port_new(NULL);
	unsigned got = cport_concurrency(port);

	cr_log_info("default concurrency %u, %u CPUs allowed", got, cpus);
	cr_assert_eq(got, cpus, "default limit %u, but the process may run on %u CPUs", got, cpus);

	cport_destroy(port);
}

/* What a child restricted to the first `ncpus` of our CPUs reports. */
struct affinity_report {
	int create_rc;
	unsigned concurrency;
};

static void affinity_child(int fd, const cpu_set_t *allowed, unsigned ncpus)
{
	struct affinity_report r = {0};
	cpu_set_t set;
	struct cport_options o;
	cport_t *port = NULL;

	CPU_ZERO(&set);
	for (int cpu = 0; cpu < CPU_SETSIZE && (unsigned)CPU_COUNT(&set) < ncpus; cpu++)
		if (CPU_ISSET(cpu, allowed))
			CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		r.create_rc = -errno;
		_exit(write(fd, &r, sizeof(r)) == sizeof(r) ? 2 : 3);
	}
	test_options(&o);
	r.create_rc = cport_create(&o, &port);
	if (r.create_rc == 0) {
		r.concurrency = cport_concurrency(port);
		cport_destroy(port);
	}
	_exit(write(fd, &r, sizeof(r)) == sizeof(r) ? 0 : 3);
}

/* The default limit of a port created in a child whose affinity is the
 * first ncpus CPUs this process may use. */
static unsigned default_limit_on_cpus(unsigned ncpus)
{
	cpu_set_t allowed;
	int pfd[2], status;
	struct affinity_report r = {0};

	if (cpus_allowed(&allowed) < ncpus)
		cr_skip_test("needs %u CPUs, the process may run on %d", ncpus, CPU_COUNT(&allowed));
	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	pid_t pid = fork();

	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(pfd[0]);
		affinity_child(pfd[1], &allowed, ncpus);
	}
	close(pfd[1]);
	int rc = test_read_exact(pfd[0], &r, sizeof(r), TEST_WAIT_MS);

	close(pfd[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert_eq(rc, 0, "no report from the child: %s", strerror(-rc));
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 2, "sched_setaffinity to %u CPUs: %s",
		  ncpus, strerror(-r.create_rc));
	if (r.create_rc < 0 && test_backend() == CPORT_BACKEND_URING)
		test_uring_create_failed(r.create_rc);
	cr_assert_eq(r.create_rc, 0, "cport_create in the child: %s", strerror(-r.create_rc));
	return r.concurrency;
}

Test(concurrency, the_default_limit_is_one_for_a_process_bound_to_one_cpu,
     .timeout = TEST_TIMEOUT)
{
	cpu_set_t set;

	if (cpus_allowed(&set) < 2)
		cr_skip_test("the process may run on one CPU only: nothing to restrict");
	unsigned got = default_limit_on_cpus(1);

	cr_assert_eq(got, 1, "bound to 1 CPU, the default limit is %u", got);
}

Test(concurrency, the_default_limit_is_two_for_a_process_bound_to_two_cpus,
     .timeout = TEST_TIMEOUT)
{
	unsigned got = default_limit_on_cpus(2);

	cr_assert_eq(got, 2, "bound to 2 CPUs, the default limit is %u", got);
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
