/* teardown_under_load.c - cport_close, cport_detach and cport_cancel_fd
 * called from one thread while other threads wait on the port and the fd's
 * recv and send move data: every op completes exactly once with a legal
 * result, no byte is lost or invented, and a close or detach completion is
 * the last one for its fd. */
#include "cport_test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(teardown_under_load);

#define PAIRS 12
#define WAITERS 3
#define WAIT_BATCH 8
#define RECV_LEN 4096
#define SEND_LEN (64 * 1024)
#define PUMP_CHUNK (16 * 1024)
#define PUMP_POLL_MS 20
#define SMALL_SNDBUF 16384
#define WARMUP_COMPLETIONS 6 /* each fd's ops move data this often before its teardown */
#define KEY_BASE ((uintptr_t)1 << 36)
#define KEY_STOP ((uintptr_t)-1)
/* Each round is a fresh port and fresh pairs; the races looked for here
 * (a completion still on its way to the queue when the fd's close is
 * called) open and close in microseconds, so a few rounds give them more
 * chances. */
#define ROUNDS 6

enum teardown { TEARDOWN_CLOSE, TEARDOWN_DETACH, TEARDOWN_CANCEL_FD };

/* One TCP pair: a is attached to the port; the pump drives b. */
struct conn {
	int a, b;
	uintptr_t key;
	struct cport_op rop, sop, eop; /* recv, send, and the close or detach */
	char rbuf[RECV_LEN];
	char sbuf[SEND_LEN];
	struct iovec riov, siov;
	/* Ledger, under the shared lock. */
	bool r_armed, s_armed; /* in flight */
	bool ending;           /* teardown asked for: ops are not started again */
	bool ended;            /* its close or detach completed */
	uint64_t recv_pos, send_pos;
	int completions;
	/* The pump's side, its thread's alone until it is joined. */
	uint64_t pump_sent, pump_recvd;
	bool pump_rd_done, pump_wr_done;
};

struct load {
	cport_t *port;
	struct conn conn[PAIRS];
	pthread_mutex_t lock;
	pthread_cond_t cv; /* signalled on every completion */
	/* What went wrong, counted under lock; the first one described. */
	int doubles, after_end, end_early, bad_results, bad_bytes, rearm_errors, wait_errors;
	char first[200];
	int cancelled, data_completions;
	/* The pump. */
	atomic_bool pump_stop;
	int pump_errors;
	char pump_first[200];
};

static uint32_t recv_seed(int i)
{
	return 2u * (uint32_t)i + 1u;
}

static uint32_t send_seed(int i)
{
	return 2u * (uint32_t)i + 2u;
}

/* Record a violation. lock held. */
static void violation(struct load *l, int *counter, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void violation(struct load *l, int *counter, const char *fmt, ...)
{
	if (!l->first[0]) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(l->first, sizeof(l->first), fmt, ap);
		va_end(ap);
	}
	(*counter)++;
}

/* Start c's recv. lock held. */
static int arm_recv(struct load *l, struct conn *c)
{
	c->riov = (struct iovec){c->rbuf, sizeof(c->rbuf)};
	int rc = cport_recv(l->port, c->a, &c->rop, &c->riov, 1);

	c->r_armed = rc == 0;
	return rc;
}

/* Start c's send of the next SEND_LEN bytes of its stream. lock held. */
static int arm_send(struct load *l, struct conn *c, int i)
{
	test_pattern_fill(c->sbuf, sizeof(c->sbuf), c->send_pos, send_seed(i));
	c->siov = (struct iovec){c->sbuf, sizeof(c->sbuf)};
	int rc = cport_send(l->port, c->a, &c->sop, &c->siov, 1);

	c->s_armed = rc == 0;
	return rc;
}

/* Start an op again unless its fd is being torn down; a teardown racing
 * this may refuse it (-EBADF), nothing else may. lock held. */
static void rearm(struct load *l, struct conn *c, int i, bool recv)
{
	if (c->ending)
		return;
	int rc = recv ? arm_recv(l, c) : arm_send(l, c, i);

	if (rc < 0 && !(rc == -EBADF && c->ending))
		violation(l, &l->rearm_errors, "fd %d: restarting its %s gave %d", i,
			  recv ? "recv" : "send", rc);
}

