/* poll.c - cport_poll: an op that only waits for an fd to be ready, as a
 * zero-byte receive does on Windows, and leaves the data where it is; the
 * caller then makes its own call (here splice(2), as cport-echo does). */
#include "cport_test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TEST_SUITE(poll);

static cport_t *port_with_pair(int *a, int *b)
{
	test_tcp_pair(a, b);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, *a, 7), 0);
	return port;
}

static void close_all(cport_t *port, int a, int b)
{
	cport_destroy(port);
	close(a);
	close(b);
}

Test(poll, pollin_waits_for_data_and_leaves_it_in_the_socket, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char in[8];
	cport_t *port = port_with_pair(&a, &b);

	cport_op_init(&op);
	cr_assert_eq(cport_poll(port, a, &op, POLLIN), 0);
	test_expect_idle(port, 100);
	cr_assert_eq(test_write_all(b, "ping", 4), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.key, 7u);
	cr_assert_eq(c.kind, (uint32_t)CPORT_OP_POLL);
	cr_assert_eq(c.result, POLLIN, "result %lld", (long long)c.result);
	cr_assert_null(c.buf);
	/* It took nothing: the bytes are all still there to read. */
	cr_assert_eq(recv(a, in, sizeof(in), MSG_DONTWAIT), 4);
	cr_assert_eq(memcmp(in, "ping", 4), 0);
	close_all(port, a, b);
}

Test(poll, pollin_with_data_already_waiting_completes_without_taking_it, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char in[8];
	cport_t *port = port_with_pair(&a, &b);

	cr_assert_eq(test_write_all(b, "abc", 3), 0);
	test_await_readable(a);
	cport_op_init(&op);
	cr_assert_eq(cport_poll(port, a, &op, POLLIN), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, POLLIN);
	/* Polled again, the same bytes make it ready again. */
	cr_assert_eq(cport_poll(port, a, &op, POLLIN), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, POLLIN);
	cr_assert_eq(recv(a, in, sizeof(in), MSG_DONTWAIT), 3);
	close_all(port, a, b);
}

Test(poll, pollout_waits_while_the_send_buffer_is_full_and_completes_once_the_peer_reads,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char sink[65536];
	cport_t *port = port_with_pair(&a, &b);

	cport_op_init(&op);
	cr_assert_eq(cport_poll(port, a, &op, POLLOUT), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, POLLOUT, "a fresh socket is writable: %lld", (long long)c.result);

	size_t queued = test_fill_send_buffer(a);
	cr_assert_eq(cport_poll(port, a, &op, POLLOUT), 0);
	test_expect_idle(port, 100);
	while (queued) {
		ssize_t n = test_read_some(b, sink, sizeof(sink), TEST_WAIT_MS);
		cr_assert_gt(n, 0);
		queued -= (size_t)n;
	}
	test_wait_one(port, &c);
	cr_assert_eq(c.result, POLLOUT);
	close_all(port, a, b);
}

Test(poll, the_peers_close_makes_pollin_ready_and_reading_then_finds_the_end, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char in[4];
	cport_t *port = port_with_pair(&a, &b);

	cport_op_init(&op);
	cr_assert_eq(cport_poll(port, a, &op, POLLIN), 0);
	close(b);
	test_wait_one(port, &c);
	cr_assert(c.result & POLLIN, "result %lld", (long long)c.result);
	cr_assert_eq(c.result & ~(POLLIN | POLLHUP | POLLERR), 0, "only what poll(2) reports: %lld",
		     (long long)c.result);
	cr_assert_eq(recv(a, in, sizeof(in), MSG_DONTWAIT), 0);
	cport_destroy(port);
	close(a);
}

Test(poll, a_waiting_poll_is_cancelled_and_so_is_one_on_a_closing_fd, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op, closer;
	struct cport_completion c[2];
	cport_t *port = port_with_pair(&a, &b);

	cport_op_init(&op);
	cr_assert_eq(cport_poll(port, a, &op, POLLIN), 0);
	cr_assert_eq(cport_cancel(port, &op), 0);
	test_wait_one(port, &c[0]);
	cr_assert_eq(c[0].op, &op);
	cr_assert_eq(c[0].result, -ECANCELED);

	cr_assert_eq(cport_poll(port, a, &op, POLLIN), 0);
	cport_op_init(&closer);
	cr_assert_eq(cport_close(port, a, &closer), 0);
	cr_assert_eq(test_wait_n(port, c, 2, TEST_WAIT_MS), 2);
	cr_assert_eq(c[0].op, &op, "the poll ends before its fd's close");
	cr_assert_eq(c[0].result, -ECANCELED);
	cr_assert_eq(c[1].op, &closer);
	cr_assert_eq(c[1].result, 0);
	cport_destroy(port);
	close(b);
}

