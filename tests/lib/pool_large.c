/* pool_large.c - the pool's large buffers (cport_options.pool_large_buffers):
 * a pooled receive on a socket whose last one got a small buffer's worth or
 * more takes a large buffer, so a big message comes in one piece; a streak
 * of short receives sends the next back to small buffers; either class
 * stands in for the other when it has none free. */
#include "cport_test.h"
#include "fd.h" /* LARGE_STREAK */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

TEST_SUITE(pool_large);

#define SMALL 4096
#define LARGE 65536
#define MESSAGE 60000 /* more than a small buffer, less than a large one */

static cport_t *two_class_port(unsigned small_count, unsigned large_count)
{
	struct cport_options o;

	test_options(&o);
	o.pool_buffers = small_count;
	o.pool_buffer_size = SMALL;
	o.pool_large_buffers = large_count;
	o.pool_large_buffer_size = LARGE;
	return test_port_new(&o);
}

/* Wait (bounded) until fd has at least n bytes queued to read, so that a
 * receive started now sees all of them. */
static void await_queued(int fd, int n)
{
	int64_t end = test_now_ms() + TEST_WAIT_MS;
	int have = 0;

	while (test_now_ms() < end) {
		cr_assert_eq(ioctl(fd, FIONREAD, &have), 0, "FIONREAD: %s", strerror(errno));
		if (have >= n)
			return;
		usleep(1000);
	}
	cr_assert_fail("only %d of %d bytes arrived", have, n);
}

/* One connection of a test: its sockets, op, and the bytes it has had. */
struct link {
	int srv, cli;
	struct cport_op op;
	size_t sent, got;
	uint32_t seed;
};

static void link_open(cport_t *port, struct link *l, uint32_t seed)
{
	test_tcp_pair(&l->cli, &l->srv);
	cr_assert_eq(cport_attach(port, l->srv, (uintptr_t)l), 0);
	cport_op_init(&l->op);
	l->sent = l->got = 0;
	l->seed = seed;
}

static void link_close(struct link *l)
{
	close(l->srv);
	close(l->cli);
}

/* The client sends len more bytes of its pattern; wait until all it has
 * sent and the server has not received is queued. */
static void link_send(struct link *l, size_t len)
{
	char buf[MESSAGE];

	cr_assert_leq(len, sizeof(buf));
	test_pattern_fill(buf, len, l->sent, l->seed);
	cr_assert_eq(test_write_all(l->cli, buf, len), 0);
	l->sent += len;
	await_queued(l->srv, (int)(l->sent - l->got));
}

/* One pooled receive on l: its completion's size, data checked; *buf is
 * the buffer (the caller gives it back). */
static size_t link_recv(cport_t *port, struct link *l, void **buf)
{
	struct cport_completion c;

	cr_assert_eq(cport_recv_pooled(port, l->srv, &l->op), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &l->op);
	cr_assert_gt(c.result, 0, "pooled receive gave %lld", (long long)c.result);
	cr_assert(c.flags & CPORT_CF_BUFFER);
	cr_assert_eq(test_pattern_mismatch(c.buf, (size_t)c.result, l->got, l->seed), -1, "wrong data");
	l->got += (size_t)c.result;
	*buf = c.buf;
	return (size_t)c.result;
}

/* A pooled receive whose buffer goes back at once. */
static size_t link_recv_release(cport_t *port, struct link *l)
{
	void *buf;
	size_t n = link_recv(port, l, &buf);

	cr_assert_eq(cport_buf_release(port, buf), 0);
	return n;
}

Test(pool_large, after_a_full_small_buffer_the_rest_of_a_big_message_comes_in_one_large_one,
     .timeout = TEST_TIMEOUT)
{
	cport_t *port = two_class_port(4, 2);
	struct link l;

	link_open(port, &l, 3);
	link_send(&l, MESSAGE);
	cr_assert_eq(link_recv_release(port, &l), SMALL, "the first receive takes a small buffer");
	cr_assert_eq(link_recv_release(port, &l), MESSAGE - SMALL, "the rest, in one large buffer");
	/* Still large: the next big message comes whole. */
	link_send(&l, MESSAGE);
	cr_assert_eq(link_recv_release(port, &l), MESSAGE);
	cport_destroy(port);
	link_close(&l);
}

Test(pool_large, large_buffers_last_until_a_streak_of_receives_shorter_than_a_small_buffer,
     .timeout = TEST_TIMEOUT)
{
	cport_t *port = two_class_port(4, 2);
	struct link l;

	link_open(port, &l, 5);
	link_send(&l, MESSAGE);
	cr_assert_eq(link_recv_release(port, &l), SMALL);
	cr_assert_eq(link_recv_release(port, &l), MESSAGE - SMALL);
	/* One short receive (as a big message's last segment often is) keeps them. */
	link_send(&l, 100);
	cr_assert_eq(link_recv_release(port, &l), 100);
	link_send(&l, MESSAGE);
	cr_assert_eq(link_recv_release(port, &l), MESSAGE, "still a large buffer after one short receive");
	/* LARGE_STREAK short ones in a row end them. */
	for (int i = 0; i < LARGE_STREAK; i++) {
		link_send(&l, 100);
		cr_assert_eq(link_recv_release(port, &l), 100);
	}
	link_send(&l, MESSAGE);
	cr_assert_eq(link_recv_release(port, &l), SMALL, "a small buffer again after a streak of short receives");
	cport_destroy(port);
	link_close(&l);
}

