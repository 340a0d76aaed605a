/* skip_on_success.c - CPORT_SKIP_ON_SUCCESS (Windows' FILE_SKIP_COMPLETION_PORT_ON_SUCCESS):
 * an op that succeeds inside its start call is done when the call returns 1,
 * and no completion for it comes through the port; a failure, an op that
 * has to wait, and every pooled receive still complete through the port. */
#include "cport_test.h"
#include "../../src/fault.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TEST_SUITE(skip_on_success);

#define MARK_KEY 0x5eedu

/* Nothing of fd's is queued: a post made now is the next completion out. */
static void expect_nothing_queued(cport_t *port)
{
	struct cport_completion c;

	cr_assert_eq(cport_post(port, MARK_KEY, NULL, 0), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.key, MARK_KEY, "a completion (kind %u, result %lld) came before the marker", c.kind,
		     (long long)c.result);
}

static cport_t *port_with_skipping_pair(int *a, int *b)
{
	test_tcp_pair(a, b);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, *a, 1), 0);
	cr_assert_eq(cport_set_completion_modes(port, *a, CPORT_SKIP_ON_SUCCESS), 0);
	return port;
}

Test(skip_on_success, a_send_that_goes_out_at_once_returns_1_with_its_result_and_queues_nothing,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct iovec iov = {"hello", 5};
	char in[10];
	cport_t *port = port_with_skipping_pair(&a, &b);

	cport_op_init(&op);
	cr_assert_eq(cport_send(port, a, &op, &iov, 1), 1);
	cr_assert_eq(cport_op_result(&op), 5);
	/* The op is the caller's again at once. */
	cr_assert_eq(cport_send(port, a, &op, &iov, 1), 1);
	cr_assert_eq(cport_op_result(&op), 5);
	cr_assert_eq(cport_cancel(port, &op), -ENOENT);
	cr_assert_eq(test_read_exact(b, in, 10, TEST_WAIT_MS), 0);
	cr_assert_eq(memcmp(in, "hellohello", 10), 0);
	expect_nothing_queued(port);

	/* Nothing of it is left counted on the fd: its close completes. */
	struct cport_op closer;
	struct cport_completion c;
	cport_op_init(&closer);
	cr_assert_eq(cport_close(port, a, &closer), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &closer);
	cr_assert_eq(c.result, 0);
	cport_destroy(port);
	close(b);
}

Test(skip_on_success, without_the_mode_the_same_send_completes_through_the_port, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	struct iovec iov = {"hello", 5};

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, a, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_send(port, a, &op, &iov, 1), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, 5);
	cport_destroy(port);
	close(a);
	close(b);
}

Test(skip_on_success, a_send_into_a_full_socket_returns_0_and_completes_when_the_peer_reads,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char data[4096], sink[65536];
	struct iovec iov = {data, sizeof(data)};
	cport_t *port = port_with_skipping_pair(&a, &b);

	memset(data, 'x', sizeof(data));
	size_t queued = test_fill_send_buffer(a);
	cport_op_init(&op);
	cr_assert_eq(cport_send(port, a, &op, &iov, 1), 0, "a send into a full socket was done at once");
	size_t drained = 0;
	while (drained < queued) {
		ssize_t n = test_read_some(b, sink, sizeof(sink), TEST_WAIT_MS);
		cr_assert_gt(n, 0);
		drained += (size_t)n;
	}
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_gt(c.result, 0);
	cport_destroy(port);
	close(a);
	close(b);
}

