/* close.c - closing an fd through the port with ops in flight: each op
 * completes once, the fd is closed, the close op completes last, and nothing
 * for that fd follows. */
#include "cport_test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(close);

#define KEY_CLOSING 0xC105Eu
#define KEY_OTHER 0x07u

/* Read fd until end of stream; returns 0 at EOF or -errno. */
static int read_to_eof(int fd)
{
	char buf[16384];

	for (;;) {
		ssize_t n = test_read_some(fd, buf, sizeof(buf), TEST_WAIT_MS);

		if (n <= 0)
			return (int)n;
	}
}

Test(close, closing_an_fd_with_ops_in_flight_completes_each_once_then_the_close_op_last,
     .timeout = TEST_TIMEOUT)
{
	int a, b, x, y;
	int small = 4096;
	struct cport_op rop, sop, cop, xop;
	struct cport_completion cs[4];
	char rbuf[16], xbuf[16];
	char *big = calloc(1, 256 * 1024);
	struct iovec riov = {rbuf, sizeof(rbuf)}, siov = {big, 256 * 1024};
	struct iovec xiov = {xbuf, sizeof(xbuf)};

	test_tcp_pair_family(AF_INET, small, &a, &b);
	test_tcp_pair(&x, &y);
	cr_assert_eq(setsockopt(a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	test_fill_send_buffer(a); /* so the send stays in flight */
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, KEY_CLOSING), 0);
	cr_assert_eq(cport_attach(port, x, KEY_OTHER), 0);
	cport_op_init(&rop);
	cport_op_init(&sop);
	cport_op_init(&cop);
	cport_op_init(&xop);
	cr_assert_eq(cport_recv(port, a, &rop, &riov, 1), 0);
	cr_assert_eq(cport_send(port, a, &sop, &siov, 1), 0);
	cr_assert_eq(cport_recv(port, x, &xop, &xiov, 1), 0);
	cr_assert_eq(cport_close(port, a, &cop), 0);

	int n = test_wait_n(port, cs, 3, TEST_WAIT_MS);

	cr_assert_eq(n, 3, "got %d of 3 completions", n);
	bool got_r = false, got_s = false;

	for (int i = 0; i < 2; i++) {
		cr_assert_eq(cs[i].key, KEY_CLOSING);
		if (cs[i].op == &rop) {
			cr_assert_not(got_r, "recv completed twice");
			got_r = true;
			cr_assert_eq(cs[i].result, -ECANCELED, "recv gave %lld",
				     (long long)cs[i].result);
		} else {
			cr_assert_eq(cs[i].op, &sop, "the close op completed before the fd's ops");
			cr_assert_not(got_s, "send completed twice");
			got_s = true;
			cr_assert(cs[i].result == -ECANCELED || cs[i].result > 0, "send gave %lld",
				  (long long)cs[i].result);
		}
	}
	cr_assert_eq(cs[2].op, &cop);
	cr_assert_eq(cs[2].key, KEY_CLOSING);
	cr_assert_eq(cs[2].kind, CPORT_OP_CLOSE);
	cr_assert_eq(cs[2].result, 0, "close gave %lld", (long long)cs[2].result);
	cr_assert_not(test_fd_open(a), "fd still open after its close completed");
	test_expect_idle(port, 100);
	/* The peer sees the connection end; the other fd is untouched. */
	cr_assert_eq(read_to_eof(b), 0);
	cr_assert_eq(test_write_all(y, "x", 1), 0);
	test_wait_one(port, cs);
	cr_assert_eq(cs[0].op, &xop);
	cr_assert_eq(cs[0].result, 1);

	cport_destroy(port);
	close(b);
	close(x);
	close(y);
	free(big);
}

