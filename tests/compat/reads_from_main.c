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

/* One read posted by this thread on s, associated under key with a port
 * of its own whose worker is asleep in its wait. */
struct read {
	HANDLE port, thread;
	struct worker w;
	ULONG_PTR key;
	char buf[16];
	WSABUF wb;
	OVERLAPPED ov;
	DWORD flags, n;
};

static void read_begin(struct read *r, SOCKET s, ULONG_PTR key)
{
	ZeroMemory(r, sizeof(*r));
	r->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	CHECK(r->port && CreateIoCompletionPort((HANDLE)s, r->port, key, 0) == r->port);
	r->key = key;
	r->thread = start_worker(&r->w, r->port);
	r->wb = (WSABUF){sizeof(r->buf), r->buf};
}

/* The worker woke with the read's completion: want, len bytes. */
static void read_end(struct read *r, const char *want, DWORD len)
{
	finish_worker(&r->w, r->thread);
	CHECK(r->w.ok && r->w.ov == &r->ov && r->w.key == r->key && r->w.bytes == len);
	CHECK(memcmp(r->buf, want, len) == 0);
	CHECK(CloseHandle(r->port));
}

static void a_wsarecvfrom_posted_by_main_completes_through_a_sleeping_worker(void)
{
	SOCKADDR_IN ra, ta, from;
	SOCKET rx = udp_bound(&ra), tx = udp_bound(&ta);
	int fromlen = sizeof(from);
	struct read r;
	read_begin(&r, rx, 5);
	CHECK(WSARecvFrom(rx, &r.wb, 1, &r.n, &r.flags, (SOCKADDR *)&from, &fromlen, &r.ov, NULL) == SOCKET_ERROR &&
	      WSAGetLastError() == WSA_IO_PENDING);
	CHECK(sendto(tx, "datagram", 8, 0, (SOCKADDR *)&ra, sizeof(ra)) == 8);
	read_end(&r, "datagram", 8);
	CHECK(from.sin_port == ta.sin_port);
	CHECK(closesocket(rx) == 0 && closesocket(tx) == 0);
}

static void a_wsarecv_posted_by_main_completes_through_a_sleeping_worker(void)
{
	SOCKET client;
	SOCKET s = test_pair(&client);
	struct read r;
	read_begin(&r, s, 6);
	CHECK(WSARecv(s, &r.wb, 1, &r.n, &r.flags, &r.ov, NULL) == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
	CHECK(send(client, "stream", 6, 0) == 6);
	read_end(&r, "stream", 6);
	CHECK(closesocket(s) == 0 && closesocket(client) == 0);
}

int main(void)
{
	test_start();
	RUN(a_wsarecvfrom_posted_by_main_completes_through_a_sleeping_worker);
	RUN(a_wsarecv_posted_by_main_completes_through_a_sleeping_worker);
	return 0;
}
