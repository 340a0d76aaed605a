/* close_last.c - nothing of an fd follows its close or detach completion,
 * even when the close comes while the fd's last op is on its way to the
 * queue (completed by the kernel, not yet queued). A program that frees
 * its per-connection data on the close completion relies on this. */
#include "cport_test.h"
#include "fault.h"
#include "fd.h"

#include <errno.h>
#include <unistd.h>

TEST_SUITE(close_last);

struct close_midway {
	cport_t *port;
	int fd;
	struct cport_op *watched;
	struct cport_op end_op;
	bool detach;
	bool fired;
};

/* Fault hook: the batch holding the watched op is about to be queued:
 * close (or detach) its fd now, from inside the port. */
static int64_t end_fd_before_queueing(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	struct close_midway *m = ctx;
	(void)pt;
	if (op == m->watched && !m->fired) {
		m->fired = true;
		if (m->detach)
			cr_assert_eq(cport_detach(m->port, m->fd, &m->end_op), 0);
		else
			cr_assert_eq(cport_close(m->port, m->fd, &m->end_op), 0);
	}
	return v;
}

/* A connected pair, a attached to a new port under key 5. */
static cport_t *attached_pair(int *a, int *b)
{
	test_tcp_pair(a, b);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, *a, 5), 0);
	return port;
}

/* After a close the port closed a; after a detach it is still ours. */
static void scene_end(cport_t *port, int a, int b, bool detach)
{
	cport_destroy(port);
	if (detach)
		close(a);
	close(b);
}

static void ends_after_its_last_op(bool detach)
{
	int a, b;
	struct cport_op recv_op;
	struct cport_completion cs[2];
	char buf[16];
	struct iovec iov = {buf, sizeof(buf)};

	cport_t *port = attached_pair(&a, &b);
	cport_op_init(&recv_op);
	struct close_midway m = {.port = port, .fd = a, .watched = &recv_op, .detach = detach};
	cport_op_init(&m.end_op);
	cport_fault_set(FAULT_DELIVER, end_fd_before_queueing, &m);
	cr_assert_eq(test_write_all(b, "data", 4), 0);
	cr_assert_eq(cport_recv(port, a, &recv_op, &iov, 1), 0);
	cr_assert_eq(test_wait_n(port, cs, 2, TEST_WAIT_MS), 2);
	cport_fault_set(FAULT_DELIVER, NULL, NULL);
	cr_assert(m.fired, "the recv never reached the queue");
	cr_assert_eq(cs[0].op, &recv_op, "the %s completion came before the fd's recv", detach ? "detach" : "close");
	cr_assert_eq(cs[0].result, 4);
	cr_assert_eq(cs[1].op, &m.end_op);
	cr_assert_eq(cs[1].result, 0);
	scene_end(port, a, b, detach);
}

Test(close_last, a_close_while_the_last_recv_is_on_its_way_to_the_queue_completes_after_it,
     .timeout = TEST_TIMEOUT)
{
	ends_after_its_last_op(false);
}

Test(close_last, a_detach_while_the_last_recv_is_on_its_way_to_the_queue_completes_after_it,
     .timeout = TEST_TIMEOUT)
{
	ends_after_its_last_op(true);
}

/* Fault hook: the batch holding either of two ops (the kernel may end
 * them in either order) is about to be queued: close (or detach) the fd,
 * noting how many of its ops were in flight (completed, not yet queued). */
static struct cport_op *other_watched;
static unsigned inflight_at_end;
static int64_t end_fd_noting_inflight(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	struct close_midway *m = ctx;
	if (op == other_watched && !m->fired)
		m->watched = op;
	if (op == m->watched && !m->fired)
		inflight_at_end = fd_inflight(op->_fd_entry);
	return end_fd_before_queueing(pt, op, v, ctx);
}

/* Two receives of the fd wait; data for one comes, and the close comes as
 * that one is queued, while the other is still in the kernel: the close
 * cancels it, and completes after both. (Each op's end looks at a closing
 * fd under its lock; only the end that finds none left in flight
 * finishes it. Finishing on the first end seen while closing would queue
 * the close before the other receive.) */
static void ends_after_both_ops(bool detach)
{
	int a, b;
	struct cport_op ops[2];
	struct cport_completion cs[3];
	char buf[2][4];
	struct iovec iov[2] = {{buf[0], 4}, {buf[1], 4}};

	cport_t *port = attached_pair(&a, &b);
	for (int i = 0; i < 2; i++) {
		cport_op_init(&ops[i]);
		cr_assert_eq(cport_recv(port, a, &ops[i], &iov[i], 1), 0, "nothing to read yet: both wait");
	}
	struct close_midway m = {.port = port, .fd = a, .watched = &ops[0], .detach = detach};
	cport_op_init(&m.end_op);
	other_watched = &ops[1];
	inflight_at_end = 0;
	cport_fault_set(FAULT_DELIVER, end_fd_noting_inflight, &m);
	cr_assert_eq(test_write_all(b, "ping", 4), 0);
	cr_assert_eq(test_wait_n(port, cs, 3, TEST_WAIT_MS), 3);
	cport_fault_set(FAULT_DELIVER, NULL, NULL);
	cr_assert(m.fired, "the receive with data never reached the queue");
	cr_assert_eq(inflight_at_end, 2, "both receives were counted when the fd closed");
	struct cport_op *other = m.watched == &ops[0] ? &ops[1] : &ops[0];
	for (int i = 0; i < 2; i++) {
		if (cs[i].op == m.watched)
			cr_assert_eq(cs[i].result, 4, "the receive with data");
		else
			cr_assert(cs[i].op == other && cs[i].result == -ECANCELED, "the other receive, cancelled: %lld",
				  (long long)cs[i].result);
	}
	cr_assert_neq(cs[0].op, cs[1].op);
	cr_assert_eq(cs[2].op, &m.end_op, "the %s completion came last", detach ? "detach" : "close");
	cr_assert_eq(cs[2].result, 0);
	other_watched = NULL;
	scene_end(port, a, b, detach);
}

Test(close_last, a_close_as_one_of_two_receives_is_queued_completes_after_both,
     .timeout = TEST_TIMEOUT)
{
	ends_after_both_ops(false);
}

Test(close_last, a_detach_as_one_of_two_receives_is_queued_completes_after_both,
     .timeout = TEST_TIMEOUT)
{
	ends_after_both_ops(true);
}
