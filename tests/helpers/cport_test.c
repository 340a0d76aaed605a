/* cport_test.c - the shared test helpers declared in cport_test.h. */
#include "cport_test.h"
#include "uring_raw.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* A thread counts as parked once asleep for this many consecutive samples
 * with no context switch in between. */
#define PARK_SAMPLES 10
#define PARK_SAMPLE_US 1000

int test_backend(void)
{
	const char *be = getenv("CPORT_TEST_BACKEND");

	if (!be || !*be || !strcmp(be, "io_uring"))
		return CPORT_BACKEND_URING;
	if (!strcmp(be, "epoll"))
		return CPORT_BACKEND_EPOLL;
	cr_assert_fail("CPORT_TEST_BACKEND=%s: want io_uring or epoll", be);
	return CPORT_BACKEND_AUTO;
}

const char *test_backend_label(void)
{
	return test_backend() == CPORT_BACKEND_EPOLL ? "epoll" : "io_uring";
}

bool test_backend_unavailable(int err)
{
	return err == -ENOSYS || err == -EPERM || err == -EOPNOTSUPP || err == -EACCES ||
	       err == -ENOMEM;
}

bool test_uring_works_here(char *why, size_t len)
{
	return uring_raw_works(why, len);
}

void test_uring_create_failed(int err)
{
	char why[160];

	if (!test_backend_unavailable(err))
		return;
	if (!test_uring_works_here(why, sizeof(why)))
		cr_skip_test("io_uring cannot run here (%s); cport_create: %s", why, strerror(-err));
	cr_assert_fail("cport_create could not set up io_uring (%s), yet a raw ring with every "
		       "feature cport needs works on this machine",
		       strerror(-err));
}

void test_options(struct cport_options *o)
{
	cport_options_init(o);
	o->backend = test_backend();
}

cport_t *test_port_new(const struct cport_options *o)
{
	struct cport_options def;
	cport_t *port = NULL;
	int rc;

	if (!o) {
		test_options(&def);
		o = &def;
	}
	rc = cport_create(o, &port);
	if (rc < 0 && o->backend == CPORT_BACKEND_URING)
		test_uring_create_failed(rc);
	cr_assert_eq(rc, 0, "cport_create(backend %d): %s", o->backend, strerror(-rc));
	cr_assert_not_null(port);
	return port;
}

static socklen_t loopback_addr(int family, struct sockaddr_storage *addr)
{
	memset(addr, 0, sizeof(*addr));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;

		a6->sin6_family = AF_INET6;
		a6->sin6_addr = in6addr_loopback;
		return sizeof(*a6);
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)addr;

	a4->sin_family = AF_INET;
	a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*a4);
}

/* A socket of type bound to loopback:0 with its bound address read back. */
static int bound_socket(int family, int type, int rcvbuf, struct sockaddr_storage *addr,
			socklen_t *len)
{
	int fd = socket(family, type | SOCK_CLOEXEC, 0);

	if (fd < 0 && family == AF_INET6 && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT))
		cr_skip_test("IPv6 unavailable: %s", strerror(errno));
	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	if (rcvbuf > 0)
		cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	*len = loopback_addr(family, addr);
	if (bind(fd, (struct sockaddr *)addr, *len) < 0) {
		int err = errno;

		close(fd);
		if (family == AF_INET6 && (err == EADDRNOTAVAIL || err == EAFNOSUPPORT))
			cr_skip_test("IPv6 loopback unavailable: %s", strerror(err));
		cr_assert_fail("bind: %s", strerror(err));
	}
	*len = sizeof(*addr);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)addr, len), 0);
	return fd;
}

int test_tcp_listener(int family, int rcvbuf, struct sockaddr_storage *addr, socklen_t *len)
{
	int fd = bound_socket(family, SOCK_STREAM, rcvbuf, addr, len);

	cr_assert_eq(listen(fd, SOMAXCONN), 0, "listen: %s", strerror(errno));
	return fd;
}

int test_tcp_refuser(struct sockaddr_storage *addr, socklen_t *len)
{
	return bound_socket(AF_INET, SOCK_STREAM, 0, addr, len);
}

int test_udp_socket(int family, struct sockaddr_storage *addr, socklen_t *len)
{
	return bound_socket(family, SOCK_DGRAM, 0, addr, len);
}

void test_tcp_pair_family(int family, int rcvbuf, int *client, int *server)
{
	struct sockaddr_storage addr;
	socklen_t len;
	int lfd = test_tcp_listener(family, rcvbuf, &addr, &len);
	int cfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(cfd, 0, "socket: %s", strerror(errno));
	cr_assert_eq(connect(cfd, (struct sockaddr *)&addr, len), 0, "connect: %s", strerror(errno));
	int sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	cr_assert_geq(sfd, 0, "accept: %s", strerror(errno));
	close(lfd);
	*client = cfd;
	*server = sfd;
}

