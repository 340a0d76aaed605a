/* cancel_fd_reuse.c - a cancel by fd number that reaches the ops of a later
 * owner of the number (the fd was closed and its number reused before the
 * kernel acted) does not end them: the port starts them again. */
#include "cport_test.h"
#include "fault.h"

#include <errno.h>
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