/* A recv or send completion of conn i. lock held. */
static void note_data_op(struct load *l, struct conn *c, int i, const struct cport_completion *k)
{
	bool recv = k->op == &c->rop;
	bool *armed = recv ? &c->r_armed : &c->s_armed;

	if (!*armed)
		violation(l, &l->doubles, "fd %d: a %s completed while not in flight (result %lld)",
			  i, recv ? "recv" : "send", (long long)k->result);
	*armed = false;
	c->completions++;
	if (k->result == -ECANCELED) {
		l->cancelled++;
	} else if (k->result <= 0) {
		violation(l, &l->bad_results, "fd %d: %s gave %lld", i, recv ? "recv" : "send",
			  (long long)k->result);
	} else if (recv) {
		ssize_t bad = test_pattern_mismatch(c->rbuf, (size_t)k->result, c->recv_pos,
						    recv_seed(i));

		if (bad >= 0)
			violation(l, &l->bad_bytes, "fd %d: wrong byte at stream offset %llu", i,
				  (unsigned long long)(c->recv_pos + (uint64_t)bad));
		c->recv_pos += (uint64_t)k->result;
		l->data_completions++;
	} else {
		c->send_pos += (uint64_t)k->result;
		l->data_completions++;
	}
	rearm(l, c, i, recv);
}

/* The close or detach completion of conn i: every op of the fd must have
 * completed before it. lock held. */
static void note_end(struct load *l, struct conn *c, int i, const struct cport_completion *k)
{
	if (k->kind != CPORT_OP_CLOSE && k->kind != CPORT_OP_DETACH)
		violation(l, &l->bad_results, "fd %d: its end op completed as kind %u", i, k->kind);
	if (k->result != 0)
		violation(l, &l->bad_results, "fd %d: close/detach gave %lld", i,
			  (long long)k->result);
	if (c->r_armed || c->s_armed)
		violation(l, &l->end_early, "fd %d: its %s completion came before its %s%s%s", i,
			  k->kind == CPORT_OP_CLOSE ? "close" : "detach", c->r_armed ? "recv" : "",
			  c->r_armed && c->s_armed ? " and " : "", c->s_armed ? "send" : "");
	c->ended = true;
}

/* One completion (not a stop). lock held. */
static void note(struct load *l, const struct cport_completion *k)
{
	int i = (int)(k->key - KEY_BASE);

	if (k->key < KEY_BASE || i >= PAIRS) {
		violation(l, &l->bad_results, "a completion with key %#lx", (unsigned long)k->key);
		return;
	}
	struct conn *c = &l->conn[i];

	if (c->ended)
		violation(l, &l->after_end, "fd %d: a completion (kind %u, result %lld) after its "
			  "close/detach completion", i, k->kind, (long long)k->result);
	if (k->op == &c->eop)
		note_end(l, c, i, k);
	else if (k->op == &c->rop || k->op == &c->sop)
		note_data_op(l, c, i, k);
	else
		violation(l, &l->bad_results, "fd %d: a completion for an op it never started", i);
}

/* The port runs one thread at a time (concurrency 1), so the waiters take
 * the ledger in the order the port hands completions out. */
static void *waiter_main(void *arg)
{
	struct load *l = arg;
	struct cport_completion ks[WAIT_BATCH];

	for (;;) {
		int n = cport_wait(l->port, ks, WAIT_BATCH, TEST_WAIT_MS);

		if (n == -EINTR)
			continue;
		int stops = 0;

		pthread_mutex_lock(&l->lock);
		if (n <= 0)
			violation(l, &l->wait_errors, "cport_wait gave %d", n);
		for (int k = 0; k < n; k++) {
			if (ks[k].key == KEY_STOP)
				stops++;
			else
				note(l, &ks[k]);
		}
		/* One stop per waiter: pass on any extra this batch took. */
		for (int k = 1; k < stops; k++)
			if (cport_post(l->port, KEY_STOP, NULL, 0) < 0)
				violation(l, &l->wait_errors, "passing on a stop failed");
		pthread_cond_broadcast(&l->cv);
		pthread_mutex_unlock(&l->lock);
		if (n <= 0 || stops)
			return NULL;
	}
}

