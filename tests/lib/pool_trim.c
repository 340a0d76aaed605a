/* pool_trim.c - cport_trim: the receive pool's buffers that a burst used,
 * and that stayed free since, go back to the system, also those the
 * kernel's store (io_uring's buffer ring) held; a buffer used since the
 * last call stays; data that comes through a buffer given back is whole;
 * a failure to give memory back loses nothing. */
#include "cport_test.h"
#include "fault.h"
#include "fd.h"
#include "op.h"
#include "pool.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

TEST_SUITE(pool_trim);

#define BUFS 64
#define SIZE 16384
#define LINKS 32   /* connections in a burst, each one buffer's worth */
#define MESSAGE 1024
/* The kernel's store keeps its least depth (4 buffers, pool.c) filled:
 * those stay as they are, written or not. */
#define STORE_LEAST 4
/* Calls that give back everything a burst left: one for what the pool
 * holds itself and to take the store's excess out, one for that. */
#define TRIMS 3

struct link {
	int srv, cli;
	struct cport_op op;
	uint32_t seed;
};

static cport_t *trim_port(void)
{
	struct cport_options o;

	test_options(&o);
	o.pool_buffers = BUFS;
	o.pool_buffer_size = SIZE;
	o.pool_large_buffers = 0;
	return test_port_new(&o);
}

static void links_open(cport_t *port, struct link *l, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		test_tcp_pair(&l[i].cli, &l[i].srv);
		cr_assert_eq(cport_attach(port, l[i].srv, i), 0);
		cport_op_init(&l[i].op);
		l[i].seed = 100 + i;
	}
}

static void links_close(struct link *l, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		close(l[i].srv);
		close(l[i].cli);
	}
}

/* Resident pages of a pool buffer (mincore). */
static unsigned resident_pages(void *buf)
{
	unsigned char v[SIZE / 4096 + 1];
	long pg = sysconf(_SC_PAGESIZE);
	unsigned n = 0;

	cr_assert_eq(mincore(buf, SIZE, v), 0, "mincore: %s", strerror(errno));
	for (long i = 0; i < SIZE / pg; i++)
		n += v[i] & 1;
	return n;
}

static unsigned resident_buffers(void *const *bufs, unsigned n)
{
	unsigned r = 0;

	for (unsigned i = 0; i < n; i++)
		r += resident_pages(bufs[i]) > 0;
	return r;
}

/* n of the links each get one message at once, with their data queued
 * before the receives start (so they all take a buffer in one go); every
 * message is checked and its buffer given back. The buffers go to bufs,
 * the round's number into the pattern. */
static void burst(cport_t *port, struct link *l, unsigned n, uint32_t round, void **bufs)
{
	char msg[MESSAGE];
	struct cport_completion c[LINKS];

	for (unsigned i = 0; i < n; i++) {
		test_pattern_fill(msg, sizeof(msg), 0, l[i].seed + round);
		cr_assert_eq(test_write_all(l[i].cli, msg, sizeof(msg)), 0);
	}
	for (unsigned i = 0; i < n; i++)
		test_await_readable(l[i].srv);
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(cport_recv_pooled(port, l[i].srv, &l[i].op), 0);
	cr_assert_eq(test_wait_n(port, c, (int)n, TEST_WAIT_MS), (int)n);
	for (unsigned i = 0; i < n; i++) {
		struct link *k = &l[c[i].key];
		cr_assert_eq(c[i].result, MESSAGE, "link %llu got %lld", (unsigned long long)c[i].key,
			     (long long)c[i].result);
		cr_assert_eq(test_pattern_mismatch(c[i].buf, MESSAGE, 0, k->seed + round), -1, "wrong data on link %llu",
			     (unsigned long long)c[i].key);
		bufs[i] = c[i].buf;
	}
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(cport_buf_release(port, bufs[i]), 0);
}

/* cport_trim, then a wait that submits what it queued and takes in what
 * the kernel answered (this thread runs the port's completions): none of
 * it is the caller's. */
static void trim_and_wait(cport_t *port)
{
	cr_assert_eq(cport_trim(port), 0);
	test_expect_idle(port, 50);
}

/* A port whose links just had a burst (round 1, its buffers in bufs). */
static cport_t *after_a_burst(struct link *l, void **bufs)
{
	cport_t *port = trim_port();

	links_open(port, l, LINKS);
	burst(port, l, LINKS, 1, bufs);
	return port;
}

/* As many calls as give back all a burst left. */
static void trim_all(cport_t *port)
{
	for (int i = 0; i < TRIMS; i++)
		trim_and_wait(port);
}

Test(pool_trim, the_buffers_of_a_burst_go_back_to_the_system_once_it_is_over, .timeout = TEST_TIMEOUT)
{
	struct link l[LINKS];
	void *bufs[LINKS];
	cport_t *port = after_a_burst(l, bufs);

	cr_assert_eq(test_count_distinct(bufs, LINKS), LINKS);
	cr_assert_eq(resident_buffers(bufs, LINKS), LINKS, "each buffer of the burst was written");
	trim_all(port);
	unsigned left = resident_buffers(bufs, LINKS);
	cr_assert_leq(left, STORE_LEAST, "%u of the burst's %u buffers still resident (%s)", left, LINKS,
		      test_backend_label());
	/* Given back is not gone: the next burst comes through them whole. */
	burst(port, l, LINKS, 2, bufs);
	cport_destroy(port);
	links_close(l, LINKS);
}

