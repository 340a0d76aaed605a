/* udp_queue.c - a datagram socket's receives: each datagram completes
 * exactly one receive, in order, whether it came before the receive or
 * after it; cancels, cancel_fd and close take only receives that wait; a
 * socket error reaches a waiting receive. (On io_uring the receives share
 * one multishot request and datagrams that come first are kept: the same
 * behaviour as epoll's, tested on both.) */
#include "cport_test.h"
#include "../../src/fault.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(udp_queue);

#define MARK_KEY 0x77u
#define BURST 40 /* more than io_uring's datagram store holds */

struct rx {
	struct cport_op op;
	struct iovec iov;
	uint32_t seq;
};

static void send_seq(int tx, const struct sockaddr_storage *to, socklen_t len, uint32_t seq)
{
	cr_assert_eq(sendto(tx, &seq, sizeof(seq), 0, (const struct sockaddr *)to, len), (ssize_t)sizeof(seq));
}

static int start_rx(cport_t *port, int fd, struct rx *r)
{
	cport_op_init(&r->op);
	r->seq = 0xffffffffu;
	r->iov = (struct iovec){&r->seq, sizeof(r->seq)};
	return cport_recv(port, fd, &r->op, &r->iov, 1);
}

/* A receiving socket attached to a new port, and a socket to send from. */
struct fix {
	int rx, tx;
	struct sockaddr_storage ra, ta;
	socklen_t rlen, tlen;
	cport_t *port;
};

static void fix_open_with(struct fix *f, const struct cport_options *o)
{
	f->rx = test_udp_socket(AF_INET, &f->ra, &f->rlen);
	f->tx = test_udp_socket(AF_INET, &f->ta, &f->tlen);
	f->port = test_port_new(o);
	cr_assert_eq(cport_attach(f->port, f->rx, 1), 0);
}

static void fix_open(struct fix *f)
{
	fix_open_with(f, NULL);
}

static void fix_close(struct fix *f)
{
	cport_destroy(f->port);
	close(f->rx);
	close(f->tx);
}

static void fix_send(struct fix *f, uint32_t seq)
{
	send_seq(f->tx, &f->ra, f->rlen, seq);
}

/* A UDP socket connected to a port nobody listens on: whatever it sends is
 * answered with ICMP, which the kernel makes the socket's error. */
static int refused_socket(void)
{
	struct sockaddr_storage ra, closed;
	socklen_t rlen, clen;
	int fd = test_udp_socket(AF_INET, &ra, &rlen);
	int gone = test_udp_socket(AF_INET, &closed, &clen);

	close(gone);
	cr_assert_eq(connect(fd, (struct sockaddr *)&closed, clen), 0);
	return fd;
}

static void provoke_refusal(int fd)
{
	uint32_t x = 1;
	cr_assert_eq(send(fd, &x, sizeof(x), 0), (ssize_t)sizeof(x));
}

/* A post made now comes out after everything already queued. */
static void expect_nothing_queued(cport_t *port)
{
	struct cport_completion c;
	cr_assert_eq(cport_post(port, MARK_KEY, NULL, 0), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.key, MARK_KEY, "a completion (kind %u, result %lld) was queued", c.kind, (long long)c.result);
}

Test(udp_queue, datagrams_that_came_before_any_receive_each_complete_one_receive_in_order,
     .timeout = TEST_TIMEOUT)
{
	struct fix f;
	struct rx r;
	struct cport_completion c;

	fix_open(&f);
	/* A receive first, so a datagram store (if any) is armed and filled. */
	cr_assert_eq(start_rx(f.port, f.rx, &r), 0);
	for (uint32_t i = 0; i < BURST; i++)
		fix_send(&f, i);
	for (uint32_t i = 0; i < BURST; i++) {
		if (i > 0)
			cr_assert_eq(start_rx(f.port, f.rx, &r), 0);
		test_wait_one(f.port, &c);
		cr_assert_eq(c.op, &r.op);
		cr_assert_eq(c.result, (int64_t)sizeof(uint32_t));
		cr_assert_eq(r.seq, i, "datagram %u came as the %uth", r.seq, i);
	}
	/* Nothing more: a receive now waits. */
	cr_assert_eq(start_rx(f.port, f.rx, &r), 0);
	expect_nothing_queued(f.port);
	fix_send(&f, 1000);
	test_wait_one(f.port, &c);
	cr_assert_eq(c.op, &r.op);
	cr_assert_eq(r.seq, 1000u);
	fix_close(&f);
}

