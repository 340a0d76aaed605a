/* crt_threads.c - the CRT's threads (process.h) and ExitThread over the
 * shim's thread objects: exit codes seen by GetExitCodeThread and the
 * waits, _beginthread's handle closing itself, the errors of each call,
 * ExitProcess's exit status, SleepEx and SwitchToThread. */
#include "w32test.h"
#include <process.h>
#include <sys/wait.h>

static unsigned __stdcall returns_code(void *arg)
{
	return (unsigned)(uintptr_t)arg;
}

static unsigned __stdcall ends_with_endthreadex(void *arg)
{
	_endthreadex((unsigned)(uintptr_t)arg + 1);
	return 0; /* never reached */
}

static DWORD WINAPI ends_with_exitthread(LPVOID arg)
{
	ExitThread((DWORD)(uintptr_t)arg * 2);
}

static HANDLE Gate; /* a manual-reset event the threads below wait for */

static unsigned __stdcall waits_for_gate(void *arg)
{
	(void)arg;
	CHECK(WaitForSingleObject(Gate, WAIT_MS) == WAIT_OBJECT_0);
	return 7;
}

static void beginthreadex_gives_a_waitable_handle_with_the_exit_code(void)
{
	unsigned id = 0;
	HANDLE h = (HANDLE)_beginthreadex(NULL, 0, returns_code, (void *)(uintptr_t)41, 0, &id);
	CHECK(h != NULL && id != 0);
	CHECK(WaitForSingleObject(h, WAIT_MS) == WAIT_OBJECT_0);
	DWORD code = 0;
	CHECK(GetExitCodeThread(h, &code) && code == 41);
	CHECK(WaitForSingleObject(h, 0) == WAIT_OBJECT_0); /* a thread stays signalled */
	CHECK(CloseHandle(h));
	CHECK(!CloseHandle(h) && GetLastError() == ERROR_INVALID_HANDLE);
}

static void endthreadex_and_exitthread_set_the_exit_code(void)
{
	HANDLE h[2];
	h[0] = (HANDLE)_beginthreadex(NULL, 0, ends_with_endthreadex, (void *)(uintptr_t)9, 0, NULL);
	h[1] = CreateThread(NULL, 0, ends_with_exitthread, (LPVOID)(uintptr_t)21, 0, NULL);
	CHECK(h[0] && h[1]);
	CHECK(WaitForMultipleObjects(2, h, TRUE, WAIT_MS) == WAIT_OBJECT_0);
	DWORD c0 = 0, c1 = 0;
	CHECK(GetExitCodeThread(h[0], &c0) && c0 == 10);
	CHECK(GetExitCodeThread(h[1], &c1) && c1 == 42);
	CHECK(CloseHandle(h[0]) && CloseHandle(h[1]));
}

static void a_running_thread_is_still_active_and_wait_any_picks_the_ended_one(void)
{
	Gate = CreateEvent(NULL, TRUE, FALSE, NULL);
	CHECK(Gate != NULL);
	HANDLE h[2];
	h[0] = (HANDLE)_beginthreadex(NULL, 64 * 1024, waits_for_gate, NULL, 0, NULL);
	h[1] = (HANDLE)_beginthreadex(NULL, 0, returns_code, (void *)(uintptr_t)3, 0, NULL);
	CHECK(h[0] && h[1]);
	DWORD code = 0;
	CHECK(GetExitCodeThread(h[0], &code) && code == STILL_ACTIVE);
	CHECK(WaitForMultipleObjects(2, h, FALSE, WAIT_MS) == WAIT_OBJECT_0 + 1);
	CHECK(WaitForSingleObject(h[0], 10) == WAIT_TIMEOUT);
	CHECK(WaitForMultipleObjects(2, h, TRUE, 10) == WAIT_TIMEOUT);
	CHECK(SetEvent(Gate));
	CHECK(WaitForMultipleObjects(2, h, TRUE, WAIT_MS) == WAIT_OBJECT_0);
	CHECK(GetExitCodeThread(h[0], &code) && code == 7);
	CHECK(CloseHandle(h[0]) && CloseHandle(h[1]) && CloseHandle(Gate));
}

static LONG Ran;

static void __cdecl counts(void *arg)
{
	InterlockedIncrement((LONG *)arg);
}

