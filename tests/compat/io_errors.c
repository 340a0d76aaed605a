/* io_errors.c - Windows' results on the error paths: a reset under a
 * pending WSARecv (FALSE, the OVERLAPPED, ERROR_NETNAME_DELETED), a reset
 * seen by a synchronous recv (WSAECONNRESET), cancelled I/O
 * (ERROR_OPERATION_ABORTED), timeouts (FALSE, no OVERLAPPED, WAIT_TIMEOUT),
 * refused connects and an address in use. */
#include "w32test.h"
#include <mswsock.h>

static HANDLE Port;

static void reset_peer(SOCKET s)
{
	LINGER lg = {1, 0};
	CHECK(setsockopt(s, SOL_SOCKET, SO_LINGER, (char *)&lg, sizeof(lg)) == 0);
	CHECK(closesocket(s) == 0);
}

static void start_recv(SOCKET s, OVERLAPPED *ov, WSABUF *wb)
{
	DWORD flags = 0, n;
	ZeroMemory(ov, sizeof(*ov));
	CHECK(WSARecv(s, wb, 1, &n, &flags, ov, NULL) == SOCKET_ERROR);
	CHECK(WSAGetLastError() == WSA_IO_PENDING);
	CHECK(!HasOverlappedIoCompleted(ov));
}

static void a_reset_during_wsarecv_gives_netname_deleted(void)
{
	SOCKET client, s = test_pair(&client);
	OVERLAPPED ov;
	char buf[16];
	WSABUF wb = {sizeof(buf), buf};
	CHECK(CreateIoCompletionPort((HANDLE)s, Port, 42, 0) == Port);
	start_recv(s, &ov, &wb);
	reset_peer(client);
	DWORD bytes = 99;
	ULONG_PTR key = 0;
	LPOVERLAPPED got = NULL;
	CHECK(!GetQueuedCompletionStatus(Port, &bytes, &key, &got, WAIT_MS));
	CHECK(GetLastError() == ERROR_NETNAME_DELETED);
	CHECK(got == &ov && key == 42 && bytes == 0);
	CHECK(ov.Internal == STATUS_CONNECTION_RESET && HasOverlappedIoCompleted(&ov));
	CHECK(closesocket(s) == 0);
}

static void a_reset_seen_by_a_synchronous_recv_is_wsaeconnreset(void)
{
	SOCKET client, s = test_pair(&client);
	char buf[16];
	CHECK(send(client, "x", 1, 0) == 1);
	reset_peer(client);
	int r;
	while ((r = recv(s, buf, sizeof(buf), 0)) > 0)
		;
	CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSAECONNRESET);
	CHECK(closesocket(s) == 0);
}

static void cancelled_io_completes_with_operation_aborted(void)
{
	SOCKET client, s = test_pair(&client);
	OVERLAPPED ov1, ov2;
	char b1[8], b2[8];
	WSABUF w1 = {sizeof(b1), b1}, w2 = {sizeof(b2), b2};
	DWORD bytes;
	ULONG_PTR key;
	LPOVERLAPPED got;
	CHECK(CreateIoCompletionPort((HANDLE)s, Port, 7, 0) == Port);
	start_recv(s, &ov1, &w1);
	CHECK(CancelIoEx((HANDLE)s, &ov1));
	CHECK(!GetQueuedCompletionStatus(Port, &bytes, &key, &got, WAIT_MS));
	CHECK(GetLastError() == ERROR_OPERATION_ABORTED && got == &ov1 && key == 7);
	CHECK(ov1.Internal == STATUS_CANCELLED);
	/* Nothing left to cancel. */
	CHECK(!CancelIoEx((HANDLE)s, &ov1) && GetLastError() == ERROR_NOT_FOUND);
	start_recv(s, &ov2, &w2);
	CHECK(CancelIo((HANDLE)s));
	CHECK(!GetQueuedCompletionStatus(Port, &bytes, &key, &got, WAIT_MS));
	CHECK(GetLastError() == ERROR_OPERATION_ABORTED && got == &ov2);
	/* closesocket ends what is pending the same way. */
	start_recv(s, &ov1, &w1);
	CHECK(closesocket(s) == 0);
	CHECK(!GetQueuedCompletionStatus(Port, &bytes, &key, &got, WAIT_MS));
	CHECK(GetLastError() == ERROR_OPERATION_ABORTED && got == &ov1);
	CHECK(closesocket(client) == 0);
}

