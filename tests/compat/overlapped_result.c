/* overlapped_result.c - GetOverlappedResult(Ex) and WSAGetOverlappedResult
 * read an operation's bytes and status from its OVERLAPPED as Windows fills
 * Internal/InternalHigh; a pending one gives ERROR_IO_INCOMPLETE without a
 * wait, and with one waits until a thread has dequeued its completion (the
 * shim records an operation then), or fails with ERROR_OPERATION_ABORTED
 * once the port is gone. hEvent is reset at the start and signalled at the
 * completion; with its low bit set no packet is handed out. */
#include "w32test.h"
#include <mswsock.h>

static HANDLE Port;

static void start_recv(SOCKET s, OVERLAPPED *ov, WSABUF *wb, HANDLE event)
{
	DWORD flags = 0, n;
	ZeroMemory(ov, sizeof(*ov));
	ov->hEvent = event;
	CHECK(WSARecv(s, wb, 1, &n, &flags, ov, NULL) == SOCKET_ERROR);
	CHECK(WSAGetLastError() == WSA_IO_PENDING);
}

static LPOVERLAPPED dequeue(DWORD *bytes, BOOL *ok)
{
	ULONG_PTR key;
	LPOVERLAPPED got = NULL;
	*ok = GetQueuedCompletionStatus(Port, bytes, &key, &got, WAIT_MS);
	CHECK(got != NULL);
	return got;
}

static void a_completed_operation_gives_its_bytes(void)
{
	SOCKET client, s = test_pair(&client);
	OVERLAPPED ov;
	char buf[16];
	WSABUF wb = {sizeof(buf), buf};
	DWORD n = 99, flags = 99;
	CHECK(CreateIoCompletionPort((HANDLE)s, Port, 1, 0) == Port);
	start_recv(s, &ov, &wb, NULL);
	/* Pending, no wait: incomplete, in both conventions. */
	CHECK(!GetOverlappedResult((HANDLE)s, &ov, &n, FALSE) && GetLastError() == ERROR_IO_INCOMPLETE);
	CHECK(!WSAGetOverlappedResult(s, &ov, &n, FALSE, &flags) && WSAGetLastError() == WSA_IO_INCOMPLETE);
	CHECK(!GetOverlappedResultEx((HANDLE)s, &ov, &n, 20, FALSE) && GetLastError() == WAIT_TIMEOUT);
	CHECK(!HasOverlappedIoCompleted(&ov));
	CHECK(send(client, "hello", 5, 0) == 5);
	BOOL ok;
	CHECK(dequeue(&n, &ok) == &ov && ok && n == 5);
	n = 0;
	CHECK(GetOverlappedResult((HANDLE)s, &ov, &n, FALSE) && n == 5);
	n = 0;
	CHECK(WSAGetOverlappedResult(s, &ov, &n, TRUE, &flags) && n == 5 && flags == 0);
	CHECK(!WSAGetOverlappedResult(s, &ov, &n, FALSE, NULL) && WSAGetLastError() == WSAEFAULT);
	CHECK(!GetOverlappedResult((HANDLE)s, NULL, &n, FALSE) && GetLastError() == ERROR_INVALID_PARAMETER);
	/* An OVERLAPPED that never carried an operation: zeroed, so complete. */
	OVERLAPPED zero;
	ZeroMemory(&zero, sizeof(zero));
	CHECK(GetOverlappedResult((HANDLE)s, &zero, &n, TRUE) && n == 0);
	CHECK(closesocket(client) == 0 && closesocket(s) == 0);
}

static void a_failed_operation_gives_its_error(void)
{
	SOCKET client, s = test_pair(&client);
	OVERLAPPED ov;
	char buf[16];
	WSABUF wb = {sizeof(buf), buf};
	DWORD n = 99, flags;
	CHECK(CreateIoCompletionPort((HANDLE)s, Port, 1, 0) == Port);
	start_recv(s, &ov, &wb, NULL);
	LINGER lg = {1, 0};
	CHECK(setsockopt(client, SOL_SOCKET, SO_LINGER, (char *)&lg, sizeof(lg)) == 0);
	CHECK(closesocket(client) == 0);
	BOOL ok;
	CHECK(dequeue(&n, &ok) == &ov && !ok && GetLastError() == ERROR_NETNAME_DELETED);
	CHECK(!GetOverlappedResult((HANDLE)s, &ov, &n, TRUE) && GetLastError() == ERROR_NETNAME_DELETED && n == 0);
	CHECK(!WSAGetOverlappedResult(s, &ov, &n, FALSE, &flags) && WSAGetLastError() == WSAECONNRESET);
	/* Cancelled: ERROR_OPERATION_ABORTED / WSA_OPERATION_ABORTED. */
	SOCKET c2, s2 = test_pair(&c2);
	CHECK(CreateIoCompletionPort((HANDLE)s2, Port, 2, 0) == Port);
	start_recv(s2, &ov, &wb, NULL);
	CHECK(CancelIoEx((HANDLE)s2, &ov));
	CHECK(dequeue(&n, &ok) == &ov && !ok && GetLastError() == ERROR_OPERATION_ABORTED);
	CHECK(!GetOverlappedResult((HANDLE)s2, &ov, &n, FALSE) && GetLastError() == ERROR_OPERATION_ABORTED);
	CHECK(!WSAGetOverlappedResult(s2, &ov, &n, FALSE, &flags) && WSAGetLastError() == WSA_OPERATION_ABORTED);
	CHECK(closesocket(s) == 0 && closesocket(s2) == 0 && closesocket(c2) == 0);
}

