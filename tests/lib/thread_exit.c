/* thread_exit.c - I/O survives the exit of the thread that started it: the
 * starter is joined before data arrives, and another thread's wait still
 * gets the completion. */
#include "cport_test.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(thread_exit);

#define STARTERS 16

enum start_kind { START_RECV, START_POOLED, START_ACCEPT };

struct starter {
	cport_t *port;
	int fd;
	enum start_kind kind;
	bool wait_once; /* also be a port waiter (wait 0 ms) before exiting */
	struct cport_op op;
	char buf[64];
	struct iovec iov;
	int rc;
};

static void *starter_main(void *arg)
{
	struct starter *s = arg;

	cport_op_init(&s->op);
	switch (s->kind) {
	case START_RECV:
		s->iov = (struct iovec){s->buf, sizeof(s->buf)};
		s->rc = cport_recv(s->port, s->fd, &s->op, &s->iov, 1);
		break;
	case START_POOLED:
		s->rc = cport_recv_pooled(s->port, s->fd, &s->op);
		break;
	case START_ACCEPT:
		s->rc = cport_accept(s->port, s->fd, &s->op, NULL, NULL);
		break;
	}
	if (s->wait_once) {
		struct cport_completion c;

		if (cport_wait(s->port, &c, 1, 0) != 0)
			s->rc = -EPROTO; /* nothing was due yet */
	}
	return NULL;
}

/* Run a starter thread to completion: it starts its op and exits. */
static void run_starter(struct starter *s)
{
	pthread_t t;

	test_thread_start(&t, starter_main, s);
	test_thread_join(t);
	cr_assert_eq(s->rc, 0, "starting the op: %d (%s)", s->rc, strerror(-s->rc));
}

static void recv_outlives_its_thread(bool wait_once)
{
	int a, b;
	struct cport_completion c;

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);
	struct starter s = {.port = port, .fd = a, .kind = START_RECV, .wait_once = wait_once};

	cr_assert_eq(cport_attach(port, a, 1), 0);
	run_starter(&s);
	test_expect_idle(port, 20);
	cr_assert_eq(test_write_all(b, "survived", 8), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &s.op);
	cr_assert_eq(c.result, 8, "recv gave %lld", (long long)c.result);
	cr_assert_eq(memcmp(s.buf, "survived", 8), 0);
	test_expect_idle(port, 20);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(thread_exit, a_recv_started_by_a_thread_that_exited_completes_with_the_data,
     .timeout = TEST_TIMEOUT)
{
	recv_outlives_its_thread(false);
}

Test(thread_exit, a_recv_started_by_a_waiter_thread_that_exited_completes_with_the_data,
     .timeout = TEST_TIMEOUT)
{
	recv_outlives_its_thread(true);
}

Test(thread_exit, a_recv_completes_on_a_thread_already_blocked_when_its_starter_exited,
     .timeout = TEST_TIMEOUT)
{
	int a, b;

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);
	struct starter s = {.port = port, .fd = a, .kind = START_RECV};
	struct test_waiter w = {.port = port};

	cr_assert_eq(cport_attach(port, a, 1), 0);
	test_waiter_start(&w);
	run_starter(&s);
	cr_assert_eq(test_write_all(b, "late", 4), 0);
	test_waiter_join(&w);
	cr_assert_eq(w.rc, 1, "cport_wait gave %d", w.rc);
	cr_assert_eq(w.c.op, &s.op);
	cr_assert_eq(w.c.result, 4, "recv gave %lld", (long long)w.c.result);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(thread_exit, an_accept_started_by_a_thread_that_exited_completes_with_the_new_fd,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage addr;
	socklen_t len;
	struct cport_completion c;
	int lfd = test_tcp_listener(AF_INET, 0, &addr, &len);
	cport_t *port = test_port_new(NULL);
	struct starter s = {.port = port, .fd = lfd, .kind = START_ACCEPT};

	cr_assert_eq(cport_attach(port, lfd, 1), 0);
	run_starter(&s);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_eq(connect(cfd, (struct sockaddr *)&addr, len), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &s.op);
	cr_assert_geq(c.result, 0, "accept gave %lld", (long long)c.result);

	cport_destroy(port);
	close((int)c.result);
	close(cfd);
	close(lfd);
}

Test(thread_exit, a_pooled_recv_started_by_a_thread_that_exited_completes_with_the_data,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	struct cport_completion c;

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);
	struct starter s = {.port = port, .fd = a, .kind = START_POOLED};

	cr_assert_eq(cport_attach(port, a, 1), 0);
	run_starter(&s);
	cr_assert_eq(test_write_all(b, "pooled", 6), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &s.op);
	cr_assert_eq(c.result, 6, "pooled recv gave %lld", (long long)c.result);
	cr_assert(c.flags & CPORT_CF_BUFFER);
	cr_assert_eq(memcmp(c.buf, "pooled", 6), 0);
	cr_assert_eq(cport_buf_release(port, c.buf), 0);

	cport_destroy(port);
	close(a);
	close(b);
}

Test(thread_exit, recvs_started_by_sixteen_exited_threads_all_complete_once_with_their_data,
     .timeout = TEST_TIMEOUT)
{
	int a[STARTERS], b[STARTERS];
	struct starter s[STARTERS];
	struct cport_completion cs[STARTERS];
	bool seen[STARTERS] = {false};

	for (int i = 0; i < STARTERS; i++)
		test_tcp_pair(&a[i], &b[i]);
	cport_t *port = test_port_new(NULL);

	for (int i = 0; i < STARTERS; i++) {
		cr_assert_eq(cport_attach(port, a[i], (uintptr_t)i), 0);
		s[i] = (struct starter){.port = port, .fd = a[i], .kind = START_RECV};
		run_starter(&s[i]);
	}
	for (int i = 0; i < STARTERS; i++) {
		char msg[8];

		test_pattern_fill(msg, sizeof(msg), 0, (uint32_t)i);
		cr_assert_eq(test_write_all(b[i], msg, sizeof(msg)), 0);
	}
	cr_assert_eq(test_wait_n(port, cs, STARTERS, TEST_WAIT_MS), STARTERS);
	for (int k = 0; k < STARTERS; k++) {
		int i = (int)cs[k].key;

		cr_assert(i >= 0 && i < STARTERS && cs[k].op == &s[i].op);
		cr_assert_not(seen[i], "recv %d completed twice", i);
		seen[i] = true;
		cr_assert_eq(cs[k].result, 8, "recv %d gave %lld", i, (long long)cs[k].result);
		cr_assert_eq(test_pattern_mismatch(s[i].buf, 8, 0, (uint32_t)i), -1);
	}
	test_expect_idle(port, 20);

	cport_destroy(port);
	for (int i = 0; i < STARTERS; i++) {
		close(a[i]);
		close(b[i]);
	}
}
