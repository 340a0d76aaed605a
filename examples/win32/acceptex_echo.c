/* acceptex_echo.c - an IOCP echo server in the AcceptEx style: the
 * listening socket is associated with the port, a few AcceptEx calls are
 * kept outstanding, and workers dequeue batches with
 * GetQueuedCompletionStatusEx. AcceptEx and GetAcceptExSockaddrs are
 * fetched through WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER), as Windows
 * requires. Built unchanged against cport's Win32 shim.
 *
 * usage: acceptex_echo [port]   (default 5150; 0 picks a free one)
 * Serves 127.0.0.1; stops when standard input ends, by closing the port
 * handle under its workers. */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>
#include <stdio.h>

#define DEFAULT_PORT 5150
#define BUFSIZE 16384
#define ACCEPTS 8
#define ENTRIES 32
#define ADDRLEN (sizeof(SOCKADDR_STORAGE) + 16)
#define MAX_WORKERS 64
#define LISTEN_KEY 0

typedef enum { IO_ACCEPT, IO_RECV, IO_SEND } IO_KIND;

typedef struct _PER_IO {
	OVERLAPPED ov;
	IO_KIND kind;
	SOCKET accept; /* IO_ACCEPT: the socket the connection lands on */
	WSABUF wsabuf;
	DWORD have, sent;
	char addrs[2 * ADDRLEN];
	char buf[BUFSIZE];
} PER_IO;

typedef struct _PER_SOCKET {
	SOCKET s;
	PER_IO io;
} PER_SOCKET;

static HANDLE Port;
static SOCKET Listen;
static LPFN_ACCEPTEX pAcceptEx;
static LPFN_GETACCEPTEXSOCKADDRS pGetAcceptExSockaddrs;
static PER_IO *AcceptIo[ACCEPTS];
static LONG Accepted, WorkersStopped;

static BOOL GetExtension(SOCKET s, GUID guid, void *fn, DWORD size)
{
	DWORD bytes = 0;
	return WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof(guid), fn, size, &bytes, NULL, NULL) !=
	       SOCKET_ERROR;
}

static BOOL PostAccept(PER_IO *io)
{
	DWORD bytes = 0;
	ZeroMemory(&io->ov, sizeof(io->ov));
	io->kind = IO_ACCEPT;
	io->accept = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
	if (io->accept == INVALID_SOCKET)
		return FALSE;
	if (!pAcceptEx(Listen, io->accept, io->addrs, 0, ADDRLEN, ADDRLEN, &bytes, &io->ov) &&
	    WSAGetLastError() != ERROR_IO_PENDING) {
		printf("AcceptEx failed with error %d\n", WSAGetLastError());
		return FALSE;
	}
	return TRUE;
}

static BOOL PostRecv(PER_SOCKET *ps)
{
	DWORD flags = 0, bytes;
	PER_IO *io = &ps->io;
	ZeroMemory(&io->ov, sizeof(io->ov));
	io->kind = IO_RECV;
	io->wsabuf.buf = io->buf;
	io->wsabuf.len = BUFSIZE;
	return WSARecv(ps->s, &io->wsabuf, 1, &bytes, &flags, &io->ov, NULL) != SOCKET_ERROR ||
	       WSAGetLastError() == WSA_IO_PENDING;
}

static BOOL PostSend(PER_SOCKET *ps)
{
	DWORD bytes;
	PER_IO *io = &ps->io;
	ZeroMemory(&io->ov, sizeof(io->ov));
	io->kind = IO_SEND;
	io->wsabuf.buf = io->buf + io->sent;
	io->wsabuf.len = io->have - io->sent;
	return WSASend(ps->s, &io->wsabuf, 1, &bytes, 0, &io->ov, NULL) != SOCKET_ERROR ||
	       WSAGetLastError() == WSA_IO_PENDING;
}

static void CloseConnection(PER_SOCKET *ps)
{
	closesocket(ps->s);
	HeapFree(GetProcessHeap(), 0, ps);
}

/* A connection came in on io->accept: give it its own per-socket data and
 * key, start reading, and put a new AcceptEx in place. */
static void OnAccept(PER_IO *io, BOOL ok)
{
	SOCKET s = io->accept;
	SOCKADDR *local, *remote;
	int llen, rlen;

	if (ok) {
		pGetAcceptExSockaddrs(io->addrs, 0, ADDRLEN, ADDRLEN, &local, &llen, &remote, &rlen);
		setsockopt(s, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (char *)&Listen, sizeof(Listen));
		PER_SOCKET *ps = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(PER_SOCKET));
		if (ps && remote->sa_family == AF_INET) {
			ps->s = s;
			InterlockedIncrement(&Accepted);
			if (CreateIoCompletionPort((HANDLE)s, Port, (ULONG_PTR)ps, 0) == NULL || !PostRecv(ps))
				CloseConnection(ps);
		} else {
			HeapFree(GetProcessHeap(), 0, ps);
			closesocket(s);
		}
	} else {
		closesocket(s);
	}
	if (!PostAccept(io))
		printf("could not post a new AcceptEx\n");
}

