/* extensions.c - the Microsoft extensions, fetched through
 * WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER) with the usual GUIDs:
 * AcceptEx with GetAcceptExSockaddrs, ConnectEx with data, DisconnectEx;
 * overlapped UDP with the sender's address and its length written back;
 * getaddrinfo and inet_pton/inet_ntop; and NumberOfConcurrentThreads. */
#include "w32test.h"
#include <ws2tcpip.h>
#include <mswsock.h>

static HANDLE Port;
static LPFN_ACCEPTEX pAcceptEx;
static LPFN_CONNECTEX pConnectEx;
static LPFN_GETACCEPTEXSOCKADDRS pGetAcceptExSockaddrs;
static LPFN_DISCONNECTEX pDisconnectEx;

static void fetch(SOCKET s, GUID g, void *fn)
{
	DWORD bytes = 0;
	CHECK(WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &g, sizeof(g), fn, sizeof(void *), &bytes, NULL, NULL) ==
	      0);
	CHECK(bytes == sizeof(void *));
}

static void wsaioctl_hands_out_every_extension(void)
{
	GUID a = WSAID_ACCEPTEX, c = WSAID_CONNECTEX, g = WSAID_GETACCEPTEXSOCKADDRS, d = WSAID_DISCONNECTEX;
	GUID unknown = {1, 2, 3, {4, 5, 6, 7, 8, 9, 10, 11}};
	SOCKET s = WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
	void *fn;
	DWORD bytes;
	fetch(s, a, &pAcceptEx);
	fetch(s, c, &pConnectEx);
	fetch(s, g, &pGetAcceptExSockaddrs);
	fetch(s, d, &pDisconnectEx);
	CHECK(pAcceptEx && pConnectEx && pGetAcceptExSockaddrs && pDisconnectEx);
	CHECK(WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &unknown, sizeof(unknown), &fn, sizeof(fn), &bytes,
		       NULL, NULL) == SOCKET_ERROR);
	CHECK(WSAGetLastError() == WSAEINVAL);
	CHECK(closesocket(s) == 0);
}

static SOCKADDR_IN loopback(unsigned short port)
{
	SOCKADDR_IN a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	return a;
}

static LPOVERLAPPED dequeue(DWORD *bytes, ULONG_PTR *key)
{
	LPOVERLAPPED got = NULL;
	CHECK(GetQueuedCompletionStatus(Port, bytes, key, &got, WAIT_MS));
	return got;
}

#define ADDRLEN (sizeof(SOCKADDR_STORAGE) + 16)

