/* wait.c - WaitForSingleObject(Ex) and WaitForMultipleObjects(Ex) on
 * threads and events, mixed, wait-any and wait-all. Every waitable object's
 * state (struct w32_waitable) is under one lock, and each change of it is
 * broadcast on one condition: waits are rare in IOCP programs, and one
 * lock makes wait-all atomic (an auto-reset event is consumed only when
 * the whole set is signalled, as on Windows). */
#include "shim.h"

#include <errno.h>

pthread_mutex_t w32_wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cv;
static pthread_once_t wait_once = PTHREAD_ONCE_INIT;

static void wait_cv_init(void)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&wait_cv, &a);
	pthread_condattr_destroy(&a);
}

void w32_wait_init(void)
{
	pthread_once(&wait_once, wait_cv_init);
}

void w32_wait_changed(void)
{
	pthread_cond_broadcast(&wait_cv);
}

int w32_wait_until(const struct timespec *deadline)
{
	return deadline ? pthread_cond_timedwait(&wait_cv, &w32_wait_lock, deadline)
			: pthread_cond_wait(&wait_cv, &w32_wait_lock);
}

void w32_deadline_after(struct timespec *ts, DWORD ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Which wait result the objects' states give now (consuming auto-reset
 * events that satisfy it); WAIT_TIMEOUT if none. */
static DWORD wait_result(struct w32_waitable **w, DWORD n, BOOL all)
{
	if (!all) {
		for (DWORD i = 0; i < n; i++) {
			if (w[i]->signaled) {
				if (!w[i]->manual)
					w[i]->signaled = false;
				return WAIT_OBJECT_0 + i;
			}
		}
		return WAIT_TIMEOUT;
	}
	for (DWORD i = 0; i < n; i++) {
		if (!w[i]->signaled)
			return WAIT_TIMEOUT;
	}
	for (DWORD i = 0; i < n; i++) {
		if (!w[i]->manual)
			w[i]->signaled = false;
	}
	return WAIT_OBJECT_0;
}

static DWORD wait_objects(struct w32_waitable **w, DWORD n, BOOL all, DWORD ms)
{
	struct timespec deadline;
	w32_deadline_after(&deadline, ms);
	pthread_mutex_lock(&w32_wait_lock);
	DWORD r;
	while ((r = wait_result(w, n, all)) == WAIT_TIMEOUT && ms != 0) {
		if (w32_wait_until(ms == INFINITE ? NULL : &deadline) == ETIMEDOUT) {
			r = wait_result(w, n, all);
			break;
		}
	}
	pthread_mutex_unlock(&w32_wait_lock);
	return r;
}

#define WAITABLE ((1u << W32_THREAD) | (1u << W32_EVENT))

DWORD WaitForMultipleObjectsEx(DWORD n, const HANDLE *hs, BOOL all, DWORD ms, BOOL alertable)
{
	(void)alertable; /* nothing can queue an APC here: never WAIT_IO_COMPLETION */
	struct w32_waitable *w[MAXIMUM_WAIT_OBJECTS];
	struct w32_slot *slot[MAXIMUM_WAIT_OBJECTS];
	if (n == 0 || n > MAXIMUM_WAIT_OBJECTS || !hs) {
		w32_set_error(ERROR_INVALID_PARAMETER);
		return WAIT_FAILED;
	}
	/* Windows refuses the same handle twice in one wait. */
	for (DWORD i = 0; i < n; i++) {
		for (DWORD j = i + 1; j < n; j++) {
			if (hs[i] == hs[j]) {
				w32_set_error(ERROR_INVALID_PARAMETER);
				return WAIT_FAILED;
			}
		}
	}
	w32_wait_init();
	DWORD pinned = 0;
	int kind;
	while (pinned < n && (w[pinned] = w32_handle_get_any(hs[pinned], WAITABLE, &kind, false, &slot[pinned])))
		pinned++;
	DWORD r = WAIT_FAILED;
	if (pinned == n)
		r = wait_objects(w, n, all, ms);
	else
		w32_set_error(ERROR_INVALID_HANDLE); /* threads and events are waitable here, not ports */
	while (pinned > 0)
		w32_handle_put(slot[--pinned], false);
	return r;
}

DWORD WaitForMultipleObjects(DWORD n, const HANDLE *hs, BOOL all, DWORD ms)
{
	return WaitForMultipleObjectsEx(n, hs, all, ms, FALSE);
}

DWORD WaitForSingleObjectEx(HANDLE h, DWORD ms, BOOL alertable)
{
	return WaitForMultipleObjectsEx(1, &h, TRUE, ms, alertable);
}

DWORD WaitForSingleObject(HANDLE h, DWORD ms)
{
	return WaitForMultipleObjectsEx(1, &h, TRUE, ms, FALSE);
}
