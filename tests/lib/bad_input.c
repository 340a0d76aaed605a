/* bad_input.c - misuse is answered with -errno, never a crash: bad fds, ops
 * in flight, missing buffers or ops, double attach, foreign buffers, bad
 * options. */
#include "cport_test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(bad_input);

Test(bad_input, ops_on_an_fd_that_is_not_attached_fail_with_ebadf, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	char buf[8];
	struct iovec iov = {buf, sizeof(buf)};
	struct sockaddr_storage addr;
	socklen_t len = sizeof(addr);
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(getsockname(a, (struct sockaddr *)&addr, &len), 0);
	cport_op_init(&op);
	for (int i = 0; i < 2; i++) {
		int fd = i == 0 ? a : -1; /* open but not attached; not an fd at all */

		cr_assert_eq(cport_recv(port, fd, &op, &iov, 1), -EBADF, "recv fd %d", fd);
		cr_assert_eq(cport_send(port, fd, &op, &iov, 1), -EBADF, "send fd %d", fd);
		cr_assert_eq(cport_recvfrom(port, fd, &op, &iov, 1, (struct sockaddr *)&addr, &len),
			     -EBADF);
		cr_assert_eq(cport_sendto(port, fd, &op, &iov, 1, (struct sockaddr *)&addr, len),
			     -EBADF);
		cr_assert_eq(cport_recvmsg(port, fd, &op, &msg), -EBADF);
		cr_assert_eq(cport_sendmsg(port, fd, &op, &msg), -EBADF);
		cr_assert_eq(cport_accept(port, fd, &op, NULL, NULL), -EBADF);
		cr_assert_eq(cport_connect(port, fd, &op, (struct sockaddr *)&addr, len), -EBADF);
		cr_assert_eq(cport_recv_pooled(port, fd, &op), -EBADF);
		cr_assert_lt(cport_close(port, fd, &op), 0, "close of a foreign fd %d", fd);
		cr_assert_lt(cport_detach(port, fd, &op), 0, "detach of a foreign fd %d", fd);
	}
	/* None of that queued anything, and a is untouched. */
	test_expect_idle(port, 20);
	cr_assert(test_fd_open(a));

	cport_destroy(port);
	close(a);
	close(b);
}

Test(bad_input, attaching_an_fd_that_is_not_open_fails_with_ebadf, .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	close(fd); /* now a number that is not open */
	cr_assert_eq(cport_attach(port, -1, 1), -EBADF);
	cr_assert_eq(cport_attach(port, fd, 1), -EBADF);

	cport_destroy(port);
}

Test(bad_input, attaching_an_fd_twice_fails_with_eexist, .timeout = TEST_TIMEOUT)
{
	int a, b;

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, 1), 0);
	cr_assert_eq(cport_attach(port, a, 1), -EEXIST);
	cr_assert_eq(cport_attach(port, a, 2), -EEXIST);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(bad_input, starting_an_op_that_is_already_in_flight_fails_with_ebusy,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char buf[8];
	struct iovec iov = {buf, sizeof(buf)};

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_recv(port, a, &op, &iov, 1), 0);
	cr_assert_eq(cport_recv(port, a, &op, &iov, 1), -EBUSY);
	cr_assert_eq(cport_send(port, a, &op, &iov, 1), -EBUSY);
	cr_assert_eq(cport_recv_pooled(port, a, &op), -EBUSY);
	cr_assert_eq(cport_post(port, 1, &op, 0), -EBUSY);
	/* The refused calls did not disturb the op in flight. */
	cr_assert_eq(test_write_all(b, "ok", 2), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, 2);
	test_expect_idle(port, 20);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(bad_input, reposting_an_op_before_its_post_is_dequeued_fails_with_ebusy,
     .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	struct cport_op op;
	struct cport_completion c;

	cport_op_init(&op);
	cr_assert_eq(cport_post(port, 1, &op, 1), 0);
	cr_assert_eq(cport_post(port, 1, &op, 2), -EBUSY);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, 1);
	test_expect_idle(port, 0);

	cport_destroy(port);
}

