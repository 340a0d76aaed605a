/* partial_send.c - sends larger than the socket buffers to a slow reader:
 * every completion reports exactly what was sent, the caller sends the rest,
 * and the peer gets every byte in order. */
#include "cport_test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(partial_send);

#define PAYLOAD (4u << 20)
#define SEED 0x5e9du
#define SMALL_BUF 4096
#define READ_CHUNK 1500
/* The reader naps this long every READ_NAP_EVERY reads: it is slow. */
#define READ_NAP_US 500
#define READ_NAP_EVERY 16

struct slow_reader {
	int fd;
	size_t got;
	ssize_t mismatch_at; /* stream offset of the first wrong byte, or -1 */
	int err;             /* -errno from a failed read, or 0 */
};

static void *slow_reader_main(void *arg)
{
	struct slow_reader *r = arg;
	char buf[READ_CHUNK];

	for (unsigned reads = 1;; reads++) {
		ssize_t n = test_read_some(r->fd, buf, sizeof(buf), TEST_WAIT_MS);

		if (n < 0) {
			r->err = (int)n;
			return NULL;
		}
		if (n == 0)
			return NULL;
		ssize_t bad = test_pattern_mismatch(buf, (size_t)n, r->got, SEED);

		if (bad >= 0 && r->mismatch_at < 0)
			r->mismatch_at = (ssize_t)r->got + bad;
		r->got += (size_t)n;
		if (reads % READ_NAP_EVERY == 0)
			usleep(READ_NAP_US);
	}
}

/* Split [base, base+len) into up to n iovecs of uneven sizes. */
static int split_iov(struct iovec *iov, int n, char *base, size_t len)
{
	int used = 0;

	for (int i = 0; i < n && len > 0; i++) {
		size_t part = i == n - 1 ? len : len / (size_t)(n - i) + (size_t)i * 7;

		if (part > len)
			part = len;
		iov[used++] = (struct iovec){base, part};
		base += part;
		len -= part;
	}
	return used;
}

static void send_all_through_small_buffers(int iovs)
{
	int a, b;
	int sndbuf = SMALL_BUF;
	char *payload = malloc(PAYLOAD);
	struct slow_reader r = {.mismatch_at = -1};
	pthread_t t;
	struct cport_op op;
	struct cport_completion c;
	size_t sent = 0;
	unsigned sends = 0, partial = 0;

	cr_assert_not_null(payload);
	test_pattern_fill(payload, PAYLOAD, 0, SEED);
	test_tcp_pair_family(AF_INET, SMALL_BUF, &a, &b);
	cr_assert_eq(setsockopt(a, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, 1), 0);
	r.fd = b;
	test_thread_start(&t, slow_reader_main, &r);
	cport_op_init(&op);
	while (sent < PAYLOAD) {
		struct iovec iov[4];
		size_t asked = PAYLOAD - sent;
		int n = split_iov(iov, iovs, payload + sent, asked);

		cr_assert_eq(cport_send(port, a, &op, iov, n), 0);
		test_wait_one(port, &c);
		cr_assert_eq(c.op, &op);
		cr_assert_gt(c.result, 0, "send %u at offset %zu gave %lld", sends, sent,
			     (long long)c.result);
		cr_assert_leq(c.result, (int64_t)asked, "send reported more than asked");
		if ((size_t)c.result < asked)
			partial++;
		sent += (size_t)c.result;
		sends++;
	}
	cr_assert_eq(shutdown(a, SHUT_WR), 0);
	test_thread_join(t);
	cr_log_info("%s: %u sends, %u partial", test_backend_label(), sends, partial);
	cr_assert_eq(r.err, 0, "reader: %s", strerror(-r.err));
	cr_assert_eq(r.mismatch_at, -1, "peer saw a wrong byte at offset %zd", r.mismatch_at);
	cr_assert_eq(r.got, PAYLOAD, "peer got %zu of %u bytes", r.got, PAYLOAD);

	cport_destroy(port);
	close(a);
	close(b);
	free(payload);
}

Test(partial_send, a_multi_mib_send_of_one_iovec_reports_exact_counts_and_the_peer_gets_every_byte,
     .timeout = TEST_TIMEOUT)
{
	send_all_through_small_buffers(1);
}

Test(partial_send,
     a_multi_mib_send_of_three_iovecs_reports_exact_counts_and_the_peer_gets_every_byte,
     .timeout = TEST_TIMEOUT)
{
	send_all_through_small_buffers(3);
}