static void acceptex_and_connectex_with_data_meet(void)
{
	unsigned short port;
	SOCKET l = test_listener(&port);
	SOCKET as = WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
	SOCKET cs = WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
	char addrs[2 * ADDRLEN];
	OVERLAPPED aov, cov;
	DWORD bytes, sent;
	ULONG_PTR key;
	SOCKADDR_IN any = loopback(0), to = loopback(port);
	CHECK(CreateIoCompletionPort((HANDLE)l, Port, 1, 0) == Port);
	ZeroMemory(&aov, sizeof(aov));
	CHECK(!pAcceptEx(l, as, addrs, 0, ADDRLEN, ADDRLEN, &bytes, &aov) && WSAGetLastError() == ERROR_IO_PENDING);
	CHECK(bind(cs, (SOCKADDR *)&any, sizeof(any)) == 0);
	CHECK(CreateIoCompletionPort((HANDLE)cs, Port, 2, 0) == Port);
	ZeroMemory(&cov, sizeof(cov));
	CHECK(!pConnectEx(cs, (SOCKADDR *)&to, sizeof(to), "hello", 5, &sent, &cov) &&
	      WSAGetLastError() == ERROR_IO_PENDING);
	int seen = 0;
	while (seen != 3) {
		LPOVERLAPPED got = dequeue(&bytes, &key);
		CHECK((got == &aov && key == 1 && bytes == 0) || (got == &cov && key == 2 && bytes == 5));
		seen |= got == &aov ? 1 : 2;
	}
	CHECK(setsockopt(as, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (char *)&l, sizeof(l)) == 0);
	CHECK(setsockopt(cs, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL, 0) == 0);
	SOCKADDR *local, *remote;
	int llen, rlen, namelen;
	SOCKADDR_IN client;
	namelen = sizeof(client);
	pGetAcceptExSockaddrs(addrs, 0, ADDRLEN, ADDRLEN, &local, &llen, &remote, &rlen);
	CHECK(getsockname(cs, (SOCKADDR *)&client, &namelen) == 0);
	CHECK(llen == sizeof(SOCKADDR_IN) && rlen == sizeof(SOCKADDR_IN));
	CHECK(((SOCKADDR_IN *)local)->sin_port == htons(port));
	CHECK(((SOCKADDR_IN *)remote)->sin_port == client.sin_port);
	char buf[8];
	CHECK(recv(as, buf, sizeof(buf), 0) == 5 && memcmp(buf, "hello", 5) == 0);
	/* DisconnectEx: a graceful close the peer sees as the end of the stream. */
	OVERLAPPED dov;
	ZeroMemory(&dov, sizeof(dov));
	CHECK(!pDisconnectEx(cs, &dov, 0, 0) && WSAGetLastError() == ERROR_IO_PENDING);
	CHECK(dequeue(&bytes, &key) == &dov && key == 2 && bytes == 0);
	CHECK(recv(as, buf, sizeof(buf), 0) == 0);
	CHECK(!pDisconnectEx(cs, NULL, TF_REUSE_SOCKET, 0) && WSAGetLastError() == WSAEOPNOTSUPP);
	CHECK(closesocket(as) == 0 && closesocket(cs) == 0 && closesocket(l) == 0);
}

static void acceptex_refuses_what_it_cannot_do(void)
{
	unsigned short port;
	SOCKET l = test_listener(&port);
	SOCKET as = WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
	char addrs[2 * ADDRLEN + 64];
	OVERLAPPED ov;
	DWORD bytes;
	ZeroMemory(&ov, sizeof(ov));
	CHECK(CreateIoCompletionPort((HANDLE)l, Port, 1, 0) == Port);
	CHECK(!AcceptEx(l, as, addrs, 64, ADDRLEN, ADDRLEN, &bytes, &ov) && WSAGetLastError() == WSAEOPNOTSUPP);
	CHECK(!AcceptEx(l, as, addrs, 0, 8, ADDRLEN, &bytes, &ov) && WSAGetLastError() == WSAEINVAL);
	CHECK(closesocket(as) == 0 && closesocket(l) == 0);
}

