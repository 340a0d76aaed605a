/* post.c - user completions (PostQueuedCompletionStatus): delivered exactly
 * once among many waiters, FIFO, waking blocked waiters, with or without op. */
#include "cport_test.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(post);

#define WAITERS 4
#define POSTERS 2
#define POSTS_EACH 50000
#define TOTAL_POSTS (POSTERS * POSTS_EACH)
#define KEY_STOP ((uintptr_t)-1)

/* A port on which n waiters may all run at once. */
static cport_t *port_for_waiters(unsigned n)
{
	struct cport_options o;

	test_options(&o);
	o.concurrency = n;
	return test_port_new(&o);
}

struct storm {
	cport_t *port;
	atomic_uchar seen[TOTAL_POSTS];
	atomic_int delivered;
	atomic_int duplicates;
	atomic_int bad;       /* completions that are not ours */
	atomic_int unordered; /* a waiter saw one poster's posts out of order */
	atomic_int errors;    /* cport_wait or cport_post failures */
};

struct storm_waiter {
	struct storm *s;
	int max;
};

static void *storm_waiter_main(void *arg)
{
	struct storm_waiter *w = arg;
	struct storm *s = w->s;
	struct cport_completion cs[64];
	int64_t last[POSTERS];

	for (int i = 0; i < POSTERS; i++)
		last[i] = -1;
	for (;;) {
		int n = cport_wait(s->port, cs, w->max, -1);

		if (n == -EINTR)
			continue;
		if (n <= 0) {
			atomic_fetch_add(&s->errors, 1);
			return NULL;
		}
		int stops = 0;

		for (int k = 0; k < n; k++) {
			if (cs[k].key == KEY_STOP) {
				stops++;
				continue;
			}
			int64_t seq = cs[k].result;

			if (cs[k].key >= POSTERS || seq < 0 || seq >= POSTS_EACH || cs[k].op ||
			    cs[k].kind != CPORT_OP_POST) {
				atomic_fetch_add(&s->bad, 1);
				continue;
			}
			if (seq <= last[cs[k].key])
				atomic_fetch_add(&s->unordered, 1);
			last[cs[k].key] = seq;
			if (atomic_fetch_add(&s->seen[cs[k].key * POSTS_EACH + (uintptr_t)seq], 1))
				atomic_fetch_add(&s->duplicates, 1);
			atomic_fetch_add(&s->delivered, 1);
		}
		if (stops) {
			/* One stop per waiter: pass on any extra this batch took. */
			for (int k = 1; k < stops; k++)
				if (cport_post(s->port, KEY_STOP, NULL, 0) < 0)
					atomic_fetch_add(&s->errors, 1);
			return NULL;
		}
	}
}

struct poster {
	struct storm *s;
	uintptr_t id;
};

static void *poster_main(void *arg)
{
	struct poster *p = arg;

	for (int64_t seq = 0; seq < POSTS_EACH; seq++)
		if (cport_post(p->s->port, p->id, NULL, seq) < 0)
			atomic_fetch_add(&p->s->errors, 1);
	return NULL;
}

Test(post, every_one_of_100000_posts_from_two_threads_reaches_exactly_one_of_four_waiters,
     .timeout = 60)
{
	static const int maxes[WAITERS] = {1, 7, 16, 64};
	struct storm *s = calloc(1, sizeof(*s));
	struct storm_waiter w[WAITERS];
	struct poster p[POSTERS];
	pthread_t wt[WAITERS], pt[POSTERS];

	cr_assert_not_null(s);
	s->port = port_for_waiters(WAITERS);
	for (int i = 0; i < WAITERS; i++) {
		w[i] = (struct storm_waiter){s, maxes[i]};
		test_thread_start(&wt[i], storm_waiter_main, &w[i]);
	}
	for (int i = 0; i < POSTERS; i++) {
		p[i] = (struct poster){s, (uintptr_t)i};
		test_thread_start(&pt[i], poster_main, &p[i]);
	}
	for (int i = 0; i < POSTERS; i++)
		test_thread_join(pt[i]);
	/* FIFO: the stops queue behind every post. */
	for (int i = 0; i < WAITERS; i++)
		cr_assert_eq(cport_post(s->port, KEY_STOP, NULL, 0), 0);
	for (int i = 0; i < WAITERS; i++)
		test_thread_join(wt[i]);

	cr_assert_eq(atomic_load(&s->errors), 0);
	cr_assert_eq(atomic_load(&s->bad), 0, "%d foreign completions", atomic_load(&s->bad));
	cr_assert_eq(atomic_load(&s->duplicates), 0, "%d posts delivered twice",
		     atomic_load(&s->duplicates));
	cr_assert_eq(atomic_load(&s->unordered), 0, "%d posts dequeued out of order",
		     atomic_load(&s->unordered));
	int missing = 0;

	for (int i = 0; i < TOTAL_POSTS; i++)
		missing += atomic_load(&s->seen[i]) == 0;
	cr_assert_eq(missing, 0, "%d posts never delivered", missing);
	cr_assert_eq(atomic_load(&s->delivered), TOTAL_POSTS);
	test_expect_idle(s->port, 0);

	cport_destroy(s->port);
	free(s);
}