/* A worker dequeuing the port, as in every IOCP program. */
static LONG WorkerStop, WorkerPackets;

static DWORD WINAPI worker(LPVOID arg)
{
	(void)arg;
	for (int i = 0; i < WAIT_MS / 10 && !InterlockedCompareExchange(&WorkerStop, 0, 0); i++) {
		DWORD n;
		ULONG_PTR key;
		LPOVERLAPPED got;
		if (GetQueuedCompletionStatus(Port, &n, &key, &got, 10) || got)
			InterlockedIncrement(&WorkerPackets);
		if (key == 77)
			break;
	}
	return 0;
}

static DWORD WINAPI sends_later(LPVOID arg)
{
	Sleep(20);
	CHECK(send((SOCKET)(uintptr_t)arg, "abc", 3, 0) == 3);
	return 0;
}

static void waiting_ends_when_a_worker_has_dequeued_it_and_the_event_is_set(void)
{
	SOCKET client, s = test_pair(&client);
	OVERLAPPED ov;
	char buf[16];
	WSABUF wb = {sizeof(buf), buf};
	HANDLE ev = WSACreateEvent();
	CHECK(SetEvent(ev));
	CHECK(CreateIoCompletionPort((HANDLE)s, Port, 1, 0) == Port);
	WorkerStop = 0;
	WorkerPackets = 0;
	HANDLE w = CreateThread(NULL, 0, worker, NULL, 0, NULL);
	start_recv(s, &ov, &wb, ev);
	CHECK(WaitForSingleObject(ev, 0) == WAIT_TIMEOUT); /* reset when the operation started */
	HANDLE t = CreateThread(NULL, 0, sends_later, (LPVOID)(uintptr_t)client, 0, NULL);
	DWORD n = 0, flags;
	CHECK(WSAGetOverlappedResult(s, &ov, &n, TRUE, &flags) && n == 3 && memcmp(buf, "abc", 3) == 0);
	CHECK(WSAWaitForMultipleEvents(1, &ev, TRUE, WAIT_MS, FALSE) == WSA_WAIT_EVENT_0);
	CHECK(HasOverlappedIoCompleted(&ov));
	CHECK(PostQueuedCompletionStatus(Port, 0, 77, NULL));
	CHECK(WaitForSingleObject(w, WAIT_MS) == WAIT_OBJECT_0);
	CHECK(WorkerPackets == 2); /* the receive's packet and the post: hEvent does not keep it off the port */
	CHECK(CloseHandle(t) && CloseHandle(w) && WSACloseEvent(ev));
	CHECK(closesocket(client) == 0 && closesocket(s) == 0);
}

static void with_the_low_bit_set_no_packet_is_handed_out(void)
{
	SOCKET client, s = test_pair(&client);
	OVERLAPPED ov;
	char buf[16];
	WSABUF wb = {sizeof(buf), buf};
	HANDLE ev = CreateEvent(NULL, TRUE, FALSE, NULL);
	CHECK(CreateIoCompletionPort((HANDLE)s, Port, 1, 0) == Port);
	start_recv(s, &ov, &wb, (HANDLE)((ULONG_PTR)ev | 1));
	CHECK(send(client, "xy", 2, 0) == 2);
	/* This thread dequeues: the completion is consumed on the way, never handed out. */
	for (int i = 0; i < WAIT_MS / 10 && WaitForSingleObject(ev, 0) == WAIT_TIMEOUT; i++) {
		DWORD n;
		ULONG_PTR key;
		LPOVERLAPPED got = (LPOVERLAPPED)1;
		CHECK(!GetQueuedCompletionStatus(Port, &n, &key, &got, 10));
		CHECK(got == NULL && GetLastError() == WAIT_TIMEOUT);
	}
	DWORD n = 0;
	CHECK(GetOverlappedResult((HANDLE)s, &ov, &n, TRUE) && n == 2);
	CHECK(PostQueuedCompletionStatus(Port, 1, 5, NULL));
	BOOL ok;
	DWORD bytes;
	ULONG_PTR key;
	LPOVERLAPPED got;
	CHECK(GetQueuedCompletionStatus(Port, &bytes, &key, &got, WAIT_MS) && key == 5 && got == NULL);
	CHECK(!GetQueuedCompletionStatus(Port, &bytes, &key, &got, 0) && got == NULL);
	(void)ok;
	CHECK(CloseHandle(ev));
	CHECK(closesocket(client) == 0 && closesocket(s) == 0);
}

