/* thread.c - thread handles: CreateThread, WaitForSingleObject,
 * WaitForMultipleObjects, GetExitCodeThread. A thread object is pinned by
 * its own thread until the start routine has returned, so closing the handle
 * early (as the classic samples do at once) is safe; the last pin joins the
 * thread, or detaches it when that is the thread itself. */
#include "shim.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <time.h>

struct w32_thread {
	pthread_t tid;
	LPTHREAD_START_ROUTINE start;
	LPVOID param;
	struct w32_slot *slot;
	DWORD id;
	bool started;    /* false: pthread_create failed, nothing to join */
	DWORD exit_code; /* under done_lock */
	bool done;       /* under done_lock */
};

/* One lock and condition for every thread's end: waits are rare, and
 * WaitForMultipleObjects needs to watch several threads at once. */
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv;
static pthread_once_t done_once = PTHREAD_ONCE_INIT;
static atomic_uint next_id = 1;
static __thread DWORD my_id;

static void done_init(void)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&done_cv, &a);
	pthread_condattr_destroy(&a);
}

static void thread_shut(void *obj)
{
	(void)obj; /* closing a thread handle does not stop the thread */
}

static void thread_fin(void *obj)
{
	struct w32_thread *t = obj;
	if (!t->started)
		;
	else if (pthread_equal(t->tid, pthread_self()))
		pthread_detach(t->tid);
	else
		pthread_join(t->tid, NULL);
	free(t);
}

static const struct w32_kind_ops thread_ops = {.shut = thread_shut, .fin = thread_fin};

__attribute__((constructor)) static void thread_register(void)
{
	w32_kind_register(W32_THREAD, &thread_ops);
}

static void *trampoline(void *arg)
{
	struct w32_thread *t = arg;
	my_id = t->id;
	DWORD code = t->start(t->param);
	pthread_mutex_lock(&done_lock);
	t->exit_code = code;
	t->done = true;
	pthread_cond_broadcast(&done_cv);
	pthread_mutex_unlock(&done_lock);
	w32_handle_put(t->slot, false);
	return NULL;
}

static bool attr_for(pthread_attr_t *a, SIZE_T stack)
{
	if (pthread_attr_init(a) != 0)
		return false;
	if (stack && pthread_attr_setstacksize(a, stack < (SIZE_T)PTHREAD_STACK_MIN ? (SIZE_T)PTHREAD_STACK_MIN : stack) != 0) {
		pthread_attr_destroy(a);
		return false;
	}
	return true;
}

HANDLE CreateThread(LPSECURITY_ATTRIBUTES attrs, SIZE_T stack, LPTHREAD_START_ROUTINE start, LPVOID param,
		    DWORD flags, LPDWORD thread_id)
{
	(void)attrs;
	pthread_once(&done_once, done_init);
	if (!start || (flags & CREATE_SUSPENDED)) {
		w32_set_error(start ? ERROR_NOT_SUPPORTED : ERROR_INVALID_PARAMETER);
		return NULL;
	}
	struct w32_thread *t = calloc(1, sizeof(*t));
	pthread_attr_t a;
	if (!t || !attr_for(&a, stack)) {
		free(t);
		w32_set_error(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	t->start = start;
	t->param = param;
	t->id = atomic_fetch_add(&next_id, 1);
	/* The new thread holds the one pin until its start routine returns. */
	HANDLE h = w32_handle_new(W32_THREAD, t, 1, &t->slot);
	t->started = h != NULL;
	int r = h ? pthread_create(&t->tid, &a, trampoline, t) : EAGAIN;
	pthread_attr_destroy(&a);
	if (r != 0) {
		t->started = false;
		if (h) {
			w32_handle_close(h, W32_THREAD);
			w32_handle_put(t->slot, false); /* the pin the thread would have dropped */
		} else {
			free(t);
		}
		w32_set_error(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	if (thread_id)
		*thread_id = t->id;
	return h;
}

DWORD GetCurrentThreadId(void)
{
	if (!my_id)
		my_id = atomic_fetch_add(&next_id, 1);
	return my_id;
}

DWORD GetCurrentProcessId(void)
{
	return (DWORD)getpid();
}

/* Which wait result the threads' states give now; WAIT_TIMEOUT if none. */
static DWORD wait_result(struct w32_thread **t, DWORD n, BOOL all)
{
	DWORD done = 0;
	for (DWORD i = 0; i < n; i++) {
		if (t[i]->done && !all)
			return WAIT_OBJECT_0 + i;
		done += t[i]->done;
	}
	return all && done == n ? WAIT_OBJECT_0 : WAIT_TIMEOUT;
}

static void deadline_after(struct timespec *ts, DWORD ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static DWORD wait_threads(struct w32_thread **t, DWORD n, BOOL all, DWORD ms)
{
	struct timespec deadline;
	deadline_after(&deadline, ms);
	pthread_mutex_lock(&done_lock);
	DWORD r;
	while ((r = wait_result(t, n, all)) == WAIT_TIMEOUT && ms != 0) {
		int e = ms == INFINITE ? pthread_cond_wait(&done_cv, &done_lock)
				       : pthread_cond_timedwait(&done_cv, &done_lock, &deadline);
		if (e == ETIMEDOUT) {
			r = wait_result(t, n, all);
			break;
		}
	}
	pthread_mutex_unlock(&done_lock);
	return r;
}

DWORD WaitForMultipleObjects(DWORD n, const HANDLE *hs, BOOL all, DWORD ms)
{
	struct w32_thread *t[MAXIMUM_WAIT_OBJECTS];
	struct w32_slot *slot[MAXIMUM_WAIT_OBJECTS];
	if (n == 0 || n > MAXIMUM_WAIT_OBJECTS || !hs) {
		w32_set_error(ERROR_INVALID_PARAMETER);
		return WAIT_FAILED;
	}
	pthread_once(&done_once, done_init);
	DWORD pinned = 0;
	while (pinned < n && (t[pinned] = w32_handle_get(hs[pinned], W32_THREAD, false, &slot[pinned])))
		pinned++;
	DWORD r = WAIT_FAILED;
	if (pinned == n)
		r = wait_threads(t, n, all, ms);
	else
		w32_set_error(ERROR_INVALID_HANDLE); /* only threads are waitable here */
	while (pinned > 0)
		w32_handle_put(slot[--pinned], false);
	return r;
}

DWORD WaitForSingleObject(HANDLE h, DWORD ms)
{
	return WaitForMultipleObjects(1, &h, TRUE, ms);
}

BOOL GetExitCodeThread(HANDLE h, LPDWORD code)
{
	struct w32_slot *slot;
	struct w32_thread *t = w32_handle_get(h, W32_THREAD, false, &slot);
	if (!t || !code) {
		if (t)
			w32_handle_put(slot, false);
		w32_set_error(t ? ERROR_INVALID_PARAMETER : ERROR_INVALID_HANDLE);
		return FALSE;
	}
	pthread_mutex_lock(&done_lock);
	*code = t->done ? t->exit_code : STILL_ACTIVE;
	pthread_mutex_unlock(&done_lock);
	w32_handle_put(slot, false);
	return TRUE;
}
