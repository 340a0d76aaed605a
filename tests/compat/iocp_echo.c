/* iocp_echo.c - a classic Windows IOCP echo server, as Win32 programmers
 * write it, built unchanged in style against cport's Win32 shim. Worker
 * threads block in GetQueuedCompletionStatus; each connection has one
 * overlapped buffer that alternates between WSARecv and WSASend.
 * usage: iocp_echo [--acceptex]   (listens on 127.0.0.1, ephemeral port) */
#include <mswsock.h>
#include <winsock2.h>
#include <windows.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <stdio.h>
#include <string.h>

#define DATA_BUFSIZE 8192
#define SHUTDOWN_KEY ((ULONG_PTR)-1)

typedef struct {
	OVERLAPPED Overlapped;
	WSABUF DataBuf;
	CHAR Buffer[DATA_BUFSIZE];
	DWORD BytesSEND;
	DWORD BytesRECV;
	BOOL Accepting;
	int AcceptSlot;
	SOCKET AcceptSocket;
	CHAR AddrBuf[2 * (sizeof(SOCKADDR_STORAGE) + 16)];
} PER_IO_DATA;

typedef struct {
	SOCKET Socket;
} PER_HANDLE_DATA;

#define ACCEPTS 4

static HANDLE CompletionPort;
static SOCKET Listen;
static PER_IO_DATA *AcceptIo[ACCEPTS]; /* freed at exit; a slot is NULL once freed */

static void CloseClient(PER_HANDLE_DATA *h, PER_IO_DATA *io)
{
	closesocket(h->Socket);
	GlobalFree(h);
	GlobalFree(io);
}

static BOOL PostRecv(PER_HANDLE_DATA *h, PER_IO_DATA *io)
{
	DWORD flags = 0, n;
	memset(&io->Overlapped, 0, sizeof(OVERLAPPED));
	io->BytesRECV = 0;
	io->BytesSEND = 0;
	io->DataBuf.len = DATA_BUFSIZE;
	io->DataBuf.buf = io->Buffer;
	if (WSARecv(h->Socket, &io->DataBuf, 1, &n, &flags, &io->Overlapped, NULL) == SOCKET_ERROR &&
	    WSAGetLastError() != WSA_IO_PENDING) {
		fprintf(stderr, "WSARecv failed with error %d\n", WSAGetLastError());
		return FALSE;
	}
	return TRUE;
}

static BOOL PostSend(PER_HANDLE_DATA *h, PER_IO_DATA *io)
{
	DWORD n;
	memset(&io->Overlapped, 0, sizeof(OVERLAPPED));
	io->DataBuf.buf = io->Buffer + io->BytesSEND;
	io->DataBuf.len = io->BytesRECV - io->BytesSEND;
	if (WSASend(h->Socket, &io->DataBuf, 1, &n, 0, &io->Overlapped, NULL) == SOCKET_ERROR &&
	    WSAGetLastError() != WSA_IO_PENDING) {
		fprintf(stderr, "WSASend failed with error %d\n", WSAGetLastError());
		return FALSE;
	}
	return TRUE;
}

static BOOL NewClient(SOCKET s)
{
	PER_HANDLE_DATA *h = (PER_HANDLE_DATA *)GlobalAlloc(GPTR, sizeof(PER_HANDLE_DATA));
	PER_IO_DATA *io = (PER_IO_DATA *)GlobalAlloc(GPTR, sizeof(PER_IO_DATA));
	if (!h || !io) {
		GlobalFree(h);
		GlobalFree(io);
		closesocket(s);
		return FALSE;
	}
	h->Socket = s;
	if (CreateIoCompletionPort((HANDLE)s, CompletionPort, (ULONG_PTR)h, 0) == NULL) {
		fprintf(stderr, "CreateIoCompletionPort failed with error %lu\n", (unsigned long)GetLastError());
		CloseClient(h, io);
		return FALSE;
	}
	if (!PostRecv(h, io)) {
		CloseClient(h, io);
		return FALSE;
	}
	return TRUE;
}

static BOOL PostAccept(PER_IO_DATA *io)
{
	memset(&io->Overlapped, 0, sizeof(OVERLAPPED));
	io->Accepting = TRUE;
	io->AcceptSocket = WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
	if (io->AcceptSocket == INVALID_SOCKET)
		return FALSE;
	if (!AcceptEx(Listen, io->AcceptSocket, io->AddrBuf, 0, sizeof(SOCKADDR_STORAGE) + 16,
		      sizeof(SOCKADDR_STORAGE) + 16, NULL, &io->Overlapped) &&
	    WSAGetLastError() != ERROR_IO_PENDING) {
		fprintf(stderr, "AcceptEx failed with error %d\n", WSAGetLastError());
		closesocket(io->AcceptSocket);
		return FALSE;
	}
	return TRUE;
}

