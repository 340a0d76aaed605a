/* destroy.c - destroying a port wakes its waiters with -ESHUTDOWN, drops ops
 * in flight, and leaves fds it did not close open. */
#include "cport_test.h"

#include <errno.h>
#include <unistd.h>

TEST_SUITE(destroy);

#define WAITERS 3

Test(destroy, destroying_a_port_wakes_every_blocked_waiter_with_eshutdown,
     .timeout = TEST_TIMEOUT)
{
	struct cport_options o;
	struct test_waiter w[WAITERS];

	test_options(&o);
	o.concurrency = WAITERS;
	cport_t *port = test_port_new(&o);

	for (int i = 0; i < WAITERS; i++) {
		w[i] = (struct test_waiter){.port = port, .id = i};
		test_waiter_start(&w[i]);
	}
	cr_assert_eq(cport_destroy(port), 0);
	for (int i = 0; i < WAITERS; i++) {
		test_waiter_join(&w[i]);
		cr_assert_eq(w[i].rc, -ESHUTDOWN, "waiter %d: cport_wait gave %d", i, w[i].rc);
	}
}

Test(destroy, destroying_a_port_with_ops_in_flight_leaves_its_attached_fds_open,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct sockaddr_storage addr;
	socklen_t len;
	struct cport_op rop, aop, pop;
	char buf[8];
	struct iovec iov = {buf, sizeof(buf)};

	test_tcp_pair(&a, &b);
	int lfd = test_tcp_listener(AF_INET, 0, &addr, &len);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, 1), 0);
	cr_assert_eq(cport_attach(port, lfd, 2), 0);
	cport_op_init(&rop);
	cport_op_init(&aop);
	cport_op_init(&pop);
	cr_assert_eq(cport_recv(port, a, &rop, &iov, 1), 0);
	cr_assert_eq(cport_accept(port, lfd, &aop, NULL, NULL), 0);
	cr_assert_eq(cport_post(port, 3, &pop, 0), 0);
	cr_assert_eq(cport_post(port, 4, NULL, 0), 0); /* an allocated post node */
	cr_assert_eq(cport_destroy(port), 0);
	cr_assert(test_fd_open(a), "destroy closed an fd it was not asked to close");
	cr_assert(test_fd_open(lfd));
	/* The socket still works without the port. */
	cr_assert_eq(test_write_all(b, "bye", 3), 0);
	cr_assert_eq(test_read_exact(a, buf, 3, TEST_WAIT_MS), 0);

	close(a);
	close(b);
	close(lfd);
}

Test(destroy, destroying_one_port_leaves_another_working, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char buf[8];
	struct iovec iov = {buf, sizeof(buf)};

	test_tcp_pair(&a, &b);
	cport_t *p1 = test_port_new(NULL);
	cport_t *p2 = test_port_new(NULL);

	cr_assert_eq(cport_attach(p2, a, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_recv(p2, a, &op, &iov, 1), 0);
	cr_assert_eq(cport_post(p1, 1, NULL, 0), 0);
	cr_assert_eq(cport_destroy(p1), 0);
	cr_assert_eq(test_write_all(b, "two", 3), 0);
	test_wait_one(p2, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, 3);

	cport_destroy(p2);
	close(a);
	close(b);
}

Test(destroy, destroying_a_port_leaves_no_accepted_connection_open_behind_it,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage addr;
	socklen_t len;
	struct cport_op op;
	char buf[8];
	int lfd = test_tcp_listener(AF_INET, 0, &addr, &len);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, lfd, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_accept(port, lfd, &op, NULL, NULL), 0);
	cr_assert_eq(connect(cfd, (struct sockaddr *)&addr, len), 0);
	/* The accept may have finished, unseen: its fd is the port's to close. */
	cr_assert_eq(cport_destroy(port), 0);
	close(lfd);
	ssize_t n = test_read_some(cfd, buf, sizeof(buf), TEST_WAIT_MS);

	cr_assert(n == 0 || n == -ECONNRESET, "the server side is still open (read gave %zd)", n);
	close(cfd);
}