Test(udp_queue, each_of_a_burst_completes_exactly_one_of_many_waiting_receives, .timeout = TEST_TIMEOUT)
{
	struct fix f;
	struct rx r[8];
	struct cport_completion c[8];
	bool seen[8] = {false};

	fix_open(&f);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(start_rx(f.port, f.rx, &r[i]), 0);
	for (uint32_t i = 0; i < 8; i++)
		fix_send(&f, i);
	cr_assert_eq(test_wait_n(f.port, c, 8, TEST_WAIT_MS), 8);
	for (int i = 0; i < 8; i++) {
		struct rx *got = cport_container_of(c[i].op, struct rx, op);
		cr_assert_eq(c[i].result, (int64_t)sizeof(uint32_t));
		cr_assert_lt(got->seq, 8u);
		cr_assert(!seen[got->seq], "datagram %u completed two receives", got->seq);
		seen[got->seq] = true;
	}
	expect_nothing_queued(f.port);
	fix_close(&f);
}

/* Waiting receives of all three kinds, in turn: recv, recvfrom, recvmsg
 * (with a 2-byte buffer every third one: its datagram is cut, MSG_TRUNC). */
struct any_rx {
	struct rx r;
	struct sockaddr_storage from;
	socklen_t fromlen;
	struct msghdr m;
};

static void start_any(cport_t *port, int fd, struct any_rx *a, int i)
{
	cport_op_init(&a->r.op);
	a->r.seq = 0xffffffffu;
	a->r.iov = (struct iovec){&a->r.seq, sizeof(a->r.seq)};
	a->fromlen = sizeof(a->from);
	memset(&a->from, 0, sizeof(a->from));
	if (i % 3 == 0) {
		cr_assert_eq(cport_recv(port, fd, &a->r.op, &a->r.iov, 1), 0);
	} else if (i % 3 == 1) {
		cr_assert_eq(cport_recvfrom(port, fd, &a->r.op, &a->r.iov, 1, (struct sockaddr *)&a->from, &a->fromlen), 0);
	} else {
		a->r.iov.iov_len = 2;
		a->m = (struct msghdr){.msg_name = &a->from, .msg_namelen = sizeof(a->from), .msg_iov = &a->r.iov,
				       .msg_iovlen = 1};
		cr_assert_eq(cport_recvmsg(port, fd, &a->r.op, &a->m), 0);
	}
}

/* Receive i got datagram seq, as its kind reports it. */
static void check_any(const struct fix *f, struct any_rx *a, const struct cport_completion *c, int i, uint32_t seq)
{
	cr_assert_eq(c->op, &a->r.op, "completion %d is another receive's", i);
	if (i % 3 == 2) {
		uint32_t cut = 0xffffffffu;
		memcpy(&cut, &seq, 2);
		cr_assert_eq(c->result, 2);
		cr_assert_eq(a->r.seq, cut);
		cr_assert(a->m.msg_flags & MSG_TRUNC, "msg_flags %#x", a->m.msg_flags);
		cr_assert_eq(a->m.msg_namelen, sizeof(struct sockaddr_in));
		cr_assert_eq(test_addr_port(&a->from), test_addr_port(&f->ta));
		return;
	}
	cr_assert_eq(c->result, (int64_t)sizeof(uint32_t));
	cr_assert_eq(a->r.seq, seq, "receive %d got datagram %u, not %u", i, a->r.seq, seq);
	if (i % 3 == 1) {
		cr_assert_eq(a->fromlen, sizeof(struct sockaddr_in));
		cr_assert_eq(test_addr_port(&a->from), test_addr_port(&f->ta));
	}
}

