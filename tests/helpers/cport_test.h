/* cport_test.h - shared helpers for the library tests: the backend under
 * test, loopback sockets, byte patterns, bounded waits and thread probes. */
#ifndef CPORT_TEST_H
#define CPORT_TEST_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "cport.h"

/* Criterion's per-test timeout in seconds: generous for sanitizer builds. */
#define TEST_TIMEOUT 30
/* The longest any single bounded wait in a test may take, in ms. */
#define TEST_WAIT_MS 10000

/* Every test file declares its suite with this fini (TEST_SUITE below):
 * under ASan it fails the test if it leaked. */
void test_suite_fini(void);
#define TEST_SUITE(name) TestSuite(name, .fini = test_suite_fini)

/* The backend under test, from CPORT_TEST_BACKEND=io_uring|epoll
 * (io_uring when unset): CPORT_BACKEND_URING or CPORT_BACKEND_EPOLL. */
int test_backend(void);
/* Its name as cport_backend_name() reports it. */
const char *test_backend_label(void);
/* Whether a cport_create error means "this backend cannot run here". */
bool test_backend_unavailable(int err);

/* Whether io_uring can carry cport on this machine, decided without cport:
 * a raw ring from io_uring_setup(2) with IORING_FEAT_EXT_ARG and
 * IORING_FEAT_NODROP, every opcode cport uses (IORING_REGISTER_PROBE) and
 * a provided-buffer ring (IORING_REGISTER_PBUF_RING). If not, why says why. */
bool test_uring_works_here(char *why, size_t len);
/* cport_create asked for io_uring and failed with err: skip the test, with
 * the reason, where no such raw ring can be set up either (seccomp,
 * kernel.io_uring_disabled, an old kernel); fail it where one can, since
 * then cport's own setup is what is broken. Returns only if err is not an
 * "unavailable" error (test_backend_unavailable). */
void test_uring_create_failed(int err);

/* Default options with the backend under test forced. */
void test_options(struct cport_options *o);
/* Create a port from o (NULL: test_options defaults). If the forced
 * io_uring backend cannot be created, test_uring_create_failed decides
 * between skip (io_uring cannot run here) and failure. */
cport_t *test_port_new(const struct cport_options *o);

/* A TCP listener on the loopback address of family (AF_INET or AF_INET6),
 * ephemeral port, its address in *addr. rcvbuf > 0 sets SO_RCVBUF before
 * listen so accepted sockets inherit it. Skips if the family is missing. */
int test_tcp_listener(int family, int rcvbuf, struct sockaddr_storage *addr, socklen_t *len);
/* A connected loopback TCP pair of blocking sockets: *client, *server. */
void test_tcp_pair(int *client, int *server);
void test_tcp_pair_family(int family, int rcvbuf, int *client, int *server);
/* The same over IPv4 without Criterion asserts (for forked children):
 * 0 or -errno. */
int test_tcp_pair_try(int *client, int *server);
/* A UDP socket bound to the loopback address of family, ephemeral port. */
int test_udp_socket(int family, struct sockaddr_storage *addr, socklen_t *len);
/* A TCP socket bound to loopback but not listening: connecting to *addr is
 * refused while it stays open. */
int test_tcp_refuser(struct sockaddr_storage *addr, socklen_t *len);
/* The port number of an AF_INET or AF_INET6 address. */
unsigned test_addr_port(const struct sockaddr_storage *addr);

/* A position-dependent byte pattern with no short period, so a misreported
 * byte count shows up as a mismatch. */
uint8_t test_pattern_byte(uint64_t pos, uint32_t seed);
void test_pattern_fill(void *buf, size_t len, uint64_t pos, uint32_t seed);
/* Index of the first byte that differs from the pattern, or -1. */
ssize_t test_pattern_mismatch(const void *buf, size_t len, uint64_t pos, uint32_t seed);
/* How many different pointers ptrs[0..n-1] holds (pool buffers handed out). */
unsigned test_count_distinct(void *const *ptrs, unsigned n);

/* Blocking I/O on a plain (not attached) fd, bounded by timeout_ms; reads
 * also work on pipes.
 * Return bytes (0 at end of stream) or -errno (-ETIMEDOUT). */
int test_write_all(int fd, const void *buf, size_t len);
ssize_t test_read_some(int fd, void *buf, size_t len, int timeout_ms);
int test_read_exact(int fd, void *buf, size_t len, int timeout_ms);
/* Assert that fd becomes readable within TEST_WAIT_MS (without reading). */
void test_await_readable(int fd);

/* Send filler bytes on fd without blocking until its send path is full, so
 * the next send has to wait for the peer to read. Returns the bytes sent. */
size_t test_fill_send_buffer(int fd);

/* Milliseconds on the monotonic clock. */
int64_t test_now_ms(void);
/* *ts = ms from now on CLOCK_REALTIME: a deadline for pthread's timed waits. */
void test_abstime(struct timespec *ts, int ms);
/* Collect completions until n are in out or timeout_ms passes; retries
 * -EINTR. Returns the count collected, or a -errno from cport_wait. */
int test_wait_n(cport_t *port, struct cport_completion *out, int n, int timeout_ms);
/* Assert that exactly one completion arrives within TEST_WAIT_MS. */
void test_wait_one(cport_t *port, struct cport_completion *c);
/* Assert that nothing is dequeued within ms. */
void test_expect_idle(cport_t *port, int ms);

/* Start a thread (asserting) and join it within TEST_WAIT_MS (asserting). */
void test_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
void test_thread_join(pthread_t t);
/* Join t if it finishes within ms; false (t still running) otherwise. */
bool test_thread_join_within(pthread_t t, int ms);
/* Thread tid's context switches so far, voluntary and not (asserting it exists). */
unsigned long long test_thread_switches(pid_t tid);
/* Whether thread tid is asleep and has stayed asleep, without a context
 * switch, for a short settle window; polls for up to timeout_ms. */
bool test_thread_parked(pid_t tid, int timeout_ms);

/* A thread that runs before (if set), makes one cport_wait(port, &c, 1, -1)
 * (retrying -EINTR), then runs after (if set), all on its own thread. */
struct test_waiter {
	cport_t *port;
	int id;
	void (*before)(struct test_waiter *w);
	void (*after)(struct test_waiter *w);
	void *arg;
	_Atomic pid_t tid;
	int rc;
	int eintr; /* how many times the wait returned -EINTR (and was retried) */
	struct cport_completion c;
	pthread_t thread;
};
/* Start w's thread and assert it is parked in cport_wait within TEST_WAIT_MS. */
void test_waiter_start(struct test_waiter *w);
/* Join w's thread within TEST_WAIT_MS (asserting). */
void test_waiter_join(struct test_waiter *w);
/* w, asleep in its wait when its switches read before, was woken fewer
 * than n / 4 times by the n actions (named what) since, and still waits
 * with nothing queued: a post of key is the first completion it gets.
 * Joins w. */
void test_waiter_slept_through(struct test_waiter *w, cport_t *port, unsigned long long before, int n,
			       const char *what, uintptr_t key);

/* Whether fd is an open descriptor. */
bool test_fd_open(int fd);
/* How many descriptors this process has open (entries of /proc/self/fd). */
int test_fd_count(void);

#endif