static DWORD WINAPI ServerWorkerThread(LPVOID CompletionPortID)
{
	HANDLE port = (HANDLE)CompletionPortID;
	for (;;) {
		DWORD bytes = 0;
		ULONG_PTR key = 0;
		LPOVERLAPPED ov = NULL;
		BOOL ok = GetQueuedCompletionStatus(port, &bytes, &key, &ov, INFINITE);
		if (!ok && ov == NULL) /* the port itself failed or is closing */
			return 0;
		if (key == SHUTDOWN_KEY)
			return 0;
		PER_IO_DATA *io = (PER_IO_DATA *)ov;
		if (io->Accepting) {
			SOCKET s = io->AcceptSocket;
			if (ok)
				NewClient(s);
			else
				closesocket(s);
			if (!PostAccept(io)) {
				AcceptIo[io->AcceptSlot] = NULL;
				GlobalFree(io);
			}
			continue;
		}
		PER_HANDLE_DATA *h = (PER_HANDLE_DATA *)key;
		/* A failed or finished connection closes that connection, never the worker. */
		if (!ok || bytes == 0) {
			CloseClient(h, io);
			continue;
		}
		if (io->BytesRECV == 0) {
			io->BytesRECV = bytes;
			io->BytesSEND = 0;
		} else {
			io->BytesSEND += bytes;
		}
		BOOL posted = io->BytesRECV > io->BytesSEND ? PostSend(h, io) : PostRecv(h, io);
		if (!posted)
			CloseClient(h, io);
	}
}

int main(int argc, char **argv)
{
	BOOL use_acceptex = argc > 1 && strcmp(argv[1], "--acceptex") == 0;
	WSADATA wsaData;
	SYSTEM_INFO SystemInfo;
	/* SIGTERM ends the program: blocked in every thread, the main thread waits for it. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (WSAStartup(MAKEWORD(2, 2), &wsaData) != 0)
		return 1;
	if ((CompletionPort = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0)) == NULL) {
		fprintf(stderr, "CreateIoCompletionPort failed with error: %lu\n", (unsigned long)GetLastError());
		return 1;
	}
	GetSystemInfo(&SystemInfo);
	DWORD nthreads = SystemInfo.dwNumberOfProcessors * 2;
	HANDLE threads[256];
	if (nthreads > 256)
		nthreads = 256;
	for (DWORD i = 0; i < nthreads; i++) {
		if ((threads[i] = CreateThread(NULL, 0, ServerWorkerThread, CompletionPort, 0, NULL)) == NULL) {
			fprintf(stderr, "CreateThread() failed with error %lu\n", (unsigned long)GetLastError());
			return 1;
		}
	}
	if ((Listen = WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED)) == INVALID_SOCKET)
		return 1;
	SOCKADDR_IN addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;
	socklen_t alen = sizeof(addr);
	if (bind(Listen, (PSOCKADDR)&addr, sizeof(addr)) == SOCKET_ERROR || listen(Listen, SOMAXCONN) == SOCKET_ERROR ||
	    getsockname(Listen, (PSOCKADDR)&addr, &alen) < 0) {
		perror("bind/listen");
		return 1;
	}
	fprintf(stderr, "iocp_echo: listening on 127.0.0.1:%u (%s)\n", ntohs(addr.sin_port),
		use_acceptex ? "AcceptEx" : "WSAAccept");

	if (use_acceptex) {
		if (CreateIoCompletionPort((HANDLE)Listen, CompletionPort, 0, 0) == NULL)
			return 1;
		for (int i = 0; i < ACCEPTS; i++) {
			PER_IO_DATA *io = (PER_IO_DATA *)GlobalAlloc(GPTR, sizeof(PER_IO_DATA));
			if (!io)
				return 1;
			io->AcceptSlot = i;
			AcceptIo[i] = io;
			if (!PostAccept(io))
				return 1;
		}
		int sig;
		sigwait(&set, &sig);
	} else {
		/* The classic blocking accept loop; a signalfd beside it ends it. */
		int sfd = signalfd(-1, &set, SFD_CLOEXEC);
		if (sfd < 0)
			return 1;
		for (;;) {
			struct pollfd pf[2] = {{.fd = (int)Listen, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
			if (poll(pf, 2, -1) < 0 && errno != EINTR)
				return 1;
			if (pf[1].revents)
				break;
			if (!(pf[0].revents & POLLIN))
				continue;
			SOCKET s = WSAAccept(Listen, NULL, NULL, NULL, 0);
			if (s == INVALID_SOCKET) {
				/* the classic sample returned here: one bad accept ended the server */
				fprintf(stderr, "WSAAccept() failed with error %d\n", WSAGetLastError());
				continue;
			}
			NewClient(s);
		}
		close(sfd);
	}
	for (DWORD i = 0; i < nthreads; i++)
		PostQueuedCompletionStatus(CompletionPort, 0, SHUTDOWN_KEY, NULL);
	for (DWORD i = 0; i < nthreads; i++) {
		WaitForSingleObject(threads[i], INFINITE);
		CloseHandle(threads[i]);
	}
	CloseHandle(CompletionPort);
	for (int i = 0; i < ACCEPTS; i++) {
		if (AcceptIo[i]) {
			closesocket(AcceptIo[i]->AcceptSocket);
			GlobalFree(AcceptIo[i]);
		}
	}
	closesocket(Listen);
	WSACleanup();
	return 0;
}
