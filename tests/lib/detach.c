/* detach.c - detaching an fd with ops in flight: they complete once, the
 * detach op completes last, the fd stays open and can be attached again. */
#include "cport_test.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(detach);

Test(detach, detaching_an_fd_with_a_recv_in_flight_cancels_it_then_completes_and_leaves_it_open,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op rop, dop;
	struct cport_completion cs[2];
	char buf[16];
	struct iovec iov = {buf, sizeof(buf)};

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, 5), 0);
	cport_op_init(&rop);
	cport_op_init(&dop);
	cr_assert_eq(cport_recv(port, a, &rop, &iov, 1), 0);
	cr_assert_eq(cport_detach(port, a, &dop), 0);
	cr_assert_eq(test_wait_n(port, cs, 2, TEST_WAIT_MS), 2);
	cr_assert_eq(cs[0].op, &rop, "the detach op completed before the fd's recv");
	cr_assert_eq(cs[0].result, -ECANCELED, "recv gave %lld", (long long)cs[0].result);
	cr_assert_eq(cs[1].op, &dop);
	cr_assert_eq(cs[1].kind, CPORT_OP_DETACH);
	cr_assert_eq(cs[1].result, 0, "detach gave %lld", (long long)cs[1].result);
	test_expect_idle(port, 50);
	cr_assert(test_fd_open(a), "detach closed the fd");
	/* No longer attached: ops on it are refused... */
	cr_assert_eq(cport_recv(port, a, &rop, &iov, 1), -EBADF);
	/* ...until it is attached again. */
	cr_assert_eq(cport_attach(port, a, 6), 0);
	cr_assert_eq(cport_recv(port, a, &rop, &iov, 1), 0);
	cr_assert_eq(test_write_all(b, "again", 5), 0);
	test_wait_one(port, cs);
	cr_assert_eq(cs[0].key, 6);
	cr_assert_eq(cs[0].result, 5);
	cr_assert_eq(memcmp(buf, "again", 5), 0);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(detach, a_detached_fd_can_be_attached_to_another_port, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char buf[8];
	struct iovec iov = {buf, sizeof(buf)};

	test_tcp_pair(&a, &b);
	cport_t *p1 = test_port_new(NULL);
	cport_t *p2 = test_port_new(NULL);

	cr_assert_eq(cport_attach(p1, a, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_detach(p1, a, &op), 0);
	test_wait_one(p1, &c);
	cr_assert_eq(c.result, 0);
	cr_assert_eq(cport_attach(p2, a, 2), 0);
	cr_assert_eq(cport_recv(p2, a, &op, &iov, 1), 0);
	cr_assert_eq(test_write_all(b, "p2", 2), 0);
	test_wait_one(p2, &c);
	cr_assert_eq(c.key, 2);
	cr_assert_eq(c.result, 2);
	test_expect_idle(p1, 20);

	cport_destroy(p1);
	cport_destroy(p2);
	close(a);
	close(b);
}
