/* recv_ahead.c - CPORT_RECV_AHEAD: pooled receives on a stream socket that
 * read ahead. On io_uring (with a kernel that caps a multishot receive)
 * bytes that come while no receive waits leave the socket into the pool
 * and complete the next pooled receive at once; at most two buffers are
 * read ahead; every byte comes once, in order, then the end of the stream;
 * other reads of the fd are refused while the mode is set (both backends),
 * and the mode cannot be cleared while bytes are held. */
#include "cport_test.h"
#include "fault.h"
#include "uring.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

TEST_SUITE(recv_ahead);

#define BUF 4096u
#define POOL 16u
#define KEY 5u
#define SEED 29u

/* A connected pair, the server side attached to a new port in the mode. */
struct fix {
	cport_t *port;
	int s, c;       /* server (attached), client */
	uint64_t sent;  /* pattern bytes the client wrote */
	uint64_t got;   /* pattern bytes the server received */
	struct cport_op op;
};

static void fix_open_with(struct fix *f, const struct cport_options *o)
{
	f->port = test_port_new(o);
	test_tcp_pair(&f->c, &f->s);
	f->sent = f->got = 0;
	cport_op_init(&f->op);
	cr_assert_eq(cport_attach(f->port, f->s, KEY), 0);
	cr_assert_eq(cport_set_completion_modes(f->port, f->s, CPORT_RECV_AHEAD), 0);
}

static void fix_options(struct cport_options *o, unsigned flags, unsigned pool)
{
	test_options(o);
	o->flags = flags;
	o->pool_buffers = pool;
	o->pool_buffer_size = BUF;
}

static void fix_open(struct fix *f, unsigned flags, unsigned pool)
{
	struct cport_options o;
	fix_options(&o, flags, pool);
	fix_open_with(f, &o);
}

static void fix_close(struct fix *f)
{
	cport_destroy(f->port);
	close(f->c);
	close(f->s);
}

/* Whether this backend and kernel read ahead at all. */
static bool reads_ahead_here(void)
{
	struct pool pl;
	memset(&pl, 0, sizeof(pl));
	pl.cls[POOL_SMALL].count = 1;
	pl.cls[POOL_SMALL].size = BUF;
	return test_backend() == CPORT_BACKEND_URING && st_probe(&pl) != 0;
}

#define NEED_READ_AHEAD()                                                                                    \
	do {                                                                                                 \
		if (!reads_ahead_here())                                                                     \
			cr_skip_test("reads ahead only on io_uring with a kernel that caps a multishot receive " \
				     "(Linux 6.17)");                                                        \
	} while (0)

static void send_some(struct fix *f, size_t len)
{
	char buf[8192];
	cr_assert_leq(len, sizeof(buf));
	test_pattern_fill(buf, len, f->sent, SEED);
	cr_assert_eq(test_write_all(f->c, buf, len), 0);
	f->sent += len;
}

