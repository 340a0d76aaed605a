/* cancel.c - cancelling ops: in flight, racing their own completion, by fd,
 * and not in flight at all. Every op completes exactly once. */
#include "cport_test.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

TEST_SUITE(cancel);

#define RACE_ROUNDS 300
#define RACE_CHUNK 8
#define RACE_SEED 0xCA7u

Test(cancel, a_recv_in_flight_with_no_data_completes_once_with_ecanceled,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char buf[32];
	struct iovec iov = {buf, sizeof(buf)};

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, 3), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_recv(port, a, &op, &iov, 1), 0);
	test_expect_idle(port, 10);
	cr_assert_eq(cport_cancel(port, &op), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.key, 3);
	cr_assert_eq(c.kind, CPORT_OP_RECV);
	cr_assert_eq(c.result, -ECANCELED, "cancelled recv gave %lld", (long long)c.result);
	test_expect_idle(port, 50);
	/* Done means done: a second cancel finds nothing. */
	cr_assert_eq(cport_cancel(port, &op), -ENOENT);
	/* The op and the fd still work afterwards. */
	cr_assert_eq(cport_recv(port, a, &op, &iov, 1), 0);
	cr_assert_eq(test_write_all(b, "after", 5), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, 5, "recv after cancel gave %lld", (long long)c.result);
	cr_assert_eq(memcmp(buf, "after", 5), 0);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(cancel, an_accept_in_flight_completes_once_with_ecanceled, .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage addr;
	socklen_t len;
	int lfd = test_tcp_listener(AF_INET, 0, &addr, &len);
	cport_t *port = test_port_new(NULL);
	struct cport_op op;
	struct cport_completion c;

	cr_assert_eq(cport_attach(port, lfd, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_accept(port, lfd, &op, NULL, NULL), 0);
	cr_assert_eq(cport_cancel(port, &op), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, -ECANCELED, "cancelled accept gave %lld", (long long)c.result);
	test_expect_idle(port, 50);

	cport_destroy(port);
	close(lfd);
}

Test(cancel, an_op_never_started_or_already_dequeued_is_not_found, .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	struct cport_op op;
	struct cport_completion c;

	cport_op_init(&op);
	cr_assert_eq(cport_cancel(port, &op), -ENOENT);
	cr_assert_eq(cport_post(port, 1, &op, 0), 0);
	cr_assert_eq(cport_cancel(port, &op), -ENOENT, "a queued post is done, not in flight");
	test_wait_one(port, &c);
	cr_assert_eq(c.result, 0);
	cr_assert_eq(cport_cancel(port, &op), -ENOENT);

	cport_destroy(port);
}

#define KEY_STOP ((uintptr_t)-1)
#define BOX 16

/* A thread blocked in cport_wait that hands completions to the test: with
 * it as the port's poller, completions race the test thread's cancels. */
struct collector {
	cport_t *port;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct cport_completion box[BOX];
	int head, n, overflow, err;
	pthread_t thread;
};

static void *collector_main(void *arg)
{
	struct collector *col = arg;

	for (;;) {
		struct cport_completion c;
		int rc = cport_wait(col->port, &c, 1, -1);

		if (rc == -EINTR)
			continue;
		if (rc == 1 && c.key == KEY_STOP)
			return NULL;
		pthread_mutex_lock(&col->lock);
		if (rc != 1)
			col->err = rc ? rc : -ETIME;
		else if (col->n == BOX)
			col->overflow++;
		else
			col->box[(col->head + col->n++) % BOX] = c;
		pthread_cond_signal(&col->cond);
		pthread_mutex_unlock(&col->lock);
		if (rc != 1)
			return NULL;
	}
}

static void collector_start(struct collector *col, cport_t *port)
{
	memset(col, 0, sizeof(*col));
	col->port = port;
	pthread_mutex_init(&col->lock, NULL);
	pthread_cond_init(&col->cond, NULL);
	test_thread_start(&col->thread, collector_main, col);
}

static void collector_stop(struct collector *col)
{
	cr_assert_eq(cport_post(col->port, KEY_STOP, NULL, 0), 0);
	test_thread_join(col->thread);
	cr_assert_eq(col->err, 0, "collector: cport_wait gave %d", col->err);
	cr_assert_eq(col->overflow, 0);
	pthread_cond_destroy(&col->cond);
	pthread_mutex_destroy(&col->lock);
}

/* The next completion the collector got, within TEST_WAIT_MS. */
static void collector_take(struct collector *col, struct cport_completion *c)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += TEST_WAIT_MS / 1000;
	pthread_mutex_lock(&col->lock);
	while (col->n == 0 && col->err == 0 && rc == 0)
		rc = pthread_cond_timedwait(&col->cond, &col->lock, &ts);
	bool got = col->n > 0;

	if (got) {
		*c = col->box[col->head];
		col->head = (col->head + 1) % BOX;
		col->n--;
	}
	pthread_mutex_unlock(&col->lock);
	cr_assert(got, "no completion within %d ms (collector error %d)", TEST_WAIT_MS, col->err);
}

