/* console.c - SetConsoleCtrlHandler over signals, GetStdHandle and
 * WriteConsoleA. Windows calls a program's control handlers in a thread of
 * their own: here a signal handler writes the event into a pipe and a
 * dispatcher thread calls the handlers, last registered first, until one
 * returns TRUE. If none does, the signal's default action happens (the
 * process ends as it would have without handlers), as Windows' default
 * handler ends the process. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>

#define MAX_HANDLERS 64

static pthread_mutex_t ctrl_lock = PTHREAD_MUTEX_INITIALIZER;
static PHANDLER_ROUTINE handlers[MAX_HANDLERS]; /* under ctrl_lock */
static int nhandlers;                           /* under ctrl_lock */
static bool ignore_ctrl_c;                      /* under ctrl_lock: SetConsoleCtrlHandler(NULL, TRUE) */
static int ctrl_pipe[2] = {-1, -1};
static bool ctrl_started; /* under ctrl_lock */

static const struct {
	int sig;
	DWORD ctrl;
} ctrl_signals[] = {
	{SIGINT, CTRL_C_EVENT},
	{SIGQUIT, CTRL_BREAK_EVENT},
	{SIGHUP, CTRL_CLOSE_EVENT},
	{SIGTERM, CTRL_SHUTDOWN_EVENT},
};

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	ssize_t r = write(ctrl_pipe[1], &b, 1); /* async-signal-safe; a full pipe drops it */
	(void)r;
	errno = saved;
}

static DWORD ctrl_of(int sig)
{
	for (size_t i = 0; i < sizeof(ctrl_signals) / sizeof(ctrl_signals[0]); i++) {
		if (ctrl_signals[i].sig == sig)
			return ctrl_signals[i].ctrl;
	}
	return CTRL_C_EVENT;
}

static void dispatch(int sig)
{
	DWORD ctrl = ctrl_of(sig);
	PHANDLER_ROUTINE copy[MAX_HANDLERS];
	pthread_mutex_lock(&ctrl_lock);
	int n = nhandlers;
	memcpy(copy, handlers, sizeof(copy[0]) * (size_t)n);
	bool ignored = ctrl == CTRL_C_EVENT && ignore_ctrl_c;
	pthread_mutex_unlock(&ctrl_lock);
	if (ignored)
		return;
	while (n > 0) {
		if (copy[--n](ctrl))
			return;
	}
	/* Nobody handled it: what the signal does by default (sent to the
	 * process: this thread blocks every signal). */
	signal(sig, SIG_DFL);
	kill(getpid(), sig);
}

static void *dispatcher(void *arg)
{
	(void)arg;
	for (;;) {
		unsigned char b;
		ssize_t r = read(ctrl_pipe[0], &b, 1);
		if (r == 1)
			dispatch(b);
		else if (r == 0 || errno != EINTR)
			return NULL;
	}
}

/* The pipe, the dispatcher and the signal handlers, once. */
static bool ctrl_start(void)
{
	if (ctrl_started)
		return true;
	if (pipe2(ctrl_pipe, O_CLOEXEC) < 0)
		return false;
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	/* Signals go to other threads than the dispatcher (it may be blocked in a handler). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = pthread_create(&t, &a, dispatcher, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	if (r != 0) {
		close(ctrl_pipe[0]);
		close(ctrl_pipe[1]);
		return false;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(ctrl_signals) / sizeof(ctrl_signals[0]); i++)
		sigaction(ctrl_signals[i].sig, &sa, NULL);
	ctrl_started = true;
	return true;
}

BOOL SetConsoleCtrlHandler(PHANDLER_ROUTINE routine, BOOL add)
{
	pthread_mutex_lock(&ctrl_lock);
	BOOL ok = TRUE;
	DWORD err = ERROR_INVALID_PARAMETER;
	if (!ctrl_start()) {
		ok = FALSE;
		err = ERROR_NOT_ENOUGH_MEMORY;
	} else if (!routine) {
		ignore_ctrl_c = add != FALSE;
	} else if (add) {
		if (nhandlers < MAX_HANDLERS)
			handlers[nhandlers++] = routine;
		else
			ok = FALSE, err = ERROR_NOT_ENOUGH_MEMORY;
	} else {
		int i = nhandlers - 1;
		while (i >= 0 && handlers[i] != routine)
			i--;
		if (i < 0) {
			ok = FALSE; /* not registered */
		} else {
			memmove(&handlers[i], &handlers[i + 1], sizeof(handlers[0]) * (size_t)(nhandlers - i - 1));
			nhandlers--;
		}
	}
	pthread_mutex_unlock(&ctrl_lock);
	if (!ok)
		w32_set_error(err);
	return ok;
}

/* The standard handles: values no socket or table handle takes. */
#define STD_BASE 0x3fffe000u

HANDLE GetStdHandle(DWORD which)
{
	switch (which) {
	case STD_INPUT_HANDLE: return (HANDLE)(uintptr_t)(STD_BASE + 0);
	case STD_OUTPUT_HANDLE: return (HANDLE)(uintptr_t)(STD_BASE + 4);
	case STD_ERROR_HANDLE: return (HANDLE)(uintptr_t)(STD_BASE + 8);
	default: w32_set_error(ERROR_INVALID_HANDLE); return INVALID_HANDLE_VALUE;
	}
}

BOOL WriteConsoleA(HANDLE h, const VOID *buf, DWORD n, LPDWORD written, LPVOID reserved)
{
	(void)reserved;
	uintptr_t v = (uintptr_t)h;
	if (v != STD_BASE + 4 && v != STD_BASE + 8) {
		w32_set_error(ERROR_INVALID_HANDLE);
		return FALSE;
	}
	int fd = v == STD_BASE + 4 ? 1 : 2;
	fflush(fd == 1 ? stdout : stderr); /* keep the order with the program's stdio */
	DWORD done = 0;
	while (done < n) {
		ssize_t r = write(fd, (const char *)buf + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			w32_set_error(errno == EPIPE ? ERROR_BROKEN_PIPE : ERROR_GEN_FAILURE);
			if (written)
				*written = done;
			return FALSE;
		}
		done += (DWORD)r;
	}
	if (written)
		*written = done;
	return TRUE;
}
