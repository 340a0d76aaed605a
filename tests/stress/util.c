/* util.c - stress-ledger's small tools: clock, random numbers, payload
 * pattern, the arena of connection records, and the log of offending records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stress.h"

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: one state per thread, seeded from --seed. */
uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

unsigned rnd_below(uint64_t *s, unsigned n)
{
	return n ? (unsigned)((rnd(s) >> 32) % n) : 0;
}

bool chance(uint64_t *s, unsigned percent)
{
	return rnd_below(s, 100) < percent;
}

/* The payload: stream byte `off` is a function of (salt, off), so a chunk
 * received anywhere but at its expected offset (a loss, a duplicate, a
 * reordering) does not match. Each 8-byte word is a mixed sequence number. */
static uint64_t pattern_word(uint64_t salt, uint64_t seq)
{
	uint64_t w = (seq + 1) * 0x9E3779B97F4A7C15ull ^ salt;
	w ^= w >> 31;
	w *= 0xBF58476D1CE4E5B9ull;
	return w ^ (w >> 29);
}

static uint8_t pattern_byte(uint64_t salt, uint64_t off)
{
	return (uint8_t)(pattern_word(salt, off >> 3) >> ((off & 7) * 8));
}

void pattern_fill(uint8_t *p, size_t len, uint64_t salt, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern_byte(salt, off + i);
}

/* The index of the first byte that differs, or -1. */
long pattern_check(const uint8_t *p, size_t len, uint64_t salt, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern_byte(salt, off + i))
			return (long)i;
	return -1;
}

/* Connections and generations stay allocated until the end: a completion
 * handled late (legal with several threads) may still look at them. */
void *arena_alloc(struct run *run, size_t size)
{
	void *p = calloc(1, size);
	if (!p)
		return NULL;
	pthread_mutex_lock(&run->arena_mu);
	if (run->narena == run->cap_arena) {
		size_t cap = run->cap_arena ? run->cap_arena * 2 : 1024;
		void **a = realloc(run->arena, cap * sizeof(*a));
		if (!a) {
			pthread_mutex_unlock(&run->arena_mu);
			free(p);
			return NULL;
		}
		run->arena = a;
		run->cap_arena = cap;
	}
	run->arena[run->narena++] = p;
	pthread_mutex_unlock(&run->arena_mu);
	return p;
}

void arena_free_all(struct run *run)
{
	for (size_t i = 0; i < run->narena; i++)
		free(run->arena[i]);
	free(run->arena);
	run->arena = NULL;
	run->narena = run->cap_arena = 0;
}

static const char *const kind_names[] = {
	[CPORT_OP_NONE] = "none",	  [CPORT_OP_RECV] = "recv",	     [CPORT_OP_SEND] = "send",
	[CPORT_OP_RECVFROM] = "recvfrom", [CPORT_OP_SENDTO] = "sendto",	     [CPORT_OP_ACCEPT] = "accept",
	[CPORT_OP_CONNECT] = "connect",	  [CPORT_OP_RECV_POOLED] = "recv_pooled", [CPORT_OP_POST] = "post",
	[CPORT_OP_DETACH] = "detach",	  [CPORT_OP_CLOSE] = "close",	     [CPORT_OP_RECVMSG] = "recvmsg",
	[CPORT_OP_SENDMSG] = "sendmsg",	  [CPORT_OP_POLL] = "poll",
};

const char *kind_name(int kind)
{
	if (kind < 0 || kind >= (int)(sizeof(kind_names) / sizeof(kind_names[0])) || !kind_names[kind])
		return "?";
	return kind_names[kind];
}

static const char *const err_names[E_COUNT] = {
	[E_DOUBLE] = "double", [E_STALE] = "stale", [E_KEY] = "key",	 [E_KIND] = "kind",
	[E_RESULT] = "result", [E_EINTR] = "eintr", [E_EAGAIN] = "eagain", [E_ESCAPE] = "escape", [E_DATA] = "data",	 [E_LOST] = "lost",
	[E_UNKNOWN] = "unknown", [E_CALL] = "call",
};

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_lines[MAX_ERR_LOG * E_COUNT][200];
static unsigned log_n, log_per_err[E_COUNT];

/* Count an error and keep the first few of each kind for stderr. */
void err_log(struct run *run, struct tctx *t, enum err e, const char *what, int kind, int fd,
	     uint64_t gen, int64_t result)
{
	t->cnt.err[e]++;
	pthread_mutex_lock(&log_mu);
	if (log_per_err[e] < MAX_ERR_LOG) {
		log_per_err[e]++;
		double ms = (double)(now_ns() - run->t0_ns) / 1e6;
		snprintf(log_lines[log_n++], sizeof(log_lines[0]),
			 "%s: %s: op %s fd %d gen %llu result %lld (%s) thread %u at %.1f ms", err_names[e],
			 what, kind_name(kind), fd, (unsigned long long)gen, (long long)result,
			 result < 0 ? strerror((int)-result) : "-", t->idx, ms);
	}
	pthread_mutex_unlock(&log_mu);
}

void err_log_print(void)
{
	pthread_mutex_lock(&log_mu);
	for (unsigned i = 0; i < log_n; i++)
		fprintf(stderr, "stress-ledger: %s\n", log_lines[i]);
	pthread_mutex_unlock(&log_mu);
}

const char *err_name(enum err e)
{
	return err_names[e];
}