Test(udp_queue, waiting_receives_take_a_smaller_burst_in_order_and_the_rest_wait_for_the_next,
     .timeout = TEST_TIMEOUT)
{
	struct fix f;
	struct any_rx a[8];
	struct cport_completion c[8];

	fix_open(&f);
	for (int i = 0; i < 8; i++)
		start_any(f.port, f.rx, &a[i], i);
	for (uint32_t i = 0; i < 3; i++)
		fix_send(&f, i);
	cr_assert_eq(test_wait_n(f.port, c, 3, TEST_WAIT_MS), 3);
	for (int i = 0; i < 3; i++)
		check_any(&f, &a[i], &c[i], i, (uint32_t)i);
	/* The socket is empty now: the other five wait, and each later
	 * datagram still reaches the first of them. */
	expect_nothing_queued(f.port);
	for (uint32_t i = 3; i < 8; i++) {
		fix_send(&f, i);
		test_wait_one(f.port, &c[i]);
		check_any(&f, &a[i], &c[i], (int)i, i);
	}
	expect_nothing_queued(f.port);
	fix_close(&f);
}

Test(udp_queue, datagrams_left_after_the_waiting_receives_are_full_go_to_the_next_receives,
     .timeout = TEST_TIMEOUT)
{
	struct fix f;
	struct rx r[2];
	struct cport_completion c[2];

	fix_open(&f);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(start_rx(f.port, f.rx, &r[i]), 0);
	for (uint32_t i = 0; i < 6; i++)
		fix_send(&f, i);
	/* Two at a time: each pair of receives takes the next two datagrams,
	 * though no new datagram comes to say the socket has more. */
	for (uint32_t i = 0; i < 6; i += 2) {
		if (i > 0)
			for (int k = 0; k < 2; k++)
				cr_assert_eq(start_rx(f.port, f.rx, &r[k]), 0);
		cr_assert_eq(test_wait_n(f.port, c, 2, TEST_WAIT_MS), 2, "datagrams %u and %u did not come", i, i + 1);
		for (int k = 0; k < 2; k++) {
			struct rx *got = cport_container_of(c[k].op, struct rx, op);
			cr_assert_eq(got->seq, i + (uint32_t)k);
		}
	}
	expect_nothing_queued(f.port);
	fix_close(&f);
}