Test(close, an_fd_being_closed_takes_no_new_ops_and_a_closed_fd_is_unknown,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op rop, op2, cop, cop2;
	struct cport_completion cs[2];
	char buf[8];
	struct iovec iov = {buf, sizeof(buf)};

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, KEY_CLOSING), 0);
	cport_op_init(&rop);
	cport_op_init(&op2);
	cport_op_init(&cop);
	cport_op_init(&cop2);
	cr_assert_eq(cport_recv(port, a, &rop, &iov, 1), 0);
	cr_assert_eq(cport_close(port, a, &cop), 0);
	/* While the close is under way: no new ops, no second close. */
	int rc = cport_recv(port, a, &op2, &iov, 1);

	cr_assert_lt(rc, 0, "a recv on a closing fd was accepted");
	rc = cport_close(port, a, &cop2);
	cr_assert_lt(rc, 0, "a second close of a closing fd was accepted");
	cr_assert_eq(test_wait_n(port, cs, 2, TEST_WAIT_MS), 2);
	cr_assert_eq(cs[0].op, &rop);
	cr_assert_eq(cs[1].op, &cop);
	test_expect_idle(port, 50);
	/* Closed: the port no longer knows the fd. */
	cr_assert_eq(cport_recv(port, a, &op2, &iov, 1), -EBADF);
	cr_assert_lt(cport_close(port, a, &cop2), 0);
	test_expect_idle(port, 20);

	cport_destroy(port);
	close(b);
}

Test(close, closing_an_idle_fd_completes_the_close_op_with_zero, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, KEY_CLOSING), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_close(port, a, &op), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.kind, CPORT_OP_CLOSE);
	cr_assert_eq(c.result, 0);
	cr_assert_not(test_fd_open(a));
	cr_assert_eq(read_to_eof(b), 0);

	cport_destroy(port);
	close(b);
}

Test(close, closing_with_a_null_op_still_closes_the_fd_after_its_ops_complete,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op rop;
	struct cport_completion c;
	char buf[8];
	struct iovec iov = {buf, sizeof(buf)};

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, KEY_CLOSING), 0);
	cport_op_init(&rop);
	cr_assert_eq(cport_recv(port, a, &rop, &iov, 1), 0);
	cr_assert_eq(cport_close(port, a, NULL), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &rop);
	cr_assert_eq(c.result, -ECANCELED, "recv gave %lld", (long long)c.result);
	/* The peer's end of stream proves the close happened. */
	cr_assert_eq(read_to_eof(b), 0);
	test_expect_idle(port, 50);

	cport_destroy(port);
	close(b);
}

Test(close, an_fd_closed_through_the_port_can_be_replaced_by_a_new_fd_with_the_same_number,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage laddr;
	socklen_t llen;
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char buf[8];
	struct iovec iov = {buf, sizeof(buf)};

	test_tcp_pair(&a, &b);
	int lfd = test_tcp_listener(AF_INET, 0, &laddr, &llen);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_close(port, a, &op), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, 0);
	/* The lowest free number is a's again. */
	int a2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_eq(a2, a, "precondition: the new socket did not reuse fd %d", a);
	cr_assert_eq(connect(a2, (struct sockaddr *)&laddr, llen), 0);
	int b2 = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	cr_assert_geq(b2, 0);
	cr_assert_eq(cport_attach(port, a2, 2), 0, "attach of a new socket on a reused number");
	cr_assert_eq(cport_recv(port, a2, &op, &iov, 1), 0);
	cr_assert_eq(test_write_all(b2, "new", 3), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.key, 2);
	cr_assert_eq(c.result, 3);

	cport_destroy(port);
	close(a2);
	close(b2);
	close(b);
	close(lfd);
}

#define IDLE_CLOSES 60

Test(close, closing_fds_with_nothing_in_flight_does_not_wake_a_thread_asleep_on_the_port,
     .timeout = TEST_TIMEOUT)
{
	int a[IDLE_CLOSES], b[IDLE_CLOSES];
	cport_t *port = test_port_new(NULL);
	struct test_waiter w = {.port = port};

	for (int i = 0; i < IDLE_CLOSES; i++) {
		test_tcp_pair(&a[i], &b[i]);
		cr_assert_eq(cport_attach(port, a[i], KEY_OTHER), 0);
	}
	/* On epoll a TCP socket's first writability edge comes with its
	 * attach: the waiter takes those before it parks, uncounted. */
	test_waiter_start(&w);
	unsigned long long before = test_thread_switches(w.tid);
	for (int i = 0; i < IDLE_CLOSES; i++) {
		cr_assert_eq(cport_close(port, a[i], NULL), 0);
		cr_assert(!test_fd_open(a[i]), "with nothing in flight the close is done in the call");
		/* Time for a thread woken by the close to run and sleep again. */
		usleep(300);
	}
	test_waiter_slept_through(&w, port, before, IDLE_CLOSES, "closes", KEY_CLOSING);
	cport_destroy(port);
	for (int i = 0; i < IDLE_CLOSES; i++)
		close(b[i]);
}