static void pump_error(struct load *l, const char *fmt, int i, unsigned long long v)
{
	if (!l->pump_first[0])
		snprintf(l->pump_first, sizeof(l->pump_first), fmt, i, v);
	l->pump_errors++;
}

/* Read what conn i's sends delivered, checking every byte. */
static void pump_read(struct load *l, struct conn *c, int i)
{
	char buf[PUMP_CHUNK];
	ssize_t n = recv(c->b, buf, sizeof(buf), MSG_DONTWAIT);

	if (n > 0) {
		ssize_t bad = test_pattern_mismatch(buf, (size_t)n, c->pump_recvd, send_seed(i));

		if (bad >= 0)
			pump_error(l, "fd %d: the peer got a wrong byte at stream offset %llu", i,
				   (unsigned long long)(c->pump_recvd + (uint64_t)bad));
		c->pump_recvd += (uint64_t)n;
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		c->pump_rd_done = true; /* closed through the port */
		c->pump_wr_done = c->pump_wr_done || n < 0;
	}
}

/* Feed conn i's recvs the next bytes of their stream. */
static void pump_write(struct load *l, struct conn *c, int i)
{
	char buf[PUMP_CHUNK];

	(void)l;
	test_pattern_fill(buf, sizeof(buf), c->pump_sent, recv_seed(i));
	ssize_t n = send(c->b, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n > 0)
		c->pump_sent += (uint64_t)n;
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		c->pump_wr_done = true;
}

/* Keeps data moving both ways on every pair until told to stop. */
static void *pump_main(void *arg)
{
	struct load *l = arg;
	struct pollfd pfd[PAIRS];

	while (!atomic_load(&l->pump_stop)) {
		for (int i = 0; i < PAIRS; i++) {
			struct conn *c = &l->conn[i];

			pfd[i] = (struct pollfd){.fd = c->pump_rd_done && c->pump_wr_done ? -1 : c->b};
			pfd[i].events = (short)((c->pump_rd_done ? 0 : POLLIN) |
						(c->pump_wr_done ? 0 : POLLOUT));
		}
		if (poll(pfd, PAIRS, PUMP_POLL_MS) < 0 && errno != EINTR) {
			pump_error(l, "pump %d: poll: %llu", 0, (unsigned long long)errno);
			return NULL;
		}
		for (int i = 0; i < PAIRS; i++) {
			struct conn *c = &l->conn[i];

			if (!c->pump_rd_done && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				pump_read(l, c, i);
			if (!c->pump_wr_done && (pfd[i].revents & (POLLOUT | POLLERR)))
				pump_write(l, c, i);
		}
	}
	return NULL;
}

/* Wait (bounded) until pred holds for conn i. lock held. */
static bool await_conn(struct load *l, int i, bool (*pred)(const struct conn *))
{
	struct timespec ts;

	test_abstime(&ts, TEST_WAIT_MS);
	while (!pred(&l->conn[i]))
		if (pthread_cond_timedwait(&l->cv, &l->lock, &ts) == ETIMEDOUT)
			return pred(&l->conn[i]);
	return true;
}

static bool warmed_up(const struct conn *c)
{
	return c->completions >= WARMUP_COMPLETIONS;
}

static bool quiet(const struct conn *c)
{
	return !c->r_armed && !c->s_armed;
}

static bool ended(const struct conn *c)
{
	return c->ended;
}

static void load_setup(struct load *l)
{
	struct cport_options o;
	int small = SMALL_SNDBUF;

	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cv, NULL);
	test_options(&o);
	o.concurrency = 1;
	l->port = test_port_new(&o);
	for (int i = 0; i < PAIRS; i++) {
		struct conn *c = &l->conn[i];

		test_tcp_pair(&c->a, &c->b);
		/* A small send buffer keeps a's sends in flight while the pump reads. */
		cr_assert_eq(setsockopt(c->a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
		cr_assert_eq(fcntl(c->b, F_SETFL, fcntl(c->b, F_GETFL) | O_NONBLOCK), 0);
		c->key = KEY_BASE + (uintptr_t)i;
		cport_op_init(&c->rop);
		cport_op_init(&c->sop);
		cport_op_init(&c->eop);
		cr_assert_eq(cport_attach(l->port, c->a, c->key), 0);
	}
}

static void assert_ledger_clean(struct load *l)
{
	const char *first = l->first;

	cr_assert_eq(l->wait_errors, 0, "%d waits failed (first problem: %s)", l->wait_errors, first);
	cr_assert_eq(l->doubles, 0, "%d ops completed twice (first problem: %s)", l->doubles, first);
	cr_assert_eq(l->after_end, 0, "%d completions after their fd's close/detach (first problem: %s)",
		     l->after_end, first);
	cr_assert_eq(l->end_early, 0, "%d close/detach completions before their fd's ops (first "
		     "problem: %s)", l->end_early, first);
	cr_assert_eq(l->bad_results, 0, "%d illegal results (first problem: %s)", l->bad_results, first);
	cr_assert_eq(l->bad_bytes, 0, "%d wrong bytes received (first problem: %s)", l->bad_bytes,
		     first);
	cr_assert_eq(l->rearm_errors, 0, "%d restarts refused (first problem: %s)", l->rearm_errors,
		     first);
	cr_assert_eq(l->pump_errors, 0, "%d pump errors (first: %s)", l->pump_errors, l->pump_first);
}

/* Tear down conn i the given way, from this (not a waiting) thread. */
static void teardown(struct load *l, int i, enum teardown how)
{
	struct conn *c = &l->conn[i];
	int rc;

	pthread_mutex_lock(&l->lock);
	cr_assert(await_conn(l, i, warmed_up), "fd %d: only %d completions in %d ms", i,
		  c->completions, TEST_WAIT_MS);
	c->ending = true;
	pthread_mutex_unlock(&l->lock);
	switch (how) {
	case TEARDOWN_CLOSE:
		rc = cport_close(l->port, c->a, &c->eop);
		break;
	case TEARDOWN_DETACH:
		rc = cport_detach(l->port, c->a, &c->eop);
		break;
	default:
		rc = cport_cancel_fd(l->port, c->a);
		break;
	}
	cr_assert_eq(rc, 0, "fd %d: teardown %d gave %d", i, how, rc);
}

/* Read fd until it has nothing more (-EAGAIN) or ends, checking the pattern
 * from *pos on; returns 0, 0 at the end (*eof set), or -errno. */
static int drain_stream(int fd, uint64_t *pos, uint32_t seed, bool *eof)
{
	char buf[PUMP_CHUNK];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0) {
			*eof = true;
			return 0;
		}
		ssize_t bad = test_pattern_mismatch(buf, (size_t)n, *pos, seed);

		cr_assert_eq(bad, -1, "wrong byte at stream offset %llu",
			     (unsigned long long)(*pos + (uint64_t)(bad < 0 ? 0 : bad)));
		*pos += (uint64_t)n;
	}
}

