/* thread_exit.c - I/O survives the exit of the thread that started it: the
 * starter is joined before data arrives, and another thread's wait still
 * gets the completion. */
#include "cport_test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(thread_exit);

#define STARTERS 16

#define SEND_SEED 0x5E9Du
#define SEND_LEN (256u * 1024)

enum start_kind { START_RECV, START_POOLED, START_ACCEPT, START_SEND, START_CONNECT };

struct starter {
	cport_t *port;
	int fd;
	enum start_kind kind;
	bool wait_once; /* also be a port waiter (wait 0 ms) before exiting */
	struct cport_op op;
	char buf[64];
	struct iovec iov;
	char *payload; /* START_SEND: SEND_LEN bytes */
	const struct sockaddr_storage *addr; /* START_CONNECT */
	socklen_t addrlen;
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
	case START_SEND:
		s->iov = (struct iovec){s->payload, SEND_LEN};
		s->rc = cport_send(s->port, s->fd, &s->op, &s->iov, 1);
		break;
	case START_CONNECT:
		s->rc = cport_connect(s->port, s->fd, &s->op, (const struct sockaddr *)s->addr,
				      s->addrlen);
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

struct drain {
	int fd;
	size_t skip; /* filler bytes before the payload */
	size_t got;
	ssize_t mismatch_at;
	int err;
};

/* Reads fd to end of stream: skip filler bytes, then check the payload. */
static void *drain_main(void *arg)
{
	struct drain *d = arg;
	char buf[8192];

	for (;;) {
		ssize_t n = test_read_some(d->fd, buf, sizeof(buf), TEST_WAIT_MS);

		if (n <= 0) {
			d->err = (int)n;
			return NULL;
		}
		char *p = buf;

		if (d->skip) {
			size_t k = (size_t)n < d->skip ? (size_t)n : d->skip;

			d->skip -= k;
			p += k;
			n -= (ssize_t)k;
		}
		ssize_t bad = test_pattern_mismatch(p, (size_t)n, d->got, SEND_SEED);

		if (bad >= 0 && d->mismatch_at < 0)
			d->mismatch_at = (ssize_t)d->got + bad;
		d->got += (size_t)n;
	}
}

Test(thread_exit, a_send_blocked_on_a_full_socket_outlives_the_thread_that_started_it,
     .timeout = TEST_TIMEOUT)
{
	int a, b;
	int small = 4096;
	struct cport_completion c;
	char *payload = malloc(SEND_LEN);
	pthread_t t;

	cr_assert_not_null(payload);
	test_pattern_fill(payload, SEND_LEN, 0, SEND_SEED);
	test_tcp_pair_family(AF_INET, small, &a, &b);
	cr_assert_eq(setsockopt(a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	struct drain d = {.fd = b, .skip = test_fill_send_buffer(a), .mismatch_at = -1};
	cport_t *port = test_port_new(NULL);
	struct starter s = {.port = port, .fd = a, .kind = START_SEND, .payload = payload};

	cr_assert_eq(cport_attach(port, a, 1), 0);
	run_starter(&s); /* its send cannot finish until the peer reads */
	test_thread_start(&t, drain_main, &d);
	size_t sent = 0;

	for (;;) {
		test_wait_one(port, &c);
		cr_assert_eq(c.op, &s.op);
		cr_assert_gt(c.result, 0, "send at offset %zu gave %lld", sent, (long long)c.result);
		sent += (size_t)c.result;
		if (sent == SEND_LEN)
			break;
		s.iov = (struct iovec){payload + sent, SEND_LEN - sent};
		cr_assert_eq(cport_send(port, a, &s.op, &s.iov, 1), 0);
	}
	cr_assert_eq(shutdown(a, SHUT_WR), 0);
	test_thread_join(t);
	cr_assert_eq(d.err, 0, "reader: %s", strerror(-d.err));
	cr_assert_eq(d.mismatch_at, -1, "wrong byte at payload offset %zd", d.mismatch_at);
	cr_assert_eq(d.got, SEND_LEN);

	cport_destroy(port);
	close(a);
	close(b);
	free(payload);
}

Test(thread_exit, a_connect_started_by_a_thread_that_exited_completes_once_the_listener_has_room,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage addr;
	socklen_t len;
	struct cport_completion c;
	int lfd = test_tcp_listener(AF_INET, 0, &addr, &len);
	int blocker = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* A backlog of 0 holds one connection: with the blocker in it, the
	 * listener drops the next SYN, and that connect waits in the kernel
	 * for its SYN to be sent again (after about a second). */
	cr_assert_eq(listen(lfd, 0), 0, "listen: %s", strerror(errno));
	cr_assert_eq(connect(blocker, (struct sockaddr *)&addr, len), 0, "connect: %s",
		     strerror(errno));
	test_await_readable(lfd);
	cport_t *port = test_port_new(NULL);
	struct starter s = {.port = port, .fd = cfd, .kind = START_CONNECT, .addr = &addr,
			    .addrlen = len};

	cr_assert_eq(cport_attach(port, cfd, 1), 0);
	run_starter(&s);
	test_expect_idle(port, 50); /* still connecting, its starter gone */
	int bfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* room for the retried SYN */

	cr_assert_geq(bfd, 0, "accept: %s", strerror(errno));
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &s.op);
	cr_assert_eq(c.kind, CPORT_OP_CONNECT);
	cr_assert_eq(c.result, 0, "connect gave %lld (%s)", (long long)c.result,
		     strerror((int)-c.result));
	/* Connected for real: the listener has it, and bytes go through. */
	test_await_readable(lfd);
	int sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	char buf[4];

	cr_assert_geq(sfd, 0, "accept: %s", strerror(errno));
	cr_assert_eq(test_write_all(cfd, "conn", 4), 0);
	cr_assert_eq(test_read_exact(sfd, buf, 4, TEST_WAIT_MS), 0);
	cr_assert_eq(memcmp(buf, "conn", 4), 0);
	test_expect_idle(port, 20);

	cport_destroy(port);
	close(sfd);
	close(bfd);
	close(blocker);
	close(cfd);
	close(lfd);
}