Test(udp_queue, a_socket_error_ends_the_first_of_several_waiting_receives_only, .timeout = TEST_TIMEOUT)
{
	int rxfd = refused_socket();
	cport_t *port = test_port_new(NULL);
	struct rx r[3];
	struct cport_completion c[2];

	cr_assert_eq(cport_attach(port, rxfd, 1), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(start_rx(port, rxfd, &r[i]), 0);
	provoke_refusal(rxfd);
	test_wait_one(port, &c[0]);
	cr_assert_eq(c[0].op, &r[0].op);
	cr_assert_eq(c[0].result, -ECONNREFUSED);
	expect_nothing_queued(port);
	cr_assert_eq(cport_cancel_fd(port, rxfd), 0);
	cr_assert_eq(test_wait_n(port, c, 2, TEST_WAIT_MS), 2);
	cr_assert_eq(c[0].op, &r[1].op);
	cr_assert_eq(c[1].op, &r[2].op);
	cr_assert_eq(c[0].result, -ECANCELED);
	cr_assert_eq(c[1].result, -ECANCELED);
	cport_destroy(port);
	close(rxfd);
}

/* A thread that starts the socket's first receives, so that it is the one
 * that arms the socket's request in the kernel, then sleeps until told. */
struct armer {
	cport_t *port;
	int fd;
	struct rx r[4];
	_Atomic pid_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
};

static void *armer_main(void *arg)
{
	struct armer *a = arg;
	struct cport_completion c;
	for (int i = 0; i < 4; i++)
		cr_assert_eq(start_rx(a->port, a->fd, &a->r[i]), 0);
	/* A wait that polls once hands the request to the kernel from here. */
	cr_assert_eq(cport_wait(a->port, &c, 1, 0), 0);
	atomic_store(&a->tid, gettid());
	pthread_mutex_lock(&a->mu);
	while (!a->done)
		pthread_cond_wait(&a->cv, &a->mu);
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

#define ARMER_ROUNDS 600

Test(udp_queue, io_uring_a_sleeping_thread_that_armed_the_socket_is_not_woken_for_every_datagram,
     .timeout = TEST_TIMEOUT)
{
	struct fix f;
	struct armer a = {.done = false};
	struct cport_completion c;
	pthread_t t;

	if (test_backend() != CPORT_BACKEND_URING)
		cr_skip_test("io_uring only: epoll's receives run in the polling thread");
	fix_open(&f);
	a.port = f.port;
	a.fd = f.rx;
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	test_thread_start(&t, armer_main, &a);
	while (!atomic_load(&a.tid))
		usleep(1000);
	/* The kernel runs a request's work in the thread that submitted it,
	 * waking it if it sleeps. This thread polls and answers one datagram
	 * at a time; the armer sleeps throughout. */
	unsigned long long before = test_thread_switches(atomic_load(&a.tid));
	for (uint32_t i = 0; i < ARMER_ROUNDS; i++) {
		fix_send(&f, i);
		test_wait_one(f.port, &c);
		cr_assert_eq(c.result, (int64_t)sizeof(uint32_t));
		struct rx *r = cport_container_of(c.op, struct rx, op);
		cr_assert_eq(r->seq, i);
		cr_assert_eq(start_rx(f.port, f.rx, r), 0);
	}
	unsigned long long woken = test_thread_switches(atomic_load(&a.tid)) - before;
	/* Once the polling thread arms the request itself, the armer sleeps on. */
	cr_assert_lt(woken, ARMER_ROUNDS / 2, "the sleeping armer was woken %llu times for %d datagrams", woken,
		     ARMER_ROUNDS);
	pthread_mutex_lock(&a.mu);
	a.done = true;
	pthread_cond_signal(&a.cv);
	pthread_mutex_unlock(&a.mu);
	test_thread_join(t);
	fix_close(&f);
}

/* This thread, which never waits on f's port, starts a receive while a
 * worker sleeps in its wait; datagram seq completes it through the worker. */
static void receive_through_a_sleeping_worker(struct fix *f, uint32_t seq)
{
	struct rx r;
	struct test_waiter a = {.port = f->port, .id = 0};
	test_waiter_start(&a);
	cr_assert_eq(start_rx(f->port, f->rx, &r), 0);
	fix_send(f, seq);
	test_waiter_join(&a);
	cr_assert_eq(a.rc, 1);
	cr_assert_eq(a.c.op, &r.op);
	cr_assert_eq(a.c.result, (int64_t)sizeof(uint32_t));
	cr_assert_eq(r.seq, seq);
}

Test(udp_queue, a_receive_started_by_a_thread_that_runs_no_completions_reaches_the_kernel_while_the_poller_sleeps,
     .timeout = TEST_TIMEOUT)
{
	/* The classic IOCP shape: workers block on the port, another thread
	 * starts the reads. This thread never waits on the port, so nothing of
	 * its own would carry the receive to the kernel later. */
	struct fix f;
	fix_open(&f);
	receive_through_a_sleeping_worker(&f, 7);
	fix_close(&f);
}

/* A follower's first receive: it arms the socket's request from its own
 * thread (its wait hands the request to the kernel), then parks. */
static struct rx follower_rx;

static void arm_here(struct test_waiter *w)
{
	struct fix *f = w->arg;
	cr_assert_eq(start_rx(f->port, f->rx, &follower_rx), 0);
}

#define PARKED_ROUNDS 200 /* more than DG_REARM_EVERY's 128 */

/* The poller's thread, once it took datagram 0: it answers the rest one
 * at a time, each into the receive that took the one before. */
static void answer_the_rest(struct test_waiter *w)
{
	struct fix *f = w->arg;
	struct cport_completion c;
	cr_assert_eq(w->rc, 1);
	cr_assert_eq(w->c.op, &follower_rx.op);
	cr_assert_eq(follower_rx.seq, 0u);
	for (uint32_t i = 1; i < PARKED_ROUNDS; i++) {
		cr_assert_eq(start_rx(f->port, f->rx, &follower_rx), 0);
		fix_send(f, i);
		test_wait_one(f->port, &c);
		cr_assert_eq(c.result, (int64_t)sizeof(uint32_t));
		cr_assert_eq(follower_rx.seq, i);
	}
}

Test(udp_queue, io_uring_a_thread_that_armed_the_socket_and_parks_on_the_port_is_not_woken_for_every_datagram,
     .timeout = TEST_TIMEOUT)
{
	if (test_backend() != CPORT_BACKEND_URING)
		cr_skip_test("io_uring only: epoll's receives run in the polling thread");
	struct cport_options o;
	struct fix f;
	test_options(&o);
	o.concurrency = 1; /* so the follower stays parked while the poller runs */
	fix_open_with(&f, &o);
	/* A polls the kernel; B arms the request, then parks behind A. The
	 * kernel runs the request's work in B's thread and wakes it for that,
	 * unless the request moves to A's: within a datagram or two, not after
	 * the DG_REARM_EVERY that a thread asleep elsewhere is given. */
	struct test_waiter a = {.port = f.port, .id = 0, .after = answer_the_rest, .arg = &f};
	struct test_waiter b = {.port = f.port, .id = 1, .before = arm_here, .arg = &f};
	test_waiter_start(&a);
	test_waiter_start(&b);
	unsigned long long before = test_thread_switches(atomic_load(&b.tid));
	fix_send(&f, 0);
	test_waiter_join(&a);
	test_waiter_slept_through(&b, f.port, before, PARKED_ROUNDS, "datagrams", MARK_KEY);
	fix_close(&f);
}

Test(udp_queue, a_cancelled_receive_leaves_the_next_datagram_to_the_next_receive, .timeout = TEST_TIMEOUT)
{
	struct fix f;
	struct rx r1, r2;
	struct cport_completion c;

	fix_open(&f);
	cr_assert_eq(start_rx(f.port, f.rx, &r1), 0);
	cr_assert_eq(start_rx(f.port, f.rx, &r2), 0);
	cr_assert_eq(cport_cancel(f.port, &r1.op), 0);
	test_wait_one(f.port, &c);
	cr_assert_eq(c.op, &r1.op);
	cr_assert_eq(c.result, -ECANCELED);
	fix_send(&f, 7);
	test_wait_one(f.port, &c);
	cr_assert_eq(c.op, &r2.op);
	cr_assert_eq(r2.seq, 7u);
	fix_close(&f);
}

Test(udp_queue, cancel_fd_ends_the_waiting_receives_and_a_later_one_gets_the_next_datagram,
     .timeout = TEST_TIMEOUT)
{
	struct fix f;
	struct rx r[3], later;
	struct cport_completion c[3];

	fix_open(&f);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(start_rx(f.port, f.rx, &r[i]), 0);
	cr_assert_eq(cport_cancel_fd(f.port, f.rx), 0);
	cr_assert_eq(test_wait_n(f.port, c, 3, TEST_WAIT_MS), 3);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(c[i].result, -ECANCELED);
	cr_assert_eq(start_rx(f.port, f.rx, &later), 0);
	fix_send(&f, 9);
	test_wait_one(f.port, &c[0]);
	cr_assert_eq(c[0].op, &later.op);
	cr_assert_eq(later.seq, 9u);
	fix_close(&f);
}

Test(udp_queue, close_ends_the_waiting_receives_before_its_own_completion, .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage ra;
	socklen_t rlen;
	int rxfd = test_udp_socket(AF_INET, &ra, &rlen);
	cport_t *port = test_port_new(NULL);
	struct rx r[2];
	struct cport_op closer;
	struct cport_completion c[3];

	cr_assert_eq(cport_attach(port, rxfd, 1), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(start_rx(port, rxfd, &r[i]), 0);
	cport_op_init(&closer);
	cr_assert_eq(cport_close(port, rxfd, &closer), 0);
	cr_assert_eq(test_wait_n(port, c, 3, TEST_WAIT_MS), 3);
	cr_assert_eq(c[0].result, -ECANCELED);
	cr_assert_eq(c[1].result, -ECANCELED);
	cr_assert_eq(c[2].op, &closer, "the close did not complete last");
	cr_assert_eq(c[2].result, 0);
	expect_nothing_queued(port);
	cport_destroy(port);
}

/* Detach f's socket (its receives all taken): datagram 2, sent after,
 * reaches the caller's own read. */
static void detach_leaves_the_next_datagram_to_the_caller(struct fix *f)
{
	uint32_t got = 0;
	cr_assert_eq(cport_detach(f->port, f->rx, NULL), 0);
	fix_send(f, 2);
	ssize_t n = test_read_some(f->rx, &got, sizeof(got), 2000);
	cr_assert_eq(n, (ssize_t)sizeof(got), "the datagram sent after the detach did not reach the caller (%zd)", n);
	cr_assert_eq(got, 2u);
}

Test(udp_queue, a_datagram_that_comes_after_a_detach_is_left_for_the_callers_own_recv,
     .timeout = TEST_TIMEOUT)
{
	struct fix f;
	struct rx r;
	struct cport_completion c;

	fix_open(&f);
	/* A receive taken and none waiting: on io_uring the socket's request
	 * stays in the kernel, and with nothing of the fd's out the detach
	 * completes in the call. */
	cr_assert_eq(start_rx(f.port, f.rx, &r), 0);
	fix_send(&f, 1);
	test_wait_one(f.port, &c);
	cr_assert_eq(r.seq, 1u);
	detach_leaves_the_next_datagram_to_the_caller(&f);
	fix_close(&f);
}

Test(udp_queue, a_detach_by_a_thread_that_runs_no_completions_leaves_the_next_datagram_to_the_caller,
     .timeout = TEST_TIMEOUT)
{
	/* As above, but the receive is taken by a worker that has gone, and
	 * this thread never waits on the port: nothing of its own would carry
	 * the end of the socket's request to the kernel later. */
	struct fix f;
	fix_open(&f);
	receive_through_a_sleeping_worker(&f, 1);
	detach_leaves_the_next_datagram_to_the_caller(&f);
	fix_close(&f);
}

Test(udp_queue, a_refused_datagram_ends_a_waiting_receive_with_econnrefused, .timeout = TEST_TIMEOUT)
{
	int rxfd = refused_socket();
	cport_t *port = test_port_new(NULL);
	struct rx r;
	struct cport_completion c;

	cr_assert_eq(cport_attach(port, rxfd, 1), 0);
	cr_assert_eq(start_rx(port, rxfd, &r), 0);
	provoke_refusal(rxfd);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &r.op);
	cr_assert_eq(c.result, -ECONNREFUSED);
	cport_destroy(port);
	close(rxfd);
}

Test(udp_queue, control_data_larger_than_the_receivers_buffer_is_cut_with_msg_ctrunc, .timeout = TEST_TIMEOUT)
{
	struct fix f;
	int one = 1;
	struct cport_op op;
	struct cport_completion c;
	uint32_t seq = 0;
	char ctl[4]; /* room for no cmsghdr at all */
	struct sockaddr_storage from;
	struct iovec iov = {&seq, sizeof(seq)};
	struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1,
			   .msg_control = ctl, .msg_controllen = sizeof(ctl)};

	fix_open(&f);
	cr_assert_eq(setsockopt(f.rx, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_recvmsg(f.port, f.rx, &op, &m), 0);
	fix_send(&f, 5);
	test_wait_one(f.port, &c);
	cr_assert_eq(c.result, (int64_t)sizeof(seq));
	cr_assert_eq(seq, 5u);
	cr_assert(m.msg_flags & MSG_CTRUNC, "msg_flags %#x", m.msg_flags);
	cr_assert_eq(m.msg_namelen, sizeof(struct sockaddr_in));
	cr_assert_eq(test_addr_port(&from), test_addr_port(&f.ta));
	fix_close(&f);
}

/* Every SQE the backend writes for itself (op NULL: its multishot request,
 * its wake read, its cancels) finds the SQ full. */
static int64_t own_sqes_fail(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	(void)pt;
	(void)ctx;
	return op ? v : 1;
}

Test(udp_queue, io_uring_receives_left_without_a_request_when_the_sq_is_full_complete_with_eagain,
     .timeout = TEST_TIMEOUT)
{
	struct rx r1, r2;
	struct cport_completion c[2];

	if (test_backend() != CPORT_BACKEND_URING)
		cr_skip_test("io_uring only: epoll has no submission queue");
	int rxfd = refused_socket();
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, rxfd, 1), 0);
	cr_assert_eq(start_rx(port, rxfd, &r1), 0);
	cr_assert_eq(start_rx(port, rxfd, &r2), 0);
	/* The refusal ends the request; the receive after the first is left
	 * waiting, and its request cannot be armed again. */
	cport_fault_set(FAULT_SQ_FULL, own_sqes_fail, NULL);
	provoke_refusal(rxfd);
	int n = test_wait_n(port, c, 2, TEST_WAIT_MS);
	cport_fault_set(FAULT_SQ_FULL, NULL, NULL);
	cr_assert_eq(n, 2);
	cr_assert_eq(c[0].op, &r1.op);
	cr_assert_eq(c[0].result, -ECONNREFUSED);
	cr_assert_eq(c[1].op, &r2.op);
	cr_assert_eq(c[1].result, -EAGAIN, "the stranded receive ended with %lld", (long long)c[1].result);
	cport_destroy(port);
	close(rxfd);
}
