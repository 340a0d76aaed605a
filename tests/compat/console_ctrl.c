/* console_ctrl.c - SetConsoleCtrlHandler over signals (SIGINT is
 * CTRL_C_EVENT, SIGQUIT CTRL_BREAK_EVENT, SIGHUP CTRL_CLOSE_EVENT, SIGTERM
 * CTRL_SHUTDOWN_EVENT): handlers run in a thread of their own, last
 * registered first, until one returns TRUE; unhandled, the signal does what
 * it does by default. GetStdHandle and WriteConsole; strsafe.h. */
#include "w32test.h"
#include <strsafe.h>
#include <signal.h>
#include <sys/wait.h>

static HANDLE Seen;
static LONG Calls[8];
static LONG Order;
static LONG FalseAt, TrueAt;

static BOOL WINAPI returns_true(DWORD ctrl)
{
	InterlockedIncrement(&Calls[ctrl]);
	InterlockedExchange(&TrueAt, InterlockedIncrement(&Order));
	SetEvent(Seen);
	return TRUE;
}

static BOOL WINAPI returns_false(DWORD ctrl)
{
	(void)ctrl;
	InterlockedExchange(&FalseAt, InterlockedIncrement(&Order));
	return FALSE;
}

static void an_unhandled_event_does_what_the_signal_does(void)
{
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		SetConsoleCtrlHandler(returns_false, TRUE);
		raise(SIGTERM);
		Sleep(WAIT_MS);
		_exit(3); /* not reached: SIGTERM's default ends the process */
	}
	int st = 0;
	pid_t r = 0;
	for (int i = 0; i < WAIT_MS / 10 && (r = waitpid(pid, &st, WNOHANG)) == 0; i++)
		Sleep(10);
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	CHECK(r == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
}

static void handlers_run_last_first_until_one_returns_true(void)
{
	Seen = CreateEvent(NULL, FALSE, FALSE, NULL);
	CHECK(SetConsoleCtrlHandler(returns_true, TRUE));
	CHECK(SetConsoleCtrlHandler(returns_false, TRUE));
	CHECK(raise(SIGINT) == 0);
	CHECK(WaitForSingleObject(Seen, WAIT_MS) == WAIT_OBJECT_0);
	CHECK(Calls[CTRL_C_EVENT] == 1 && FalseAt == 1 && TrueAt == 2);
	CHECK(raise(SIGHUP) == 0);
	CHECK(WaitForSingleObject(Seen, WAIT_MS) == WAIT_OBJECT_0 && Calls[CTRL_CLOSE_EVENT] == 1);
	CHECK(SetConsoleCtrlHandler(returns_false, FALSE));
	CHECK(!SetConsoleCtrlHandler(returns_false, FALSE) && GetLastError() == ERROR_INVALID_PARAMETER);
}

static void a_null_handler_ignores_ctrl_c_only(void)
{
	CHECK(SetConsoleCtrlHandler(NULL, TRUE));
	CHECK(raise(SIGINT) == 0);
	CHECK(raise(SIGQUIT) == 0); /* the pipe keeps the order: CTRL_C, then CTRL_BREAK */
	CHECK(WaitForSingleObject(Seen, WAIT_MS) == WAIT_OBJECT_0);
	CHECK(Calls[CTRL_BREAK_EVENT] == 1 && Calls[CTRL_C_EVENT] == 1);
	CHECK(SetConsoleCtrlHandler(NULL, FALSE));
	CHECK(SetConsoleCtrlHandler(returns_true, FALSE));
	CHECK(CloseHandle(Seen));
}

static void std_handles_and_writeconsole(void)
{
	DWORD n = 0;
	HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
	CHECK(out != INVALID_HANDLE_VALUE && out != GetStdHandle(STD_ERROR_HANDLE));
	CHECK(WriteConsole(out, "console\n", 8, &n, NULL) && n == 8);
	CHECK(!WriteConsole(GetStdHandle(STD_INPUT_HANDLE), "x", 1, &n, NULL) && GetLastError() == ERROR_INVALID_HANDLE);
	CHECK(GetStdHandle(7) == INVALID_HANDLE_VALUE);
}

static void strsafe_calls(void)
{
	char b[8];
	size_t len = 0;
	CHECK(StringCchPrintf(b, _countof(b), "%d", 42) == S_OK && strcmp(b, "42") == 0);
	CHECK(StringCchPrintf(b, _countof(b), "%s", "truncated") == STRSAFE_E_INSUFFICIENT_BUFFER);
	CHECK(strcmp(b, "truncat") == 0 && FAILED(STRSAFE_E_INSUFFICIENT_BUFFER) && SUCCEEDED(S_OK));
	CHECK(StringCchCopy(b, sizeof(b), "abc") == S_OK && StringCchCat(b, sizeof(b), "def") == S_OK);
	CHECK(strcmp(b, "abcdef") == 0 && StringCbCat(b, sizeof(b), "gh") == STRSAFE_E_INSUFFICIENT_BUFFER);
	CHECK(strcmp(b, "abcdefg") == 0);
	CHECK(StringCchLength(b, sizeof(b), &len) == S_OK && len == 7);
	CHECK(StringCchLength(b, 3, &len) == STRSAFE_E_INVALID_PARAMETER);
	CHECK(StringCchCopy(b, 0, "x") == STRSAFE_E_INVALID_PARAMETER);
}

int main(void)
{
	test_start();
	RUN(an_unhandled_event_does_what_the_signal_does); /* first: fork before any thread */
	RUN(handlers_run_last_first_until_one_returns_true);
	RUN(a_null_handler_ignores_ctrl_c_only);
	RUN(std_handles_and_writeconsole);
	RUN(strsafe_calls);
	return 0;
}
