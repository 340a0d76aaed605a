/* cancel_fd_reuse.c - a cancel by fd number that reaches the ops of a later
 * owner of the number (the fd was closed and its number reused before the
 * kernel acted) does not end them: the port starts them again; and an fd
 * with nothing out has no cancel asked at all. */
#include "cport_test.h"
#include "fault.h"

#include <errno.h>
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
	struct cport_op hold, op, xop;
	struct cport_completion c;
	char xbuf[8];
	struct iovec xiov = {xbuf, sizeof(xbuf)};

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
	/* x has a receive out, so its cancel is asked of the kernel. */
	cport_op_init(&xop);
	cr_assert_eq(cport_recv(port, x, &xop, &xiov, 1), 0);
	test_expect_idle(port, 50);

	cport_fault_set(FAULT_CANCEL_FD, lands_on_other_fd, &y);
	cr_assert_eq(cport_cancel_fd(port, x), 0);
	cport_fault_set(FAULT_CANCEL_FD, NULL, NULL);
	/* x's receive ends when its cancel is asked again, by x's own number. */
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &xop);
	cr_assert_eq(c.result, -ECANCELED, "x's recv gave %lld", (long long)c.result);
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

/* The fd number F is closed, reused and attached anew, and a pooled
 * receive of the new owner's waits for a buffer. */
struct reuse {
	cport_t *port;
	int f;       /* the number closed and reused */
	int peer;    /* the new owner's peer */
	struct cport_op op;
	int rc[6];
};

/* Each step's result, checked by the caller. */
static void reuse_number(struct reuse *r)
{
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
}

/* Fault hook: counts the cancels by number asked of the kernel. */
static int64_t count_cancel(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	(void)pt;
	(void)op;
	(*(int *)ctx)++;
	return v;
}

/* A cancel by number can land on a later owner only if it is asked; with
 * nothing of the fd's out it is not, so the number's next owner is safe
 * however soon it comes. */
Test(cancel_fd_reuse, a_cancel_fd_with_nothing_out_asks_the_kernel_nothing_and_a_reuse_of_its_number_is_untouched,
     .timeout = TEST_TIMEOUT)
{
	struct cport_options o;
	int h, hb, f, fb;
	struct cport_op hold;
	struct cport_completion c;
	struct reuse r = {0};
	int asked = 0;

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

	cport_fault_set(FAULT_CANCEL_FD, count_cancel, &asked);
	cr_assert_eq(cport_cancel_fd(r.port, f), 0);
	reuse_number(&r);
	test_expect_idle(r.port, 100);
	cport_fault_set(FAULT_CANCEL_FD, NULL, NULL);
	cr_assert_eq(asked, 0, "%d cancels by number were asked for an fd with nothing out", asked);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(r.rc[i], 0, "step %d of the reuse gave %d", i, r.rc[i]);
	/* The new owner's receive goes on. */
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
