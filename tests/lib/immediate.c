/* immediate.c - an op that could finish at once still completes through
 * cport_wait: the starting call returns 0, never a result. */
#include "cport_test.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(immediate);

Test(immediate, a_recv_with_data_already_there_returns_zero_and_completes_through_wait,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char buf[16];
	struct iovec iov = {buf, sizeof(buf)};

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, 1), 0);
	cr_assert_eq(test_write_all(b, "waiting", 7), 0);
	test_await_readable(a);
	cport_op_init(&op);
	cr_assert_eq(cport_recv(port, a, &op, &iov, 1), 0, "the call returned a result itself");
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.kind, CPORT_OP_RECV);
	cr_assert_eq(c.result, 7);
	cr_assert_eq(memcmp(buf, "waiting", 7), 0);
	test_expect_idle(port, 20);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(immediate, a_send_with_room_in_the_socket_returns_zero_and_completes_through_wait,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char in[5];
	struct iovec iov = {"ready", 5};

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_send(port, a, &op, &iov, 1), 0, "the call returned a result itself");
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.kind, CPORT_OP_SEND);
	cr_assert_eq(c.result, 5);
	cr_assert_eq(test_read_exact(b, in, 5, TEST_WAIT_MS), 0);
	test_expect_idle(port, 20);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(immediate, an_accept_with_a_connection_already_queued_completes_through_wait,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage addr;
	socklen_t len;
	struct cport_op op;
	struct cport_completion c;
	int lfd = test_tcp_listener(AF_INET, 0, &addr, &len);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_eq(connect(cfd, (struct sockaddr *)&addr, len), 0);
	test_await_readable(lfd);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, lfd, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_accept(port, lfd, &op, NULL, NULL), 0, "the call returned a result itself");
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_geq(c.result, 0, "accept gave %lld", (long long)c.result);

	cport_destroy(port);
	close((int)c.result);
	close(cfd);
	close(lfd);
}

Test(immediate, a_recvfrom_with_a_datagram_already_there_completes_through_wait,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage ra, sa, from;
	socklen_t rl, sl, fromlen = sizeof(from);
	struct cport_op op;
	struct cport_completion c;
	char buf[16];
	struct iovec iov = {buf, sizeof(buf)};
	int rx = test_udp_socket(AF_INET, &ra, &rl);
	int tx = test_udp_socket(AF_INET, &sa, &sl);

	cr_assert_eq(sendto(tx, "dgram", 5, 0, (struct sockaddr *)&ra, rl), 5);
	test_await_readable(rx);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, rx, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_recvfrom(port, rx, &op, &iov, 1, (struct sockaddr *)&from, &fromlen), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, 5);
	cr_assert_eq(test_addr_port(&from), test_addr_port(&sa));

	cport_destroy(port);
	close(rx);
	close(tx);
}

Test(immediate, a_pooled_recv_with_data_already_there_completes_through_wait,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, 1), 0);
	cr_assert_eq(test_write_all(b, "pool", 4), 0);
	test_await_readable(a);
	cport_op_init(&op);
	cr_assert_eq(cport_recv_pooled(port, a, &op), 0, "the call returned a result itself");
	test_wait_one(port, &c);
	cr_assert_eq(c.result, 4);
	cr_assert(c.flags & CPORT_CF_BUFFER);
	cr_assert_eq(memcmp(c.buf, "pool", 4), 0);
	cr_assert_eq(cport_buf_release(port, c.buf), 0);

	cport_destroy(port);
	close(a);
	close(b);
}