static void overlapped_udp_writes_the_senders_address_back(void)
{
	SOCKET a = WSASocket(AF_INET, SOCK_DGRAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
	SOCKET b = WSASocket(AF_INET, SOCK_DGRAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
	SOCKADDR_IN aa = loopback(0), ba = loopback(0), from;
	int len = sizeof(aa), fromlen = sizeof(from) + 8;
	DWORD flags = 0, n, bytes;
	ULONG_PTR key;
	char buf[32], part1[3], part2[32];
	CHECK(bind(a, (SOCKADDR *)&aa, sizeof(aa)) == 0 && getsockname(a, (SOCKADDR *)&aa, &len) == 0);
	len = sizeof(ba);
	CHECK(bind(b, (SOCKADDR *)&ba, sizeof(ba)) == 0 && getsockname(b, (SOCKADDR *)&ba, &len) == 0);
	CHECK(CreateIoCompletionPort((HANDLE)a, Port, 10, 0) == Port);
	CHECK(CreateIoCompletionPort((HANDLE)b, Port, 11, 0) == Port);
	OVERLAPPED rov, sov;
	WSABUF rb[2] = {{sizeof(part1), part1}, {sizeof(part2), part2}};
	WSABUF sb = {11, "hello world"};
	ZeroMemory(&rov, sizeof(rov));
	ZeroMemory(&sov, sizeof(sov));
	CHECK(WSARecvFrom(a, rb, 2, &n, &flags, (SOCKADDR *)&from, &fromlen, &rov, NULL) == SOCKET_ERROR &&
	      WSAGetLastError() == WSA_IO_PENDING);
	CHECK(WSASendTo(b, &sb, 1, &n, 0, (SOCKADDR *)&aa, sizeof(aa), &sov, NULL) == SOCKET_ERROR &&
	      WSAGetLastError() == WSA_IO_PENDING);
	for (int i = 0; i < 2; i++) {
		LPOVERLAPPED got = dequeue(&bytes, &key);
		CHECK(bytes == 11 && ((got == &rov && key == 10) || (got == &sov && key == 11)));
	}
	CHECK(fromlen == sizeof(SOCKADDR_IN) && from.sin_port == ba.sin_port);
	memcpy(buf, part1, 3);
	memcpy(buf + 3, part2, 8);
	CHECK(memcmp(buf, "hello world", 11) == 0);
	CHECK(closesocket(a) == 0 && closesocket(b) == 0);
}

static void names_and_addresses_convert(void)
{
	struct addrinfo hints, *res = NULL;
	char text[INET6_ADDRSTRLEN];
	IN_ADDR in;
	ZeroMemory(&hints, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST;
	CHECK(getaddrinfo("127.0.0.1", "5150", &hints, &res) == 0 && res);
	CHECK(((SOCKADDR_IN *)res->ai_addr)->sin_port == htons(5150));
	freeaddrinfo(res);
	CHECK(getaddrinfo("not an address", NULL, &hints, &res) == EAI_NONAME);
	CHECK(WSAGetLastError() == WSAHOST_NOT_FOUND);
	CHECK(inet_pton(AF_INET, "10.1.2.3", &in) == 1 && in.s_addr == htonl(0x0a010203));
	CHECK(inet_ntop(AF_INET, &in, text, sizeof(text)) && strcmp(text, "10.1.2.3") == 0);
}

static HANDLE LimitPort;

static DWORD WINAPI Taker(LPVOID arg)
{
	DWORD bytes;
	ULONG_PTR key;
	LPOVERLAPPED ov;
	LONG *got = arg;
	if (GetQueuedCompletionStatus(LimitPort, &bytes, &key, &ov, 300))
		InterlockedIncrement(got);
	return 0;
}

static void the_concurrency_limit_holds_completions_back(void)
{
	DWORD bytes;
	ULONG_PTR key;
	LPOVERLAPPED ov;
	LONG got = 0;
	LimitPort = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
	CHECK(PostQueuedCompletionStatus(LimitPort, 1, 1, NULL) && PostQueuedCompletionStatus(LimitPort, 2, 2, NULL));
	/* This thread runs the first completion: with a limit of one, the
	 * other thread gets nothing while it does. */
	CHECK(GetQueuedCompletionStatus(LimitPort, &bytes, &key, &ov, WAIT_MS) && key == 1);
	HANDLE t = CreateThread(NULL, 0, Taker, &got, 0, NULL);
	CHECK(t && WaitForSingleObject(t, WAIT_MS) == WAIT_OBJECT_0 && CloseHandle(t));
	CHECK(got == 0);
	CHECK(GetQueuedCompletionStatus(LimitPort, &bytes, &key, &ov, WAIT_MS) && key == 2);
	CHECK(CloseHandle(LimitPort));
}

int main(void)
{
	test_start();
	Port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	CHECK(Port != NULL);
	RUN(wsaioctl_hands_out_every_extension);
	RUN(acceptex_and_connectex_with_data_meet);
	RUN(acceptex_refuses_what_it_cannot_do);
	RUN(overlapped_udp_writes_the_senders_address_back);
	RUN(names_and_addresses_convert);
	RUN(the_concurrency_limit_holds_completions_back);
	CHECK(CloseHandle(Port));
	return 0;
}
