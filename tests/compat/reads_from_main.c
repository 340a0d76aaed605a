/* reads_from_main.c - the classic shape: worker threads block in
 * GetQueuedCompletionStatus, and a thread that never waits on the port
 * (here the main thread) posts the reads. Each read is under way when its
 * call returns, as on Windows, and completes through a worker, TCP and
 * UDP alike, with the worker already asleep when the read is posted. */
#include "w32test.h"

struct worker {
	HANDLE port;
	BOOL ok;
	DWORD bytes;
	ULONG_PTR key;
	LPOVERLAPPED ov;
	HANDLE asleep; /* set just before it waits */
};

static DWORD WINAPI worker_main(LPVOID arg)
{
	struct worker *w = arg;
	SetEvent(w->asleep);
	/* No timeout: the read's own completion must end the wait. */
	w->ok = GetQueuedCompletionStatus(w->port, &w->bytes, &w->key, &w->ov, INFINITE);
	return 0;
}

/* A worker of port asleep in its wait (by the time this returns it has
 * had 200 ms to get there: the test passes either way once reads start
 * at once, and fails only if they do not). */
static HANDLE start_worker(struct worker *w, HANDLE port)
{
	ZeroMemory(w, sizeof(*w));
	w->port = port;
	w->asleep = CreateEvent(NULL, TRUE, FALSE, NULL);
	CHECK(w->asleep);
	HANDLE t = CreateThread(NULL, 0, worker_main, w, 0, NULL);
	CHECK(t);
	CHECK(WaitForSingleObject(w->asleep, WAIT_MS) == WAIT_OBJECT_0);
	Sleep(200);
	return t;
}

static void finish_worker(struct worker *w, HANDLE t)
{
	CHECK(WaitForSingleObject(t, WAIT_MS) == WAIT_OBJECT_0);
	CHECK(CloseHandle(t) && CloseHandle(w->asleep));
}

static SOCKET udp_bound(SOCKADDR_IN *a)
{
	int len = sizeof(*a);
	SOCKET s = WSASocket(AF_INET, SOCK_DGRAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
	CHECK(s != INVALID_SOCKET);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(s, (SOCKADDR *)a, sizeof(*a)) == 0 && getsockname(s, (SOCKADDR *)a, &len) == 0);
	return s;
}

static void a_wsarecvfrom_posted_by_main_completes_through_a_sleeping_worker(void)
{
	SOCKADDR_IN ra, ta, from;
	SOCKET rx = udp_bound(&ra), tx = udp_bound(&ta);
	HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	CHECK(port && CreateIoCompletionPort((HANDLE)rx, port, 5, 0) == port);
	struct worker w;
	HANDLE t = start_worker(&w, port);
	char buf[16];
	WSABUF wb = {sizeof(buf), buf};
	OVERLAPPED ov;
	DWORD flags = 0, n;
	int fromlen = sizeof(from);
	ZeroMemory(&ov, sizeof(ov));
	CHECK(WSARecvFrom(rx, &wb, 1, &n, &flags, (SOCKADDR *)&from, &fromlen, &ov, NULL) == SOCKET_ERROR &&
	      WSAGetLastError() == WSA_IO_PENDING);
	CHECK(sendto(tx, "datagram", 8, 0, (SOCKADDR *)&ra, sizeof(ra)) == 8);
	finish_worker(&w, t);
	CHECK(w.ok && w.ov == &ov && w.key == 5 && w.bytes == 8);
	CHECK(memcmp(buf, "datagram", 8) == 0 && from.sin_port == ta.sin_port);
	CHECK(closesocket(rx) == 0 && closesocket(tx) == 0 && CloseHandle(port));
}

static void a_wsarecv_posted_by_main_completes_through_a_sleeping_worker(void)
{
	SOCKET client;
	SOCKET s = test_pair(&client);
	HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	CHECK(port && CreateIoCompletionPort((HANDLE)s, port, 6, 0) == port);
	struct worker w;
	HANDLE t = start_worker(&w, port);
	char buf[16];
	WSABUF wb = {sizeof(buf), buf};
	OVERLAPPED ov;
	DWORD flags = 0, n;
	ZeroMemory(&ov, sizeof(ov));
	CHECK(WSARecv(s, &wb, 1, &n, &flags, &ov, NULL) == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
	CHECK(send(client, "stream", 6, 0) == 6);
	finish_worker(&w, t);
	CHECK(w.ok && w.ov == &ov && w.key == 6 && w.bytes == 6);
	CHECK(memcmp(buf, "stream", 6) == 0);
	CHECK(closesocket(s) == 0 && closesocket(client) == 0 && CloseHandle(port));
}

int main(void)
{
	test_start();
	RUN(a_wsarecvfrom_posted_by_main_completes_through_a_sleeping_worker);
	RUN(a_wsarecv_posted_by_main_completes_through_a_sleeping_worker);
	return 0;
}