static void OnTransfer(PER_SOCKET *ps, BOOL ok, DWORD bytes)
{
	PER_IO *io = &ps->io;
	if (!ok || (io->kind == IO_RECV && bytes == 0)) {
		CloseConnection(ps); /* a reset, or the end of the stream */
		return;
	}
	if (io->kind == IO_RECV) {
		io->have = bytes;
		io->sent = 0;
	} else {
		io->sent += bytes;
	}
	if (!(io->sent < io->have ? PostSend(ps) : PostRecv(ps)))
		CloseConnection(ps);
}

static DWORD WINAPI Worker(LPVOID unused)
{
	OVERLAPPED_ENTRY entries[ENTRIES];
	ULONG n, i;
	(void)unused;
	while (GetQueuedCompletionStatusEx(Port, entries, ENTRIES, &n, INFINITE, FALSE)) {
		for (i = 0; i < n; i++) {
			/* Internal is the operation's NTSTATUS: 0 when it succeeded. */
			BOOL ok = entries[i].Internal == STATUS_SUCCESS;
			PER_IO *io = CONTAINING_RECORD(entries[i].lpOverlapped, PER_IO, ov);
			if (entries[i].lpCompletionKey == LISTEN_KEY)
				OnAccept(io, ok);
			else
				OnTransfer((PER_SOCKET *)entries[i].lpCompletionKey, ok,
					   entries[i].dwNumberOfBytesTransferred);
		}
	}
	if (GetLastError() != ERROR_ABANDONED_WAIT_0 && GetLastError() != ERROR_INVALID_HANDLE)
		printf("GetQueuedCompletionStatusEx failed with error %lu\n", (unsigned long)GetLastError());
	InterlockedIncrement(&WorkersStopped);
	return 0;
}

static BOOL Listening(unsigned short port)
{
	SOCKADDR_IN addr;
	int len = sizeof(addr);
	GUID acceptex = WSAID_ACCEPTEX, sockaddrs = WSAID_GETACCEPTEXSOCKADDRS;

	Listen = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
	if (Listen == INVALID_SOCKET)
		return FALSE;
	ZeroMemory(&addr, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(port);
	if (inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr) != 1 ||
	    bind(Listen, (SOCKADDR *)&addr, sizeof(addr)) == SOCKET_ERROR || listen(Listen, SOMAXCONN) == SOCKET_ERROR ||
	    getsockname(Listen, (SOCKADDR *)&addr, &len) == SOCKET_ERROR) {
		printf("listen failed with error %d\n", WSAGetLastError());
		return FALSE;
	}
	if (!GetExtension(Listen, acceptex, &pAcceptEx, sizeof(pAcceptEx)) ||
	    !GetExtension(Listen, sockaddrs, &pGetAcceptExSockaddrs, sizeof(pGetAcceptExSockaddrs))) {
		printf("WSAIoctl failed with error %d\n", WSAGetLastError());
		return FALSE;
	}
	if (CreateIoCompletionPort((HANDLE)Listen, Port, LISTEN_KEY, 0) == NULL)
		return FALSE;
	printf("acceptex_echo: listening on 127.0.0.1:%u\n", ntohs(addr.sin_port));
	return TRUE;
}

int main(int argc, char **argv)
{
	WSADATA wsa;
	SYSTEM_INFO si;
	HANDLE workers[MAX_WORKERS];
	DWORD i, nworkers;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
		return 1;
	if ((Port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0)) == NULL)
		return 1;
	if (!Listening(argc > 1 ? (unsigned short)atoi(argv[1]) : DEFAULT_PORT))
		return 1;
	GetSystemInfo(&si);
	nworkers = si.dwNumberOfProcessors * 2 > MAX_WORKERS ? MAX_WORKERS : si.dwNumberOfProcessors * 2;
	for (i = 0; i < nworkers; i++) {
		if ((workers[i] = CreateThread(NULL, 0, Worker, NULL, 0, NULL)) == NULL)
			return 1;
	}
	for (i = 0; i < ACCEPTS; i++) {
		AcceptIo[i] = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(PER_IO));
		if (!AcceptIo[i] || !PostAccept(AcceptIo[i]))
			return 1;
	}

	while (getchar() != EOF)
		;
	CloseHandle(Port); /* every worker's wait ends with ERROR_ABANDONED_WAIT_0 */
	WaitForMultipleObjects(nworkers, workers, TRUE, INFINITE);
	for (i = 0; i < nworkers; i++)
		CloseHandle(workers[i]);
	for (i = 0; i < ACCEPTS; i++) {
		closesocket(AcceptIo[i]->accept);
		HeapFree(GetProcessHeap(), 0, AcceptIo[i]);
	}
	closesocket(Listen);
	WSACleanup();
	printf("acceptex_echo: %ld connections, %ld of %lu workers stopped\n", (long)Accepted, (long)WorkersStopped,
	       (unsigned long)nworkers);
	return WorkersStopped == (LONG)nworkers ? 0 : 1;
}
