/* pool_wakeup.c - a pooled receive with data waiting is never left waiting
 * while a buffer is free: not when the buffer comes back just as it finds
 * none, nor when another receive borrowed the last buffer for a read that
 * found nothing. */
#include "cport_test.h"
#include "fault.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(pool_wakeup);

#define BUF_SIZE 4096

struct rig {
	cport_t *port;
	int a[3], b[3];
	struct cport_op ops[3];
	void *held;
	bool fired;
};

/* A one-buffer pool; connection 0 holds the buffer unless hold is false. */
static void rig_up(struct rig *r, bool hold)
{
	struct cport_options o;
	struct cport_completion c;

	memset(r, 0, sizeof(*r));
	test_options(&o);
	o.pool_buffers = 1;
	o.pool_buffer_size = BUF_SIZE;
	r->port = test_port_new(&o);
	for (int i = 0; i < 3; i++) {
		test_tcp_pair(&r->a[i], &r->b[i]);
		cr_assert_eq(cport_attach(r->port, r->a[i], (uintptr_t)i), 0);
		cport_op_init(&r->ops[i]);
	}
	if (!hold)
		return;
	cr_assert_eq(cport_recv_pooled(r->port, r->a[0], &r->ops[0]), 0);
	cr_assert_eq(test_write_all(r->b[0], "h", 1), 0);
	test_wait_one(r->port, &c);
	r->held = c.buf;
}

static void rig_down(struct rig *r)
{
	cport_destroy(r->port);
	for (int i = 0; i < 3; i++) {
		close(r->a[i]);
		close(r->b[i]);
	}
}

/* Expect connection i's pooled receive to complete with its n bytes. */
static void expect_data(struct rig *r, int i, int n)
{
	struct cport_completion c;

	test_wait_one(r->port, &c);
	cr_assert_eq((int)c.key, i, "connection %d completed, not %d", (int)c.key, i);
	cr_assert_eq(c.result, n, "pooled recv gave %lld", (long long)c.result);
	cr_assert_eq(cport_buf_release(r->port, c.buf), 0);
}

/* Fault hook: just as connection 1's receive, with data and no buffer,
 * asks the pool, the held buffer comes back. */
static int64_t release_as_it_asks(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	struct rig *r = ctx;
	(void)pt;
	if (op == &r->ops[1] && !r->fired) {
		r->fired = true;
		cr_assert_eq(cport_buf_release(r->port, r->held), 0);
	}
	return v;
}

Test(pool_wakeup, a_buffer_back_between_finding_none_and_waiting_is_not_missed, .timeout = TEST_TIMEOUT)
{
	struct rig r;

	rig_up(&r, true);
	cport_fault_set(FAULT_POOL_ASK, release_as_it_asks, &r);
	cr_assert_eq(test_write_all(r.b[1], "data", 4), 0);
	/* The port sees the data arrive before anyone reads: no later event
	 * will come for it (epoll is edge-triggered). */
	test_expect_idle(r.port, 30);
	cr_assert_eq(cport_recv_pooled(r.port, r.a[1], &r.ops[1]), 0);
	expect_data(&r, 1, 4);
	cr_assert(r.fired, "the receive never asked the pool");
	rig_down(&r);
}

/* Fault hook: connection 0's receive (its peer silent) has just taken the
 * last buffer: connection 2, with data, asks for one now. */
static int64_t start_another_while_borrowed(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	struct rig *r = ctx;
	(void)pt;
	if (op == &r->ops[0] && !r->fired) {
		r->fired = true;
		cr_assert_eq(cport_recv_pooled(r->port, r->a[2], &r->ops[2]), 0);
	}
	return v;
}

Test(pool_wakeup, a_buffer_borrowed_by_an_idle_receive_goes_to_the_one_that_waited_for_it,
     .timeout = TEST_TIMEOUT)
{
	struct rig r;

	if (test_backend() != CPORT_BACKEND_EPOLL)
		cr_skip_test("epoll only: io_uring's kernel picks a buffer only for data, it never borrows one");
	rig_up(&r, false);
	cr_assert_eq(test_write_all(r.b[2], "wait", 4), 0);
	test_expect_idle(r.port, 30); /* its readiness edge is spent before anyone reads */
	cport_fault_set(FAULT_POOL_TAKEN, start_another_while_borrowed, &r);
	cr_assert_eq(cport_recv_pooled(r.port, r.a[0], &r.ops[0]), 0);
	cr_assert(r.fired, "the idle receive never took a buffer");
	expect_data(&r, 2, 4);
	rig_down(&r);
}