Test(skip_on_success, a_send_that_fails_at_once_still_completes_through_the_port, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	struct iovec iov = {"late", 4};
	struct linger lg = {1, 0};
	char byte;
	cport_t *port = port_with_skipping_pair(&a, &b);

	/* The peer resets the connection: the send fails. */
	cr_assert_eq(setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(b);
	test_await_readable(a);
	cr_assert_lt(recv(a, &byte, 1, MSG_PEEK), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_send(port, a, &op, &iov, 1), 0, "a failed send was done at once");
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_lt(c.result, 0);
	cport_destroy(port);
	close(a);
}

Test(skip_on_success, a_receive_with_data_waiting_is_done_at_once_or_through_the_port_never_both,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char buf[16];
	struct iovec iov = {buf, sizeof(buf)};
	cport_t *port = port_with_skipping_pair(&a, &b);

	cr_assert_eq(test_write_all(b, "waiting", 7), 0);
	test_await_readable(a);
	cport_op_init(&op);
	int r = cport_recv(port, a, &op, &iov, 1);
	int64_t res;
	if (r == 1) {
		res = cport_op_result(&op);
		expect_nothing_queued(port);
	} else {
		cr_assert_eq(r, 0);
		test_wait_one(port, &c);
		cr_assert_eq(c.op, &op);
		res = c.result;
	}
	/* epoll tries an op at once when its socket was ready (cport_set_completion_modes(3)). */
	if (test_backend() == CPORT_BACKEND_EPOLL)
		cr_assert_eq(r, 1);
	cr_assert_eq(res, 7);
	cr_assert_eq(memcmp(buf, "waiting", 7), 0);
	cport_destroy(port);
	close(a);
	close(b);
}

Test(skip_on_success, a_pooled_receive_always_completes_through_the_port_with_its_buffer,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	cport_t *port = port_with_skipping_pair(&a, &b);

	cr_assert_eq(test_write_all(b, "pooled", 6), 0);
	test_await_readable(a);
	cport_op_init(&op);
	cr_assert_eq(cport_recv_pooled(port, a, &op), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, 6);
	cr_assert(c.flags & CPORT_CF_BUFFER);
	cr_assert_eq(memcmp(c.buf, "pooled", 6), 0);
	cr_assert_eq(cport_buf_release(port, c.buf), 0);
	cport_destroy(port);
	close(a);
	close(b);
}

Test(skip_on_success, a_datagram_sent_at_once_reaches_its_peer, .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage sa, da;
	socklen_t slen, dlen;
	struct cport_op op;
	struct iovec iov = {"dgram", 5};
	char in[8];
	int s = test_udp_socket(AF_INET, &sa, &slen);
	int d = test_udp_socket(AF_INET, &da, &dlen);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, s, 1), 0);
	cr_assert_eq(cport_set_completion_modes(port, s, CPORT_SKIP_ON_SUCCESS), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_sendto(port, s, &op, &iov, 1, (struct sockaddr *)&da, dlen), 1);
	cr_assert_eq(cport_op_result(&op), 5);
	cr_assert_eq(test_read_some(d, in, sizeof(in), TEST_WAIT_MS), 5);
	cr_assert_eq(memcmp(in, "dgram", 5), 0);
	expect_nothing_queued(port);
	cport_destroy(port);
	close(s);
	close(d);
}

Test(skip_on_success, bad_modes_and_unattached_fds_are_refused, .timeout = TEST_TIMEOUT)
{
	int a, b;

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_set_completion_modes(NULL, a, CPORT_SKIP_ON_SUCCESS), -EINVAL);
	cr_assert_eq(cport_set_completion_modes(port, a, CPORT_SKIP_ON_SUCCESS), -EBADF);
	cr_assert_eq(cport_set_completion_modes(port, -1, CPORT_SKIP_ON_SUCCESS), -EBADF);
	cr_assert_eq(cport_attach(port, a, 1), 0);
	cr_assert_eq(cport_set_completion_modes(port, a, 0x80), -EINVAL);
	cr_assert_eq(cport_set_completion_modes(port, a, CPORT_SKIP_ON_SUCCESS), 0);
	cr_assert_eq(cport_set_completion_modes(port, a, 0), 0);
	cr_assert_eq(cport_op_result(NULL), -EINVAL);
	cport_destroy(port);
	close(a);
	close(b);
}

Test(skip_on_success, a_detached_and_attached_again_fd_starts_without_the_mode, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op, det;
	struct cport_completion c;
	struct iovec iov = {"again", 5};
	cport_t *port = port_with_skipping_pair(&a, &b);

	cport_op_init(&det);
	cr_assert_eq(cport_detach(port, a, &det), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &det);
	cr_assert_eq(cport_attach(port, a, 2), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_send(port, a, &op, &iov, 1), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, 5);
	cport_destroy(port);
	close(a);
	close(b);
}