Test(bad_input, a_null_or_empty_buffer_list_fails_with_einval, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	char buf[8];
	struct iovec iov = {buf, sizeof(buf)};
	struct sockaddr_storage addr;
	socklen_t len = sizeof(addr);

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(getsockname(a, (struct sockaddr *)&addr, &len), 0);
	cr_assert_eq(cport_attach(port, a, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_recv(port, a, &op, NULL, 1), -EINVAL);
	cr_assert_eq(cport_recv(port, a, &op, &iov, 0), -EINVAL);
	cr_assert_eq(cport_recv(port, a, &op, &iov, -1), -EINVAL);
	cr_assert_eq(cport_send(port, a, &op, NULL, 1), -EINVAL);
	cr_assert_eq(cport_send(port, a, &op, &iov, 0), -EINVAL);
	cr_assert_eq(cport_recvfrom(port, a, &op, NULL, 1, (struct sockaddr *)&addr, &len),
		     -EINVAL);
	cr_assert_eq(cport_sendto(port, a, &op, &iov, 0, (struct sockaddr *)&addr, len), -EINVAL);
	cr_assert_eq(cport_recvmsg(port, a, &op, NULL), -EINVAL);
	cr_assert_eq(cport_sendmsg(port, a, &op, NULL), -EINVAL);
	test_expect_idle(port, 20);
	/* The op was never taken: it can start now. */
	cr_assert_eq(cport_recv(port, a, &op, &iov, 1), 0);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(bad_input, a_null_op_fails_with_einval, .timeout = TEST_TIMEOUT)
{
	int a, b;
	char buf[8];
	struct iovec iov = {buf, sizeof(buf)};
	struct sockaddr_storage addr;
	socklen_t len = sizeof(addr);
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(getsockname(a, (struct sockaddr *)&addr, &len), 0);
	cr_assert_eq(cport_attach(port, a, 1), 0);
	cr_assert_eq(cport_recv(port, a, NULL, &iov, 1), -EINVAL);
	cr_assert_eq(cport_send(port, a, NULL, &iov, 1), -EINVAL);
	cr_assert_eq(cport_recvfrom(port, a, NULL, &iov, 1, (struct sockaddr *)&addr, &len), -EINVAL);
	cr_assert_eq(cport_sendto(port, a, NULL, &iov, 1, (struct sockaddr *)&addr, len), -EINVAL);
	cr_assert_eq(cport_recvmsg(port, a, NULL, &msg), -EINVAL);
	cr_assert_eq(cport_sendmsg(port, a, NULL, &msg), -EINVAL);
	cr_assert_eq(cport_accept(port, a, NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(cport_connect(port, a, NULL, (struct sockaddr *)&addr, len), -EINVAL);
	cr_assert_eq(cport_recv_pooled(port, a, NULL), -EINVAL);
	int rc = cport_cancel(port, NULL);

	cr_assert(rc == -EINVAL || rc == -ENOENT, "cancel(NULL) gave %d", rc);
	test_expect_idle(port, 20);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(bad_input, releasing_a_buffer_the_pool_does_not_own_fails_with_einval,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char stack_buf[64];
	void *heap = malloc(16384);

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);
	cport_t *other = test_port_new(NULL);

	cr_assert_not_null(heap);
	cr_assert_eq(cport_buf_release(port, NULL), -EINVAL);
	cr_assert_eq(cport_buf_release(port, stack_buf), -EINVAL);
	cr_assert_eq(cport_buf_release(port, heap), -EINVAL);
	/* A real pool buffer, but of another port; and not its start. */
	cr_assert_eq(cport_attach(other, a, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_recv_pooled(other, a, &op), 0);
	cr_assert_eq(test_write_all(b, "buffer", 6), 0);
	test_wait_one(other, &c);
	cr_assert_eq(c.result, 6);
	cr_assert(c.flags & CPORT_CF_BUFFER);
	cr_assert_eq(cport_buf_release(port, c.buf), -EINVAL);
	cr_assert_eq(cport_buf_release(other, (char *)c.buf + 1), -EINVAL);
	cr_assert_eq(cport_buf_release(other, c.buf), 0);

	cport_destroy(other);
	cport_destroy(port);
	free(heap);
	close(a);
	close(b);
}

Test(bad_input, bad_options_fail_with_einval, .timeout = TEST_TIMEOUT)
{
	struct cport_options o;
	cport_t *port = NULL;

	cport_options_init(&o);
	o.backend = 7;
	cr_assert_eq(cport_create(&o, &port), -EINVAL);
	cr_assert_null(port);
	cport_options_init(&o);
	o.backend = -1;
	cr_assert_eq(cport_create(&o, &port), -EINVAL);
	test_options(&o);
	o.flags = 0x80000000u; /* no such flag */
	cr_assert_eq(cport_create(&o, &port), -EINVAL);
	cr_assert_null(port);
	test_options(&o);
	o.reserved[7] = 1; /* room for later options must be zero */
	cr_assert_eq(cport_create(&o, &port), -EINVAL);
	cr_assert_null(port);
	test_options(&o);
	cr_assert_eq(cport_create(&o, NULL), -EINVAL);
}

Test(bad_input, waiting_for_no_completions_or_into_no_array_fails_with_einval,
     .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	struct cport_completion c;

	cr_assert_eq(cport_wait(port, &c, 0, 0), -EINVAL);
	cr_assert_eq(cport_wait(port, &c, -1, 0), -EINVAL);
	cr_assert_eq(cport_wait(port, NULL, 1, 0), -EINVAL);

	cport_destroy(port);
}

Test(bad_input, cancel_fd_of_an_fd_that_is_not_attached_fails_with_ebadf, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_cancel_fd(port, a), -EBADF);
	cr_assert_eq(cport_cancel_fd(port, -1), -EBADF);
	cr_assert_eq(cport_attach(port, a, 1), 0);
	cr_assert_eq(cport_cancel_fd(port, a), 0); /* nothing in flight: fine */
	cport_op_init(&op);
	cr_assert_eq(cport_detach(port, a, &op), 0);
	test_wait_one(port, &c);
	cr_assert_eq(cport_cancel_fd(port, a), -EBADF);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(bad_input, destroying_a_null_port_fails_with_einval, .timeout = TEST_TIMEOUT)
{
	cr_assert_eq(cport_destroy(NULL), -EINVAL);
}
