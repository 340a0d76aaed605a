/* thread.c - thread handles: CreateThread, _beginthreadex, _beginthread,
 * ExitThread, GetExitCodeThread, ExitProcess (the waits are in wait.c). A thread object is pinned by
 * its own thread until the start routine has returned, so closing the handle
 * early (as the classic samples do at once) is safe; the last pin joins the
 * thread, or detaches it when that is the thread itself. */
#include "shim.h"

#include "process.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <time.h>

struct w32_thread {
	struct w32_waitable w; /* first: signalled (for good) when the thread ends */
	pthread_t tid;
	LPTHREAD_START_ROUTINE start;
	void (*start_void)(void *); /* _beginthread's kind of start routine */
	LPVOID param;
	struct w32_slot *slot;
	HANDLE handle;
	DWORD id;
	bool started;    /* false: pthread_create failed, nothing to join */
	bool self_close; /* _beginthread: the handle closes when the thread ends */
	DWORD exit_code; /* under w32_wait_lock */
};

static atomic_uint next_id = 1;
static __thread DWORD my_id;
static __thread struct w32_thread *my_thread; /* NULL in threads the shim did not start */

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

/* The thread's end, whether its start routine returned or it called
 * ExitThread: the exit code is published, waiters wake, its pin goes (t
 * may be freed by that). */
static void thread_finish(struct w32_thread *t, DWORD code)
{
	my_thread = NULL;
	pthread_mutex_lock(&w32_wait_lock);
	t->exit_code = code;
	t->w.signaled = true;
	w32_wait_changed();
	pthread_mutex_unlock(&w32_wait_lock);
	if (t->self_close)
		w32_handle_close(t->handle, W32_THREAD); /* fails harmlessly if the program closed it */
	w32_handle_put(t->slot, false);
}

static void *trampoline(void *arg)
{
	struct w32_thread *t = arg;
	my_id = t->id;
	my_thread = t;
	DWORD code = 0;
	if (t->start_void)
		t->start_void(t->param);
	else
		code = t->start(t->param);
	thread_finish(t, code);
	return NULL;
}

void ExitThread(DWORD code)
{
	struct w32_thread *t = my_thread;
	if (t)
		thread_finish(t, code);
	pthread_exit(NULL);
}

void ExitProcess(UINT code)
{
	fflush(NULL);
	_exit((int)code);
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

static HANDLE thread_new(SIZE_T stack, LPTHREAD_START_ROUTINE start, void (*start_void)(void *), LPVOID param,
			 DWORD flags, LPDWORD thread_id, bool self_close)
{
	w32_wait_init();
	if ((!start && !start_void) || (flags & CREATE_SUSPENDED)) {
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
	t->start_void = start_void;
	t->self_close = self_close;
	t->param = param;
	t->w.manual = true;
	t->id = atomic_fetch_add(&next_id, 1);
	/* The new thread holds the one pin until its start routine returns. */
	HANDLE h = w32_handle_new(W32_THREAD, t, 1, &t->slot);
	t->handle = h;
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

HANDLE CreateThread(LPSECURITY_ATTRIBUTES attrs, SIZE_T stack, LPTHREAD_START_ROUTINE start, LPVOID param,
		    DWORD flags, LPDWORD thread_id)
{
	(void)attrs;
	return thread_new(stack, start, NULL, param, flags, thread_id, false);
}

/* The CRT's: errno as well as the last error. */
uintptr_t _beginthreadex(void *security, unsigned stack, _beginthreadex_proc_type start, void *arg, unsigned flags,
			 unsigned *thread_id)
{
	(void)security;
	DWORD id = 0;
	HANDLE h = thread_new(stack, start, NULL, arg, flags, &id, false);
	if (!h) {
		errno = GetLastError() == ERROR_NOT_ENOUGH_MEMORY ? EAGAIN : EINVAL;
		return 0;
	}
	if (thread_id)
		*thread_id = id;
	return (uintptr_t)h;
}

uintptr_t _beginthread(_beginthread_proc_type start, unsigned stack, void *arg)
{
	HANDLE h = start ? thread_new(stack, NULL, start, arg, 0, NULL, true) : NULL;
	if (!h) {
		if (!start)
			w32_set_error(ERROR_INVALID_PARAMETER);
		errno = start ? EAGAIN : EINVAL;
		return (uintptr_t)-1;
	}
	return (uintptr_t)h;
}

void _endthreadex(unsigned code)
{
	ExitThread(code);
}

void _endthread(void)
{
	ExitThread(0);
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
	pthread_mutex_lock(&w32_wait_lock);
	*code = t->w.signaled ? t->exit_code : STILL_ACTIVE;
	pthread_mutex_unlock(&w32_wait_lock);
	w32_handle_put(slot, false);
	return TRUE;
}
