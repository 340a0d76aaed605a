/* pooled_recv.c - receives into buffers the port takes from its pool only
 * when data is ready: CPORT_CF_BUFFER, release, and exhaustion as
 * backpressure rather than an error. */
#include "cport_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(pooled_recv);

#define POOL_BUF_SIZE 4096
#define TINY_POOL 2
#define CONNS 8
#define PER_CONN (96u * 1024)
#define WRITE_CHUNK 4096

static cport_t *pool_port(unsigned buffers, unsigned size)
{
	struct cport_options o;

	test_options(&o);
	o.pool_buffers = buffers;
	o.pool_buffer_size = size;
	return test_port_new(&o);
}

/* Give back a completion's buffer if it carries one. */
static void release_if_buffer(cport_t *port, const struct cport_completion *c)
{
	if (c->flags & CPORT_CF_BUFFER)
		cr_assert_eq(cport_buf_release(port, c->buf), 0);
}

Test(pooled_recv, data_arrives_in_a_pool_buffer_flagged_cport_cf_buffer_and_can_be_released,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char out[1000];

	test_tcp_pair(&a, &b);
	cport_t *port = pool_port(4, POOL_BUF_SIZE);

	cr_assert_eq(cport_buf_size(port), POOL_BUF_SIZE);
	cr_assert_eq(cport_attach(port, a, 7), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_recv_pooled(port, a, &op), 0);
	test_pattern_fill(out, sizeof(out), 0, 11);
	cr_assert_eq(test_write_all(b, out, sizeof(out)), 0);
	size_t have = 0;

	while (have < sizeof(out)) {
		test_wait_one(port, &c);
		cr_assert_eq(c.op, &op);
		cr_assert_eq(c.key, 7);
		cr_assert_eq(c.kind, CPORT_OP_RECV_POOLED);
		cr_assert_gt(c.result, 0, "pooled recv gave %lld", (long long)c.result);
		cr_assert(c.flags & CPORT_CF_BUFFER, "no CPORT_CF_BUFFER with data");
		cr_assert_not_null(c.buf);
		cr_assert_leq(c.result, POOL_BUF_SIZE);
		cr_assert_eq(test_pattern_mismatch(c.buf, (size_t)c.result, have, 11), -1);
		have += (size_t)c.result;
		cr_assert_eq(cport_buf_release(port, c.buf), 0);
		if (have < sizeof(out))
			cr_assert_eq(cport_recv_pooled(port, a, &op), 0);
	}

	cport_destroy(port);
	close(a);
	close(b);
}

Test(pooled_recv, the_default_pool_buffer_size_is_16384, .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_buf_size(port), 16384);
	cport_destroy(port);
}