static void the_shims_own_posts_fill_internal_and_a_programs_post_does_not(void)
{
	SOCKET client, s = test_pair(&client);
	LPFN_DISCONNECTEX pDisconnectEx = NULL;
	GUID g = WSAID_DISCONNECTEX;
	DWORD got_len;
	CHECK(WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &g, sizeof(g), &pDisconnectEx, sizeof(pDisconnectEx),
		       &got_len, NULL, NULL) == 0);
	CHECK(CreateIoCompletionPort((HANDLE)s, Port, 3, 0) == Port);
	OVERLAPPED ov;
	ZeroMemory(&ov, sizeof(ov));
	CHECK(!pDisconnectEx(s, &ov, 0, 0) && WSAGetLastError() == WSA_IO_PENDING);
	BOOL ok;
	DWORD n;
	CHECK(dequeue(&n, &ok) == &ov && ok);
	CHECK(ov.Internal == STATUS_SUCCESS && HasOverlappedIoCompleted(&ov));
	CHECK(GetOverlappedResult((HANDLE)s, &ov, &n, TRUE) && n == 0);
	ZeroMemory(&ov, sizeof(ov));
	ov.Internal = 0x1234;
	CHECK(PostQueuedCompletionStatus(Port, 9, 4, &ov));
	CHECK(dequeue(&n, &ok) == &ov && ok && n == 9);
	CHECK(ov.Internal == 0x1234);
	CHECK(closesocket(client) == 0 && closesocket(s) == 0);
}

static HANDLE ClosingPort;
static LPOVERLAPPED WaitedOv;
static SOCKET WaitedSock;
static LONG WaiterIn;

static DWORD WINAPI waits_for_result(LPVOID arg)
{
	(void)arg;
	DWORD n = 7;
	InterlockedIncrement(&WaiterIn);
	BOOL ok = GetOverlappedResult((HANDLE)WaitedSock, WaitedOv, &n, TRUE);
	return !ok && GetLastError() == ERROR_OPERATION_ABORTED ? 1 : 0;
}

static void a_wait_whose_port_is_closed_ends_with_operation_aborted(void)
{
	SOCKET client, s = test_pair(&client);
	OVERLAPPED ov;
	char buf[16];
	WSABUF wb = {sizeof(buf), buf};
	ClosingPort = CreateIoCompletionPort((HANDLE)s, NULL, 1, 0);
	CHECK(ClosingPort != NULL);
	start_recv(s, &ov, &wb, NULL);
	WaitedOv = &ov;
	WaitedSock = s;
	HANDLE t = CreateThread(NULL, 0, waits_for_result, NULL, 0, NULL);
	for (int i = 0; i < WAIT_MS && !InterlockedCompareExchange(&WaiterIn, 0, 0); i++)
		Sleep(1);
	CHECK(CloseHandle(ClosingPort));
	CHECK(WaitForSingleObject(t, WAIT_MS) == WAIT_OBJECT_0);
	DWORD code = 0;
	CHECK(GetExitCodeThread(t, &code) && code == 1);
	CHECK(CloseHandle(t));
	CHECK(closesocket(client) == 0 && closesocket(s) == 0);
}

int main(void)
{
	test_start();
	Port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	CHECK(Port != NULL);
	RUN(a_completed_operation_gives_its_bytes);
	RUN(a_failed_operation_gives_its_error);
	RUN(waiting_ends_when_a_worker_has_dequeued_it_and_the_event_is_set);
	RUN(with_the_low_bit_set_no_packet_is_handed_out);
	RUN(the_shims_own_posts_fill_internal_and_a_programs_post_does_not);
	RUN(a_wait_whose_port_is_closed_ends_with_operation_aborted);
	CHECK(CloseHandle(Port));
	return 0;
}