/* Conn i was closed through the port: its peer gets the rest of what the
 * sends reported sent, then the end of the stream (or a reset, since a was
 * closed with bytes unread). */
static void drain_closed(struct load *l, int i)
{
	struct conn *c = &l->conn[i];
	bool eof = c->pump_rd_done;
	int64_t deadline = test_now_ms() + TEST_WAIT_MS;
	int rc = 0;

	while (!eof && rc == 0 && test_now_ms() < deadline) {
		test_await_readable(c->b);
		rc = drain_stream(c->b, &c->pump_recvd, send_seed(i), &eof);
	}
	cr_assert(eof || rc == -ECONNRESET, "fd %d: its peer did not see it closed (%d)", i, rc);
	cr_assert_leq(c->pump_recvd, c->send_pos, "fd %d: the peer got %llu bytes, the sends "
		      "reported %llu", i, (unsigned long long)c->pump_recvd,
		      (unsigned long long)c->send_pos);
}

/* Conn i is still open and quiet: the peer gets exactly what the sends
 * reported sent, and a holds exactly what its recvs did not take. */
static void account_streams(struct load *l, int i)
{
	struct conn *c = &l->conn[i];
	bool eof = false;
	int64_t deadline = test_now_ms() + TEST_WAIT_MS;

	while (c->pump_recvd < c->send_pos && test_now_ms() < deadline) {
		test_await_readable(c->b);
		cr_assert_eq(drain_stream(c->b, &c->pump_recvd, send_seed(i), &eof), 0);
		cr_assert_not(eof);
	}
	cr_assert_eq(c->pump_recvd, c->send_pos, "fd %d: the peer got %llu bytes, the sends "
		     "reported %llu", i, (unsigned long long)c->pump_recvd,
		     (unsigned long long)c->send_pos);
	uint64_t pos = c->recv_pos;

	deadline = test_now_ms() + TEST_WAIT_MS;
	while (pos < c->pump_sent && test_now_ms() < deadline) {
		test_await_readable(c->a);
		cr_assert_eq(drain_stream(c->a, &pos, recv_seed(i), &eof), 0);
		cr_assert_not(eof);
	}
	cr_assert_eq(pos, c->pump_sent, "fd %d: the recvs took %llu bytes, %llu were left, the "
		     "peer sent %llu", i, (unsigned long long)c->recv_pos,
		     (unsigned long long)(pos - c->recv_pos), (unsigned long long)c->pump_sent);
}