Test(pool_trim, a_buffer_used_since_the_last_call_stays, .timeout = TEST_TIMEOUT)
{
	struct link l[LINKS];
	void *bufs[LINKS];
	cport_t *port = after_a_burst(l, bufs);

	trim_all(port);
	/* One message now: its buffer is the one a next receive gets, and in
	 * the cache; a trim right after leaves it. */
	burst(port, l, 1, 2, bufs);
	cr_assert_gt(resident_pages(bufs[0]), 0);
	trim_and_wait(port);
	cr_assert_gt(resident_pages(bufs[0]), 0, "a buffer used since the last trim was given back");
	cport_destroy(port);
	links_close(l, LINKS);
}

/* Fault hook: every run of buffers fails to go back. */
static int64_t no_memory(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	(void)pt;
	(void)op;
	(void)v;
	++*(int *)ctx;
	return -ENOMEM;
}

Test(pool_trim, a_failure_to_give_memory_back_is_reported_and_loses_nothing, .timeout = TEST_TIMEOUT)
{
	struct link l[LINKS];
	void *bufs[LINKS];
	int failed = 0;
	cport_t *port = after_a_burst(l, bufs);

	cport_fault_set(FAULT_TRIM, no_memory, &failed);
	int refused = 0;
	for (int i = 0; i < TRIMS; i++) {
		/* 0 from a call that had nothing of its own to give back yet
		 * (on io_uring the first may find every buffer in the store). */
		int r = cport_trim(port);
		cr_assert(r == 0 || r == -ENOMEM, "cport_trim: %d", r);
		refused += r == -ENOMEM;
		test_expect_idle(port, 50);
	}
	cport_fault_set(FAULT_TRIM, NULL, NULL);
	cr_assert_geq(refused, 1, "the failure is reported");
	cr_assert_eq(failed, refused, "a call stops at its first failure");
	cr_assert_eq(resident_buffers(bufs, LINKS), LINKS, "nothing is given back when the call fails");
	burst(port, l, LINKS, 2, bufs);
	trim_all(port);
	cr_assert_leq(resident_buffers(bufs, LINKS), STORE_LEAST, "the next calls give it back");
	cport_destroy(port);
	links_close(l, LINKS);
}

/* Fault hook: no free SQE for a request that is not an op's (a drain). */
static int64_t sq_full_for_drains(enum fault_point pt, struct cport_op *op, int64_t v, void *ctx)
{
	(void)pt;
	(void)ctx;
	return op ? v : 1;
}

Test(pool_trim, with_the_submission_queue_full_the_ring_is_drained_by_a_later_call, .timeout = TEST_TIMEOUT)
{
	if (test_backend() != CPORT_BACKEND_URING)
		cr_skip_test("io_uring only: epoll keeps no buffers in the kernel");
	struct link l[LINKS];
	void *bufs[LINKS];
	cport_t *port = after_a_burst(l, bufs);

	trim_and_wait(port); /* the burst's receives took buffers since the port began: not quiet yet */
	cport_fault_set(FAULT_SQ_FULL, sq_full_for_drains, NULL);
	cr_assert_eq(cport_trim(port), 0, "a full SQ is not an error: the drain waits");
	cport_fault_set(FAULT_SQ_FULL, NULL, NULL);
	test_expect_idle(port, 50);
	trim_all(port);
	cr_assert_leq(resident_buffers(bufs, LINKS), STORE_LEAST, "the later calls drained the ring");
	cport_destroy(port);
	links_close(l, LINKS);
}

Test(pool_trim, null_is_refused)
{
	cr_assert_eq(cport_trim(NULL), -EINVAL);
}

/* The pool itself, without a port: a buffer the kernel's store gives back
 * unused goes to a receive parked for one before anything else. */
Test(pool_trim, a_buffer_taken_out_of_the_store_goes_to_a_parked_receive_first)
{
	struct pool pl;
	struct fdent fe;
	struct cport_op op;
	unsigned id;

	cr_assert_eq(pool_init(&pl, 1, SIZE, 0, 0, false), 0);
	memset(&fe, 0, sizeof(fe));
	cport_op_init(&op);
	op._fd_entry = &fe;
	cr_assert_eq(pool_take(&pl, POOL_SMALL, &id), 0); /* the one buffer */
	cr_assert_eq(pool_wait(&pl, &op), POOL_PARKED, "none free, none in the store: the receive waits");
	/* Say the store held the buffer, and a drain took it out unused. */
	atomic_store(&pl.cls[POOL_SMALL].given, 1);
	cr_assert_eq(pool_kernel_returned(&pl, id), &op, "the parked receive gets the buffer");
	cr_assert_eq(op._buf_id, id);
	cr_assert(op_bits_test(&op, OPB_GRANTED));
	cr_assert_eq(pool_in_kernel(&pl.cls[POOL_SMALL]), 0);
	pool_fini(&pl);
}