/* The kernel's answer to the gate's own try, changed by the test. */
static int64_t try_says(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	(void)pt;
	(void)op;
	(void)v;
	return *(int64_t *)ctx;
}

/* On io_uring, a send on a skipping fd whose own try the test makes say
 * try_result: it must return 0 and complete through the port with want. */
static void send_whose_try_says(int64_t try_result, int64_t want)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	struct iovec iov = {"queued", 6};

	if (test_backend() != CPORT_BACKEND_URING)
		cr_skip_test("the gate tries sends itself only on io_uring (epoll's backend tries them)");
	cport_t *port = port_with_skipping_pair(&a, &b);
	cport_fault_set(FAULT_TRY, try_says, &try_result);
	cport_op_init(&op);
	int r = cport_send(port, a, &op, &iov, 1);
	cport_fault_set(FAULT_TRY, NULL, NULL);
	cr_assert_eq(r, 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, want);
	if (want > 0) {
		char in[6];
		cr_assert_eq(test_read_exact(b, in, 6, TEST_WAIT_MS), 0);
		cr_assert_eq(memcmp(in, "queued", 6), 0);
	}
	cport_destroy(port);
	close(a);
	close(b);
}

Test(skip_on_success, io_uring_a_send_whose_try_would_block_goes_to_the_kernel_and_completes_there,
     .timeout = TEST_TIMEOUT)
{
	send_whose_try_says(-EAGAIN, 6);
}

Test(skip_on_success, io_uring_a_send_whose_try_fails_completes_through_the_port_with_the_error,
     .timeout = TEST_TIMEOUT)
{
	send_whose_try_says(-ECONNRESET, -ECONNRESET);
}

/* On io_uring, a send on a skipping fd started by the thread that runs the
 * port, after its wait took `posts` completions: want_start is what the
 * start must return (1 done at once, 0 riding the thread's next wait). */
static void send_after_taking(unsigned flags, int posts, int want_start)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c[4];
	struct iovec iov = {"echoed", 6};
	struct cport_options o;
	char in[6];

	if (test_backend() != CPORT_BACKEND_URING)
		cr_skip_test("the gate tries sends itself only on io_uring (epoll's backend tries them)");
	test_tcp_pair(&a, &b);
	test_options(&o);
	o.flags = flags;
	cport_t *port = test_port_new(&o);
	cr_assert_eq(cport_attach(port, a, 1), 0);
	cr_assert_eq(cport_set_completion_modes(port, a, CPORT_SKIP_ON_SUCCESS), 0);
	for (int i = 0; i < posts; i++)
		cr_assert_eq(cport_post(port, MARK_KEY, NULL, 0), 0);
	cr_assert_eq(cport_wait(port, c, 4, TEST_WAIT_MS), posts);

	cport_op_init(&op);
	cr_assert_eq(cport_send(port, a, &op, &iov, 1), want_start);
	if (want_start == 1) {
		cr_assert_eq(cport_op_result(&op), 6);
		expect_nothing_queued(port);
	} else {
		test_wait_one(port, c);
		cr_assert_eq(c[0].op, &op, "the send's completion comes through the port");
		cr_assert_eq(c[0].result, 6);
	}
	cr_assert_eq(test_read_exact(b, in, 6, TEST_WAIT_MS), 0);
	cr_assert_eq(memcmp(in, "echoed", 6), 0);
	cport_destroy(port);
	close(a);
	close(b);
}

Test(skip_on_success, io_uring_a_thread_running_a_batch_lets_its_send_ride_its_next_wait, .timeout = TEST_TIMEOUT)
{
	send_after_taking(0, 2, 0);
}

Test(skip_on_success, io_uring_a_thread_that_took_the_only_completion_sends_at_once, .timeout = TEST_TIMEOUT)
{
	send_after_taking(0, 1, 1);
}

Test(skip_on_success, io_uring_single_thread_a_batch_lets_its_send_ride_the_next_wait, .timeout = TEST_TIMEOUT)
{
	send_after_taking(CPORT_SINGLE_THREAD, 2, 0);
}

Test(skip_on_success, io_uring_single_thread_the_only_completion_sends_at_once, .timeout = TEST_TIMEOUT)
{
	send_after_taking(CPORT_SINGLE_THREAD, 1, 1);
}