Test(poll, events_other_than_pollin_or_pollout_alone_are_refused_and_the_op_stays_the_callers,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	cport_t *port = port_with_pair(&a, &b);

	cport_op_init(&op);
	cr_assert_eq(cport_poll(port, a, &op, 0), -EINVAL);
	cr_assert_eq(cport_poll(port, a, &op, POLLIN | POLLOUT), -EINVAL);
	cr_assert_eq(cport_poll(port, a, &op, POLLPRI), -EINVAL);
	cr_assert_eq(cport_poll(port, b, &op, POLLIN), -EBADF, "b is not attached");
	cr_assert_eq(cport_poll(NULL, a, &op, POLLIN), -EINVAL);
	cr_assert_eq(cport_poll(port, a, NULL, POLLIN), -EINVAL);
	/* Refused starts left it idle: it starts now. */
	cr_assert_eq(cport_poll(port, a, &op, POLLOUT), 0);
	struct cport_completion c;
	test_wait_one(port, &c);
	cr_assert_eq(c.result, POLLOUT);
	close_all(port, a, b);
}

Test(poll, ready_at_once_on_a_skipping_fd_it_returns_1_with_the_events, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	cport_t *port = port_with_pair(&a, &b);

	cr_assert_eq(cport_set_completion_modes(port, a, CPORT_SKIP_ON_SUCCESS), 0);
	cport_op_init(&op);
	int r = cport_poll(port, a, &op, POLLOUT);
	if (test_backend() == CPORT_BACKEND_EPOLL)
		cr_assert_eq(r, 1, "epoll asks poll(2) in the start call");
	if (r == 1) {
		cr_assert_eq(cport_op_result(&op), POLLOUT);
	} else {
		/* io_uring asks the kernel, which answers through the port. */
		struct cport_completion c;
		cr_assert_eq(r, 0);
		test_wait_one(port, &c);
		cr_assert_eq(c.result, POLLOUT);
	}
	close_all(port, a, b);
}

/* What cport-echo does with it: wait for data, splice it into a pipe and
 * out again, the bytes never in user space; the peer gets them back whole. */
Test(poll, splice_through_a_pipe_on_readiness_echoes_every_byte, .timeout = TEST_TIMEOUT)
{
	int a, b, pipefd[2];
	struct cport_op op;
	struct cport_completion c;
	static char out[1 << 18], back[1 << 18];
	cport_t *port = port_with_pair(&a, &b);

	cr_assert_eq(pipe2(pipefd, O_NONBLOCK | O_CLOEXEC), 0);
	test_pattern_fill(out, sizeof(out), 0, 42);
	size_t sent = 0, echoed = 0, got = 0;
	cport_op_init(&op);
	while (got < sizeof(back)) {
		if (sent < sizeof(out)) {
			ssize_t n = send(b, out + sent, sizeof(out) - sent, MSG_DONTWAIT);
			if (n > 0)
				sent += (size_t)n;
		}
		cr_assert_eq(cport_poll(port, a, &op, POLLIN), 0);
		test_wait_one(port, &c);
		cr_assert(c.result & POLLIN);
		ssize_t in = splice(a, NULL, pipefd[1], NULL, 65536, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		cr_assert(in > 0 || (in < 0 && errno == EAGAIN), "splice in: %zd %s", in, strerror(errno));
		while (in > 0) {
			ssize_t o = splice(pipefd[0], NULL, a, NULL, (size_t)in, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			cr_assert_gt(o, 0, "splice out: %s", strerror(errno));
			in -= o;
			echoed += (size_t)o;
		}
		ssize_t n;
		while (got < echoed && (n = test_read_some(b, back + got, sizeof(back) - got, TEST_WAIT_MS)) > 0)
			got += (size_t)n;
	}
	cr_assert_eq(test_pattern_mismatch(back, sizeof(back), 0, 42), -1);
	close(pipefd[0]);
	close(pipefd[1]);
	close_all(port, a, b);
}