int test_tcp_pair_try(int *client, int *server)
{
	struct sockaddr_storage addr;
	socklen_t len = loopback_addr(AF_INET, &addr);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int sfd = -1, err = 0;

	if (lfd < 0 || cfd < 0 || bind(lfd, (struct sockaddr *)&addr, len) < 0 ||
	    listen(lfd, 1) < 0 || getsockname(lfd, (struct sockaddr *)&addr, &len) < 0 ||
	    connect(cfd, (struct sockaddr *)&addr, len) < 0 ||
	    (sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		err = -errno;
	if (lfd >= 0)
		close(lfd);
	if (err) {
		if (cfd >= 0)
			close(cfd);
		return err;
	}
	*client = cfd;
	*server = sfd;
	return 0;
}

void test_tcp_pair(int *client, int *server)
{
	test_tcp_pair_family(AF_INET, 0, client, server);
}

unsigned test_addr_port(const struct sockaddr_storage *addr)
{
	if (addr->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
	return ntohs(((const struct sockaddr_in *)addr)->sin_port);
}

uint8_t test_pattern_byte(uint64_t pos, uint32_t seed)
{
	uint64_t x = (pos + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed << 32);

	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ull;
	return (uint8_t)(x >> 56);
}

void test_pattern_fill(void *buf, size_t len, uint64_t pos, uint32_t seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = test_pattern_byte(pos + i, seed);
}

ssize_t test_pattern_mismatch(const void *buf, size_t len, uint64_t pos, uint32_t seed)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != test_pattern_byte(pos + i, seed))
			return (ssize_t)i;
	return -1;
}

unsigned test_count_distinct(void *const *ptrs, unsigned n)
{
	unsigned distinct = 0;

	for (unsigned i = 0; i < n; i++) {
		unsigned j = 0;
		while (j < i && ptrs[j] != ptrs[i])
			j++;
		distinct += j == i;
	}
	return distinct;
}

#define FILL_ROUNDS 20
#define FILL_PAUSE_US 50000 /* past TCP's delayed acknowledgement (40 ms) */

size_t test_fill_send_buffer(int fd)
{
	char junk[4096];
	size_t total = 0;
	ssize_t n;

	memset(junk, 'j', sizeof(junk));
	/* The kernel may make room after the first EAGAIN (a late
	 * acknowledgement frees queued data, and TCP grows a send buffer as
	 * its data is acknowledged): fill until a round after a pause adds
	 * nothing, so the next send really waits. */
	for (int round = 0; round < FILL_ROUNDS; round++) {
		size_t added = 0;
		while ((n = send(fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL)) > 0)
			added += (size_t)n;
		cr_assert(errno == EAGAIN || errno == EWOULDBLOCK, "filling the send buffer: %s",
			  strerror(errno));
		total += added;
		if (round > 0 && added == 0)
			return total;
		usleep(FILL_PAUSE_US);
	}
	cr_assert_fail("the send buffer of fd %d still took data after %d rounds", fd, FILL_ROUNDS);
	return total;
}

int64_t test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void test_abstime(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int test_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t test_read_some(int fd, void *buf, size_t len, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int64_t deadline = test_now_ms() + timeout_ms;

	for (;;) {
		int64_t left = deadline - test_now_ms();
		int rc = poll(&pfd, 1, left > 0 ? (int)left : 0);

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			return -ETIMEDOUT;
		ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);

		if (n < 0 && errno == ENOTSOCK) /* a pipe: poll said it will not block */
			n = read(fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

void test_await_readable(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int rc;

	while ((rc = poll(&pfd, 1, TEST_WAIT_MS)) < 0 && errno == EINTR)
		;
	cr_assert_eq(rc, 1, "fd %d not readable within %d ms", fd, TEST_WAIT_MS);
}

int test_read_exact(int fd, void *buf, size_t len, int timeout_ms)
{
	char *p = buf;
	int64_t deadline = test_now_ms() + timeout_ms;

	while (len > 0) {
		int64_t left = deadline - test_now_ms();
		ssize_t n = test_read_some(fd, p, len, left > 0 ? (int)left : 0);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int test_wait_n(cport_t *port, struct cport_completion *out, int n, int timeout_ms)
{
	int64_t deadline = test_now_ms() + timeout_ms;
	int got = 0;

	while (got < n) {
		int64_t left = deadline - test_now_ms();

		if (left < 0)
			left = 0;
		int rc = cport_wait(port, out + got, n - got, (int)left);

		if (rc == -EINTR)
			continue;
		if (rc < 0)
			return rc;
		got += rc;
		if (left == 0)
			break;
	}
	return got;
}

void test_wait_one(cport_t *port, struct cport_completion *c)
{
	int rc = test_wait_n(port, c, 1, TEST_WAIT_MS);

	cr_assert_eq(rc, 1, "expected one completion within %d ms, cport_wait gave %d (%s)",
		     TEST_WAIT_MS, rc, rc < 0 ? strerror(-rc) : "timeout");
}

void test_expect_idle(cport_t *port, int ms)
{
	struct cport_completion c;
	int rc = test_wait_n(port, &c, 1, ms);

	cr_assert_eq(rc, 0, "expected no completion, got %d (kind %u key %lu result %lld)", rc,
		     rc > 0 ? c.kind : 0, rc > 0 ? (unsigned long)c.key : 0ul,
		     rc > 0 ? (long long)c.result : 0ll);
}

void test_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	int rc = pthread_create(t, NULL, fn, arg);

	cr_assert_eq(rc, 0, "pthread_create: %s", strerror(rc));
}

void test_thread_join(pthread_t t)
{
	struct timespec ts;

	test_abstime(&ts, TEST_WAIT_MS);
	int rc = pthread_timedjoin_np(t, NULL, &ts);

	cr_assert_eq(rc, 0, "thread did not finish within %d ms: %s", TEST_WAIT_MS, strerror(rc));
}

bool test_thread_join_within(pthread_t t, int ms)
{
	struct timespec ts;

	test_abstime(&ts, ms);
	int rc = pthread_timedjoin_np(t, NULL, &ts);

	cr_assert(rc == 0 || rc == ETIMEDOUT, "pthread_timedjoin_np: %s", strerror(rc));
	return rc == 0;
}

/* Read a small /proc file into buf; false if it cannot be read. */
static bool read_proc(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, size - 1);

	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* The scheduler state letter of thread tid and its total context switches. */
static bool thread_sample(pid_t tid, char *state, unsigned long long *switches)
{
	char path[64], buf[2048];

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	if (!read_proc(path, buf, sizeof(buf)))
		return false;
	const char *p = strrchr(buf, ')');

	if (!p || p[1] != ' ')
		return false;
	*state = p[2];
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	if (!read_proc(path, buf, sizeof(buf)))
		return false;
	const char *v = strstr(buf, "\nvoluntary_ctxt_switches:");
	const char *nv = strstr(buf, "\nnonvoluntary_ctxt_switches:");

	if (!v || !nv)
		return false;
	*switches = strtoull(strchr(v, ':') + 1, NULL, 10) + strtoull(strchr(nv, ':') + 1, NULL, 10);
	return true;
}

unsigned long long test_thread_switches(pid_t tid)
{
	char state;
	unsigned long long sw;

	cr_assert(thread_sample(tid, &state, &sw), "cannot read thread %d's context switches", (int)tid);
	return sw;
}

bool test_thread_parked(pid_t tid, int timeout_ms)
{
	int64_t deadline = test_now_ms() + timeout_ms;
	unsigned long long last = 0;
	int stable = 0;

	while (test_now_ms() < deadline) {
		char state;
		unsigned long long sw;

		if (!thread_sample(tid, &state, &sw))
			return false;
		if (state == 'S' && stable > 0 && sw == last)
			stable++;
		else
			stable = state == 'S' ? 1 : 0;
		last = sw;
		if (stable >= PARK_SAMPLES)
			return true;
		usleep(PARK_SAMPLE_US);
	}
	return false;
}

static void *waiter_main(void *arg)
{
	struct test_waiter *w = arg;

	if (w->before)
		w->before(w);
	atomic_store(&w->tid, gettid());
	while ((w->rc = cport_wait(w->port, &w->c, 1, -1)) == -EINTR)
		w->eintr++;
	if (w->after)
		w->after(w);
	return NULL;
}

void test_waiter_start(struct test_waiter *w)
{
	int64_t deadline = test_now_ms() + TEST_WAIT_MS;

	atomic_store(&w->tid, 0);
	w->rc = 0;
	w->eintr = 0;
	test_thread_start(&w->thread, waiter_main, w);
	while (atomic_load(&w->tid) == 0 && test_now_ms() < deadline)
		sched_yield();
	cr_assert(test_thread_parked(atomic_load(&w->tid), TEST_WAIT_MS),
		  "waiter %d never went to sleep in cport_wait", w->id);
}

void test_waiter_join(struct test_waiter *w)
{
	test_thread_join(w->thread);
}

void test_waiter_slept_through(struct test_waiter *w, cport_t *port, unsigned long long before, int n,
			       const char *what, uintptr_t key)
{
	unsigned long long woken = test_thread_switches(atomic_load(&w->tid)) - before;

	cr_assert_lt(woken, (unsigned long long)n / 4, "the thread asleep on the port was woken %llu times by %d %s",
		     woken, n, what);
	cr_assert_eq(cport_post(port, key, NULL, 0), 0);
	test_waiter_join(w);
	cr_assert_eq(w->rc, 1);
	cr_assert_eq(w->c.key, key, "a completion (kind %u, result %lld) came before the marker", w->c.kind,
		     (long long)w->c.result);
}

bool test_fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

int test_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");

	cr_assert_not_null(d, "opendir /proc/self/fd: %s", strerror(errno));
	int self = dirfd(d), n = 0;
	struct dirent *e;

	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && atoi(e->d_name) != self)
			n++;
	closedir(d);
	return n;
}
