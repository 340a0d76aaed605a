/* cancel_missed.c - a cancel the kernel misses (io_uring's worker pool can
 * take up a request just as the cancel's signal arrives, then block) is
 * asked again until the op ends: cancel, cancel_fd and close still end a
 * receive that no data will ever complete. */
#include "cport_test.h"
#include "fault.h"

#include <errno.h>
#include <unistd.h>

TEST_SUITE(cancel_missed);

/* Fault hook: the kernel misses the first cancel it is asked for. */
static int64_t miss_the_first(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	int *misses = ctx;
	(void)pt;
	(void)op;
	return (*misses)++ == 0 ? 1 : v;
}

enum how { BY_CANCEL, BY_CANCEL_FD, BY_CLOSE };

static void ends_though_missed(enum how how)
{
	int a, b, misses = 0;
	struct cport_op op, close_op;
	struct cport_completion c;
	char buf[32];
	struct iovec iov = {buf, sizeof(buf)};

	if (test_backend() != CPORT_BACKEND_URING)
		cr_skip_test("io_uring only: epoll cancels in the library, the kernel has nothing to miss");
	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, a, 1), 0);
	cport_op_init(&op);
	cport_op_init(&close_op);
	cr_assert_eq(cport_recv(port, a, &op, &iov, 1), 0);
	test_expect_idle(port, 30);
	cport_fault_set(FAULT_CANCEL_MISSED, miss_the_first, &misses);
	if (how == BY_CANCEL)
		cr_assert_eq(cport_cancel(port, &op), 0);
	else if (how == BY_CANCEL_FD)
		cr_assert_eq(cport_cancel_fd(port, a), 0);
	else
		cr_assert_eq(cport_close(port, a, &close_op), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, -ECANCELED, "the recv gave %lld", (long long)c.result);
	cr_assert_geq(misses, 2, "the cancel was never asked again");
	if (how == BY_CLOSE) {
		test_wait_one(port, &c);
		cr_assert_eq(c.op, &close_op);
	}
	cport_fault_set(FAULT_CANCEL_MISSED, NULL, NULL);
	cport_destroy(port);
	if (how != BY_CLOSE)
		close(a);
	close(b);
}

Test(cancel_missed, a_cancel_the_kernel_misses_is_asked_again_until_the_recv_ends, .timeout = TEST_TIMEOUT)
{
	ends_though_missed(BY_CANCEL);
}

Test(cancel_missed, a_cancel_fd_the_kernel_misses_is_asked_again_until_the_recv_ends, .timeout = TEST_TIMEOUT)
{
	ends_though_missed(BY_CANCEL_FD);
}

Test(cancel_missed, a_close_whose_cancel_the_kernel_misses_still_completes, .timeout = TEST_TIMEOUT)
{
	ends_though_missed(BY_CLOSE);
}