static int unread(int fd)
{
	int n = -1;
	cr_assert_eq(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

/* Let the port run (a single-thread port's kernel work runs only in its
 * wait) until the server socket holds `want` unread bytes, at most 2 s, with
 * no completion meanwhile. Returns what it holds then. */
static int pump_until_unread(struct fix *f, int want)
{
	int64_t end = test_now_ms() + 2000;
	int n;
	while ((n = unread(f->s)) != want && test_now_ms() < end)
		test_expect_idle(f->port, 5);
	return n;
}

/* c, the pooled receive's completion: its bytes must be the next of the
 * pattern. Returns its result; the buffer is released. */
static int64_t took(struct fix *f, const struct cport_completion *c0)
{
	struct cport_completion c = *c0;
	cr_assert_eq(c.op, &f->op);
	cr_assert_eq(c.key, KEY);
	cr_assert_eq(c.kind, CPORT_OP_RECV_POOLED);
	if (c.result > 0) {
		cr_assert(c.flags & CPORT_CF_BUFFER);
		cr_assert_leq(c.result, BUF);
		cr_assert_eq(test_pattern_mismatch(c.buf, (size_t)c.result, f->got, SEED), -1,
			     "byte out of order at %llu", (unsigned long long)f->got);
		f->got += (uint64_t)c.result;
		cr_assert_eq(cport_buf_release(f->port, c.buf), 0);
	}
	return c.result;
}

/* The next completion, the pooled receive's (as took()). */
static int64_t take(struct fix *f)
{
	struct cport_completion c;
	test_wait_one(f->port, &c);
	return took(f, &c);
}

static int64_t recv_one(struct fix *f)
{
	cr_assert_eq(cport_recv_pooled(f->port, f->s, &f->op), 0);
	return take(f);
}

/* The first message, received: the request stays armed after it. */
static void first_message(struct fix *f)
{
	cr_assert_eq(cport_recv_pooled(f->port, f->s, &f->op), 0);
	send_some(f, 10);
	cr_assert_eq(take(f), 10);
}

/* After the first message, 100 bytes come while no receive waits; the
 * socket holds `unread` of them once the port has run (0: read ahead). */
static void hundred_more(struct fix *f, int unread)
{
	first_message(f);
	send_some(f, 100);
	cr_assert_eq(pump_until_unread(f, unread), unread);
}

static const unsigned kinds[] = {0, CPORT_SINGLE_THREAD};

Test(recv_ahead, every_byte_comes_once_and_in_order_through_pings_and_bursts, .timeout = TEST_TIMEOUT)
{
	for (unsigned k = 0; k < 2; k++) {
		struct fix f;
		fix_open(&f, kinds[k], POOL);
		for (unsigned i = 0; i < 3000; i++) {
			/* Mostly a message then its receive, as an echo; every
			 * seventh a burst before the receive; now and then more
			 * than a buffer. */
			size_t len = i % 97 == 0 ? 6000 : i % 7 == 0 ? 3 * 700 : 64 + i % 300;
			if (i % 2)
				send_some(&f, len);
			cr_assert_eq(cport_recv_pooled(f.port, f.s, &f.op), 0);
			if (!(i % 2))
				send_some(&f, len);
			cr_assert_gt(take(&f), 0);
			while (f.got < f.sent)
				cr_assert_gt(recv_one(&f), 0);
		}
		cr_assert_eq(f.got, f.sent);
		fix_close(&f);
	}
}

Test(recv_ahead, bytes_that_come_while_no_receive_waits_leave_the_socket_and_complete_the_next,
     .timeout = TEST_TIMEOUT)
{
	NEED_READ_AHEAD();
	for (unsigned k = 0; k < 2; k++) {
		struct fix f;
		fix_open(&f, kinds[k], POOL);
		hundred_more(&f, 0);
		cr_assert_eq(recv_one(&f), 100);
		fix_close(&f);
	}
}

Test(recv_ahead, without_the_mode_bytes_wait_in_the_socket, .timeout = TEST_TIMEOUT)
{
	/* The control for the test above: it can tell the two apart. */
	struct fix f;
	fix_open(&f, 0, POOL);
	cr_assert_eq(cport_set_completion_modes(f.port, f.s, 0), 0);
	hundred_more(&f, 100);
	cr_assert_eq(recv_one(&f), 100);
	fix_close(&f);
}

static int64_t no_cap(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	(void)pt;
	(void)op;
	(void)v;
	(void)ctx;
	return 0;
}

Test(recv_ahead, a_kernel_without_the_cap_reads_nothing_ahead, .timeout = TEST_TIMEOUT)
{
	struct fix f;
	cport_fault_set(FAULT_RECV_CAP, no_cap, NULL);
	fix_open(&f, 0, POOL);
	cport_fault_set(FAULT_RECV_CAP, NULL, NULL);
	hundred_more(&f, 100);
	cr_assert_eq(recv_one(&f), 100);
	fix_close(&f);
}

Test(recv_ahead, a_peer_that_never_reads_is_read_at_most_two_buffers_ahead, .timeout = TEST_TIMEOUT)
{
	NEED_READ_AHEAD();
	for (unsigned k = 0; k < 2; k++) {
		struct fix f;
		fix_open(&f, kinds[k], POOL);
		first_message(&f);
		/* Small pieces, each taken on its own: they pile up in the
		 * kept buffers until the request passes its cap (one buffer). */
		for (unsigned i = 0; i < 60; i++) {
			send_some(&f, 100);
			test_expect_idle(f.port, 2);
		}
		int left = pump_until_unread(&f, -1); /* let it settle: 2 s */
		uint64_t ahead = f.sent - f.got - (uint64_t)left;
		cr_assert_geq(ahead, BUF - 10, "read %llu ahead: less than the cap", (unsigned long long)ahead);
		cr_assert_lt(ahead, 2 * BUF, "read %llu ahead", (unsigned long long)ahead);
		cr_assert_gt(left, 0, "everything was read ahead");
		/* A second connection still gets a buffer. */
		struct fix g = {.port = f.port};
		test_tcp_pair(&g.c, &g.s);
		cport_op_init(&g.op);
		cr_assert_eq(cport_attach(f.port, g.s, KEY), 0);
		first_message(&g);
		cr_assert_eq(cport_close(f.port, g.s, NULL), 0);
		g.s = -1;
		close(g.c);
		while (f.got < f.sent)
			cr_assert_gt(recv_one(&f), 0);
		fix_close(&f);
	}
}

Test(recv_ahead, other_reads_of_the_fd_are_refused_while_the_mode_is_set, .timeout = TEST_TIMEOUT)
{
	struct fix f;
	struct cport_op op;
	struct cport_completion c;
	char b[16];
	struct iovec iov = {b, sizeof(b)};
	fix_open(&f, 0, POOL);
	cport_op_init(&op);
	cr_assert_eq(cport_recv(f.port, f.s, &op, &iov, 1), -EINVAL);
	cr_assert_eq(cport_poll(f.port, f.s, &op, POLLIN), -EINVAL);
	cr_assert_eq(cport_poll(f.port, f.s, &op, POLLOUT), 0, "a wait for room to write is no read");
	test_wait_one(f.port, &c);
	cr_assert_eq(c.result, POLLOUT);
	cr_assert_eq(cport_set_completion_modes(f.port, f.s, 0), 0);
	send_some(&f, 10);
	cr_assert_eq(cport_recv(f.port, f.s, &op, &iov, 1), 0);
	test_wait_one(f.port, &c);
	cr_assert_eq(c.result, 10);
	fix_close(&f);
}

Test(recv_ahead, the_mode_is_not_cleared_while_bytes_are_held_or_a_read_is_armed, .timeout = TEST_TIMEOUT)
{
	NEED_READ_AHEAD();
	struct fix f;
	fix_open(&f, 0, POOL);
	cr_assert_eq(cport_recv_pooled(f.port, f.s, &f.op), 0);
	cr_assert_eq(cport_set_completion_modes(f.port, f.s, 0), -EBUSY, "a receive waits in the kernel");
	send_some(&f, 10);
	cr_assert_eq(take(&f), 10);
	cr_assert_eq(cport_set_completion_modes(f.port, f.s, 0), -EBUSY, "the request reads on");
	send_some(&f, 100);
	cr_assert_eq(pump_until_unread(&f, 0), 0);
	cr_assert_eq(cport_cancel_fd(f.port, f.s), 0);
	test_expect_idle(f.port, 50);
	cr_assert_eq(cport_set_completion_modes(f.port, f.s, 0), -EBUSY, "100 bytes are held");
	cr_assert_eq(recv_one(&f), 100, "the bytes outlive a cancel of the fd");
	cr_assert_eq(cport_set_completion_modes(f.port, f.s, 0), 0);
	/* Plain reads from here on, in order. */
	char b[64];
	struct iovec iov = {b, sizeof(b)};
	struct cport_op op;
	struct cport_completion c;
	cport_op_init(&op);
	send_some(&f, 64);
	cr_assert_eq(cport_recv(f.port, f.s, &op, &iov, 1), 0);
	test_wait_one(f.port, &c);
	cr_assert_eq(c.result, 64);
	cr_assert_eq(test_pattern_mismatch(b, 64, f.got, SEED), -1);
	fix_close(&f);
}

Test(recv_ahead, on_epoll_the_mode_reads_nothing_ahead_and_clears_at_once, .timeout = TEST_TIMEOUT)
{
	if (test_backend() != CPORT_BACKEND_EPOLL)
		cr_skip_test("epoll only");
	struct fix f;
	fix_open(&f, 0, POOL);
	hundred_more(&f, 100);
	cr_assert_eq(cport_set_completion_modes(f.port, f.s, 0), 0);
	cr_assert_eq(recv_one(&f), 100);
	fix_close(&f);
}

Test(recv_ahead, a_cancelled_receive_leaves_the_bytes_to_the_next, .timeout = TEST_TIMEOUT)
{
	NEED_READ_AHEAD();
	for (unsigned k = 0; k < 2; k++) {
		struct fix f;
		struct cport_completion c;
		fix_open(&f, kinds[k], POOL);
		first_message(&f);
		cr_assert_eq(cport_recv_pooled(f.port, f.s, &f.op), 0);
		cr_assert_eq(cport_cancel(f.port, &f.op), 0);
		test_wait_one(f.port, &c);
		cr_assert_eq(c.result, -ECANCELED);
		send_some(&f, 100);
		cr_assert_eq(pump_until_unread(&f, 0), 0);
		cr_assert_eq(recv_one(&f), 100);
		fix_close(&f);
	}
}

Test(recv_ahead, the_end_of_the_stream_comes_after_the_bytes_read_ahead, .timeout = TEST_TIMEOUT)
{
	NEED_READ_AHEAD();
	for (unsigned k = 0; k < 2; k++) {
		struct fix f;
		fix_open(&f, kinds[k], POOL);
		first_message(&f);
		send_some(&f, 100);
		cr_assert_eq(shutdown(f.c, SHUT_WR), 0);
		cr_assert_eq(pump_until_unread(&f, 0), 0);
		test_expect_idle(f.port, 20);
		cr_assert_eq(recv_one(&f), 100);
		cr_assert_eq(recv_one(&f), 0);
		fix_close(&f);
	}
}

/* Hold every pool buffer at once through one connection: only possible
 * if none is kept elsewhere. */
static void hold_whole_pool(cport_t *port, unsigned pool)
{
	struct fix g = {.port = port};
	void *held[64];
	struct cport_completion c;
	test_tcp_pair(&g.c, &g.s);
	cport_op_init(&g.op);
	cr_assert_eq(cport_attach(port, g.s, KEY), 0);
	for (unsigned i = 0; i < pool; i++) {
		cr_assert_eq(cport_recv_pooled(port, g.s, &g.op), 0);
		send_some(&g, 10);
		test_wait_one(port, &c);
		cr_assert_eq(c.result, 10, "buffer %u of %u: %lld", i + 1, pool, (long long)c.result);
		held[i] = c.buf;
	}
	for (unsigned i = 0; i < pool; i++)
		cr_assert_eq(cport_buf_release(port, held[i]), 0);
	cr_assert_eq(cport_close(port, g.s, NULL), 0);
	close(g.c);
}

Test(recv_ahead, close_and_detach_give_the_buffers_read_ahead_back_to_the_pool, .timeout = TEST_TIMEOUT)
{
	NEED_READ_AHEAD();
	for (unsigned detach = 0; detach < 2; detach++) {
		struct fix f;
		struct cport_op end;
		struct cport_completion c;
		fix_open(&f, 0, POOL);
		hundred_more(&f, 0);
		cport_op_init(&end);
		if (detach)
			cr_assert_eq(cport_detach(f.port, f.s, &end), 0);
		else
			cr_assert_eq(cport_close(f.port, f.s, &end), 0);
		test_wait_one(f.port, &c);
		cr_assert_eq(c.op, &end);
		cr_assert_eq(c.result, 0);
		if (!detach)
			f.s = -1;
		hold_whole_pool(f.port, POOL);
		fix_close(&f);
	}
}

Test(recv_ahead, a_close_while_the_request_is_armed_completes_last, .timeout = TEST_TIMEOUT)
{
	for (unsigned k = 0; k < 2; k++) {
		struct fix f;
		struct cport_op end;
		struct cport_completion c[2];
		fix_open(&f, kinds[k], POOL);
		first_message(&f);
		cr_assert_eq(cport_recv_pooled(f.port, f.s, &f.op), 0);
		cport_op_init(&end);
		cr_assert_eq(cport_close(f.port, f.s, &end), 0);
		f.s = -1;
		cr_assert_eq(test_wait_n(f.port, c, 2, TEST_WAIT_MS), 2);
		cr_assert_eq(c[0].op, &f.op);
		cr_assert_eq(c[0].result, -ECANCELED);
		cr_assert_eq(c[1].op, &end);
		hold_whole_pool(f.port, POOL);
		fix_close(&f);
	}
}

static int64_t sq_full_for(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	(void)pt;
	return op == ctx ? 1 : v;
}

Test(recv_ahead, no_room_in_the_submission_queue_fails_the_receive_and_the_next_one_works,
     .timeout = TEST_TIMEOUT)
{
	NEED_READ_AHEAD();
	struct fix f;
	fix_open(&f, 0, POOL);
	cport_fault_set(FAULT_SQ_FULL, sq_full_for, &f.op);
	int r = cport_recv_pooled(f.port, f.s, &f.op);
	cport_fault_set(FAULT_SQ_FULL, NULL, NULL);
	cr_assert_eq(r, -EAGAIN);
	cr_assert_eq(cport_set_completion_modes(f.port, f.s, 0), 0, "nothing was armed");
	cr_assert_eq(cport_set_completion_modes(f.port, f.s, CPORT_RECV_AHEAD), 0);
	first_message(&f);
	fix_close(&f);
}

Test(recv_ahead, with_every_small_buffer_held_a_receive_takes_a_large_one, .timeout = TEST_TIMEOUT)
{
	/* The read-ahead request takes small buffers only: it must not be
	 * armed while the pool can serve a receive with a large one alone
	 * (armed, it would find no buffer, ask the pool, be told to try the
	 * kernel again, and spin). */
	NEED_READ_AHEAD();
	for (unsigned k = 0; k < 2; k++) {
		struct cport_options o;
		struct fix a, f;
		struct cport_completion c;
		void *held[8];
		test_options(&o);
		o.flags = kinds[k];
		o.pool_buffers = 8;
		o.pool_buffer_size = BUF;
		o.pool_large_buffers = 2;
		o.pool_large_buffer_size = 4 * BUF;
		cport_t *port = test_port_new(&o);
		a = (struct fix){.port = port};
		f = (struct fix){.port = port};
		test_tcp_pair(&a.c, &a.s);
		test_tcp_pair(&f.c, &f.s);
		cport_op_init(&a.op);
		cport_op_init(&f.op);
		cr_assert_eq(cport_attach(port, a.s, KEY), 0);
		cr_assert_eq(cport_attach(port, f.s, KEY), 0);
		cr_assert_eq(cport_set_completion_modes(port, f.s, CPORT_RECV_AHEAD), 0);
		for (unsigned i = 0; i < 8; i++) {
			cr_assert_eq(cport_recv_pooled(port, a.s, &a.op), 0);
			send_some(&a, 10);
			test_wait_one(port, &c);
			cr_assert_eq(c.result, 10);
			cr_assert_leq(cport_buf_size(port), BUF);
			held[i] = c.buf;
		}
		cr_assert_eq(cport_recv_pooled(port, f.s, &f.op), 0);
		send_some(&f, 100);
		cr_assert_eq(take(&f), 100);
		for (unsigned i = 0; i < 8; i++)
			cr_assert_eq(cport_buf_release(port, held[i]), 0);
		cport_destroy(port);
		close(a.c);
		close(a.s);
		close(f.c);
		close(f.s);
	}
}

/* The request goes to the kernel from the waiter's thread, which then parks. */
static void arm_here(struct test_waiter *w)
{
	struct fix *f = w->arg;
	cr_assert_eq(cport_recv_pooled(f->port, f->s, &f->op), 0);
}

#define PARKED_ROUNDS 200 /* of 16 bytes: under one request's cap of BUF */

/* The poller's thread, once it took the first message: it answers one
 * message at a time. */
static void answer_the_rest(struct test_waiter *w)
{
	struct fix *f = w->arg;
	cr_assert_eq(w->rc, 1);
	cr_assert_eq(took(f, &w->c), 16);
	for (unsigned i = 1; i < PARKED_ROUNDS; i++) {
		cr_assert_eq(cport_recv_pooled(f->port, f->s, &f->op), 0);
		send_some(f, 16);
		cr_assert_eq(take(f), 16);
	}
}

Test(recv_ahead, a_thread_that_armed_the_request_and_parks_on_the_port_is_not_woken_for_every_message,
     .timeout = TEST_TIMEOUT)
{
	NEED_READ_AHEAD();
	struct cport_options o;
	struct fix f;
	fix_options(&o, 0, POOL);
	o.concurrency = 1; /* so the follower stays parked while the poller runs */
	fix_open_with(&f, &o);
	/* A polls the kernel; B arms the request, then parks behind A. The
	 * kernel runs a request's work in the thread that submitted it, and
	 * wakes that thread if it sleeps. */
	struct test_waiter a = {.port = f.port, .id = 0, .after = answer_the_rest, .arg = &f};
	struct test_waiter b = {.port = f.port, .id = 1, .before = arm_here, .arg = &f};
	/* The first message is A's to check: f is A's from the threads' start. */
	char first[16];
	test_pattern_fill(first, sizeof(first), 0, SEED);
	f.sent = sizeof(first);
	test_waiter_start(&a);
	test_waiter_start(&b);
	unsigned long long before = test_thread_switches(atomic_load(&b.tid));
	cr_assert_eq(test_write_all(f.c, first, sizeof(first)), 0);
	test_waiter_join(&a);
	cr_assert_eq(f.got, 16u * PARKED_ROUNDS);
	test_waiter_slept_through(&b, f.port, before, PARKED_ROUNDS, "messages", KEY + 1);
	fix_close(&f);
}

static unsigned small_ring_depth(cport_t *port)
{
	return atomic_load(&port->pool.cls[POOL_SMALL].depth);
}

#define RING_POOL 256u
#define RING_CONNS 10

Test(recv_ahead, the_small_ring_holds_about_two_buffers_per_armed_request_not_the_whole_pool,
     .timeout = TEST_TIMEOUT)
{
	NEED_READ_AHEAD();
	struct fix f;
	int s[RING_CONNS], c[RING_CONNS];
	struct cport_op op[RING_CONNS];
	fix_open(&f, 0, RING_POOL);
	/* One connection: its messages go round a few buffers, still in the
	 * cache, not round all of them. */
	first_message(&f);
	cr_assert_leq(small_ring_depth(f.port), 16u, "one request, a ring of %u", small_ring_depth(f.port));
	/* More requests armed: the ring grows with them (two each). */
	for (int i = 0; i < RING_CONNS; i++) {
		test_tcp_pair(&c[i], &s[i]);
		cport_op_init(&op[i]);
		cr_assert_eq(cport_attach(f.port, s[i], KEY + 2), 0);
		cr_assert_eq(cport_set_completion_modes(f.port, s[i], CPORT_RECV_AHEAD), 0);
		cr_assert_eq(cport_recv_pooled(f.port, s[i], &op[i]), 0);
	}
	unsigned depth = small_ring_depth(f.port);
	cr_assert_geq(depth, 2u * (RING_CONNS + 1), "%d requests, a ring of %u", RING_CONNS + 1, depth);
	cr_assert_lt(depth, RING_POOL);
	for (int i = 0; i < RING_CONNS; i++) {
		cr_assert_eq(cport_close(f.port, s[i], NULL), 0);
		close(c[i]);
	}
	fix_close(&f);
}
