/* hot_thread.c - under load a port runs on no more threads than its
 * concurrency limit lets run: the thread that collects a batch of
 * completions runs it itself and the other waiters stay asleep. What a
 * running thread starts may wait for its next wait, but no longer than
 * until it waits again or leaves. */
#include "cport_test.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(hot_thread);

#define WAITERS 4
#define PAIRS 8
#define ROUNDS 200
#define KEY_STOP ((uintptr_t)-1)

struct pair {
	int fd, peer;
	struct cport_op op;
	char buf[16];
	struct iovec iov;
};

struct hot {
	cport_t *port;
	struct pair pairs[PAIRS];
	atomic_int received;
	atomic_int errors;
	atomic_int stopped;
	struct hot_waiter {
		struct hot *h;
		_Atomic pid_t tid;
		atomic_int ran; /* receive completions this thread ran */
		pthread_t thread;
	} w[WAITERS];
};

static int arm(struct hot *h, struct pair *pr)
{
	pr->iov = (struct iovec){pr->buf, sizeof(pr->buf)};
	return cport_recv(h->port, pr->fd, &pr->op, &pr->iov, 1);
}

/* A worker in the seed's shape: wait, handle, start the next receive. */
static void *hot_waiter_main(void *arg)
{
	struct hot_waiter *w = arg;
	struct hot *h = w->h;
	struct cport_completion c[8];

	atomic_store(&w->tid, gettid());
	for (;;) {
		int n = cport_wait(h->port, c, 8, -1);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			atomic_fetch_add(&h->errors, 1);
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			/* One stop at a time, handed on: a batch never swallows two. */
			if (c[i].key == KEY_STOP) {
				if (atomic_fetch_add(&h->stopped, 1) + 1 < WAITERS &&
				    cport_post(h->port, KEY_STOP, NULL, 0) != 0)
					atomic_fetch_add(&h->errors, 1);
				return NULL;
			}
			struct pair *pr = &h->pairs[c[i].key];
			if (c[i].result <= 0 || arm(h, pr) != 0)
				atomic_fetch_add(&h->errors, 1);
			atomic_fetch_add(&w->ran, 1);
			atomic_fetch_add(&h->received, (int)(c[i].result > 0 ? c[i].result : 0));
		}
	}
}

/* Wait (bounded) until the waiters have received want bytes in all. */
static void await_received(struct hot *h, int want)
{
	int64_t deadline = test_now_ms() + TEST_WAIT_MS;
	while (atomic_load(&h->received) < want && atomic_load(&h->errors) == 0) {
		cr_assert_lt(test_now_ms(), deadline, "received %d of %d bytes", atomic_load(&h->received), want);
		usleep(50);
	}
	cr_assert_eq(atomic_load(&h->errors), 0);
}

Test(hot_thread, a_busy_port_with_room_for_one_runs_on_one_thread_while_the_others_sleep, .timeout = TEST_TIMEOUT)
{
	struct cport_options o;
	struct hot h;

	memset(&h, 0, sizeof(h));
	test_options(&o);
	o.concurrency = 1;
	h.port = test_port_new(&o);
	for (int i = 0; i < PAIRS; i++) {
		struct pair *pr = &h.pairs[i];
		test_tcp_pair(&pr->fd, &pr->peer);
		cr_assert_eq(cport_attach(h.port, pr->fd, (uintptr_t)i), 0);
		cport_op_init(&pr->op);
		cr_assert_eq(arm(&h, pr), 0);
	}
	for (int i = 0; i < WAITERS; i++) {
		h.w[i].h = &h;
		test_thread_start(&h.w[i].thread, hot_waiter_main, &h.w[i]);
	}
	unsigned long long before[WAITERS];
	for (int i = 0; i < WAITERS; i++) {
		while (!atomic_load(&h.w[i].tid))
			usleep(100);
		cr_assert(test_thread_parked(atomic_load(&h.w[i].tid), TEST_WAIT_MS), "waiter %d never slept", i);
		before[i] = test_thread_switches(atomic_load(&h.w[i].tid));
	}

	/* Closed loop: a byte to every pair, and the next round once all are in. */
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < PAIRS; i++)
			cr_assert_eq(test_write_all(h.pairs[i].peer, "x", 1), 0);
		await_received(&h, (r + 1) * PAIRS);
	}

	int hot = -1;
	for (int i = 0; i < WAITERS; i++) {
		if (atomic_load(&h.w[i].ran) == 0)
			continue;
		cr_assert_eq(hot, -1, "waiters %d and %d both ran completions", hot, i);
		hot = i;
	}
	cr_assert_eq(atomic_load(&h.w[hot].ran), ROUNDS * PAIRS);
	for (int i = 0; i < WAITERS; i++) {
		if (i == hot)
			continue;
		unsigned long long after = test_thread_switches(atomic_load(&h.w[i].tid));
		cr_assert_eq(after, before[i], "waiter %d was woken %llu times while another ran every completion", i,
			     after - before[i]);
	}

	cr_assert_eq(cport_post(h.port, KEY_STOP, NULL, 0), 0);
	for (int i = 0; i < WAITERS; i++)
		test_thread_join(h.w[i].thread);
	cr_assert_eq(cport_destroy(h.port), 0);
	for (int i = 0; i < PAIRS; i++) {
		close(h.pairs[i].fd);
		close(h.pairs[i].peer);
	}
}

