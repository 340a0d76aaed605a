/* lock.h - a one-word mutex for the locks taken several times per message
 * (the io_uring submission queue, the receive pool). Uncontended, a round
 * trip is one compare-and-swap and one exchange: glibc's mutex, with its
 * type and elision checks, cost about 60 instructions there (callgrind,
 * cport-echo at 100 x 64 B). Contended, waiters sleep on a futex, so it may
 * be held across a system call. No recursion, no error checking, no
 * condition variables: the port's own lock stays a pthread mutex for its
 * condition variables.
 *
 * The word: 0 free, 1 held, 2 held and maybe waited for (the holder wakes
 * one waiter on release). ThreadSanitizer does not see futexes, so its
 * builds use a pthread mutex instead. */
#ifndef CPORT_LOCK_H
#define CPORT_LOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* gcc says __SANITIZE_THREAD__; clang says it through __has_feature. */
#if defined(__SANITIZE_THREAD__)
#define CPORT_LOCK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CPORT_LOCK_TSAN 1
#endif
#endif

#if defined(CPORT_LOCK_TSAN)

typedef pthread_mutex_t lock_t;

static inline void lock_init(lock_t *l)
{
	pthread_mutex_init(l, NULL);
}
static inline void lock_fini(lock_t *l)
{
	pthread_mutex_destroy(l);
}
static inline void lock_take(lock_t *l)
{
	pthread_mutex_lock(l);
}
static inline void lock_give(lock_t *l)
{
	pthread_mutex_unlock(l);
}

#else

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct {
	_Atomic uint32_t word;
} lock_t;

static inline void lock_init(lock_t *l)
{
	atomic_init(&l->word, 0);
}

static inline void lock_fini(lock_t *l)
{
	(void)l;
}

/* Sleep while the word is still 2. Spurious returns (EINTR, EAGAIN when it
 * changed first) are fine: the caller looks again. */
static inline void lock_futex_wait(lock_t *l)
{
	syscall(SYS_futex, &l->word, FUTEX_WAIT_PRIVATE, 2u, NULL, NULL, 0);
}

static inline void lock_take(lock_t *l)
{
	uint32_t c = 0;
	if (atomic_compare_exchange_strong_explicit(&l->word, &c, 1, memory_order_acquire, memory_order_relaxed))
		return;
	/* Mark it waited for; whoever gets it this way keeps the mark, since
	 * it cannot know whether others still sleep. */
	if (c != 2)
		c = atomic_exchange_explicit(&l->word, 2, memory_order_acquire);
	while (c != 0) {
		lock_futex_wait(l);
		c = atomic_exchange_explicit(&l->word, 2, memory_order_acquire);
	}
}

static inline void lock_give(lock_t *l)
{
	if (atomic_exchange_explicit(&l->word, 0, memory_order_release) == 2)
		syscall(SYS_futex, &l->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

#endif

/* A lock that a single-thread port (mt false) does without. */
static inline void lock_take_if(bool mt, lock_t *l)
{
	if (mt)
		lock_take(l);
}
static inline void lock_give_if(bool mt, lock_t *l)
{
	if (mt)
		lock_give(l);
}

/* Add d to a count that only the holder of one lock writes (readers
 * without it load it atomically): a load and a release store, not a
 * locked add. Paired with a second count that the other side adds to,
 * it makes a difference that costs the lock's side no locked
 * instruction (fd_inflight, pool_in_kernel, req_inflight). */
static inline void lock_held_add(atomic_uint *c, unsigned d)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d, memory_order_release);
}

#endif
