/* epoll_hot.c - a datagram socket whose ops keep ending at once leaves
 * epoll's interest list (while it is in, every datagram it sends runs
 * epoll's wake-up callback as the datagram's buffer is freed), and comes
 * back as soon as an op has to wait: that op completes, also when the
 * datagram comes while the socket is being added back. epoll only. */
#include "cport_test.h"
#include "fault.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TEST_SUITE(epoll_hot);

#define SPELL 100 /* ops at once in a row: more than the backend waits for */

static void epoll_only(void)
{
	if (test_backend() != CPORT_BACKEND_EPOLL)
		cr_skip_test("epoll only: io_uring has no interest list");
}

/* Whether fd is in the interest list of an epoll instance of this process
 * (the port's), by /proc/self/fdinfo: one "tfd: N" line per fd watched. */
static bool epoll_watches(int fd)
{
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d)) != NULL) {
		char path[300], link[64], line[256];
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, "anon_inode:[eventpoll]") != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", e->d_name);
		FILE *f = fopen(path, "r");
		cr_assert_not_null(f, "%s: %s", path, strerror(errno));
		int tfd;
		while (!found && fgets(line, sizeof(line), f))
			found = sscanf(line, "tfd: %d", &tfd) == 1 && tfd == fd;
		fclose(f);
	}
	closedir(d);
	return found;
}

struct udp_pair {
	int rx, tx;
	struct sockaddr_storage rx_addr;
	socklen_t rx_len;
};

static cport_t *port_with_udp(struct udp_pair *p)
{
	struct sockaddr_storage tx_addr;
	socklen_t tx_len;
	p->rx = test_udp_socket(AF_INET, &p->rx_addr, &p->rx_len);
	p->tx = test_udp_socket(AF_INET, &tx_addr, &tx_len);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, p->rx, 1), 0);
	return port;
}

static void send_to_rx(const struct udp_pair *p, uint32_t v)
{
	cr_assert_eq(sendto(p->tx, &v, sizeof(v), 0, (const struct sockaddr *)&p->rx_addr, p->rx_len),
		     (ssize_t)sizeof(v));
}

/* A receive of one datagram on fd (recv, so that it works on any kind). */
static void start_recv(cport_t *port, int fd, struct cport_op *op, struct iovec *iov)
{
	cport_op_init(op);
	cr_assert_eq(cport_recv(port, fd, op, iov, 1), 0);
}

static void expect_value(cport_t *port, struct cport_op *op, const uint32_t *got, uint32_t want)
{
	struct cport_completion c;
	test_wait_one(port, &c);
	cr_assert_eq(c.op, op);
	cr_assert_eq(c.result, (int64_t)sizeof(*got), "receive gave %lld", (long long)c.result);
	cr_assert_eq(*got, want);
}

/* SPELL datagrams, each there before its receive starts: every receive ends
 * at once (the backend's answer comes with the start). */
static void hot_spell(cport_t *port, const struct udp_pair *p)
{
	for (uint32_t i = 0; i < SPELL; i++) {
		struct cport_op op;
		uint32_t got = ~0u;
		struct iovec iov = {&got, sizeof(got)};
		send_to_rx(p, i);
		start_recv(port, p->rx, &op, &iov);
		expect_value(port, &op, &got, i);
	}
}

Test(epoll_hot, a_busy_datagram_socket_leaves_the_interest_list_until_a_receive_has_to_wait,
     .timeout = TEST_TIMEOUT)
{
	epoll_only();
	struct udp_pair p;
	cport_t *port = port_with_udp(&p);
	cr_assert(epoll_watches(p.rx), "not watched once attached");
	hot_spell(port, &p);
	cr_assert(!epoll_watches(p.rx), "still watched after %d receives at once", SPELL);

	struct cport_op op;
	uint32_t got = ~0u;
	struct iovec iov = {&got, sizeof(got)};
	start_recv(port, p.rx, &op, &iov);
	cr_assert(epoll_watches(p.rx), "a receive waits, and its socket is not watched");
	test_expect_idle(port, 50);
	send_to_rx(&p, 4242);
	expect_value(port, &op, &got, 4242);

	cport_destroy(port);
	close(p.rx);
	close(p.tx);
}

static int64_t send_first(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	(void)pt;
	(void)op;
	send_to_rx(ctx, 777);
	return v;
}

Test(epoll_hot, a_datagram_that_comes_while_the_socket_is_added_back_is_not_missed, .timeout = TEST_TIMEOUT)
{
	epoll_only();
	struct udp_pair p;
	cport_t *port = port_with_udp(&p);
	hot_spell(port, &p);

	/* The receive finds nothing; the datagram comes after that try and
	 * before the socket is in the interest list again. */
	struct cport_op op;
	uint32_t got = ~0u;
	struct iovec iov = {&got, sizeof(got)};
	cport_fault_set(FAULT_WATCH, send_first, &p);
	start_recv(port, p.rx, &op, &iov);
	cport_fault_set(FAULT_WATCH, NULL, NULL);
	expect_value(port, &op, &got, 777);

	cport_destroy(port);
	close(p.rx);
	close(p.tx);
}

static int64_t add_fails(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	(void)pt;
	(void)op;
	(void)v;
	(void)ctx;
	return -ENOMEM;
}

Test(epoll_hot, a_receive_whose_socket_cannot_be_added_back_ends_with_the_error_and_the_next_one_works,
     .timeout = TEST_TIMEOUT)
{
	epoll_only();
	struct udp_pair p;
	cport_t *port = port_with_udp(&p);
	hot_spell(port, &p);

	struct cport_op op;
	struct cport_completion c;
	uint32_t got = ~0u;
	struct iovec iov = {&got, sizeof(got)};
	cport_fault_set(FAULT_WATCH, add_fails, NULL);
	start_recv(port, p.rx, &op, &iov);
	cport_fault_set(FAULT_WATCH, NULL, NULL);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, -ENOMEM);
	cr_assert(!epoll_watches(p.rx));

	start_recv(port, p.rx, &op, &iov);
	cr_assert(epoll_watches(p.rx));
	send_to_rx(&p, 99);
	expect_value(port, &op, &got, 99);

	cport_destroy(port);
	close(p.rx);
	close(p.tx);
}

/* The same for a send: after a spell of receives at once, a send on a full
 * datagram socket waits for room (the socket added back for writability)
 * and completes once the peer reads. */
Test(epoll_hot, a_send_that_has_to_wait_after_a_spell_completes_once_the_peer_reads, .timeout = TEST_TIMEOUT)
{
	epoll_only();
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, sv[0], 1), 0);
	for (uint32_t i = 0; i < SPELL; i++) {
		struct cport_op op;
		uint32_t got = ~0u;
		struct iovec iov = {&got, sizeof(got)};
		cr_assert_eq(send(sv[1], &i, sizeof(i), 0), (ssize_t)sizeof(i));
		start_recv(port, sv[0], &op, &iov);
		expect_value(port, &op, &got, i);
	}
	cr_assert(!epoll_watches(sv[0]));

	cr_assert(test_fill_send_buffer(sv[0]) > 0);
	struct cport_op op;
	struct cport_completion c;
	struct iovec iov = {"last", 4};
	cport_op_init(&op);
	cr_assert_eq(cport_send(port, sv[0], &op, &iov, 1), 0);
	cr_assert(epoll_watches(sv[0]));
	test_expect_idle(port, 50);
	char buf[4096];
	int drained = 0;
	while (recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		drained++;
	cr_assert_gt(drained, 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, 4);

	cport_destroy(port);
	close(sv[0]);
	close(sv[1]);
}
