/* short_reads.c - a read that returns less than asked does not hide what
 * still waits behind it: end of stream, a reset, urgent data, more data
 * queued past a full buffer. (The epoll backend skips a read it expects to
 * fail after a short one; these pin where that guess must not be made.) */
#include "cport_test.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(short_reads);

/* Attach the server end once the peer has queued everything, and let the
 * port see the fd's readiness before any op exists, so that no new event
 * arrives for what is already queued. */
static cport_t *port_after_the_fact(int fd)
{
	cport_t *port = test_port_new(NULL);
	struct cport_completion c;

	cr_assert_eq(cport_attach(port, fd, 7), 0);
	cr_assert_eq(cport_wait(port, &c, 1, 0), 0);
	cr_assert_eq(cport_wait(port, &c, 1, 20), 0);
	return port;
}

static int64_t recv_now(cport_t *port, int fd, char *buf, size_t len)
{
	struct cport_op op;
	struct cport_completion c;
	struct iovec iov = {buf, len};

	cport_op_init(&op);
	cr_assert_eq(cport_recv(port, fd, &op, &iov, 1), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	return c.result;
}

Test(short_reads, end_of_stream_queued_behind_the_data_still_completes_the_next_recv,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	char buf[4096];

	test_tcp_pair(&a, &b);
	cr_assert_eq(test_write_all(a, "hello", 5), 0);
	cr_assert_eq(shutdown(a, SHUT_WR), 0);
	test_await_readable(b);
	cport_t *port = port_after_the_fact(b);

	cr_assert_eq(recv_now(port, b, buf, sizeof(buf)), 5);
	cr_assert_eq(memcmp(buf, "hello", 5), 0);
	cr_assert_eq(recv_now(port, b, buf, sizeof(buf)), 0, "end of stream was lost behind a short read");
	cport_destroy(port);
	close(a);
	close(b);
}

Test(short_reads, a_reset_queued_behind_the_data_still_completes_the_next_recv, .timeout = TEST_TIMEOUT)
{
	int a, b;
	char buf[4096];
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	test_tcp_pair(&a, &b);
	cr_assert_eq(test_write_all(a, "bye", 3), 0);
	test_await_readable(b);
	cr_assert_eq(setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(a);
	cport_t *port = port_after_the_fact(b);

	int64_t first = recv_now(port, b, buf, sizeof(buf));
	/* Linux may drop the unread data with the reset: then the reset comes first. */
	if (first == 3)
		first = recv_now(port, b, buf, sizeof(buf));
	cr_assert_eq(first, -ECONNRESET, "got %lld, want -ECONNRESET", (long long)first);
	cport_destroy(port);
	close(b);
}

Test(short_reads, data_past_urgent_data_still_completes_the_next_recv, .timeout = TEST_TIMEOUT)
{
	int a, b;
	char buf[4096];

	test_tcp_pair(&a, &b);
	cr_assert_eq(test_write_all(a, "before", 6), 0);
	cr_assert_eq(send(a, "!", 1, MSG_OOB), 1);
	cr_assert_eq(test_write_all(a, "after", 5), 0);
	test_await_readable(b);
	/* Give the whole sequence time to be queued on b before reading it. */
	int64_t t0 = test_now_ms();
	char peek[16];
	while (recv(b, peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT) < 0 && test_now_ms() - t0 < TEST_WAIT_MS)
		test_await_readable(b);
	cport_t *port = port_after_the_fact(b);

	size_t got = 0;
	char all[64];
	/* The read stops at the urgent mark; what follows must still arrive. */
	while (got < 11) {
		int64_t r = recv_now(port, b, buf, sizeof(buf));
		cr_assert_gt(r, 0, "recv after %zu bytes gave %lld", got, (long long)r);
		cr_assert_leq(got + (size_t)r, sizeof(all));
		memcpy(all + got, buf, (size_t)r);
		got += (size_t)r;
	}
	cr_assert_eq(memcmp(all, "before", 6), 0);
	cr_assert_eq(memcmp(all + got - 5, "after", 5), 0);
	cport_destroy(port);
	close(a);
	close(b);
}

Test(short_reads, a_full_buffer_read_leaves_the_rest_for_the_next_recv, .timeout = TEST_TIMEOUT)
{
	int a, b;
	char out[10000], buf[4096], in[10000];

	test_tcp_pair(&a, &b);
	test_pattern_fill(out, sizeof(out), 0, 3);
	cr_assert_eq(test_write_all(a, out, sizeof(out)), 0);
	test_await_readable(b);
	cport_t *port = port_after_the_fact(b);

	size_t got = 0;
	while (got < sizeof(out)) {
		int64_t r = recv_now(port, b, buf, sizeof(buf));
		cr_assert_gt(r, 0);
		memcpy(in + got, buf, (size_t)r);
		got += (size_t)r;
	}
	cr_assert_eq(memcmp(in, out, sizeof(out)), 0);
	cport_destroy(port);
	close(a);
	close(b);
}

/* Send msg on s, with fd passed along (SCM_RIGHTS) unless fd < 0. */
static void send_passing_fd(int s, const char *msg, int fd)
{
	struct iovec iov = {(void *)msg, strlen(msg)};
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};

	if (fd >= 0) {
		m.msg_control = cbuf;
		m.msg_controllen = sizeof(cbuf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	cr_assert_eq(sendmsg(s, &m, 0), (ssize_t)strlen(msg));
}

Test(short_reads, a_unix_stream_read_cut_short_by_a_passed_fd_still_completes_the_next_recv,
     .timeout = TEST_TIMEOUT)
{
	int sv[2];
	char buf[256];
	struct iovec iov = {buf, sizeof(buf)};
	struct cport_op op1, op2;
	struct cport_completion c;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, sv[0], 1), 0);
	test_expect_idle(port, 30);
	/* A unix stream read stops after a message that carried an fd, with
	 * more queued behind it: a short read that did not drain the socket. */
	send_passing_fd(sv[1], "first", 0);
	send_passing_fd(sv[1], "second", -1);
	test_expect_idle(port, 30); /* the readiness edge is spent */
	cport_op_init(&op1);
	cport_op_init(&op2);
	cr_assert_eq(cport_recv(port, sv[0], &op1, &iov, 1), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, 5, "first recv gave %lld", (long long)c.result);
	cr_assert_eq(cport_recv(port, sv[0], &op2, &iov, 1), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op2);
	cr_assert_eq(c.result, 6, "second recv gave %lld", (long long)c.result);
	cport_destroy(port);
	close(sv[0]);
	close(sv[1]);
}