Test(pool_large, with_every_large_buffer_held_a_receive_that_wants_one_takes_a_small_one,
     .timeout = TEST_TIMEOUT)
{
	cport_t *port = two_class_port(4, 1);
	struct link a, b;
	void *held;

	link_open(port, &a, 7);
	link_open(port, &b, 9);
	link_send(&a, MESSAGE);
	cr_assert_eq(link_recv_release(port, &a), SMALL);
	cr_assert_eq(link_recv(port, &a, &held), MESSAGE - SMALL); /* the one large buffer, kept */
	link_send(&b, MESSAGE);
	cr_assert_eq(link_recv_release(port, &b), SMALL);
	cr_assert_eq(link_recv_release(port, &b), SMALL, "no large buffer free: a small one, not a wait");
	cr_assert_eq(cport_buf_release(port, held), 0);
	cr_assert_eq(link_recv_release(port, &b), MESSAGE - 2 * SMALL, "the large buffer is back");
	cport_destroy(port);
	link_close(&a);
	link_close(&b);
}

Test(pool_large, with_every_small_buffer_held_a_receive_takes_a_large_one_rather_than_wait,
     .timeout = TEST_TIMEOUT)
{
	cport_t *port = two_class_port(1, 1);
	struct link a, b;
	void *held, *other;

	link_open(port, &a, 11);
	link_open(port, &b, 13);
	link_send(&a, 100);
	cr_assert_eq(link_recv(port, &a, &held), 100); /* the one small buffer, kept */
	link_send(&b, 100);
	cr_assert_eq(link_recv(port, &b, &other), 100, "served from the large class");
	cr_assert_neq(other, held);
	cr_assert_eq(cport_buf_release(port, held), 0);
	cr_assert_eq(cport_buf_release(port, other), 0);
	cport_destroy(port);
	link_close(&a);
	link_close(&b);
}

Test(pool_large, a_large_buffer_is_given_back_once_and_only_from_its_start, .timeout = TEST_TIMEOUT)
{
	cport_t *port = two_class_port(4, 1);
	struct link l;
	void *buf;

	link_open(port, &l, 17);
	link_send(&l, MESSAGE);
	cr_assert_eq(link_recv_release(port, &l), SMALL);
	cr_assert_eq(link_recv(port, &l, &buf), MESSAGE - SMALL);
	cr_assert_eq(cport_buf_release(port, (char *)buf + SMALL), -EINVAL, "inside a large buffer");
	cr_assert_eq(cport_buf_release(port, buf), 0);
	cr_assert_eq(cport_buf_release(port, buf), -EINVAL, "given back twice");
	cport_destroy(port);
	link_close(&l);
}

Test(pool_large, large_buffers_no_larger_than_small_ones_or_too_many_are_refused, .timeout = TEST_TIMEOUT)
{
	struct cport_options o;
	cport_t *port = NULL;

	test_options(&o);
	o.pool_buffer_size = SMALL;
	o.pool_large_buffers = 4;
	o.pool_large_buffer_size = SMALL;
	cr_assert_eq(cport_create(&o, &port), -EINVAL, "as large as a small one");
	o.pool_buffer_size = 0; /* the default, 16384, against the default large size, 65536 */
	o.pool_large_buffer_size = 16384;
	cr_assert_eq(cport_create(&o, &port), -EINVAL, "as large as the default small size");
	o.pool_large_buffer_size = 0;
	o.pool_large_buffers = 32769;
	cr_assert_eq(cport_create(&o, &port), -EINVAL, "more than 32768");
	o.pool_large_buffers = 1;
	o.pool_large_buffer_size = (1u << 30) + 1;
	cr_assert_eq(cport_create(&o, &port), -EINVAL, "more than 1 GiB each");
	cr_assert_null(port);
	o.pool_large_buffer_size = 0;
	port = test_port_new(&o);
	cr_assert_eq(cport_buf_size(port), 16384, "cport_buf_size stays the small size");
	cport_destroy(port);
}

Test(pool_large, big_messages_one_at_a_time_go_to_a_few_large_buffers_freed_lately_not_to_each_in_turn,
     .timeout = TEST_TIMEOUT)
{
	enum { LARGE_COUNT = 32, ROUNDS = 3 * LARGE_COUNT };
	cport_t *port = two_class_port(4, LARGE_COUNT);
	struct link l;
	void *used[ROUNDS];

	link_open(port, &l, 9);
	link_send(&l, MESSAGE);
	cr_assert_eq(link_recv_release(port, &l), SMALL);
	cr_assert_eq(link_recv_release(port, &l), MESSAGE - SMALL);
	for (unsigned i = 0; i < ROUNDS; i++) {
		link_send(&l, MESSAGE);
		cr_assert_eq(link_recv(port, &l, &used[i]), MESSAGE, "message %u did not come whole", i);
		cr_assert_eq(cport_buf_release(port, used[i]), 0);
	}
	unsigned distinct = test_count_distinct(used, ROUNDS);
	/* In turn, the large buffers would all have been used, again and again:
	 * each message's 60,000 bytes written over a buffer gone cold. */
	cr_assert_leq(distinct, 8, "%u big messages went to %u different large buffers", ROUNDS, distinct);
	cport_destroy(port);
	link_close(&l);
}
