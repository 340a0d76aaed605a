/* single_thread.c - ports created with CPORT_SINGLE_THREAD (one thread, no
 * locks) do everything a shared port does, from their one thread; other
 * threads may post to them. */
#include "cport_test.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(single_thread);

static cport_t *single_thread_port(void)
{
	struct cport_options o;

	test_options(&o);
	o.flags = CPORT_SINGLE_THREAD;
	return test_port_new(&o);
}

Test(single_thread, a_single_thread_port_completes_a_recv_send_round_trip, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op sop, rop;
	struct cport_completion cs[2];
	char out[2000], in[2000];
	struct iovec siov[2] = {{out, 1000}, {out + 1000, 1000}};

	test_tcp_pair(&a, &b);
	cport_t *port = single_thread_port();

	cr_assert_str_eq(cport_backend_name(port), test_backend_label());
	cr_assert_eq(cport_attach(port, a, 1), 0);
	cr_assert_eq(cport_attach(port, b, 2), 0);
	test_pattern_fill(out, sizeof(out), 0, 5);
	cport_op_init(&sop);
	cport_op_init(&rop);
	cr_assert_eq(cport_send(port, a, &sop, siov, 2), 0);
	size_t have = 0;
	bool sent = false;

	while (have < sizeof(in)) {
		struct iovec riov = {in + have, sizeof(in) - have};

		cr_assert_eq(cport_recv(port, b, &rop, &riov, 1), 0);
		for (bool got = false; !got;) {
			test_wait_one(port, cs);
			if (cs[0].op == &sop) {
				cr_assert_eq(cs[0].result, (int64_t)sizeof(out));
				sent = true;
				continue;
			}
			cr_assert_eq(cs[0].op, &rop);
			cr_assert_gt(cs[0].result, 0, "recv gave %lld", (long long)cs[0].result);
			have += (size_t)cs[0].result;
			got = true;
		}
	}
	if (!sent) {
		test_wait_one(port, cs);
		cr_assert_eq(cs[0].op, &sop);
	}
	cr_assert_eq(test_pattern_mismatch(in, sizeof(in), 0, 5), -1);
	cr_assert_eq(shutdown(a, SHUT_WR), 0);
	struct iovec riov = {in, sizeof(in)};

	cr_assert_eq(cport_recv(port, b, &rop, &riov, 1), 0);
	test_wait_one(port, cs);
	cr_assert_eq(cs[0].result, 0);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(single_thread, a_single_thread_port_accepts_connects_posts_and_times_out,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage addr;
	socklen_t len;
	struct cport_op aop, cop;
	struct cport_completion cs[3];
	int lfd = test_tcp_listener(AF_INET, 0, &addr, &len);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cport_t *port = single_thread_port();

	cr_assert_eq(cport_wait(port, cs, 3, 0), 0);
	cr_assert_eq(cport_wait(port, cs, 3, 20), 0);
	cr_assert_eq(cport_attach(port, lfd, 1), 0);
	cr_assert_eq(cport_attach(port, cfd, 2), 0);
	cport_op_init(&aop);
	cport_op_init(&cop);
	cr_assert_eq(cport_accept(port, lfd, &aop, NULL, NULL), 0);
	cr_assert_eq(cport_connect(port, cfd, &cop, (struct sockaddr *)&addr, len), 0);
	cr_assert_eq(cport_post(port, 3, NULL, 33), 0);
	cr_assert_eq(test_wait_n(port, cs, 3, TEST_WAIT_MS), 3);
	int nfd = -1;

	for (int i = 0; i < 3; i++) {
		if (cs[i].op == &aop) {
			cr_assert_geq(cs[i].result, 0, "accept gave %lld", (long long)cs[i].result);
			nfd = (int)cs[i].result;
		} else if (cs[i].op == &cop) {
			cr_assert_eq(cs[i].result, 0, "connect gave %lld", (long long)cs[i].result);
		} else {
			cr_assert_eq(cs[i].key, 3);
			cr_assert_eq(cs[i].result, 33);
		}
	}
	cr_assert_geq(nfd, 0);

	cport_destroy(port);
	close(nfd);
	close(cfd);
	close(lfd);
}

Test(single_thread, a_single_thread_port_serves_pooled_receives_and_cancels,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;

	test_tcp_pair(&a, &b);
	cport_t *port = single_thread_port();

	cr_assert_eq(cport_attach(port, a, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_recv_pooled(port, a, &op), 0);
	cr_assert_eq(test_write_all(b, "single", 6), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, 6);
	cr_assert(c.flags & CPORT_CF_BUFFER);
	cr_assert_eq(memcmp(c.buf, "single", 6), 0);
	cr_assert_eq(cport_buf_release(port, c.buf), 0);
	cr_assert_eq(cport_recv_pooled(port, a, &op), 0);
	cr_assert_eq(cport_cancel(port, &op), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, -ECANCELED, "cancelled pooled recv gave %lld", (long long)c.result);
	cr_assert_eq(cport_close(port, a, &op), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.kind, CPORT_OP_CLOSE);
	cr_assert_eq(c.result, 0);

	cport_destroy(port);
	close(b);
}

#define REMOTE_POSTERS 4
#define REMOTE_POSTS_EACH 10000
#define REMOTE_TOTAL (REMOTE_POSTERS * REMOTE_POSTS_EACH)
#define REMOTE_BATCH 64

struct remote_poster {
	cport_t *port;
	uintptr_t id;
	atomic_int *errors;
};

static void *remote_poster_main(void *arg)
{
	struct remote_poster *rp = arg;

	for (int64_t seq = 0; seq < REMOTE_POSTS_EACH; seq++)
		if (cport_post(rp->port, rp->id, NULL, seq) < 0)
			atomic_fetch_add(rp->errors, 1);
	return NULL;
}

/* What the owner saw of the posts. */
struct remote_tally {
	unsigned char seen[REMOTE_TOTAL];
	int64_t last[REMOTE_POSTERS];
	int got, duplicates, foreign, unordered;
};

static void remote_tally_add(struct remote_tally *t, const struct cport_completion *c)
{
	int64_t seq = c->result;

	if (c->key >= REMOTE_POSTERS || c->op || c->kind != CPORT_OP_POST || seq < 0 ||
	    seq >= REMOTE_POSTS_EACH) {
		t->foreign++;
		return;
	}
	if (seq <= t->last[c->key])
		t->unordered++;
	t->last[c->key] = seq;
	if (t->seen[c->key * REMOTE_POSTS_EACH + (uintptr_t)seq]++)
		t->duplicates++;
	t->got++;
}

Test(single_thread, posts_from_four_other_threads_each_reach_the_owning_thread_exactly_once,
     .timeout = 60)
{
	struct remote_tally *t = calloc(1, sizeof(*t));
	struct remote_poster rp[REMOTE_POSTERS];
	pthread_t pt[REMOTE_POSTERS];
	struct cport_completion cs[REMOTE_BATCH];
	atomic_int errors = 0;

	cr_assert_not_null(t);
	for (int i = 0; i < REMOTE_POSTERS; i++)
		t->last[i] = -1;
	cport_t *port = single_thread_port();

	/* This thread owns the port: it is the one that waits. */
	cr_assert_eq(cport_wait(port, cs, 1, 0), 0);
	for (int i = 0; i < REMOTE_POSTERS; i++) {
		rp[i] = (struct remote_poster){port, (uintptr_t)i, &errors};
		test_thread_start(&pt[i], remote_poster_main, &rp[i]);
	}
	int64_t deadline = test_now_ms() + TEST_WAIT_MS;

	while (t->got + t->foreign < REMOTE_TOTAL && test_now_ms() < deadline) {
		int64_t left = deadline - test_now_ms();
		int n = cport_wait(port, cs, REMOTE_BATCH, left > 0 ? (int)left : 0);

		if (n == -EINTR)
			continue;
		cr_assert_geq(n, 0, "cport_wait: %s", strerror(-n));
		for (int k = 0; k < n; k++)
			remote_tally_add(t, &cs[k]);
	}
	for (int i = 0; i < REMOTE_POSTERS; i++)
		test_thread_join(pt[i]);
	cr_assert_eq(atomic_load(&errors), 0, "%d cport_post calls failed", atomic_load(&errors));
	cr_assert_eq(t->foreign, 0, "%d completions that were never posted", t->foreign);
	cr_assert_eq(t->duplicates, 0, "%d posts dequeued twice", t->duplicates);
	cr_assert_eq(t->got, REMOTE_TOTAL, "%d of %d posts reached the owner within %d ms", t->got,
		     REMOTE_TOTAL, TEST_WAIT_MS);
	cr_assert_eq(t->unordered, 0, "%d posts overtook an earlier one of the same thread",
		     t->unordered);
	test_expect_idle(port, 0);

	cport_destroy(port);
	free(t);
}
