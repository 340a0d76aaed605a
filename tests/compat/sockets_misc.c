/* sockets_misc.c - the Winsock calls classic samples use besides the
 * overlapped ones: WSAPoll, select with Windows' ignored first argument and
 * the FD_* macros, inet_addr/inet_ntoa, gethostbyname/gethostname and
 * getnameinfo with Winsock's errors, SO_EXCLUSIVEADDRUSE. */
#include "w32test.h"
#include <ws2tcpip.h>

static void wsapoll_sees_readiness(void)
{
	SOCKET client, s = test_pair(&client);
	WSAPOLLFD p[2];
	memset(p, 0, sizeof(p));
	p[0].fd = s;
	p[0].events = POLLRDNORM;
	p[1].fd = client;
	p[1].events = POLLWRNORM;
	CHECK(WSAPoll(p, 2, 10) == 1 && p[0].revents == 0 && (p[1].revents & POLLWRNORM));
	CHECK(send(client, "x", 1, 0) == 1);
	CHECK(WSAPoll(p, 1, WAIT_MS) == 1 && (p[0].revents & POLLRDNORM));
	CHECK(WSAPoll(NULL, 0, 0) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
	CHECK(closesocket(client) == 0 && closesocket(s) == 0);
}

static void select_ignores_its_first_argument(void)
{
	SOCKET client, s = test_pair(&client);
	HANDLE port = CreateIoCompletionPort((HANDLE)s, NULL, 1, 0); /* associated sockets too */
	CHECK(port != NULL);
	fd_set r, w;
	struct timeval tv = {0, 10000};
	FD_ZERO(&r);
	FD_SET(s, &r);
	CHECK(select(0, &r, NULL, NULL, &tv) == 0 && !FD_ISSET(s, &r));
	CHECK(send(client, "x", 1, 0) == 1);
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(s, &r);
	FD_SET(client, &w);
	tv.tv_sec = WAIT_MS / 1000;
	CHECK(select(0, &r, &w, NULL, &tv) == 2 && FD_ISSET(s, &r) && FD_ISSET(client, &w));
	FD_CLR(s, &r);
	CHECK(!FD_ISSET(s, &r));
	CHECK(select(0, NULL, NULL, NULL, &tv) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
	CHECK(closesocket(client) == 0 && closesocket(s) == 0 && CloseHandle(port));
}

static void address_helpers(void)
{
	struct in_addr a;
	a.s_addr = inet_addr("127.0.0.1");
	CHECK(a.s_addr == htonl(INADDR_LOOPBACK));
	CHECK(strcmp(inet_ntoa(a), "127.0.0.1") == 0);
	CHECK(inet_addr("not an address") == INADDR_NONE);
	struct hostent *h = gethostbyname("127.0.0.1");
	CHECK(h && h->h_addrtype == AF_INET && h->h_length == 4);
	CHECK(memcmp(h->h_addr_list[0], &a, 4) == 0);
	/* (No failed lookup of a name: it could wait for a resolver that is not there.) */
	CHECK(gethostbyname(NULL) == NULL && WSAGetLastError() == WSAEFAULT);
	char name[256];
	CHECK(gethostname(name, sizeof(name)) == 0 && name[0] != '\0');
	CHECK(gethostname(name, 1) == SOCKET_ERROR && WSAGetLastError() == WSAEFAULT);
	SOCKADDR_IN sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(5150);
	sa.sin_addr = a;
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	CHECK(getnameinfo((SOCKADDR *)&sa, sizeof(sa), host, sizeof(host), serv, sizeof(serv),
			  NI_NUMERICHOST | NI_NUMERICSERV) == 0);
	CHECK(strcmp(host, "127.0.0.1") == 0 && strcmp(serv, "5150") == 0);
	sa.sin_family = 12345;
	int r = getnameinfo((SOCKADDR *)&sa, sizeof(sa), host, sizeof(host), NULL, 0, NI_NUMERICHOST);
	CHECK(r == EAI_FAMILY && r == WSAEAFNOSUPPORT && WSAGetLastError() == WSAEAFNOSUPPORT);
}

static SOCKET bound(int type, int opt, unsigned short *port)
{
	SOCKET s = socket(AF_INET, type, 0);
	BOOL on = TRUE;
	SOCKADDR_IN a;
	int len = sizeof(a);
	CHECK(s != INVALID_SOCKET);
	if (opt)
		CHECK(setsockopt(s, SOL_SOCKET, opt, (const char *)&on, sizeof(on)) == 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(*port);
	if (bind(s, (SOCKADDR *)&a, sizeof(a)) != 0) {
		CHECK(closesocket(s) == 0);
		return INVALID_SOCKET;
	}
	CHECK(getsockname(s, (SOCKADDR *)&a, &len) == 0);
	*port = ntohs(a.sin_port);
	return s;
}

static void exclusive_address_use(void)
{
	for (int type = SOCK_STREAM; type <= SOCK_DGRAM; type++) {
		unsigned short port = 0;
		SOCKET a = bound(type, SO_EXCLUSIVEADDRUSE, &port);
		CHECK(a != INVALID_SOCKET);
		BOOL v = FALSE;
		int len = sizeof(v);
		CHECK(getsockopt(a, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (char *)&v, &len) == 0 && v == TRUE);
		if (type == SOCK_STREAM)
			CHECK(listen(a, 4) == 0);
		/* Nobody else gets the port, SO_REUSEADDR or not. */
		SOCKET b = bound(type, SO_REUSEADDR, &port);
		CHECK(b == INVALID_SOCKET && WSAGetLastError() == WSAEADDRINUSE);
		/* SO_REUSEADDR after SO_EXCLUSIVEADDRUSE, and the other way round: WSAEINVAL. */
		BOOL on = TRUE;
		CHECK(setsockopt(a, SOL_SOCKET, SO_REUSEADDR, (const char *)&on, sizeof(on)) == SOCKET_ERROR);
		CHECK(WSAGetLastError() == WSAEINVAL);
		SOCKET c = socket(AF_INET, type, 0);
		CHECK(setsockopt(c, SOL_SOCKET, SO_REUSEADDR, (const char *)&on, sizeof(on)) == 0);
		CHECK(setsockopt(c, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&on, sizeof(on)) == SOCKET_ERROR);
		CHECK(WSAGetLastError() == WSAEINVAL);
		CHECK(closesocket(c) == 0 && closesocket(a) == 0);
	}
}

int main(void)
{
	test_start();
	RUN(wsapoll_sees_readiness);
	RUN(select_ignores_its_first_argument);
	RUN(address_helpers);
	RUN(exclusive_address_use);
	return 0;
}
