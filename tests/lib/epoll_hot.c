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

#define MAX_FDS 1024

/* Which of this process's fds below MAX_FDS are epoll instances. */
static void epoll_fds(bool is_epoll[MAX_FDS])
{
	memset(is_epoll, 0, MAX_FDS * sizeof(bool));
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char path[300], link[64];
		int fd = atoi(e->d_name);
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, link, sizeof(link) - 1);
		if (n < 0 || fd < 0 || fd >= MAX_FDS)
			continue;
		link[n] = '\0';
		is_epoll[fd] = strcmp(link, "anon_inode:[eventpoll]") == 0;
	}
	closedir(d);
}

/* A port, and its epoll fd: the epoll instance that came with it. */
static cport_t *port_new(int *epfd)
{
	bool before[MAX_FDS], after[MAX_FDS];
	epoll_fds(before);
	cport_t *port = test_port_new(NULL);
	epoll_fds(after);
	*epfd = -1;
	for (int fd = 0; fd < MAX_FDS; fd++)
		if (after[fd] && !before[fd]) {
			cr_assert_eq(*epfd, -1, "two epoll instances came with the port");
			*epfd = fd;
		}
	cr_assert_geq(*epfd, 0, "no epoll instance came with the port");
	return port;
}

/* Whether fd is in the interest list of epoll instance epfd: its fdinfo
 * has a "tfd: N" line per fd watched. */
static bool epoll_watches(int epfd, int fd)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", epfd);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	bool found = false;
	int tfd;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "tfd: %d", &tfd) == 1 && tfd == fd;
	fclose(f);
	return found;
}

struct udp_pair {
	int rx, tx;
	struct sockaddr_storage rx_addr;
	socklen_t rx_len;
};

/* rx attached, skipping the port on success, so that a receive that ends
 * at once says so (cport_recv returns 1). */
static cport_t *port_with_udp(struct udp_pair *p, int *epfd)
{
	struct sockaddr_storage tx_addr;
	socklen_t tx_len;
	p->rx = test_udp_socket(AF_INET, &p->rx_addr, &p->rx_len);
	p->tx = test_udp_socket(AF_INET, &tx_addr, &tx_len);
	cport_t *port = port_new(epfd);
	cr_assert_eq(cport_attach(port, p->rx, 1), 0);
	cr_assert_eq(cport_set_completion_modes(port, p->rx, CPORT_SKIP_ON_SUCCESS), 0);
	return port;
}

static void send_to_rx(const struct udp_pair *p, uint32_t v)
{
	cr_assert_eq(sendto(p->tx, &v, sizeof(v), 0, (const struct sockaddr *)&p->rx_addr, p->rx_len),
		     (ssize_t)sizeof(v));
}

/* A receive of one datagram on fd that has to wait (recv, so that it works
 * on any kind of socket). */
static void start_waiting_recv(cport_t *port, int fd, struct cport_op *op, struct iovec *iov)
{
	cport_op_init(op);
	cr_assert_eq(cport_recv(port, fd, op, iov, 1), 0, "the receive did not wait");
}

static void expect_value(cport_t *port, struct cport_op *op, const uint32_t *got, uint32_t want)
{
	struct cport_completion c;
	test_wait_one(port, &c);
	cr_assert_eq(c.op, op);
	cr_assert_eq(c.result, (int64_t)sizeof(*got), "receive gave %lld", (long long)c.result);
	cr_assert_eq(*got, want);
}

/* SPELL receives on fd, each ending at once: before each, the peer's
 * send(v) has made fd readable. */
static void hot_spell(cport_t *port, int fd, void (*send_one)(const void *ctx, uint32_t v), const void *ctx)
{
	for (uint32_t i = 0; i < SPELL; i++) {
		struct cport_op op;
		uint32_t got = ~0u;
		struct iovec iov = {&got, sizeof(got)};
		send_one(ctx, i);
		test_await_readable(fd);
		cport_op_init(&op);
		cr_assert_eq(cport_recv(port, fd, &op, &iov, 1), 1, "receive %u did not end at once", i);
		cr_assert_eq(cport_op_result(&op), (int64_t)sizeof(got));
		cr_assert_eq(got, i);
	}
}

static void udp_send_one(const void *ctx, uint32_t v)
{
	send_to_rx(ctx, v);
}