struct leaver {
	cport_t *port;
	int fd;
	struct cport_op op;
	struct iovec iov;
	int rc;
};

/* Run one completion (it counts as running the port), start a send, and
 * leave without waiting again. */
static void *leaver_main(void *arg)
{
	struct leaver *l = arg;
	struct cport_completion c;

	l->rc = cport_wait(l->port, &c, 1, TEST_WAIT_MS);
	if (l->rc != 1)
		return NULL;
	static char msg[] = "bye!";
	l->iov = (struct iovec){msg, 4};
	l->rc = cport_send(l->port, l->fd, &l->op, &l->iov, 1);
	return NULL;
}

Test(hot_thread, a_send_started_by_a_running_thread_that_then_exits_still_goes_out, .timeout = TEST_TIMEOUT)
{
	struct cport_options o;
	struct leaver l = {0};
	int peer;
	char buf[4];
	struct cport_completion c;
	pthread_t t;

	test_options(&o);
	l.port = test_port_new(&o);
	test_tcp_pair(&l.fd, &peer);
	cr_assert_eq(cport_attach(l.port, l.fd, 7), 0);
	cport_op_init(&l.op);
	cr_assert_eq(cport_post(l.port, 1, NULL, 0), 0);
	test_thread_start(&t, leaver_main, &l);
	test_thread_join(t);
	cr_assert_eq(l.rc, 0, "the leaver: %d", l.rc);
	/* Nobody waits on the port now: the send must be in the kernel already. */
	cr_assert_eq(test_read_exact(peer, buf, 4, TEST_WAIT_MS), 0, "the send never went out");
	cr_assert_eq(memcmp(buf, "bye!", 4), 0);
	test_wait_one(l.port, &c);
	cr_assert_eq(c.op, &l.op);
	cr_assert_eq(c.result, 4);
	cr_assert_eq(cport_destroy(l.port), 0);
	close(l.fd);
	close(peer);
}

struct mover {
	struct leaver l;
	cport_t *other; /* its own single-thread port, made and destroyed by the thread */
	atomic_int waiting;
	atomic_int posted; /* the test's cport_post to other has returned */
	int rc_other;
};

/* Run a completion of the shared port, start a send there, then wait on a
 * single-thread port of its own until the test posts to it. */
static void *mover_main(void *arg)
{
	struct mover *m = arg;
	struct cport_options o;
	struct cport_completion c;

	leaver_main(&m->l);
	if (m->l.rc != 0)
		return NULL;
	test_options(&o);
	o.flags |= CPORT_SINGLE_THREAD;
	m->rc_other = cport_create(&o, &m->other);
	if (m->rc_other < 0)
		return NULL;
	atomic_store(&m->waiting, 1);
	m->rc_other = cport_wait(m->other, &c, 1, TEST_WAIT_MS);
	/* Not while the poster may still be inside cport_post (it wakes us
	 * after queueing): a port is destroyed once nobody else uses it. */
	int64_t deadline = test_now_ms() + TEST_WAIT_MS;
	while (!atomic_load(&m->posted) && test_now_ms() < deadline)
		usleep(100);
	cport_destroy(m->other);
	return NULL;
}

Test(hot_thread, a_send_started_by_a_running_thread_goes_out_when_it_moves_to_a_single_thread_port,
     .timeout = TEST_TIMEOUT)
{
	struct cport_options o;
	struct mover m;
	int peer;
	char buf[4];
	struct cport_completion c;
	pthread_t t;

	memset(&m, 0, sizeof(m));
	test_options(&o);
	m.l.port = test_port_new(&o);
	test_tcp_pair(&m.l.fd, &peer);
	cr_assert_eq(cport_attach(m.l.port, m.l.fd, 7), 0);
	cport_op_init(&m.l.op);
	cr_assert_eq(cport_post(m.l.port, 1, NULL, 0), 0);
	test_thread_start(&t, mover_main, &m);
	/* It now sleeps on its other port; nobody waits on the shared one. */
	cr_assert_eq(test_read_exact(peer, buf, 4, TEST_WAIT_MS), 0, "the send never went out");
	cr_assert_eq(memcmp(buf, "bye!", 4), 0);
	int64_t deadline = test_now_ms() + TEST_WAIT_MS;
	while (!atomic_load(&m.waiting) && test_now_ms() < deadline)
		usleep(100);
	cr_assert_eq(cport_post(m.other, 2, NULL, 0), 0);
	atomic_store(&m.posted, 1);
	test_thread_join(t);
	cr_assert_eq(m.l.rc, 0, "the mover: %d", m.l.rc);
	cr_assert_eq(m.rc_other, 1, "its wait on its own port: %d", m.rc_other);
	test_wait_one(m.l.port, &c);
	cr_assert_eq(c.op, &m.l.op);
	cr_assert_eq(c.result, 4);
	cr_assert_eq(cport_destroy(m.l.port), 0);
	close(m.l.fd);
	close(peer);
}
