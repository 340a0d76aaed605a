/* dgram_send.c - sends on sockets that are not TCP. The kernel signals room
 * in such a socket's send buffer again after every datagram (for UDP on
 * loopback, within the send itself), so a send that goes out at once must
 * not wake a thread asleep on the port; and a send that has to wait for
 * room must still complete once the peer makes some. */
#include "cport_test.h"
#include "fault.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TEST_SUITE(dgram_send);

#define ROUNDS 200
#define MARK_KEY 0x77u

/* One datagram from fd, within TEST_WAIT_MS: its length. */
static ssize_t read_datagram(int fd, void *buf, size_t len)
{
	ssize_t n = test_read_some(fd, buf, len, TEST_WAIT_MS);
	cr_assert_geq(n, 0, "no datagram: %s", strerror((int)-n));
	return n;
}

Test(dgram_send, replies_that_go_out_at_once_do_not_wake_a_thread_asleep_on_the_port,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage rx_addr, tx_addr;
	socklen_t rx_len, tx_len;
	int rx = test_udp_socket(AF_INET, &rx_addr, &rx_len);
	int tx = test_udp_socket(AF_INET, &tx_addr, &tx_len);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, rx, 1), 0);
	cr_assert_eq(cport_set_completion_modes(port, rx, CPORT_SKIP_ON_SUCCESS), 0);
	struct test_waiter w = {.port = port};
	test_waiter_start(&w);

	unsigned long long before = test_thread_switches(w.tid);
	for (uint32_t i = 0; i < ROUNDS; i++) {
		struct cport_op op;
		struct iovec iov = {&i, sizeof(i)};
		uint32_t got;
		cport_op_init(&op);
		cr_assert_eq(cport_sendto(port, rx, &op, &iov, 1, (struct sockaddr *)&tx_addr, tx_len), 1,
			     "send %u did not go out at once", i);
		cr_assert_eq(read_datagram(tx, &got, sizeof(got)), (ssize_t)sizeof(got));
		cr_assert_eq(got, i);
		/* Time for a thread woken by the send to run and sleep again. */
		usleep(300);
	}
	test_waiter_slept_through(&w, port, before, ROUNDS, "sends", MARK_KEY);
	cport_destroy(port);
	close(rx);
	close(tx);
}

/* A datagram socket pair whose end a is attached, with b's queue full: a's
 * next send has to wait until b reads. */
static cport_t *port_with_full_dgram_pair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	cr_assert(test_fill_send_buffer(sv[0]) > 0);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, sv[0], 1), 0);
	return port;
}

/* Read all that b holds now: the count of datagrams; *last set if "last"
 * was among them (an io_uring send goes as soon as there is room). */
static int drain(int b, bool *last)
{
	char buf[4096];
	int n = 0;
	ssize_t r;
	while ((r = recv(b, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
		cr_assert(!*last, "a datagram came after the waiting send's");
		*last = r == 4 && !memcmp(buf, "last", 4);
		n++;
	}
	cr_assert(errno == EAGAIN || errno == EWOULDBLOCK, "draining: %s", strerror(errno));
	return n;
}

/* a's waiting send of "last": b makes room, the send completes, and its
 * datagram comes after all that was queued before it. */
static void room_made_completes(cport_t *port, int sv[2], struct cport_op *op)
{
	struct cport_completion c;
	char buf[8];
	bool last = false;

	test_expect_idle(port, 50);
	cr_assert_gt(drain(sv[1], &last), 1);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, op);
	cr_assert_eq(c.result, 4);
	if (!last) {
		cr_assert_eq(read_datagram(sv[1], buf, sizeof(buf)), 4);
		cr_assert_eq(memcmp(buf, "last", 4), 0);
	}
}

Test(dgram_send, a_send_that_waits_for_room_completes_once_the_peer_reads, .timeout = TEST_TIMEOUT)
{
	int sv[2];
	struct cport_op op;
	struct iovec iov = {"last", 4};
	cport_t *port = port_with_full_dgram_pair(sv);

	cport_op_init(&op);
	cr_assert_eq(cport_send(port, sv[0], &op, &iov, 1), 0);
	room_made_completes(port, sv, &op);
	/* And again, now that it has waited once. */
	cr_assert(test_fill_send_buffer(sv[0]) > 0);
	cr_assert_eq(cport_send(port, sv[0], &op, &iov, 1), 0);
	room_made_completes(port, sv, &op);
	cport_destroy(port);
	close(sv[0]);
	close(sv[1]);
}

static int64_t watch_fails(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	(void)pt;
	(void)op;
	(void)v;
	(void)ctx;
	return -ENOMEM;
}

Test(dgram_send, a_send_that_cannot_be_watched_for_room_ends_with_the_error_and_the_next_one_works,
     .timeout = TEST_TIMEOUT)
{
	int sv[2];
	struct cport_op op;
	struct cport_completion c;
	struct iovec iov = {"last", 4};

	if (test_backend() != CPORT_BACKEND_EPOLL)
		cr_skip_test("epoll only: io_uring polls each waiting send itself");
	cport_t *port = port_with_full_dgram_pair(sv);
	cport_op_init(&op);
	cport_fault_set(FAULT_WATCH, watch_fails, NULL);
	int r = cport_send(port, sv[0], &op, &iov, 1);
	cport_fault_set(FAULT_WATCH, NULL, NULL);
	cr_assert_eq(r, 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, -ENOMEM);

	cr_assert_eq(cport_send(port, sv[0], &op, &iov, 1), 0);
	room_made_completes(port, sv, &op);
	cport_destroy(port);
	close(sv[0]);
	close(sv[1]);
}