static void a_wait_that_times_out_returns_wait_timeout_and_no_overlapped(void)
{
	DWORD bytes;
	ULONG_PTR key;
	LPOVERLAPPED got = (LPOVERLAPPED)1;
	OVERLAPPED_ENTRY e[2];
	ULONG n = 5;
	CHECK(!GetQueuedCompletionStatus(Port, &bytes, &key, &got, 0));
	CHECK(GetLastError() == WAIT_TIMEOUT && got == NULL);
	got = (LPOVERLAPPED)1;
	CHECK(!GetQueuedCompletionStatus(Port, &bytes, &key, &got, 20));
	CHECK(GetLastError() == WAIT_TIMEOUT && got == NULL);
	CHECK(!GetQueuedCompletionStatusEx(Port, e, 2, &n, 20, FALSE));
	CHECK(GetLastError() == WAIT_TIMEOUT && n == 0);
}

static void refused_connects_and_an_address_in_use(void)
{
	unsigned short port;
	SOCKET l = test_listener(&port);
	SOCKADDR_IN a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	SOCKET s = WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
	CHECK(bind(s, (SOCKADDR *)&a, sizeof(a)) == SOCKET_ERROR && WSAGetLastError() == WSAEADDRINUSE);
	CHECK(closesocket(l) == 0);
	CHECK(connect(s, (SOCKADDR *)&a, sizeof(a)) == SOCKET_ERROR && WSAGetLastError() == WSAECONNREFUSED);
	CHECK(closesocket(s) == 0);
	/* The same through ConnectEx: ERROR_CONNECTION_REFUSED from the port. */
	s = WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
	CHECK(CreateIoCompletionPort((HANDLE)s, Port, 3, 0) == Port);
	OVERLAPPED ov;
	ZeroMemory(&ov, sizeof(ov));
	CHECK(!ConnectEx(s, (SOCKADDR *)&a, sizeof(a), NULL, 0, NULL, &ov) && WSAGetLastError() == ERROR_IO_PENDING);
	DWORD bytes;
	ULONG_PTR key;
	LPOVERLAPPED got;
	CHECK(!GetQueuedCompletionStatus(Port, &bytes, &key, &got, WAIT_MS));
	CHECK(GetLastError() == ERROR_CONNECTION_REFUSED && got == &ov && key == 3);
	CHECK(closesocket(s) == 0);
}

static void bad_handles_and_sockets_are_refused(void)
{
	DWORD bytes;
	ULONG_PTR key;
	LPOVERLAPPED got;
	CHECK(!GetQueuedCompletionStatus(NULL, &bytes, &key, &got, 0) && GetLastError() == ERROR_INVALID_HANDLE);
	CHECK(!GetQueuedCompletionStatus(INVALID_HANDLE_VALUE, &bytes, &key, &got, 0));
	CHECK(GetLastError() == ERROR_INVALID_HANDLE);
	CHECK(!CloseHandle(NULL) && GetLastError() == ERROR_INVALID_HANDLE);
	CHECK(closesocket(INVALID_SOCKET) == SOCKET_ERROR && WSAGetLastError() == WSAENOTSOCK);
	/* A socket joins one port only. */
	SOCKET s = WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
	HANDLE other = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	CHECK(CreateIoCompletionPort((HANDLE)s, Port, 1, 0) == Port);
	CHECK(CreateIoCompletionPort((HANDLE)s, other, 1, 0) == NULL && GetLastError() == ERROR_INVALID_PARAMETER);
	CHECK(closesocket(s) == 0 && CloseHandle(other));
}

int main(void)
{
	test_start();
	Port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	CHECK(Port != NULL);
	RUN(a_reset_during_wsarecv_gives_netname_deleted);
	RUN(a_reset_seen_by_a_synchronous_recv_is_wsaeconnreset);
	RUN(cancelled_io_completes_with_operation_aborted);
	RUN(a_wait_that_times_out_returns_wait_timeout_and_no_overlapped);
	RUN(refused_connects_and_an_address_in_use);
	RUN(bad_handles_and_sockets_are_refused);
	CHECK(CloseHandle(Port));
	return 0;
}
