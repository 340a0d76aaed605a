/* skip_on_success.c - SetFileCompletionNotificationModes with
 * FILE_SKIP_COMPLETION_PORT_ON_SUCCESS: an overlapped call that succeeds at
 * once returns success with its byte count, fills the OVERLAPPED, and no
 * packet reaches the port; one that has to wait still reports
 * WSA_IO_PENDING and completes through the port. */
#include "w32test.h"

#define MARK_KEY 0x5eed

/* Nothing is queued: a packet posted now is the next one out. */
static void expect_nothing_queued(HANDLE port)
{
	DWORD bytes;
	ULONG_PTR key;
	LPOVERLAPPED ov;
	CHECK(PostQueuedCompletionStatus(port, 0, MARK_KEY, NULL));
	CHECK(GetQueuedCompletionStatus(port, &bytes, &key, &ov, WAIT_MS));
	CHECK(key == MARK_KEY && ov == NULL);
}

static void a_send_that_goes_at_once_returns_success_and_queues_nothing(void)
{
	SOCKET client, s = test_pair(&client);
	HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	CHECK(port != NULL);
	/* Set before the association: it applies once the socket joins the port. */
	CHECK(SetFileCompletionNotificationModes((HANDLE)s, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
	CHECK(CreateIoCompletionPort((HANDLE)s, port, 1, 0) == port);
	OVERLAPPED ov;
	ZeroMemory(&ov, sizeof(ov));
	char text[] = "skipped";
	WSABUF b = {7, text};
	DWORD sent = 0;
	CHECK(WSASend(s, &b, 1, &sent, 0, &ov, NULL) == 0);
	CHECK(sent == 7);
	CHECK(HasOverlappedIoCompleted(&ov) && ov.InternalHigh == 7);
	char in[8] = {0};
	CHECK(recv(client, in, 7, MSG_WAITALL) == 7 && memcmp(in, "skipped", 7) == 0);
	expect_nothing_queued(port);
	CHECK(closesocket(client) == 0 && closesocket(s) == 0 && CloseHandle(port));
}

static void a_receive_that_must_wait_still_completes_through_the_port(void)
{
	SOCKET client, s = test_pair(&client);
	HANDLE port = CreateIoCompletionPort((HANDLE)s, NULL, 2, 0);
	CHECK(port != NULL);
	CHECK(SetFileCompletionNotificationModes((HANDLE)s, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
	OVERLAPPED ov;
	ZeroMemory(&ov, sizeof(ov));
	char in[16];
	WSABUF b = {sizeof(in), in};
	DWORD got = 0, flags = 0;
	int r = WSARecv(s, &b, 1, &got, &flags, &ov, NULL);
	CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
	CHECK(send(client, "later", 5, 0) == 5);
	DWORD bytes;
	ULONG_PTR key;
	LPOVERLAPPED done;
	CHECK(GetQueuedCompletionStatus(port, &bytes, &key, &done, WAIT_MS));
	CHECK(done == &ov && key == 2 && bytes == 5 && memcmp(in, "later", 5) == 0);
	CHECK(closesocket(client) == 0 && closesocket(s) == 0 && CloseHandle(port));
}

static void a_receive_with_data_waiting_is_done_at_once_or_through_the_port(void)
{
	SOCKET client, s = test_pair(&client);
	HANDLE port = CreateIoCompletionPort((HANDLE)s, NULL, 3, 0);
	CHECK(port != NULL);
	CHECK(SetFileCompletionNotificationModes((HANDLE)s, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
	CHECK(send(client, "ready", 5, 0) == 5);
	WSAPOLLFD pfd = {s, POLLRDNORM, 0};
	CHECK(WSAPoll(&pfd, 1, WAIT_MS) == 1);
	OVERLAPPED ov;
	ZeroMemory(&ov, sizeof(ov));
	char in[16];
	WSABUF b = {sizeof(in), in};
	DWORD got = 0, flags = 0;
	if (WSARecv(s, &b, 1, &got, &flags, &ov, NULL) == 0) {
		CHECK(got == 5); /* epoll tries a receive whose socket was ready */
		expect_nothing_queued(port);
	} else {
		CHECK(WSAGetLastError() == WSA_IO_PENDING); /* io_uring leaves receives to the kernel */
		DWORD bytes;
		ULONG_PTR key;
		LPOVERLAPPED done;
		CHECK(GetQueuedCompletionStatus(port, &bytes, &key, &done, WAIT_MS));
		CHECK(done == &ov && bytes == 5);
	}
	CHECK(memcmp(in, "ready", 5) == 0);
	CHECK(closesocket(client) == 0 && closesocket(s) == 0 && CloseHandle(port));
}

static void bad_flags_and_handles_are_refused(void)
{
	SOCKET client, s = test_pair(&client);
	CHECK(!SetFileCompletionNotificationModes((HANDLE)s, 0x80) && GetLastError() == ERROR_INVALID_PARAMETER);
	CHECK(!SetFileCompletionNotificationModes((HANDLE)(uintptr_t)100000, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS) &&
	      GetLastError() == ERROR_INVALID_HANDLE);
	CHECK(closesocket(client) == 0 && closesocket(s) == 0);
}

int main(void)
{
	test_start();
	RUN(a_send_that_goes_at_once_returns_success_and_queues_nothing);
	RUN(a_receive_that_must_wait_still_completes_through_the_port);
	RUN(a_receive_with_data_waiting_is_done_at_once_or_through_the_port);
	RUN(bad_flags_and_handles_are_refused);
	return 0;
}