Test(pooled_recv, a_pooled_recv_at_end_of_stream_completes_with_zero, .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;

	test_tcp_pair(&a, &b);
	cport_t *port = pool_port(2, POOL_BUF_SIZE);

	cr_assert_eq(cport_attach(port, a, 7), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_recv_pooled(port, a, &op), 0);
	cr_assert_eq(shutdown(b, SHUT_WR), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, 0, "pooled recv at EOF gave %lld", (long long)c.result);
	release_if_buffer(port, &c);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(pooled_recv, an_idle_connection_holds_no_pool_buffer, .timeout = TEST_TIMEOUT)
{
	enum { N = 4 };
	int a[N], b[N];
	struct cport_op ops[N];
	struct cport_completion c;

	for (int i = 0; i < N; i++)
		test_tcp_pair(&a[i], &b[i]);
	cport_t *port = pool_port(TINY_POOL, POOL_BUF_SIZE);

	/* More idle pooled receives than buffers... */
	for (int i = 0; i < N; i++) {
		cr_assert_eq(cport_attach(port, a[i], (uintptr_t)i), 0);
		cport_op_init(&ops[i]);
		cr_assert_eq(cport_recv_pooled(port, a[i], &ops[i]), 0);
	}
	test_expect_idle(port, 20);
	/* ...yet the last two to be started, once data comes, get buffers. */
	void *held[2];

	for (int k = 0; k < 2; k++) {
		int i = N - 1 - k;

		cr_assert_eq(test_write_all(b[i], "ping", 4), 0);
		test_wait_one(port, &c);
		cr_assert_eq(c.op, &ops[i], "completion for the wrong connection");
		cr_assert_eq(c.result, 4, "pooled recv gave %lld", (long long)c.result);
		cr_assert(c.flags & CPORT_CF_BUFFER);
		cr_assert_eq(memcmp(c.buf, "ping", 4), 0);
		held[k] = c.buf;
	}
	for (int k = 0; k < 2; k++)
		cr_assert_eq(cport_buf_release(port, held[k]), 0);

	cport_destroy(port);
	for (int i = 0; i < N; i++) {
		close(a[i]);
		close(b[i]);
	}
}

Test(pooled_recv, end_of_stream_on_every_connection_waiting_for_a_buffer_arrives_once_one_is_free,
     .timeout = TEST_TIMEOUT)
{
	enum { N = 4 };
	int a[N], b[N];
	struct cport_op ops[N];
	struct cport_completion c;

	for (int i = 0; i < N; i++)
		test_tcp_pair(&a[i], &b[i]);
	cport_t *port = pool_port(1, POOL_BUF_SIZE);

	for (int i = 0; i < N; i++) {
		cr_assert_eq(cport_attach(port, a[i], (uintptr_t)i), 0);
		cport_op_init(&ops[i]);
	}
	/* Connection 0 takes the only buffer, and keeps it for now. */
	cr_assert_eq(cport_recv_pooled(port, a[0], &ops[0]), 0);
	cr_assert_eq(test_write_all(b[0], "hold", 4), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, 4);
	void *held = c.buf;

	/* The others reach end of stream while no buffer is free. */
	for (int i = 1; i < N; i++) {
		cr_assert_eq(cport_recv_pooled(port, a[i], &ops[i]), 0);
		cr_assert_eq(shutdown(b[i], SHUT_WR), 0);
	}
	test_expect_idle(port, 50);
	cr_assert_eq(cport_buf_release(port, held), 0);
	bool seen[N] = {false};

	for (int k = 1; k < N; k++) {
		int n = test_wait_n(port, &c, 1, TEST_WAIT_MS);

		cr_assert_eq(n, 1, "only %d of %d end-of-stream completions arrived", k - 1, N - 1);
		int i = (int)c.key;

		cr_assert(i > 0 && i < N && !seen[i]);
		seen[i] = true;
		cr_assert_eq(c.result, 0, "conn %d: %lld", i, (long long)c.result);
		release_if_buffer(port, &c);
	}

	cport_destroy(port);
	for (int i = 0; i < N; i++) {
		close(a[i]);
		close(b[i]);
	}
}

/* A one-buffer pool whose buffer conn 0 holds, and a pooled recv on conn 1
 * whose data has arrived: it waits for a buffer. Returns the held buffer. */
static void *park_a_pooled_recv(cport_t *port, int a[2], int b[2], struct cport_op ops[2])
{
	struct cport_completion c;

	for (int i = 0; i < 2; i++) {
		cr_assert_eq(cport_attach(port, a[i], (uintptr_t)i), 0);
		cport_op_init(&ops[i]);
	}
	cr_assert_eq(cport_recv_pooled(port, a[0], &ops[0]), 0);
	cr_assert_eq(test_write_all(b[0], "hold", 4), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, 4);
	cr_assert_eq(cport_recv_pooled(port, a[1], &ops[1]), 0);
	cr_assert_eq(test_write_all(b[1], "parked", 6), 0);
	test_expect_idle(port, 50);
	return c.buf;
}

Test(pooled_recv, cancelling_a_pooled_recv_waiting_for_a_buffer_completes_it_once_and_keeps_its_data,
     .timeout = TEST_TIMEOUT)
{
	int a[2], b[2];
	struct cport_op ops[2];
	struct cport_completion c;

	for (int i = 0; i < 2; i++)
		test_tcp_pair(&a[i], &b[i]);
	cport_t *port = pool_port(1, POOL_BUF_SIZE);
	void *held = park_a_pooled_recv(port, a, b, ops);

	cr_assert_eq(cport_cancel(port, &ops[1]), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &ops[1]);
	cr_assert_eq(c.result, -ECANCELED, "cancelled pooled recv gave %lld", (long long)c.result);
	release_if_buffer(port, &c);
	/* A freed buffer must not revive the cancelled op... */
	cr_assert_eq(cport_buf_release(port, held), 0);
	test_expect_idle(port, 50);
	/* ...and its data is still in the socket. */
	cr_assert_eq(cport_recv_pooled(port, a[1], &ops[1]), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &ops[1]);
	cr_assert_eq(c.result, 6, "pooled recv after cancel gave %lld", (long long)c.result);
	cr_assert_eq(memcmp(c.buf, "parked", 6), 0);
	cr_assert_eq(cport_buf_release(port, c.buf), 0);

	cport_destroy(port);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
}

Test(pooled_recv, closing_an_fd_whose_pooled_recv_waits_for_a_buffer_completes_it_then_the_close,
     .timeout = TEST_TIMEOUT)
{
	int a[2], b[2];
	struct cport_op ops[2], cop;
	struct cport_completion cs[2];

	for (int i = 0; i < 2; i++)
		test_tcp_pair(&a[i], &b[i]);
	cport_t *port = pool_port(1, POOL_BUF_SIZE);
	void *held = park_a_pooled_recv(port, a, b, ops);

	cport_op_init(&cop);
	cr_assert_eq(cport_close(port, a[1], &cop), 0);
	cr_assert_eq(test_wait_n(port, cs, 2, TEST_WAIT_MS), 2);
	cr_assert_eq(cs[0].op, &ops[1], "the close completed before the fd's pooled recv");
	cr_assert_eq(cs[0].result, -ECANCELED, "pooled recv gave %lld", (long long)cs[0].result);
	release_if_buffer(port, &cs[0]);
	cr_assert_eq(cs[1].op, &cop);
	cr_assert_eq(cs[1].result, 0);
	cr_assert_not(test_fd_open(a[1]));
	cr_assert_eq(cport_buf_release(port, held), 0);
	test_expect_idle(port, 50);

	cport_destroy(port);
	close(a[0]);
	close(b[0]);
	close(b[1]);
}

Test(pooled_recv, destroying_a_port_while_buffers_are_lent_out_frees_everything,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;

	test_tcp_pair(&a, &b);
	cport_t *port = pool_port(2, POOL_BUF_SIZE);

	cr_assert_eq(cport_attach(port, a, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_recv_pooled(port, a, &op), 0);
	cr_assert_eq(test_write_all(b, "kept", 4), 0);
	test_wait_one(port, &c);
	cr_assert(c.flags & CPORT_CF_BUFFER);
	cr_assert_eq(cport_recv_pooled(port, a, &op), 0); /* and one in flight */
	cr_assert_eq(cport_destroy(port), 0);             /* buffer never released */

	close(a);
	close(b);
}

struct writer {
	int fds[CONNS];
};

/* Writes PER_CONN pattern bytes to every peer, round robin, then shuts
 * each down; blocking writes progress as the port side reads. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char *chunk = malloc(WRITE_CHUNK);

	for (size_t off = 0; chunk && off < PER_CONN; off += WRITE_CHUNK) {
		for (int i = 0; i < CONNS; i++) {
			test_pattern_fill(chunk, WRITE_CHUNK, off, (uint32_t)i);
			if (test_write_all(w->fds[i], chunk, WRITE_CHUNK) < 0)
				goto out;
		}
	}
out:
	for (int i = 0; i < CONNS; i++)
		shutdown(w->fds[i], SHUT_WR);
	free(chunk);
	return NULL;
}

/* Fail, naming each unfinished connection and how far it got. */
static void report_stall(const size_t *got, const bool *done)
{
	char msg[512];
	int len = 0;

	for (int i = 0; i < CONNS && len < (int)sizeof(msg) - 64; i++)
		if (!done[i])
			len += snprintf(msg + len, sizeof(msg) - (size_t)len, " conn %d: %zu/%u;", i,
					got[i], PER_CONN);
	cr_assert_fail("stalled, unfinished:%s", msg);
}

Test(pooled_recv, a_two_buffer_pool_serves_eight_connections_all_their_data_as_buffers_come_back,
     .timeout = TEST_TIMEOUT)
{
	int a[CONNS];
	struct writer w;
	struct cport_op ops[CONNS];
	size_t got[CONNS] = {0};
	bool done[CONNS] = {false};
	int finished = 0;
	pthread_t t;

	for (int i = 0; i < CONNS; i++)
		test_tcp_pair(&a[i], &w.fds[i]);
	cport_t *port = pool_port(TINY_POOL, POOL_BUF_SIZE);

	for (int i = 0; i < CONNS; i++) {
		cr_assert_eq(cport_attach(port, a[i], (uintptr_t)i), 0);
		cport_op_init(&ops[i]);
		cr_assert_eq(cport_recv_pooled(port, a[i], &ops[i]), 0);
	}
	test_thread_start(&t, writer_main, &w);
	int64_t deadline = test_now_ms() + TEST_WAIT_MS;

	while (finished < CONNS) {
		struct cport_completion cs[CONNS];
		int n = cport_wait(port, cs, CONNS, 1000);

		cr_assert_geq(n, 0, "cport_wait: %s", strerror(-n));
		if (test_now_ms() >= deadline)
			report_stall(got, done);
		/* Hold the whole batch's buffers before releasing any: pressure. */
		for (int k = 0; k < n; k++) {
			int i = (int)cs[k].key;

			cr_assert(i >= 0 && i < CONNS && cs[k].op == &ops[i]);
			cr_assert_not(done[i], "completion after end of stream on conn %d", i);
			cr_assert_geq(cs[k].result, 0, "conn %d: pooled recv gave %lld (%s)", i,
				      (long long)cs[k].result, strerror((int)-cs[k].result));
			if (cs[k].result == 0) {
				release_if_buffer(port, &cs[k]);
				done[i] = true;
				finished++;
				continue;
			}
			cr_assert(cs[k].flags & CPORT_CF_BUFFER);
			cr_assert_eq(test_pattern_mismatch(cs[k].buf, (size_t)cs[k].result, got[i],
							   (uint32_t)i),
				     -1, "conn %d: wrong byte near offset %zu", i, got[i]);
			got[i] += (size_t)cs[k].result;
		}
		for (int k = 0; k < n; k++) {
			int i = (int)cs[k].key;

			if (cs[k].result > 0) {
				cr_assert_eq(cport_buf_release(port, cs[k].buf), 0);
				cr_assert_eq(cport_recv_pooled(port, a[i], &ops[i]), 0);
			}
		}
	}
	test_thread_join(t);
	for (int i = 0; i < CONNS; i++)
		cr_assert_eq(got[i], PER_CONN, "conn %d got %zu of %u bytes", i, got[i], PER_CONN);

	cport_destroy(port);
	for (int i = 0; i < CONNS; i++) {
		close(a[i]);
		close(w.fds[i]);
	}
}
