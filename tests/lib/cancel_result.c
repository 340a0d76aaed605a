/* cancel_result.c - a cancelled op ends with -ECANCELED or its real
 * result, whatever the kernel called the interruption: never -EINTR. */
#include "cport_test.h"
#include "fault.h"

#include <errno.h>
#include <unistd.h>

TEST_SUITE(cancel_result);

/* Fault hook: the kernel reports the watched op as interrupted (-EINTR)
 * instead of cancelled, as a send pending in a kernel worker can be. */
static int64_t cancelled_reads_as_eintr(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	(void)pt;
	return op == ctx && v == -ECANCELED ? -EINTR : v;
}

Test(cancel_result, a_cancelled_send_the_kernel_calls_interrupted_completes_ecanceled, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	static char big[1 << 16];
	struct iovec iov = {big, sizeof(big)};

	test_tcp_pair(&a, &b);
	test_fill_send_buffer(a);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, a, 1), 0);
	cport_op_init(&op);
	cport_fault_set(FAULT_REPORT, cancelled_reads_as_eintr, &op);
	cr_assert_eq(cport_send(port, a, &op, &iov, 1), 0);
	test_expect_idle(port, 30);
	cr_assert_eq(cport_cancel(port, &op), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert(c.result == -ECANCELED || c.result > 0, "a cancelled send gave %lld", (long long)c.result);
	cport_destroy(port);
	close(a);
	close(b);
}

Test(cancel_result, a_recv_on_a_cancelled_fd_the_kernel_calls_interrupted_completes_ecanceled,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char buf[64];
	struct iovec iov = {buf, sizeof(buf)};

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, a, 1), 0);
	cport_op_init(&op);
	cport_fault_set(FAULT_REPORT, cancelled_reads_as_eintr, &op);
	cr_assert_eq(cport_recv(port, a, &op, &iov, 1), 0);
	test_expect_idle(port, 30);
	cr_assert_eq(cport_cancel_fd(port, a), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, -ECANCELED, "a recv cancelled with its fd gave %lld", (long long)c.result);
	cport_destroy(port);
	close(a);
	close(b);
}
