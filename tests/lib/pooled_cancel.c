/* pooled_cancel.c - a pooled receive that found the pool empty is still
 * one of its fd's ops: close, detach, cancel and cancel_fd end it at once
 * with -ECANCELED, whether it has settled to wait for a buffer or is still
 * on its way there, and a buffer that comes back later does not revive it. */
#include "cport_test.h"

#include <errno.h>
#include <unistd.h>

TEST_SUITE(pooled_cancel);

#define BUF_SIZE 4096

enum how { BY_CLOSE, BY_DETACH, BY_CANCEL, BY_CANCEL_FD };

struct rig {
	cport_t *port;
	int held_a, held_b; /* the connection whose completion holds the only buffer */
	int a, b;           /* the silent connection under test */
	struct cport_op hold_op, op, end_op;
	void *held;
};

/* A one-buffer pool whose buffer is held, and a second connection whose
 * peer stays silent. */
static void rig_up(struct rig *r)
{
	struct cport_options o;
	struct cport_completion c;

	test_options(&o);
	o.pool_buffers = 1;
	o.pool_buffer_size = BUF_SIZE;
	r->port = test_port_new(&o);
	test_tcp_pair(&r->held_a, &r->held_b);
	test_tcp_pair(&r->a, &r->b);
	cr_assert_eq(cport_attach(r->port, r->held_a, 1), 0);
	cr_assert_eq(cport_attach(r->port, r->a, 2), 0);
	cport_op_init(&r->hold_op);
	cport_op_init(&r->op);
	cport_op_init(&r->end_op);
	cr_assert_eq(cport_recv_pooled(r->port, r->held_a, &r->hold_op), 0);
	cr_assert_eq(test_write_all(r->held_b, "x", 1), 0);
	test_wait_one(r->port, &c);
	cr_assert(c.flags & CPORT_CF_BUFFER);
	r->held = c.buf;
}

static void end_it(struct rig *r, enum how how)
{
	switch (how) {
	case BY_CLOSE:
		cr_assert_eq(cport_close(r->port, r->a, &r->end_op), 0);
		break;
	case BY_DETACH:
		cr_assert_eq(cport_detach(r->port, r->a, &r->end_op), 0);
		break;
	case BY_CANCEL:
		cr_assert_eq(cport_cancel(r->port, &r->op), 0);
		break;
	case BY_CANCEL_FD:
		cr_assert_eq(cport_cancel_fd(r->port, r->a), 0);
		break;
	}
}

/* The receive ends -ECANCELED, then (close, detach) the end op completes;
 * nothing else follows, not even once the buffer is back and data comes. */
static void expect_cancelled(struct rig *r, enum how how)
{
	struct cport_completion c;
	bool ends_fd = how == BY_CLOSE || how == BY_DETACH;

	test_wait_one(r->port, &c);
	cr_assert_eq(c.op, &r->op, "the first completion was not the pooled receive (kind %u)", c.kind);
	cr_assert_eq(c.result, -ECANCELED, "the pooled receive gave %lld", (long long)c.result);
	cr_assert_not(c.flags & CPORT_CF_BUFFER);
	if (ends_fd) {
		test_wait_one(r->port, &c);
		cr_assert_eq(c.op, &r->end_op);
		cr_assert_eq(c.result, 0);
	}
	cr_assert_eq(cport_buf_release(r->port, r->held), 0);
	if (how != BY_CLOSE)
		cr_assert_eq(test_write_all(r->b, "late", 4), 0);
	test_expect_idle(r->port, 100);
}

static void rig_down(struct rig *r, enum how how)
{
	cport_destroy(r->port);
	if (how != BY_CLOSE)
		close(r->a);
	close(r->b);
	close(r->held_a);
	close(r->held_b);
}

/* Ended right after it started: its "no buffer" answer may not even have
 * been looked at yet. */
static void ended_at_once(enum how how)
{
	struct rig r;

	rig_up(&r);
	cr_assert_eq(cport_recv_pooled(r.port, r.a, &r.op), 0);
	end_it(&r, how);
	expect_cancelled(&r, how);
	rig_down(&r, how);
}

/* Ended after the port has had time to settle it as waiting. */
static void ended_once_settled(enum how how)
{
	struct rig r;

	rig_up(&r);
	cr_assert_eq(cport_recv_pooled(r.port, r.a, &r.op), 0);
	test_expect_idle(r.port, 50);
	end_it(&r, how);
	expect_cancelled(&r, how);
	rig_down(&r, how);
}

Test(pooled_cancel, close_right_after_a_pooled_recv_found_no_buffer_cancels_it_then_completes,
     .timeout = TEST_TIMEOUT)
{
	ended_at_once(BY_CLOSE);
}

Test(pooled_cancel, detach_right_after_a_pooled_recv_found_no_buffer_cancels_it_then_completes,
     .timeout = TEST_TIMEOUT)
{
	ended_at_once(BY_DETACH);
}

Test(pooled_cancel, cancel_right_after_a_pooled_recv_found_no_buffer_ends_it, .timeout = TEST_TIMEOUT)
{
	ended_at_once(BY_CANCEL);
}

Test(pooled_cancel, cancel_fd_right_after_a_pooled_recv_found_no_buffer_ends_it, .timeout = TEST_TIMEOUT)
{
	ended_at_once(BY_CANCEL_FD);
}

Test(pooled_cancel, close_of_an_fd_whose_pooled_recv_waits_for_a_buffer_cancels_it_then_completes,
     .timeout = TEST_TIMEOUT)
{
	ended_once_settled(BY_CLOSE);
}

Test(pooled_cancel, detach_of_an_fd_whose_pooled_recv_waits_for_a_buffer_cancels_it_then_completes,
     .timeout = TEST_TIMEOUT)
{
	ended_once_settled(BY_DETACH);
}

Test(pooled_cancel, cancel_of_a_pooled_recv_waiting_for_a_buffer_ends_it, .timeout = TEST_TIMEOUT)
{
	ended_once_settled(BY_CANCEL);
}

Test(pooled_cancel, cancel_fd_of_an_fd_whose_pooled_recv_waits_for_a_buffer_ends_it, .timeout = TEST_TIMEOUT)
{
	ended_once_settled(BY_CANCEL_FD);
}