static void teardown_round(enum teardown how)
{
	struct load *l = calloc(1, sizeof(*l));
	pthread_t waiters[WAITERS], pump;

	cr_assert_not_null(l);
	load_setup(l);
	for (int w = 0; w < WAITERS; w++)
		test_thread_start(&waiters[w], waiter_main, l);
	pthread_mutex_lock(&l->lock);
	for (int i = 0; i < PAIRS; i++) {
		cr_assert_eq(arm_recv(l, &l->conn[i]), 0);
		cr_assert_eq(arm_send(l, &l->conn[i], i), 0);
	}
	pthread_mutex_unlock(&l->lock);
	test_thread_start(&pump, pump_main, l);
	for (int i = 0; i < PAIRS; i++)
		teardown(l, i, how);
	/* Every op completes; a close or detach completes after them. */
	pthread_mutex_lock(&l->lock);
	for (int i = 0; i < PAIRS; i++) {
		struct conn *c = &l->conn[i];

		cr_assert(await_conn(l, i, quiet), "fd %d: %s%s still in flight after %d ms", i,
			  c->r_armed ? "recv " : "", c->s_armed ? "send" : "", TEST_WAIT_MS);
		if (how != TEARDOWN_CANCEL_FD)
			cr_assert(await_conn(l, i, ended), "fd %d: no close/detach completion", i);
	}
	pthread_mutex_unlock(&l->lock);
	atomic_store(&l->pump_stop, true);
	test_thread_join(pump);
	for (int w = 0; w < WAITERS; w++)
		cr_assert_eq(cport_post(l->port, KEY_STOP, NULL, 0), 0);
	for (int w = 0; w < WAITERS; w++)
		test_thread_join(waiters[w]);
	cr_log_info("%s: teardown %d: %d data completions, %d cancelled", test_backend_label(), how,
		    l->data_completions, l->cancelled);
	assert_ledger_clean(l);
	for (int i = 0; i < PAIRS; i++) {
		if (how == TEARDOWN_CLOSE) {
			drain_closed(l, i);
		} else {
			cr_assert(test_fd_open(l->conn[i].a), "fd %d: detach or cancel_fd closed it", i);
			account_streams(l, i);
		}
	}
	test_expect_idle(l->port, 0);

	cport_destroy(l->port);
	for (int i = 0; i < PAIRS; i++) {
		if (how != TEARDOWN_CLOSE)
			close(l->conn[i].a);
		close(l->conn[i].b);
	}
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static void run_teardown_under_load(enum teardown how)
{
	for (int round = 0; round < ROUNDS; round++)
		teardown_round(how);
}

Test(teardown_under_load,
     closing_fds_from_another_thread_while_data_moves_completes_each_op_once_and_the_close_last,
     .timeout = TEST_TIMEOUT)
{
	run_teardown_under_load(TEARDOWN_CLOSE);
}

Test(teardown_under_load,
     detaching_fds_from_another_thread_while_data_moves_completes_each_op_once_and_the_detach_last,
     .timeout = TEST_TIMEOUT)
{
	run_teardown_under_load(TEARDOWN_DETACH);
}

Test(teardown_under_load,
     cancelling_fds_from_another_thread_while_data_moves_completes_each_op_once_legally,
     .timeout = TEST_TIMEOUT)
{
	run_teardown_under_load(TEARDOWN_CANCEL_FD);
}
