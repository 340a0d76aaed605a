/* failed_restart.c - an op the port has to start again (it waited for a
 * buffer, or for data) and cannot completes with the error: it is never
 * lost, and the fd's close still completes after it. */
#include "cport_test.h"
#include "fault.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(failed_restart);

struct refuse {
	struct cport_op *watched;
	int submits; /* of the watched op so far */
	enum fault_point pt;
};

/* Fault hook: the watched op's first submit goes through, every later one
 * is refused (FAULT_SUBMIT: -ENOMEM; FAULT_SQ_FULL: no free SQE). */
static int64_t refuse_restarts(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	struct refuse *f = ctx;
	if (op != f->watched || pt != f->pt)
		return v;
	if (f->submits++ == 0)
		return v;
	return pt == FAULT_SUBMIT ? -ENOMEM : 1;
}

/* A one-buffer pool, its buffer held; a pooled recv with data must start
 * again (for a buffer, or after waiting for data) and that fails. */
static void restart_fails(enum fault_point pt, int64_t want)
{
	struct cport_options o;
	int h, hb, a, b;
	struct cport_op hold, op, close_op;
	struct cport_completion c, cs[2];

	test_options(&o);
	o.pool_buffers = 1;
	cport_t *port = test_port_new(&o);
	test_tcp_pair(&h, &hb);
	test_tcp_pair(&a, &b);
	cr_assert_eq(cport_attach(port, h, 1), 0);
	cr_assert_eq(cport_attach(port, a, 2), 0);
	cport_op_init(&hold);
	cport_op_init(&op);
	cport_op_init(&close_op);
	cr_assert_eq(cport_recv_pooled(port, h, &hold), 0);
	cr_assert_eq(test_write_all(hb, "h", 1), 0);
	test_wait_one(port, &c);
	void *held = c.buf;

	struct refuse f = {.watched = &op, .pt = pt};
	cport_fault_set(pt, refuse_restarts, &f);
	cr_assert_eq(test_write_all(b, "data", 4), 0);
	cr_assert_eq(cport_recv_pooled(port, a, &op), 0);
	/* This thread runs the port's completions, so on io_uring its receive
	 * reaches the kernel with its next wait: make that wait now, while
	 * the pool is still empty. The receive is started again once it has
	 * waited for data (io_uring; that wait may bring its completion) or,
	 * at the latest, once the buffer comes back. */
	int n = cport_wait(port, &c, 1, 0);
	cr_assert_geq(n, 0);
	cr_assert_eq(cport_buf_release(port, held), 0);
	if (n == 0)
		test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, want, "a restart that failed gave %lld", (long long)c.result);
	cr_assert_gt(f.submits, 1, "the receive was never started again");
	cport_fault_set(pt, NULL, NULL);

	cr_assert_eq(cport_close(port, a, &close_op), 0);
	cr_assert_eq(test_wait_n(port, cs, 2, 200), 1, "something of the fd came with or after its close");
	cr_assert_eq(cs[0].op, &close_op);
	/* The buffer the failed op was granted is free again. */
	cr_assert_eq(cport_recv_pooled(port, h, &hold), 0);
	cr_assert_eq(test_write_all(hb, "again", 5), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, 5);
	cr_assert_eq(cport_buf_release(port, c.buf), 0);
	cport_destroy(port);
	close(h);
	close(hb);
	close(b);
}

Test(failed_restart, a_restart_the_backend_refuses_completes_the_op_with_the_error, .timeout = TEST_TIMEOUT)
{
	restart_fails(FAULT_SUBMIT, -ENOMEM);
}

Test(failed_restart, a_restart_that_finds_the_submission_queue_full_completes_the_op, .timeout = TEST_TIMEOUT)
{
	if (test_backend() != CPORT_BACKEND_URING)
		cr_skip_test("io_uring only: epoll has no submission queue");
	restart_fails(FAULT_SQ_FULL, -EAGAIN);
}