static void __cdecl counts_then_endthread(void *arg)
{
	InterlockedIncrement((LONG *)arg);
	_endthread();
}

static void beginthread_handles_close_themselves(void)
{
	HANDLE h[8];
	for (int i = 0; i < 8; i++) {
		uintptr_t t = _beginthread(i % 2 ? counts : counts_then_endthread, 0, &Ran);
		CHECK(t != (uintptr_t)-1 && t != 0);
		h[i] = (HANDLE)t;
	}
	for (int waited = 0; InterlockedCompareExchange(&Ran, 0, 0) < 8 && waited < WAIT_MS; waited++)
		Sleep(1);
	CHECK(Ran == 8);
	/* Each handle is closed by its thread's end (bounded: a thread that
	 * has counted is about to close it). */
	for (int i = 0; i < 8; i++) {
		DWORD code;
		int waited = 0;
		while (GetExitCodeThread(h[i], &code) && waited++ < WAIT_MS)
			Sleep(1);
		CHECK(!GetExitCodeThread(h[i], &code) && GetLastError() == ERROR_INVALID_HANDLE);
		CHECK(!CloseHandle(h[i]) && GetLastError() == ERROR_INVALID_HANDLE);
	}
}

static void bad_arguments_fail_as_the_crt_does(void)
{
	errno = 0;
	CHECK(_beginthreadex(NULL, 0, NULL, NULL, 0, NULL) == 0);
	CHECK(errno == EINVAL && GetLastError() == ERROR_INVALID_PARAMETER);
	errno = 0;
	CHECK(_beginthreadex(NULL, 0, returns_code, NULL, CREATE_SUSPENDED, NULL) == 0);
	CHECK(errno == EINVAL && GetLastError() == ERROR_NOT_SUPPORTED);
	errno = 0;
	CHECK(_beginthread(NULL, 0, NULL) == (uintptr_t)-1);
	CHECK(errno == EINVAL);
	CHECK(!CreateThread(NULL, 0, NULL, NULL, 0, NULL) && GetLastError() == ERROR_INVALID_PARAMETER);
}

static DWORD WINAPI blocks_forever(LPVOID arg)
{
	(void)arg;
	Sleep(INFINITE);
	return 0;
}

static DWORD WINAPI exits_the_process(LPVOID arg)
{
	(void)arg;
	printf("buffered before ExitProcess");
	ExitProcess(42);
}

/* In a child: ExitProcess from a thread ends every thread at once, with
 * its code, stdio flushed. */
static void exitprocess_ends_the_process_with_its_code(void)
{
	int fds[2];
	CHECK(pipe(fds) == 0);
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		setvbuf(stdout, NULL, _IOFBF, 4096);
		CreateThread(NULL, 0, blocks_forever, NULL, 0, NULL);
		HANDLE t = CreateThread(NULL, 0, exits_the_process, NULL, 0, NULL);
		WaitForSingleObject(t, INFINITE);
		_exit(1); /* not reached */
	}
	close(fds[1]);
	char out[64] = {0};
	ssize_t n, got = 0;
	while (got < (ssize_t)sizeof(out) - 1 && (n = read(fds[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
		got += n;
	close(fds[0]);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42);
	CHECK(strcmp(out, "buffered before ExitProcess") == 0);
}

static void sleepex_and_switchtothread(void)
{
	CHECK(SleepEx(1, FALSE) == 0);
	CHECK(SleepEx(0, TRUE) == 0); /* alertable, but nothing can queue an APC: 0 */
	SwitchToThread();
	HANDLE h = CreateEvent(NULL, FALSE, TRUE, NULL);
	CHECK(WaitForSingleObjectEx(h, 0, TRUE) == WAIT_OBJECT_0); /* alertable: a plain wait */
	CHECK(CloseHandle(h));
}

int main(void)
{
	test_start();
	RUN(exitprocess_ends_the_process_with_its_code); /* first: fork before any thread */
	RUN(beginthreadex_gives_a_waitable_handle_with_the_exit_code);
	RUN(endthreadex_and_exitthread_set_the_exit_code);
	RUN(a_running_thread_is_still_active_and_wait_any_picks_the_ended_one);
	RUN(beginthread_handles_close_themselves);
	RUN(bad_arguments_fail_as_the_crt_does);
	RUN(sleepex_and_switchtothread);
	return 0;
}
