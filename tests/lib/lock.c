/* lock.c - the library's one-word lock (src/lock.h) excludes: threads that
 * contend for it, sleeping while one holds it across a system call, never
 * lose an update; and the holder's writes are seen by the next one. */
#include "cport_test.h"
#include "lock.h"

#include <sched.h>
#include <unistd.h>

TEST_SUITE(lock);

#define THREADS 4
#define ROUNDS 20000

struct shared {
	lock_t lock;
	unsigned long counter; /* plain: only the lock protects it */
	int inside;            /* holders at once, seen by each holder */
	int overlap;
};

static void *contend(void *arg)
{
	struct shared *s = arg;
	for (int i = 0; i < ROUNDS; i++) {
		lock_take(&s->lock);
		if (++s->inside != 1)
			s->overlap++;
		unsigned long v = s->counter;
		if (i % 1024 == 0)
			usleep(50); /* a system call while held: the others must sleep, not spin past */
		else if (i % 64 == 0)
			sched_yield();
		s->counter = v + 1;
		s->inside--;
		lock_give(&s->lock);
	}
	return NULL;
}

Test(lock, contending_threads_never_lose_an_update_or_overlap, .timeout = TEST_TIMEOUT)
{
	struct shared s = {.counter = 0};
	pthread_t t[THREADS];

	lock_init(&s.lock);
	for (int i = 0; i < THREADS; i++)
		test_thread_start(&t[i], contend, &s);
	for (int i = 0; i < THREADS; i++)
		test_thread_join(t[i]);
	cr_assert_eq(s.overlap, 0, "%d times two threads held the lock at once", s.overlap);
	cr_assert_eq(s.counter, (unsigned long)THREADS * ROUNDS);
	lock_fini(&s.lock);
}
