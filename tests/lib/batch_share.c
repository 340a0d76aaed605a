/* batch_share.c - how much of a batch one wait takes. A caller may ask for
 * many completions at once (cport-echo asks for 1,024): where it alone may
 * run, it gets all that is queued; where the concurrency limit leaves room
 * for a thread waiting beside it, a large batch is shared out between
 * them, so that one thread does not run the lot while another CPU idles.
 * A batch too small for two parts of SHARE_MIN still goes to one thread
 * whole: waking a second for a part of it costs more than it saves. */
#include "cport_test.h"

#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(batch_share);

#define BIG_MAX 1024
#define SHARE_MIN 32 /* the least a shared-out batch gives each thread: keep equal to src/queue.c's */
#define MAX_OPS 200
#define KEY_FD 5
#define KEY_STOP 99
#define ATTEMPTS 3

struct taker {
	cport_t *port;
	_Atomic pid_t tid;
	int got; /* what its one wait returned */
	bool stopped; /* it got the stop post instead of the batch */
	struct cport_completion c[BIG_MAX];
	pthread_t thread;
};

static void *taker_main(void *arg)
{
	struct taker *t = arg;
	atomic_store(&t->tid, gettid());
	t->got = cport_wait(t->port, t->c, BIG_MAX, TEST_WAIT_MS);
	t->stopped = t->got == 1 && t->c[0].key == KEY_STOP;
	return NULL;
}

struct scene {
	cport_t *port;
	int a, b;
	struct cport_op ops[MAX_OPS];
	struct taker t[2];
};

/* A port with the given limit, n polls waiting on one socket, and two
 * threads asleep in cport_wait(max 1024): one in the kernel, one parked.
 * Then one byte makes all n polls finish in a single batch. */
static void batch_arrives(struct scene *s, unsigned limit, int n)
{
	struct cport_options o;
	test_options(&o);
	o.concurrency = limit;
	s->port = test_port_new(&o);
	test_tcp_pair(&s->a, &s->b);
	cr_assert_eq(cport_attach(s->port, s->a, KEY_FD), 0);
	for (int i = 0; i < n; i++) {
		cport_op_init(&s->ops[i]);
		cr_assert_eq(cport_poll(s->port, s->a, &s->ops[i], POLLIN), 0);
	}
	for (int i = 0; i < 2; i++) {
		s->t[i].port = s->port;
		test_thread_start(&s->t[i].thread, taker_main, &s->t[i]);
	}
	for (int i = 0; i < 2; i++) {
		while (!atomic_load(&s->t[i].tid))
			usleep(100);
		cr_assert(test_thread_parked(atomic_load(&s->t[i].tid), TEST_WAIT_MS), "taker %d never slept", i);
	}
	cr_assert_eq(test_write_all(s->b, "x", 1), 0);
}

/* The one that took the batch (index), after the other is released by a
 * stop post once the first is back. */
static int batch_taken(struct scene *s, int n)
{
	int first = -1;
	for (int64_t deadline = test_now_ms() + TEST_WAIT_MS; first < 0; usleep(100)) {
		cr_assert_lt(test_now_ms(), deadline, "no taker came back");
		for (int i = 0; i < 2 && first < 0; i++)
			if (test_thread_join_within(s->t[i].thread, 0))
				first = i;
	}
	if (s->t[first].got < n)
		return first; /* the other has the rest: it comes back with it */
	cr_assert_eq(cport_post(s->port, KEY_STOP, NULL, 0), 0);
	return first;
}

/* Every completion of the batch is one of the polls, each once. */
static void assert_all_polls(struct scene *s, int n)
{
	bool seen[MAX_OPS] = {false};
	int total = 0;
	for (int i = 0; i < 2; i++) {
		if (s->t[i].stopped)
			continue;
		cr_assert_geq(s->t[i].got, 0, "taker %d: %s", i, strerror(-s->t[i].got));
		for (int k = 0; k < s->t[i].got; k++) {
			struct cport_completion *c = &s->t[i].c[k];
			cr_assert_eq(c->key, (uintptr_t)KEY_FD);
			long idx = (struct cport_op *)c->op - s->ops;
			cr_assert(idx >= 0 && idx < n && !seen[idx], "completion %d of taker %d is not a new poll", k, i);
			seen[idx] = true;
			total++;
		}
	}
	cr_assert_eq(total, n, "%d completions of %d polls", total, n);
}

/* Both threads came back with polls: the batch reached the port in two
 * parts. On io_uring the polls' completions are posted by the writing
 * thread's task work, which may post some and wake the poller before the
 * rest if it is rescheduled meanwhile; then each thread collects a part,
 * which says nothing of how a wait shares one batch. */
static bool two_harvests(const struct scene *s)
{
	return !s->t[0].stopped && !s->t[1].stopped;
}

static void scene_close(struct scene *s)
{
	cport_destroy(s->port);
	close(s->a);
	close(s->b);
}

/* Run the scene until the batch came in one harvest by the test's own
 * sign, at most ATTEMPTS times; returns the thread that came back first,
 * with both threads joined. */
static int one_harvest(struct scene *s, unsigned limit, int n, bool (*split)(const struct scene *))
{
	for (int attempt = 1;; attempt++) {
		memset(s, 0, sizeof(*s));
		batch_arrives(s, limit, n);
		int first = batch_taken(s, n);
		test_thread_join(s->t[!first].thread);
		if (!split(s) || attempt == ATTEMPTS)
			return first;
		scene_close(s);
	}
}

/* Shared, one part under SHARE_MIN: no split of one batch gives that. */
static bool share_split(const struct scene *s)
{
	return two_harvests(s) && (s->t[0].got < SHARE_MIN || s->t[1].got < SHARE_MIN);
}

/* A batch of n with room for two threads: each takes a part of at least
 * SHARE_MIN. */
static void assert_shared(int n)
{
	static struct scene s;
	one_harvest(&s, 2, n, share_split);
	assert_all_polls(&s, n);
	for (int i = 0; i < 2; i++)
		cr_assert(!s.t[i].stopped && s.t[i].got >= SHARE_MIN && s.t[i].got <= n - SHARE_MIN,
			  "taker %d took %d of a batch of %d with room for two threads", i, s.t[i].stopped ? 0 : s.t[i].got,
			  n);
	scene_close(&s);
}

Test(batch_share, with_room_for_two_threads_a_large_batch_is_shared_between_them, .timeout = TEST_TIMEOUT)
{
	assert_shared(MAX_OPS);
}

/* The smallest batch that is shared: two parts of SHARE_MIN. */
Test(batch_share, a_batch_of_two_parts_is_shared_half_and_half, .timeout = TEST_TIMEOUT)
{
	assert_shared(2 * SHARE_MIN);
}

/* A batch of n with room for `limit` threads goes to one of them whole. */
static void assert_whole(unsigned limit, int n)
{
	static struct scene s;
	int first = one_harvest(&s, limit, n, two_harvests);
	cr_assert_eq(s.t[first].got, n, "took %d of %d", s.t[first].got, n);
	cr_assert(s.t[!first].stopped, "the other thread got %d completions", s.t[!first].got);
	assert_all_polls(&s, n);
	scene_close(&s);
}

Test(batch_share, where_one_thread_may_run_it_takes_the_whole_batch, .timeout = TEST_TIMEOUT)
{
	assert_whole(1, MAX_OPS);
}

Test(batch_share, a_batch_too_small_for_two_parts_goes_to_one_thread_whole, .timeout = TEST_TIMEOUT)
{
	assert_whole(2, 2 * SHARE_MIN - 1);
}