static int collector_pending(struct collector *col)
{
	pthread_mutex_lock(&col->lock);
	int n = col->n;

	pthread_mutex_unlock(&col->lock);
	return n;
}

/* Read until recvd catches up with sent, checking the stream pattern. */
static void drain_to(struct collector *col, int fd, struct cport_op *op, uint64_t *recvd,
		     uint64_t sent)
{
	char buf[64];
	struct cport_completion c;

	while (*recvd < sent) {
		struct iovec iov = {buf, sizeof(buf)};

		cr_assert_eq(cport_recv(col->port, fd, op, &iov, 1), 0);
		collector_take(col, &c);
		cr_assert_eq(c.op, op);
		cr_assert_gt(c.result, 0, "drain recv gave %lld", (long long)c.result);
		cr_assert_eq(test_pattern_mismatch(buf, (size_t)c.result, *recvd, RACE_SEED), -1,
			     "wrong byte near stream offset %llu", (unsigned long long)*recvd);
		*recvd += (uint64_t)c.result;
	}
}

/* How a round of the race test orders the recv, the data and the cancel. */
enum race_order {
	CANCEL_THEN_DATA, /* the recv is pending with nothing to read: cancel must win */
	DATA_THEN_CANCEL, /* the data is readable when the recv starts */
	RACING,           /* data and cancel race */
};

static enum race_order race_order_of(int round)
{
	return round % 4 == 0 ? CANCEL_THEN_DATA : round % 4 == 1 ? DATA_THEN_CANCEL : RACING;
}

/* One round: start a recv, send a chunk and cancel in the given order;
 * returns the cancel's return code. */
static int race_round(cport_t *port, int a, int b, struct cport_op *op, struct iovec *iov,
		      int round, uint64_t sent)
{
	char chunk[RACE_CHUNK];
	int rc;

	test_pattern_fill(chunk, sizeof(chunk), sent, RACE_SEED);
	switch (race_order_of(round)) {
	case CANCEL_THEN_DATA:
		cr_assert_eq(cport_recv(port, a, op, iov, 1), 0);
		rc = cport_cancel(port, op);
		cr_assert_eq(test_write_all(b, chunk, sizeof(chunk)), 0);
		break;
	case DATA_THEN_CANCEL:
		cr_assert_eq(test_write_all(b, chunk, sizeof(chunk)), 0);
		test_await_readable(a);
		cr_assert_eq(cport_recv(port, a, op, iov, 1), 0);
		rc = cport_cancel(port, op);
		break;
	default:
		/* Cancel at varying moments while the poller handles the data. */
		cr_assert_eq(cport_recv(port, a, op, iov, 1), 0);
		cr_assert_eq(test_write_all(b, chunk, sizeof(chunk)), 0);
		for (volatile int spin = 0; spin < (round % 32) * 200; spin++)
			;
		rc = cport_cancel(port, op);
		break;
	}
	return rc;
}

Test(cancel, a_cancel_racing_arriving_data_completes_the_op_once_and_loses_no_bytes,
     .timeout = 60)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	struct collector col;
	uint64_t sent = 0, recvd = 0;
	unsigned cancelled = 0, won = 0;
	char buf[64];

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, 1), 0);
	collector_start(&col, port);
	cport_op_init(&op);
	for (int round = 0; round < RACE_ROUNDS; round++) {
		struct iovec iov = {buf, sizeof(buf)};
		enum race_order order = race_order_of(round);
		int rc = race_round(port, a, b, &op, &iov, round, sent);

		sent += RACE_CHUNK;
		cr_assert(rc == 0 || rc == -ENOENT, "round %d: cancel gave %d", round, rc);
		if (order == CANCEL_THEN_DATA)
			cr_assert_eq(rc, 0, "round %d: cancelling a pending recv gave %d", round, rc);
		collector_take(&col, &c);
		cr_assert_eq(c.op, &op);
		/* Either outcome is legal unless the cancel came first. With the
		 * data readable but the poller yet to see it, a recv may still
		 * wait for readiness (epoll), so its cancel may win: the bytes
		 * then stay in the socket, which drain_to checks. */
		if (c.result == -ECANCELED) {
			cancelled++;
		} else {
			cr_assert_neq(order, CANCEL_THEN_DATA,
				      "round %d: the recv was cancelled before any data was sent, "
				      "yet it completed with %lld",
				      round, (long long)c.result);
			cr_assert_gt(c.result, 0, "round %d: recv gave %lld", round,
				     (long long)c.result);
			cr_assert_eq(test_pattern_mismatch(buf, (size_t)c.result, recvd, RACE_SEED),
				     -1, "round %d: wrong bytes", round);
			recvd += (uint64_t)c.result;
			won++;
		}
		cr_assert_eq(collector_pending(&col), 0, "round %d: a second completion", round);
		/* Bytes a cancelled recv did not deliver are still in the socket. */
		drain_to(&col, a, &op, &recvd, sent);
	}
	collector_stop(&col);
	test_expect_idle(port, 50);
	cr_log_info("%s: %u cancelled, %u completed first", test_backend_label(), cancelled, won);
	/* A quarter of the rounds force the cancel to win. */
	cr_assert_geq(cancelled, RACE_ROUNDS / 4, "the cancel won only %u times", cancelled);
	cr_assert_eq(recvd, sent);

	cport_destroy(port);
	close(a);
	close(b);
}

