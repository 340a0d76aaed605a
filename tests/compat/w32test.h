/* w32test.h - the shim's C tests: each file is a program whose cases run
 * in order on the backend CPORT_BACKEND names; a failed CHECK prints where
 * and exits 1. Loopback sockets made with the shim's own calls. Header-only,
 * so that a test compiles against any version of the shim. */
#ifndef W32TEST_H
#define W32TEST_H

#include <winsock2.h>
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                          \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "%s:%d: CHECK(%s) failed (GetLastError %lu)\n", __FILE__, __LINE__, #cond, \
				(unsigned long)GetLastError());                                              \
			exit(1);                                                                             \
		}                                                                                            \
	} while (0)

/* The longest a test waits for something that must happen. */
#define WAIT_MS 10000

static inline SOCKET test_listener(unsigned short *port)
{
	SOCKADDR_IN a;
	int len = sizeof(a);
	SOCKET l = WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
	CHECK(l != INVALID_SOCKET);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(l, (SOCKADDR *)&a, sizeof(a)) == 0);
	CHECK(listen(l, 64) == 0);
	CHECK(getsockname(l, (SOCKADDR *)&a, &len) == 0);
	*port = ntohs(a.sin_port);
	return l;
}

/* A connected pair: *client connected to the returned server side. */
static inline SOCKET test_pair(SOCKET *client)
{
	unsigned short port;
	SOCKADDR_IN a;
	SOCKET l = test_listener(&port);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	*client = WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
	CHECK(*client != INVALID_SOCKET);
	CHECK(connect(*client, (SOCKADDR *)&a, sizeof(a)) == 0);
	SOCKET s = WSAAccept(l, NULL, NULL, NULL, 0);
	CHECK(s != INVALID_SOCKET);
	closesocket(l);
	return s;
}

/* Exit 77 (the runner's skip) when the backend asked for cannot run here. */
static inline void test_start(void)
{
	WSADATA wsa;
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0);
	HANDLE probe = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	if (!probe) {
		printf("backend unavailable: CreateIoCompletionPort failed with error %lu\n",
		       (unsigned long)GetLastError());
		exit(77);
	}
	CloseHandle(probe);
}

#define RUN(fn)                                                                                              \
	do {                                                                                                 \
		fn();                                                                                        \
		printf("ok %s\n", #fn);                                                                      \
	} while (0)

#endif
