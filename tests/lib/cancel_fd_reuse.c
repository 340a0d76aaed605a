/* cancel_fd_reuse.c - a cancel by fd number that reaches the ops of a later
 * owner of the number (the fd was closed and its number reused before the
 * kernel acted) does not end them: the port starts them again. */
#include "cport_test.h"
#include "fault.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

TEST_SUITE(cancel_fd_reuse);

/* Fault hook: the cancel by number lands on another fd, as a late one
 * lands on whoever holds the number now. */
static int64_t lands_on_other_fd(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	(void)pt;
	(void)op;
	(void)v;
	return *(int *)ctx;
}

Test(cancel_fd_reuse, a_cancel_by_number_reaching_a_later_owner_leaves_its_pooled_recv_alive,
     .timeout = TEST_TIMEOUT)
{
	struct cport_options o;
	int x, xb, y, yb, h, hb;
	struct cport_op hold, op;
	struct cport_completion c;

	if (test_backend() != CPORT_BACKEND_URING)
		cr_skip_test("io_uring only: epoll cancels from the fd's own queues, never by number");
	test_options(&o);
	o.pool_buffers = 1;
	cport_t *port = test_port_new(&o);
	test_tcp_pair(&h, &hb);
	test_tcp_pair(&x, &xb);
	test_tcp_pair(&y, &yb);
	cr_assert_eq(cport_attach(port, h, 1), 0);
	cr_assert_eq(cport_attach(port, x, 2), 0);
	cr_assert_eq(cport_attach(port, y, 3), 0);
	cport_op_init(&hold);
	cport_op_init(&op);
	/* The only buffer is held; y's pooled recv waits for data and a buffer. */
	cr_assert_eq(cport_recv_pooled(port, h, &hold), 0);
	cr_assert_eq(test_write_all(hb, "h", 1), 0);
	test_wait_one(port, &c);
	void *held = c.buf;
	cr_assert_eq(cport_recv_pooled(port, y, &op), 0);
	test_expect_idle(port, 50);

	cport_fault_set(FAULT_CANCEL_FD, lands_on_other_fd, &y);
	cr_assert_eq(cport_cancel_fd(port, x), 0);
	cport_fault_set(FAULT_CANCEL_FD, NULL, NULL);
	test_expect_idle(port, 100);

	cr_assert_eq(cport_buf_release(port, held), 0);
	cr_assert_eq(test_write_all(yb, "alive", 5), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, 5, "y's pooled recv gave %lld", (long long)c.result);
	cr_assert_eq(cport_buf_release(port, c.buf), 0);
	cport_destroy(port);
	int fds[] = {h, hb, x, xb, y, yb};
	for (unsigned i = 0; i < 6; i++)
		close(fds[i]);
}

/* The fd number F is closed, reused and attached anew by another thread,
 * whose new pooled receive then waits for a buffer. */
struct reuse {
	cport_t *port;
	int f;       /* the number closed and reused */
	int peer;    /* the new owner's peer */
	struct cport_op op;
	pthread_t thread;
	atomic_bool done;
	bool fired;
	int rc[6];
};

/* Each step's result, checked by the test's own thread. */
static void *reuse_number(void *arg)
{
	struct reuse *r = arg;
	struct cport_completion c;
	int sv[2];

	r->rc[0] = cport_close(r->port, r->f, NULL);
	r->rc[1] = socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	/* The kernel gives out the lowest free number; make it F's for sure. */
	if (sv[1] == r->f) { /* keep the number on the end we attach */
		int t = sv[0];
		sv[0] = sv[1];
		sv[1] = t;
	}
	r->rc[2] = sv[0] == r->f || dup2(sv[0], r->f) == r->f ? 0 : -1;
	if (sv[0] != r->f)
		close(sv[0]);
	r->peer = sv[1];
	r->rc[3] = cport_attach(r->port, r->f, 9);
	r->rc[4] = cport_recv_pooled(r->port, r->f, &r->op);
	r->rc[5] = cport_wait(r->port, &c, 1, 50); /* its "no buffer" answer is looked at */
	atomic_store(&r->done, true);
	return NULL;
}

/* Fault hook: while this thread is inside the cancel of F, another closes
 * F, reuses the number and starts a receive on it (it may have to wait for
 * the cancel to finish first: give it a bounded while). */
static int64_t reuse_during_cancel(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	struct reuse *r = ctx;
	(void)pt;
	(void)op;
	if (r->fired)
		return v;
	r->fired = true;
	test_thread_start(&r->thread, reuse_number, r);
	int64_t until = test_now_ms() + 300;
	while (!atomic_load(&r->done) && test_now_ms() < until)
		usleep(1000);
	return v;
}

Test(cancel_fd_reuse, a_cancel_fd_overtaken_by_a_reuse_of_its_number_leaves_the_new_owners_recv_alone,
     .timeout = TEST_TIMEOUT)
{
	struct cport_options o;
	int h, hb, f, fb;
	struct cport_op hold;
	struct cport_completion c;
	struct reuse r = {0};

	if (test_backend() != CPORT_BACKEND_URING)
		cr_skip_test("io_uring only: epoll cancels from the fd's own queues, never by number");
	test_options(&o);
	o.pool_buffers = 1;
	r.port = test_port_new(&o);
	test_tcp_pair(&h, &hb);
	test_tcp_pair(&f, &fb);
	r.f = f;
	cport_op_init(&r.op);
	cport_op_init(&hold);
	cr_assert_eq(cport_attach(r.port, h, 1), 0);
	cr_assert_eq(cport_attach(r.port, f, 2), 0);
	cr_assert_eq(cport_recv_pooled(r.port, h, &hold), 0);
	cr_assert_eq(test_write_all(hb, "h", 1), 0);
	test_wait_one(r.port, &c);
	void *held = c.buf;

	cport_fault_set(FAULT_CANCEL_FD, reuse_during_cancel, &r);
	cr_assert_eq(cport_cancel_fd(r.port, f), 0);
	test_thread_join(r.thread);
	cport_fault_set(FAULT_CANCEL_FD, NULL, NULL);
	cr_assert(r.fired);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(r.rc[i], 0, "step %d of the reuse gave %d", i, r.rc[i]);
	/* The cancel was for the old owner: the new one's receive goes on. */
	test_expect_idle(r.port, 100);
	cr_assert_eq(cport_buf_release(r.port, held), 0);
	int wr = test_write_all(r.peer, "mine", 4);
	cr_assert_eq(wr, 0, "writing to the new owner gave %d (peer fd %d)", wr, r.peer);
	test_wait_one(r.port, &c);
	cr_assert_eq(c.op, &r.op);
	cr_assert_eq(c.result, 4, "the new owner's pooled recv gave %lld", (long long)c.result);
	cr_assert_eq(cport_buf_release(r.port, c.buf), 0);
	cport_destroy(r.port);
	int fds[] = {h, hb, fb, r.f, r.peer};
	for (unsigned i = 0; i < 5; i++)
		close(fds[i]);
}
