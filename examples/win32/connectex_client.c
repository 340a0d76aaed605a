/* connectex_client.c - an IOCP echo client in the ConnectEx style: each
 * connection is a bound socket associated with the port, connected with
 * ConnectEx (fetched through WSAIoctl) which also carries its first
 * message; every echoed byte is checked before the next message goes out.
 * Built unchanged against cport's Win32 shim.
 *
 * usage: connectex_client host port [connections [size [messages]]]
 * Exits 0 when every connection got every byte back, 1 otherwise (an error,
 * a wrong byte, or 10 s without any completion). */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>
#include <stdio.h>

#define MAX_SIZE 65536
#define IDLE_LIMIT_MS 10000

typedef struct _CONN {
	OVERLAPPED ov;
	SOCKET s;
	BOOL sending;
	DWORD msg, done; /* the message in flight, and its bytes sent or echoed so far */
	WSABUF wsabuf;
	char out[MAX_SIZE];
	char in[MAX_SIZE];
} CONN;

static LPFN_CONNECTEX pConnectEx;
static DWORD Size, Messages;
static LONG Finished, Failed;

static void Fill(CONN *c, DWORD index)
{
	for (DWORD i = 0; i < Size; i++)
		c->out[i] = (char)(index * 31 + c->msg * 7 + i);
}

static BOOL Send(CONN *c)
{
	DWORD bytes;
	ZeroMemory(&c->ov, sizeof(c->ov));
	c->sending = TRUE;
	c->wsabuf.buf = c->out + c->done;
	c->wsabuf.len = Size - c->done;
	return WSASend(c->s, &c->wsabuf, 1, &bytes, 0, &c->ov, NULL) != SOCKET_ERROR ||
	       WSAGetLastError() == WSA_IO_PENDING;
}

static BOOL Recv(CONN *c)
{
	DWORD bytes, flags = 0;
	ZeroMemory(&c->ov, sizeof(c->ov));
	c->sending = FALSE;
	c->wsabuf.buf = c->in + c->done;
	c->wsabuf.len = Size - c->done;
	return WSARecv(c->s, &c->wsabuf, 1, &bytes, &flags, &c->ov, NULL) != SOCKET_ERROR ||
	       WSAGetLastError() == WSA_IO_PENDING;
}

/* One completion on c: go on with its exchange. Returns FALSE when c is
 * finished (all messages verified) or failed. */
static BOOL Step(CONN *c, DWORD index, DWORD bytes)
{
	if (c->sending) {
		c->done += bytes;
		if (c->done < Size)
			return Send(c);
		c->done = 0;
		return Recv(c);
	}
	if (bytes == 0) {
		printf("connection %lu: closed early\n", (unsigned long)index);
		return InterlockedIncrement(&Failed), FALSE;
	}
	c->done += bytes;
	if (c->done < Size)
		return Recv(c);
	if (memcmp(c->in, c->out, Size) != 0) {
		printf("connection %lu: message %lu came back wrong\n", (unsigned long)index, (unsigned long)c->msg);
		return InterlockedIncrement(&Failed), FALSE;
	}
	if (++c->msg == Messages)
		return InterlockedIncrement(&Finished), FALSE;
	c->done = 0;
	Fill(c, index);
	return Send(c);
}

static BOOL Start(HANDLE port, CONN *c, DWORD index, const struct addrinfo *ai)
{
	SOCKADDR_IN any;
	DWORD sent = 0;
	ZeroMemory(&any, sizeof(any));
	any.sin_family = AF_INET;
	c->s = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
	if (c->s == INVALID_SOCKET || bind(c->s, (SOCKADDR *)&any, sizeof(any)) == SOCKET_ERROR ||
	    CreateIoCompletionPort((HANDLE)c->s, port, (ULONG_PTR)index, 0) == NULL)
		return FALSE;
	Fill(c, index);
	ZeroMemory(&c->ov, sizeof(c->ov));
	c->sending = TRUE;
	/* The first message goes out with the connect. */
	if (!pConnectEx(c->s, ai->ai_addr, (int)ai->ai_addrlen, c->out, Size, &sent, &c->ov) &&
	    WSAGetLastError() != ERROR_IO_PENDING) {
		printf("ConnectEx failed with error %d\n", WSAGetLastError());
		return FALSE;
	}
	return TRUE;
}

static BOOL Resolve(const char *host, const char *service, struct addrinfo **ai)
{
	struct addrinfo hints;
	ZeroMemory(&hints, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	int r = getaddrinfo(host, service, &hints, ai);
	if (r != 0)
		printf("getaddrinfo failed with error %d\n", r);
	return r == 0;
}

static BOOL FetchConnectEx(void)
{
	GUID guid = WSAID_CONNECTEX;
	DWORD bytes;
	SOCKET s = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
	BOOL ok = s != INVALID_SOCKET && WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof(guid),
						  &pConnectEx, sizeof(pConnectEx), &bytes, NULL, NULL) == 0;
	closesocket(s);
	return ok;
}

int main(int argc, char **argv)
{
	WSADATA wsa;
	struct addrinfo *ai;
	DWORD n, i, bytes;
	ULONG_PTR key;
	LPOVERLAPPED ov;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3) {
		printf("usage: connectex_client host port [connections [size [messages]]]\n");
		return 2;
	}
	n = argc > 3 ? (DWORD)atoi(argv[3]) : 10;
	Size = argc > 4 ? (DWORD)atoi(argv[4]) : 1024;
	Messages = argc > 5 ? (DWORD)atoi(argv[5]) : 100;
	if (n == 0 || Size == 0 || Size > MAX_SIZE || Messages == 0)
		return 2;
	if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0 || !Resolve(argv[1], argv[2], &ai) || !FetchConnectEx())
		return 1;
	HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
	CONN **conns = (CONN **)LocalAlloc(LPTR, n * sizeof(CONN *));
	if (!port || !conns)
		return 1;
	for (i = 0; i < n; i++) {
		conns[i] = (CONN *)LocalAlloc(LPTR, sizeof(CONN));
		if (!conns[i] || !Start(port, conns[i], i, ai))
			return 1;
	}
	freeaddrinfo(ai);

	while (Finished + Failed < (LONG)n) {
		BOOL ok = GetQueuedCompletionStatus(port, &bytes, &key, &ov, IDLE_LIMIT_MS);
		if (!ok && ov == NULL) {
			printf("no completion for %d ms (error %lu)\n", IDLE_LIMIT_MS, (unsigned long)GetLastError());
			break;
		}
		CONN *c = CONTAINING_RECORD(ov, CONN, ov);
		if (!ok) {
			printf("connection %lu failed with error %lu\n", (unsigned long)key, (unsigned long)GetLastError());
			InterlockedIncrement(&Failed);
		} else {
			Step(c, (DWORD)key, bytes); /* FALSE: that connection is done */
		}
	}
	for (i = 0; i < n; i++) {
		closesocket(conns[i]->s);
		LocalFree(conns[i]);
	}
	LocalFree(conns);
	CloseHandle(port);
	WSACleanup();
	printf("connectex_client: %ld of %lu connections verified %lu messages of %lu bytes\n", (long)Finished,
	       (unsigned long)n, (unsigned long)Messages, (unsigned long)Size);
	return Finished == (LONG)n ? 0 : 1;
}