Test(post, a_post_wakes_a_waiter_blocked_forever, .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	struct test_waiter w = {.port = port};
	struct cport_op op;

	cport_op_init(&op);
	test_waiter_start(&w);
	cr_assert_eq(cport_post(port, 42, &op, 4242), 0);
	test_waiter_join(&w);
	cr_assert_eq(w.rc, 1, "cport_wait gave %d", w.rc);
	cr_assert_eq(w.c.key, 42);
	cr_assert_eq(w.c.op, &op);
	cr_assert_eq(w.c.result, 4242);

	cport_destroy(port);
}

Test(post, a_post_wakes_a_waiter_blocked_while_io_is_pending, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct test_waiter w = {0};
	struct cport_op rop;
	char buf[16];
	struct iovec iov = {buf, sizeof(buf)};

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, 1), 0);
	cport_op_init(&rop);
	cr_assert_eq(cport_recv(port, a, &rop, &iov, 1), 0);
	w.port = port;
	test_waiter_start(&w);
	cr_assert_eq(cport_post(port, 2, NULL, 5), 0);
	test_waiter_join(&w);
	cr_assert_eq(w.rc, 1, "cport_wait gave %d", w.rc);
	cr_assert_eq(w.c.key, 2);
	cr_assert_null(w.c.op);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(post, two_posts_wake_two_blocked_waiters, .timeout = TEST_TIMEOUT)
{
	cport_t *port = port_for_waiters(2);
	struct test_waiter w[2] = {{.port = port, .id = 0}, {.port = port, .id = 1}};

	for (int i = 0; i < 2; i++)
		test_waiter_start(&w[i]);
	cr_assert_eq(cport_post(port, 1, NULL, 1), 0);
	cr_assert_eq(cport_post(port, 2, NULL, 2), 0);
	for (int i = 0; i < 2; i++) {
		test_waiter_join(&w[i]);
		cr_assert_eq(w[i].rc, 1, "waiter %d: cport_wait gave %d", i, w[i].rc);
	}
	cr_assert_eq(w[0].c.key + w[1].c.key, 3, "each post went to exactly one waiter");

	cport_destroy(port);
}

Test(post, a_post_with_a_null_op_is_delivered_with_its_key_and_result, .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	struct cport_completion c;

	cr_assert_eq(cport_post(port, UINTPTR_MAX - 1, NULL, -ETIMEDOUT), 0);
	cr_assert_eq(cport_post(port, 0, NULL, (int64_t)1 << 40), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.key, UINTPTR_MAX - 1);
	cr_assert_null(c.op);
	cr_assert_eq(c.result, -ETIMEDOUT);
	cr_assert_eq(c.kind, CPORT_OP_POST);
	cr_assert_eq(c.flags & CPORT_CF_BUFFER, 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.key, 0);
	cr_assert_eq(c.result, (int64_t)1 << 40);

	cport_destroy(port);
}

struct job {
	int id;
	struct cport_op op;
};

Test(post, a_post_with_an_op_hands_back_the_op_and_its_containing_struct, .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	struct job j = {.id = 77};
	struct cport_completion c;

	cport_op_init(&j.op);
	cr_assert_eq(cport_post(port, 9, &j.op, 3), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &j.op);
	cr_assert_eq(cport_container_of(c.op, struct job, op)->id, 77);
	cr_assert_eq(c.kind, CPORT_OP_POST);
	cr_assert_eq(cport_op_kind(c.op), CPORT_OP_POST);
	/* Reusable once dequeued. */
	cr_assert_eq(cport_post(port, 9, &j.op, 4), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, 4);

	cport_destroy(port);
}

Test(post, posts_are_dequeued_in_fifo_order, .timeout = TEST_TIMEOUT)
{
	enum { N = 1000, BATCH = 7 };
	cport_t *port = test_port_new(NULL);
	struct cport_completion cs[BATCH];
	int next = 0;

	for (int i = 0; i < N; i++)
		cr_assert_eq(cport_post(port, 1, NULL, i), 0);
	while (next < N) {
		int n = cport_wait(port, cs, BATCH, 0);

		cr_assert_gt(n, 0, "cport_wait gave %d with %d posts queued", n, N - next);
		for (int k = 0; k < n; k++, next++)
			cr_assert_eq(cs[k].result, next, "got post %lld, want %d",
				     (long long)cs[k].result, next);
	}
	test_expect_idle(port, 0);

	cport_destroy(port);
}