/* A port whose UDP socket rx has just had its spell: out of the list. */
static cport_t *port_with_hot_udp(struct udp_pair *p, int *epfd)
{
	epoll_only();
	cport_t *port = port_with_udp(p, epfd);
	cr_assert(epoll_watches(*epfd, p->rx), "not watched once attached");
	hot_spell(port, p->rx, udp_send_one, p);
	cr_assert(!epoll_watches(*epfd, p->rx), "still watched after %d receives at once", SPELL);
	return port;
}

/* A receive on rx that has to wait, started with fn at the fault point
 * that comes before rx is added back. */
static void recv_with_fault(cport_t *port, struct udp_pair *p, cport_fault_fn fn, struct cport_op *op,
			    struct iovec *iov)
{
	cport_fault_set(FAULT_WATCH, fn, p);
	start_waiting_recv(port, p->rx, op, iov);
	cport_fault_set(FAULT_WATCH, NULL, NULL);
}

static void udp_done(cport_t *port, struct udp_pair *p)
{
	cport_destroy(port);
	close(p->rx);
	close(p->tx);
}

/* A thread asleep in the port's wait while the socket is added back gets
 * the completion of the receive that brought it back. */
Test(epoll_hot, a_busy_datagram_socket_leaves_the_interest_list_until_a_receive_has_to_wait,
     .timeout = TEST_TIMEOUT)
{
	struct udp_pair p;
	int epfd;
	cport_t *port = port_with_hot_udp(&p, &epfd);
	struct test_waiter w = {.port = port};
	test_waiter_start(&w);

	struct cport_op op;
	uint32_t got = ~0u;
	struct iovec iov = {&got, sizeof(got)};
	start_waiting_recv(port, p.rx, &op, &iov);
	cr_assert(epoll_watches(epfd, p.rx), "a receive waits, and its socket is not watched");
	send_to_rx(&p, 4242);
	test_waiter_join(&w);
	cr_assert_eq(w.rc, 1);
	cr_assert_eq(w.c.op, &op);
	cr_assert_eq(w.c.result, (int64_t)sizeof(got));
	cr_assert_eq(got, 4242);
	udp_done(port, &p);
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
	struct udp_pair p;
	int epfd;
	cport_t *port = port_with_hot_udp(&p, &epfd);

	/* The receive finds nothing; the datagram comes after that try and
	 * before the socket is in the interest list again. */
	struct cport_op op;
	uint32_t got = ~0u;
	struct iovec iov = {&got, sizeof(got)};
	recv_with_fault(port, &p, send_first, &op, &iov);
	expect_value(port, &op, &got, 777);
	udp_done(port, &p);
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
	struct udp_pair p;
	int epfd;
	cport_t *port = port_with_hot_udp(&p, &epfd);

	struct cport_op op;
	struct cport_completion c;
	uint32_t got = ~0u;
	struct iovec iov = {&got, sizeof(got)};
	recv_with_fault(port, &p, add_fails, &op, &iov);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, -ENOMEM);
	cr_assert(!epoll_watches(epfd, p.rx));

	start_waiting_recv(port, p.rx, &op, &iov);
	cr_assert(epoll_watches(epfd, p.rx));
	send_to_rx(&p, 99);
	expect_value(port, &op, &got, 99);

	udp_done(port, &p);
}

static void unix_send_one(const void *ctx, uint32_t v)
{
	cr_assert_eq(send(*(const int *)ctx, &v, sizeof(v), 0), (ssize_t)sizeof(v));
}

/* The same for a send: after a spell of receives at once, a send on a full
 * datagram socket waits for room (the socket added back for writability)
 * and completes once the peer reads. */
Test(epoll_hot, a_send_that_has_to_wait_after_a_spell_completes_once_the_peer_reads, .timeout = TEST_TIMEOUT)
{
	epoll_only();
	int sv[2], epfd;
	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	cport_t *port = port_new(&epfd);
	cr_assert_eq(cport_attach(port, sv[0], 1), 0);
	cr_assert_eq(cport_set_completion_modes(port, sv[0], CPORT_SKIP_ON_SUCCESS), 0);
	hot_spell(port, sv[0], unix_send_one, &sv[1]);
	cr_assert(!epoll_watches(epfd, sv[0]));

	cr_assert(test_fill_send_buffer(sv[0]) > 0);
	struct cport_op op;
	struct cport_completion c;
	struct iovec iov = {"last", 4};
	cport_op_init(&op);
	cr_assert_eq(cport_send(port, sv[0], &op, &iov, 1), 0, "the send did not wait");
	cr_assert(epoll_watches(epfd, sv[0]));
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
