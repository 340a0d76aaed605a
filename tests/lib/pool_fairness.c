/* pool_fairness.c - who gets a buffer that comes back: the receive that has
 * waited longest, before any that started later, so no connection starves
 * while others go on. */
#include "cport_test.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(pool_fairness);

#define BUF_SIZE 4096
#define WAITERS 4

/* A one-buffer pool and n connections attached under keys 0..n-1, of which
 * connection 0 holds the only buffer (*held). */
static cport_t *one_buffer_held(int n, int *a, int *b, struct cport_op *ops, void **held)
{
	struct cport_options o;
	struct cport_completion c;

	test_options(&o);
	o.pool_buffers = 1;
	o.pool_buffer_size = BUF_SIZE;
	cport_t *port = test_port_new(&o);
	for (int i = 0; i < n; i++) {
		test_tcp_pair(&a[i], &b[i]);
		cr_assert_eq(cport_attach(port, a[i], (uintptr_t)i), 0);
		cport_op_init(&ops[i]);
	}
	cr_assert_eq(cport_recv_pooled(port, a[0], &ops[0]), 0);
	cr_assert_eq(test_write_all(b[0], "h", 1), 0);
	test_wait_one(port, &c);
	*held = c.buf;
	return port;
}

Test(pool_fairness, returned_buffers_go_to_waiting_receives_first_come_first_served,
     .timeout = TEST_TIMEOUT)
{
	int a[WAITERS + 2], b[WAITERS + 2];
	struct cport_op ops[WAITERS + 2];
	struct cport_completion c;

	void *held;
	cport_t *port = one_buffer_held(WAITERS + 2, a, b, ops, &held);
	/* 1..WAITERS have data and line up for a buffer, in order. */
	for (int i = 1; i <= WAITERS; i++) {
		cr_assert_eq(test_write_all(b[i], "w", 1), 0);
		cr_assert_eq(cport_recv_pooled(port, a[i], &ops[i]), 0);
		test_expect_idle(port, 30);
	}
	/* A latecomer with data starts after them all. */
	int late = WAITERS + 1;
	cr_assert_eq(test_write_all(b[late], "l", 1), 0);
	cr_assert_eq(cport_recv_pooled(port, a[late], &ops[late]), 0);
	test_expect_idle(port, 30);

	for (int turn = 1; turn <= WAITERS + 1; turn++) {
		cr_assert_eq(cport_buf_release(port, held), 0);
		test_wait_one(port, &c);
		cr_assert_eq((int)c.key, turn, "turn %d went to connection %d", turn, (int)c.key);
		cr_assert_eq(c.result, 1);
		held = c.buf;
	}
	cr_assert_eq(cport_buf_release(port, held), 0);
	cport_destroy(port);
	for (int i = 0; i < WAITERS + 2; i++) {
		close(a[i]);
		close(b[i]);
	}
}

Test(pool_fairness, an_idle_receive_never_takes_a_buffer_from_one_with_data, .timeout = TEST_TIMEOUT)
{
	int a[3], b[3];
	struct cport_op ops[3];
	struct cport_completion c;

	void *held;
	cport_t *port = one_buffer_held(3, a, b, ops, &held);
	/* Connection 1 asks first but its peer is silent; 2 has data. */
	cr_assert_eq(cport_recv_pooled(port, a[1], &ops[1]), 0);
	test_expect_idle(port, 30);
	cr_assert_eq(test_write_all(b[2], "d", 1), 0);
	cr_assert_eq(cport_recv_pooled(port, a[2], &ops[2]), 0);
	test_expect_idle(port, 30);

	cr_assert_eq(cport_buf_release(port, held), 0);
	test_wait_one(port, &c);
	cr_assert_eq((int)c.key, 2, "the buffer went to connection %d", (int)c.key);
	cr_assert_eq(cport_buf_release(port, c.buf), 0);
	/* The silent one still gets its turn once it has data. */
	cr_assert_eq(test_write_all(b[1], "s", 1), 0);
	test_wait_one(port, &c);
	cr_assert_eq((int)c.key, 1);
	cr_assert_eq(c.result, 1);
	cr_assert_eq(cport_buf_release(port, c.buf), 0);
	cport_destroy(port);
	for (int i = 0; i < 3; i++) {
		close(a[i]);
		close(b[i]);
	}
}
