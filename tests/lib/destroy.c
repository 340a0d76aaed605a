/* destroy.c - destroying a port wakes its waiters with -ESHUTDOWN, drops ops
 * in flight, closes connections it accepted that nobody dequeued, and leaves
 * fds it did not close open. */
#include "cport_test.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
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

/* A client connected to lfd's address, its connection waiting in the
 * listener's accept queue. */
static int pending_client(int lfd, const struct sockaddr_storage *addr, socklen_t len)
{
	int cfd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(cfd, 0, "socket: %s", strerror(errno));
	cr_assert_eq(connect(cfd, (const struct sockaddr *)addr, len), 0, "connect: %s",
		     strerror(errno));
	test_await_readable(lfd);
	return cfd;
}

/* Wait (bounded) until lfd's accept queue is empty: every accept started
 * on it has taken its connection. */
static void await_accept_queue_empty(int lfd)
{
	struct pollfd pfd = {.fd = lfd, .events = POLLIN};
	int64_t deadline = test_now_ms() + TEST_WAIT_MS;
	int rc;

	while ((rc = poll(&pfd, 1, 0)) != 0 && test_now_ms() < deadline)
		sched_yield();
	cr_assert_eq(rc, 0, "connections still wait in the accept queue after %d ms", TEST_WAIT_MS);
}

/* The local port of fd (peer: the remote one). */
static unsigned sock_port(int fd, bool peer)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);
	int rc = peer ? getpeername(fd, (struct sockaddr *)&a, &len)
		      : getsockname(fd, (struct sockaddr *)&a, &len);

	cr_assert_eq(rc, 0, "getsockname/getpeername: %s", strerror(errno));
	return test_addr_port(&a);
}

/* Assert that the server side of client's connection was closed. */
static void assert_server_side_closed(int client)
{
	char buf[8];
	ssize_t n = test_read_some(client, buf, sizeof(buf), TEST_WAIT_MS);

	cr_assert(n == 0 || n == -ECONNRESET,
		  "the accepted connection was left open (the client's read gave %zd)", n);
}

Test(destroy, destroying_a_port_closes_an_accepted_connection_left_undequeued_in_its_queue,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage addr;
	socklen_t len;
	struct cport_op op[2];
	struct cport_completion c;
	char buf[8];
	int lfd = test_tcp_listener(AF_INET, 0, &addr, &len);
	int client[2];

	/* Both connections wait in the accept queue, so each accept completes
	 * as soon as it is started, on either backend. */
	for (int i = 0; i < 2; i++)
		client[i] = pending_client(lfd, &addr, len);
	int fds_before = test_fd_count();
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, lfd, 1), 0);
	for (int i = 0; i < 2; i++) {
		cport_op_init(&op[i]);
		cr_assert_eq(cport_accept(port, lfd, &op[i], NULL, NULL), 0);
	}
	await_accept_queue_empty(lfd);
	/* One wait for one completion: it collects both from the kernel and
	 * hands out one; the other stays queued in the port. */
	cr_assert_eq(cport_wait(port, &c, 1, TEST_WAIT_MS), 1);
	cr_assert_eq(c.kind, CPORT_OP_ACCEPT);
	cr_assert_geq(c.result, 0, "accept gave %lld", (long long)c.result);
	int seen = (int)c.result;
	int unseen_client = sock_port(seen, true) == sock_port(client[0], false) ? 1 : 0;

	cr_assert_eq(sock_port(seen, true), sock_port(client[1 - unseen_client], false));
	cr_assert_eq(cport_destroy(port), 0);
	/* The connection the program dequeued is the program's: still open. */
	cr_assert_eq(test_read_some(client[1 - unseen_client], buf, sizeof(buf), 20), -ETIMEDOUT,
		     "destroy closed a connection whose accept was dequeued");
	close(seen);
	cr_assert_eq(test_fd_count(), fds_before, "%d fds open before the port, %d after",
		     fds_before, test_fd_count());
	assert_server_side_closed(client[unseen_client]);

	close(client[0]);
	close(client[1]);
	close(lfd);
}

Test(destroy, destroying_a_port_closes_a_connection_whose_accept_completed_unseen,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage addr;
	socklen_t len;
	struct cport_op op;
	int lfd = test_tcp_listener(AF_INET, 0, &addr, &len);
	int client = pending_client(lfd, &addr, len);
	int fds_before = test_fd_count();
	cport_t *port = test_port_new(NULL);

	/* No wait at all: the accept's result is in the port's queue (epoll)
	 * or still in the kernel's completion ring (io_uring). */
	cr_assert_eq(cport_attach(port, lfd, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_accept(port, lfd, &op, NULL, NULL), 0);
	await_accept_queue_empty(lfd);
	cr_assert_eq(cport_destroy(port), 0);
	cr_assert_eq(test_fd_count(), fds_before, "%d fds open before the port, %d after",
		     fds_before, test_fd_count());
	assert_server_side_closed(client);

	close(client);
	close(lfd);
}
