/* pool_reuse.c - which pool buffer a pooled receive gets: one freed lately,
 * still in the cache, not the next of the whole pool in turn. io_uring's
 * kernel store (a provided-buffer ring) hands out buffers first in, first
 * out, so the port keeps only a few free buffers in it and the rest on its
 * own stack, the last freed on top; a burst of receives beyond what the
 * store holds still gets buffers, from the stack. */
#include "cport_test.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(pool_reuse);

#define BUFS 64
#define BUF_SIZE 4096
#define MESSAGE 1000

static cport_t *pool_port(void)
{
	struct cport_options o;

	test_options(&o);
	o.pool_buffers = BUFS;
	o.pool_buffer_size = BUF_SIZE;
	return test_port_new(&o);
}

/* Wait for op's completion, check it carries exactly the MESSAGE bytes of
 * seed, and return its buffer (not yet released). */
static void *expect_message(cport_t *port, struct cport_op *op, uint32_t seed)
{
	struct cport_completion c;

	test_wait_one(port, &c);
	cr_assert_eq(c.op, op);
	cr_assert_eq(c.result, MESSAGE, "pooled recv gave %lld", (long long)c.result);
	cr_assert(c.flags & CPORT_CF_BUFFER);
	cr_assert_eq(test_pattern_mismatch(c.buf, MESSAGE, 0, seed), -1);
	return c.buf;
}

Test(pool_reuse, one_message_at_a_time_goes_to_a_few_buffers_freed_lately_not_to_every_buffer_in_turn,
     .timeout = TEST_TIMEOUT)
{
	enum { ROUNDS = 3 * BUFS };
	int a, b;
	struct cport_op op;
	char out[MESSAGE];
	void *used[ROUNDS];

	test_tcp_pair(&a, &b);
	cport_t *port = pool_port();
	cr_assert_eq(cport_attach(port, a, 1), 0);
	for (unsigned i = 0; i < ROUNDS; i++) {
		cport_op_init(&op);
		cr_assert_eq(cport_recv_pooled(port, a, &op), 0);
		test_pattern_fill(out, sizeof(out), 0, i);
		cr_assert_eq(test_write_all(b, out, sizeof(out)), 0);
		used[i] = expect_message(port, &op, i);
		cr_assert_eq(cport_buf_release(port, used[i]), 0);
	}
	/* A pool handed out in turn would have used all BUFS of them. */
	unsigned distinct = test_count_distinct(used, ROUNDS);
	cr_assert_leq(distinct, 8, "%u messages, one at a time, went to %u different buffers", ROUNDS, distinct);

	cport_destroy(port);
	close(a);
	close(b);
}

/* Every link's receive completes with its own message, each in a buffer
 * of its own. */
static void receive_all_at_once(cport_t *port, const int *srv, const int *cli, struct cport_op *ops, unsigned n,
				uint32_t round)
{
	char out[MESSAGE];
	void *bufs[BUFS];

	for (unsigned i = 0; i < n; i++) {
		test_pattern_fill(out, sizeof(out), 0, round * n + i);
		cr_assert_eq(test_write_all(cli[i], out, sizeof(out)), 0);
		test_await_readable(srv[i]);
	}
	for (unsigned i = 0; i < n; i++) {
		cport_op_init(&ops[i]);
		cr_assert_eq(cport_recv_pooled(port, srv[i], &ops[i]), 0);
	}
	for (unsigned got = 0; got < n; got++) {
		struct cport_completion c;
		test_wait_one(port, &c);
		unsigned i = (unsigned)c.key;
		cr_assert_eq(c.op, &ops[i]);
		cr_assert_eq(c.result, MESSAGE, "link %u: pooled recv gave %lld", i, (long long)c.result);
		cr_assert_eq(test_pattern_mismatch(c.buf, MESSAGE, 0, round * n + i), -1, "link %u: wrong bytes", i);
		bufs[got] = c.buf;
	}
	cr_assert_eq(test_count_distinct(bufs, n), n, "two receives shared a buffer");
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(cport_buf_release(port, bufs[i]), 0);
}

Test(pool_reuse, receives_with_data_waiting_beyond_what_the_kernel_store_holds_all_get_buffers,
     .timeout = TEST_TIMEOUT)
{
	enum { LINKS = BUFS / 2 };
	int srv[LINKS], cli[LINKS];
	struct cport_op ops[LINKS];

	cport_t *port = pool_port();
	for (unsigned i = 0; i < LINKS; i++) {
		test_tcp_pair(&srv[i], &cli[i]);
		cr_assert_eq(cport_attach(port, srv[i], i), 0);
	}
	/* The first burst finds the kernel's store at its smallest (four
	 * buffers on io_uring); the later ones find it grown. */
	for (uint32_t round = 0; round < 3; round++)
		receive_all_at_once(port, srv, cli, ops, LINKS, round);

	cport_destroy(port);
	for (unsigned i = 0; i < LINKS; i++) {
		close(srv[i]);
		close(cli[i]);
	}
}
