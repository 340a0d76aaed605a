/* recv_send.c - stream receive and send as completions: iovec arrays, exact
 * byte counts, end of stream, errors from a reset peer. */
#include "cport_test.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(recv_send);

/* Keys use all 64 bits. */
#define KEY_A (((uintptr_t)1 << 63) | 0xA11CEu)
#define KEY_B (UINTPTR_MAX - 0xB0Bu)

/* Per-I/O data the op is embedded in, recovered with cport_container_of. */
struct io_ctx {
	int tag;
	struct cport_op op;
};

Test(recv_send, a_send_of_several_iovecs_arrives_whole_in_a_recv_of_several_iovecs,
     .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	int a, b;
	struct cport_completion c;
	char out[300], in[300];
	struct io_ctx sio = {.tag = 's'}, rio = {.tag = 'r'};

	test_tcp_pair(&a, &b);
	cr_assert_eq(cport_attach(port, a, KEY_A), 0);
	cr_assert_eq(cport_attach(port, b, KEY_B), 0);
	test_pattern_fill(out, sizeof(out), 0, 1);
	struct iovec siov[3] = {{out, 10}, {out + 10, 1}, {out + 11, 289}};

	cport_op_init(&sio.op);
	cr_assert_eq(cport_send(port, a, &sio.op, siov, 3), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &sio.op);
	cr_assert_eq(cport_container_of(c.op, struct io_ctx, op)->tag, 's');
	cr_assert_eq(c.key, KEY_A);
	cr_assert_eq(c.kind, CPORT_OP_SEND);
	cr_assert_eq(cport_op_kind(c.op), CPORT_OP_SEND);
	cr_assert_eq(c.result, 300, "send result %lld", (long long)c.result);
	cr_assert_eq(c.flags & CPORT_CF_BUFFER, 0);

	memset(in, 0, sizeof(in));
	struct iovec riov[4] = {{in, 7}, {in + 7, 93}, {in + 100, 150}, {in + 250, 50}};

	cport_op_init(&rio.op);
	cr_assert_eq(cport_recv(port, b, &rio.op, riov, 4), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &rio.op);
	cr_assert_eq(cport_container_of(c.op, struct io_ctx, op)->tag, 'r');
	cr_assert_eq(c.key, KEY_B);
	cr_assert_eq(c.kind, CPORT_OP_RECV);
	cr_assert_eq(c.result, 300, "recv result %lld", (long long)c.result);
	cr_assert_eq(test_pattern_mismatch(in, sizeof(in), 0, 1), -1);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(recv_send, a_recv_reports_only_the_bytes_received_and_leaves_the_rest_of_its_iovecs_alone,
     .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	int a, b;
	struct cport_completion c;
	struct cport_op op;
	char out[40], in[100];

	test_tcp_pair(&a, &b);
	cr_assert_eq(cport_attach(port, a, KEY_A), 0);
	memset(in, 'x', sizeof(in));
	struct iovec riov[3] = {{in, 30}, {in + 30, 30}, {in + 60, 40}};

	cport_op_init(&op);
	cr_assert_eq(cport_recv(port, a, &op, riov, 3), 0);
	test_pattern_fill(out, sizeof(out), 0, 2);
	cr_assert_eq(test_write_all(b, out, sizeof(out)), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, 40, "recv result %lld", (long long)c.result);
	cr_assert_eq(test_pattern_mismatch(in, 40, 0, 2), -1);
	for (size_t i = 40; i < sizeof(in); i++)
		cr_assert_eq(in[i], 'x', "byte %zu past the data was written", i);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(recv_send, a_recv_at_end_of_stream_completes_with_zero, .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	int a, b;
	struct cport_completion c;
	struct cport_op op;
	char in[64];
	struct iovec iov = {in, sizeof(in)};

	test_tcp_pair(&a, &b);
	cr_assert_eq(cport_attach(port, a, KEY_A), 0);
	cport_op_init(&op);
	/* In flight when the peer shuts down... */
	cr_assert_eq(cport_recv(port, a, &op, &iov, 1), 0);
	cr_assert_eq(shutdown(b, SHUT_WR), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, 0, "recv at EOF gave %lld", (long long)c.result);
	/* ...and started after it. */
	cr_assert_eq(cport_recv(port, a, &op, &iov, 1), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, 0, "recv after EOF gave %lld", (long long)c.result);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(recv_send, one_op_can_be_reused_for_a_thousand_round_trips_once_each_completion_is_dequeued,
     .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	int a, b;
	struct cport_completion c;
	struct cport_op sop, rop;
	uint32_t out, in;
	struct iovec siov = {&out, sizeof(out)}, riov = {&in, sizeof(in)};

	test_tcp_pair(&a, &b);
	cr_assert_eq(cport_attach(port, a, KEY_A), 0);
	cr_assert_eq(cport_attach(port, b, KEY_B), 0);
	cport_op_init(&sop);
	cport_op_init(&rop);
	for (uint32_t i = 0; i < 1000; i++) {
		out = i;
		in = ~i;
		cr_assert_eq(cport_recv(port, b, &rop, &riov, 1), 0, "round %u", i);
		cr_assert_eq(cport_send(port, a, &sop, &siov, 1), 0, "round %u", i);
		bool sent = false, got = false;

		while (!sent || !got) {
			test_wait_one(port, &c);
			if (c.op == &sop) {
				cr_assert_not(sent, "send of round %u completed twice", i);
				cr_assert_eq(c.result, 4);
				sent = true;
			} else {
				cr_assert_eq(c.op, &rop);
				cr_assert_not(got, "recv of round %u completed twice", i);
				cr_assert_eq(c.result, 4, "round %u recv gave %lld", i,
					     (long long)c.result);
				got = true;
			}
		}
		cr_assert_eq(in, i);
	}

	cport_destroy(port);
	close(a);
	close(b);
}

Test(recv_send, a_send_to_a_reset_peer_completes_with_an_error_instead_of_raising_sigpipe,
     .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	int a, b;
	struct cport_completion c;
	struct cport_op op;
	char out[1000];
	struct iovec iov = {out, sizeof(out)};
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	test_tcp_pair(&a, &b);
	cr_assert_eq(cport_attach(port, a, KEY_A), 0);
	cr_assert_eq(setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(b); /* sends a reset */
	memset(out, 'z', sizeof(out));
	cport_op_init(&op);
	/* The first send may see ECONNRESET, later ones EPIPE (the SIGPIPE case). */
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(cport_send(port, a, &op, &iov, 1), 0);
		test_wait_one(port, &c);
		cr_assert(c.result == -EPIPE || c.result == -ECONNRESET,
			  "send %d to a reset peer gave %lld", i, (long long)c.result);
	}

	cport_destroy(port);
	close(a);
}

Test(recv_send, a_round_trip_over_ipv6_loopback_works, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_completion c;
	struct cport_op sop, rop;
	char out[500], in[500];
	struct iovec siov = {out, sizeof(out)};

	test_tcp_pair_family(AF_INET6, 0, &a, &b); /* may skip: before the port exists */
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, KEY_A), 0);
	cr_assert_eq(cport_attach(port, b, KEY_B), 0);
	test_pattern_fill(out, sizeof(out), 0, 6);
	cport_op_init(&sop);
	cport_op_init(&rop);
	cr_assert_eq(cport_send(port, a, &sop, &siov, 1), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, (int64_t)sizeof(out));
	size_t have = 0;

	while (have < sizeof(in)) {
		struct iovec riov = {in + have, sizeof(in) - have};

		cr_assert_eq(cport_recv(port, b, &rop, &riov, 1), 0);
		test_wait_one(port, &c);
		cr_assert_gt(c.result, 0, "recv gave %lld", (long long)c.result);
		have += (size_t)c.result;
	}
	cr_assert_eq(test_pattern_mismatch(in, sizeof(in), 0, 6), -1);

	cport_destroy(port);
	close(a);
	close(b);
}