/* The data is in the socket before the recv starts on a freshly attached
 * fd, so the recv finds it the moment it starts (as a WSARecv on Windows
 * completes at once): it has finished before the cancel, which must not
 * replace its result. */
Test(cancel, a_cancel_after_the_data_arrived_completes_the_recv_with_the_data,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_op op;
	struct cport_completion c;
	char buf[32];
	struct iovec iov = {buf, sizeof(buf)};

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, 1), 0);
	cport_op_init(&op);
	cr_assert_eq(test_write_all(b, "arrived", 7), 0);
	test_await_readable(a);
	cr_assert_eq(cport_recv(port, a, &op, &iov, 1), 0);
	int rc = cport_cancel(port, &op);

	cr_assert(rc == 0 || rc == -ENOENT, "cancel gave %d", rc);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, 7, "a recv that found its data at once, then cancelled, gave %lld",
		     (long long)c.result);
	cr_assert_eq(memcmp(buf, "arrived", 7), 0);
	test_expect_idle(port, 20);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(cancel, cancel_fd_completes_every_op_of_that_fd_once_and_leaves_other_fds_alone,
     .timeout = TEST_TIMEOUT)
{
	int a, b, x, y;
	int small = 4096;
	struct cport_op rop, sop, xop;
	struct cport_completion cs[2], c;
	static char big[256 * 1024];
	char rbuf[16], xbuf[16];
	struct iovec riov = {rbuf, sizeof(rbuf)}, siov = {big, sizeof(big)};
	struct iovec xiov = {xbuf, sizeof(xbuf)};

	test_tcp_pair_family(AF_INET, small, &a, &b);
	test_tcp_pair(&x, &y);
	cr_assert_eq(setsockopt(a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	test_fill_send_buffer(a);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, a, 1), 0);
	cr_assert_eq(cport_attach(port, x, 2), 0);
	cport_op_init(&rop);
	cport_op_init(&sop);
	cport_op_init(&xop);
	cr_assert_eq(cport_recv(port, a, &rop, &riov, 1), 0);
	cr_assert_eq(cport_send(port, a, &sop, &siov, 1), 0);
	cr_assert_eq(cport_recv(port, x, &xop, &xiov, 1), 0);
	cr_assert_eq(cport_cancel_fd(port, a), 0);
	cr_assert_eq(test_wait_n(port, cs, 2, TEST_WAIT_MS), 2);
	bool got_r = false, got_s = false;

	for (int i = 0; i < 2; i++) {
		cr_assert_eq(cs[i].key, 1, "a completion for the other fd");
		if (cs[i].op == &rop) {
			cr_assert_not(got_r);
			got_r = true;
			cr_assert_eq(cs[i].result, -ECANCELED, "recv gave %lld",
				     (long long)cs[i].result);
		} else {
			cr_assert_eq(cs[i].op, &sop);
			cr_assert_not(got_s);
			got_s = true;
			/* A send may have moved some bytes before the cancel. */
			cr_assert(cs[i].result == -ECANCELED || cs[i].result > 0, "send gave %lld",
				  (long long)cs[i].result);
		}
	}
	test_expect_idle(port, 50);
	cr_assert_eq(test_write_all(y, "still", 5), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &xop);
	cr_assert_eq(c.result, 5, "other fd's recv gave %lld", (long long)c.result);

	cport_destroy(port);
	close(a);
	close(b);
	close(x);
	close(y);
}
