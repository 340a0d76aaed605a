/* closed_port.c - closing a port handle under waiting workers: each blocked
 * wait ends with FALSE, no OVERLAPPED and ERROR_ABANDONED_WAIT_0, and every
 * later call on the closed handle fails with ERROR_INVALID_HANDLE (the old
 * shim returned ERROR_ABANDONED_WAIT_0 forever, from freed memory). */
#include "w32test.h"

#define WORKERS 4

static HANDLE Port;
static LONG Abandoned, Ready;

static DWORD WINAPI Worker(LPVOID arg)
{
	DWORD bytes = 1;
	ULONG_PTR key = 1;
	LPOVERLAPPED ov = (LPOVERLAPPED)arg;
	InterlockedIncrement(&Ready);
	BOOL ok = GetQueuedCompletionStatus(Port, &bytes, &key, &ov, INFINITE);
	if (!ok && ov == NULL && GetLastError() == ERROR_ABANDONED_WAIT_0)
		InterlockedIncrement(&Abandoned);
	return 0;
}

static void blocked_workers_get_abandoned_wait(void)
{
	HANDLE t[WORKERS];
	static OVERLAPPED dummy;
	Port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 2);
	CHECK(Port != NULL);
	for (int i = 0; i < WORKERS; i++)
		CHECK((t[i] = CreateThread(NULL, 0, Worker, &dummy, 0, NULL)) != NULL);
	/* Wait until each worker is about to wait (blocked or on its way in:
	 * both must end with ERROR_ABANDONED_WAIT_0). */
	for (DWORD waited = 0; InterlockedCompareExchange(&Ready, 0, 0) < WORKERS && waited < WAIT_MS; waited++)
		Sleep(1);
	CHECK(CloseHandle(Port));
	CHECK(WaitForMultipleObjects(WORKERS, t, TRUE, WAIT_MS) == WAIT_OBJECT_0);
	for (int i = 0; i < WORKERS; i++)
		CHECK(CloseHandle(t[i]));
	CHECK(Abandoned == WORKERS);
}

static void every_later_call_on_the_closed_handle_is_invalid_handle(void)
{
	DWORD bytes;
	ULONG_PTR key;
	LPOVERLAPPED ov = (LPOVERLAPPED)1;
	OVERLAPPED_ENTRY e[4];
	ULONG n = 7;
	for (int round = 0; round < 3; round++) {
		SetLastError(0);
		CHECK(!GetQueuedCompletionStatus(Port, &bytes, &key, &ov, 0));
		CHECK(GetLastError() == ERROR_INVALID_HANDLE);
		CHECK(ov == NULL);
		SetLastError(0);
		CHECK(!GetQueuedCompletionStatus(Port, &bytes, &key, &ov, INFINITE));
		CHECK(GetLastError() == ERROR_INVALID_HANDLE);
		SetLastError(0);
		CHECK(!GetQueuedCompletionStatusEx(Port, e, 4, &n, INFINITE, FALSE));
		CHECK(GetLastError() == ERROR_INVALID_HANDLE);
		CHECK(n == 0);
		SetLastError(0);
		CHECK(!PostQueuedCompletionStatus(Port, 0, 0, NULL));
		CHECK(GetLastError() == ERROR_INVALID_HANDLE);
		SetLastError(0);
		CHECK(!CloseHandle(Port));
		CHECK(GetLastError() == ERROR_INVALID_HANDLE);
	}
}

static void a_new_port_does_not_revive_the_old_handle(void)
{
	HANDLE p2 = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	DWORD bytes;
	ULONG_PTR key;
	LPOVERLAPPED ov;
	CHECK(p2 != NULL);
	CHECK(PostQueuedCompletionStatus(p2, 5, 9, NULL));
	CHECK(!GetQueuedCompletionStatus(Port, &bytes, &key, &ov, 0));
	CHECK(GetLastError() == ERROR_INVALID_HANDLE);
	CHECK(GetQueuedCompletionStatus(p2, &bytes, &key, &ov, WAIT_MS));
	CHECK(bytes == 5 && key == 9 && ov == NULL);
	CHECK(CloseHandle(p2));
}

int main(void)
{
	test_start();
	RUN(blocked_workers_get_abandoned_wait);
	RUN(every_later_call_on_the_closed_handle_is_invalid_handle);
	RUN(a_new_port_does_not_revive_the_old_handle);
	return 0;
}
