/* socket.c - a socket's life in the shim: WSAStartup, WSASocket, the map
 * from each socket to the port it is associated with, ioctlsocket,
 * closesocket. A SOCKET is its fd. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>

/* One entry per fd: the port handle's value (low 32 bits; 0 when not
 * associated) and whether the program asked for non-blocking calls. */
#define ENT_NONBLOCK (1ull << 32)
#define ENT_EXCLUSIVE (1ull << 33) /* SO_EXCLUSIVEADDRUSE was set */
#define ENT_FLAGS (ENT_NONBLOCK | ENT_EXCLUSIVE)

static _Atomic uint64_t *sock_ent;
static _Atomic ULONG_PTR *sock_key;
static pthread_once_t map_once = PTHREAD_ONCE_INIT;

static void map_init(void)
{
	/* Untouched pages cost nothing: the arrays are as large as the fd range. */
	sock_ent = calloc(W32_MAX_FDS, sizeof(*sock_ent));
	sock_key = calloc(W32_MAX_FDS, sizeof(*sock_key));
}

static bool map_ready(void)
{
	pthread_once(&map_once, map_init);
	return sock_ent && sock_key;
}

bool w32_socket_ok(SOCKET s)
{
	return s < (SOCKET)W32_MAX_FDS && map_ready();
}

void w32_socket_associate(SOCKET s, HANDLE port, ULONG_PTR key)
{
	atomic_store(&sock_key[s], key);
	uint64_t old = atomic_load(&sock_ent[s]);
	while (!atomic_compare_exchange_weak(&sock_ent[s], &old, (old & ENT_FLAGS) | (uint32_t)(uintptr_t)port))
		;
}

cport_t *w32_socket_port(SOCKET s, struct w32_slot **slot, ULONG_PTR *key)
{
	if (!w32_socket_ok(s))
		return NULL;
	uint32_t hv = (uint32_t)atomic_load(&sock_ent[s]);
	if (!hv)
		return NULL;
	void *pt = w32_handle_get((HANDLE)(uintptr_t)hv, W32_PORT, true, slot);
	if (!pt)
		return NULL;
	if (key)
		*key = atomic_load(&sock_key[s]);
	return w32_port_cport(pt);
}

HANDLE w32_socket_forget(SOCKET s)
{
	return (HANDLE)(uintptr_t)(uint32_t)atomic_exchange(&sock_ent[s], 0);
}

HANDLE w32_socket_port_handle(SOCKET s)
{
	return w32_socket_ok(s) ? (HANDLE)(uintptr_t)(uint32_t)atomic_load(&sock_ent[s]) : NULL;
}

bool w32_socket_nonblocking(SOCKET s)
{
	return w32_socket_ok(s) && (atomic_load(&sock_ent[s]) & ENT_NONBLOCK);
}

bool w32_socket_exclusive(SOCKET s)
{
	return w32_socket_ok(s) && (atomic_load(&sock_ent[s]) & ENT_EXCLUSIVE);
}

void w32_socket_set_exclusive(SOCKET s, bool on)
{
	if (!w32_socket_ok(s))
		return;
	if (on)
		atomic_fetch_or(&sock_ent[s], ENT_EXCLUSIVE);
	else
		atomic_fetch_and(&sock_ent[s], ~ENT_EXCLUSIVE);
}

static void set_nonblocking_flag(SOCKET s, bool on)
{
	if (on)
		atomic_fetch_or(&sock_ent[s], ENT_NONBLOCK);
	else
		atomic_fetch_and(&sock_ent[s], ~ENT_NONBLOCK);
}

int w32_wait_ready(int fd, short events)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	for (;;) {
		if (poll(&pfd, 1, -1) >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int WSAStartup(WORD version, LPWSADATA data)
{
	if (!data)
		return WSAEFAULT;
	if (LOBYTE(version) < 1 || (LOBYTE(version) == 1 && HIBYTE(version) < 1))
		return WSAVERNOTSUPPORTED;
	memset(data, 0, sizeof(*data));
	data->wVersion = LOBYTE(version) > 2 || (LOBYTE(version) == 2 && HIBYTE(version) > 2) ? MAKEWORD(2, 2)
											       : version;
	data->wHighVersion = MAKEWORD(2, 2);
	strcpy(data->szDescription, "WinSock 2.0 (cport Win32 shim)");
	strcpy(data->szSystemStatus, "Running");
	return map_ready() ? 0 : WSASYSNOTREADY;
}

int WSACleanup(void)
{
	return 0;
}

SOCKET w32_socket_adopt(int fd)
{
	if (fd >= W32_MAX_FDS) {
		close(fd);
		w32_set_error(WSAEMFILE);
		return INVALID_SOCKET;
	}
	atomic_store(&sock_ent[fd], 0);
	return (SOCKET)fd;
}

/* A new socket: close-on-exec (Windows handles are not inherited unless
 * asked), within the fd range the map covers, with a clean map entry. */
static SOCKET socket_new(int af, int type, int protocol)
{
	if (!map_ready()) {
		w32_set_error(WSAENOBUFS);
		return INVALID_SOCKET;
	}
	int fd = (socket)(af, type | SOCK_CLOEXEC, protocol);
	if (fd < 0) {
		w32_fail(errno, 0);
		return INVALID_SOCKET;
	}
	return w32_socket_adopt(fd);
}

SOCKET WSASocketA(int af, int type, int protocol, LPWSAPROTOCOL_INFOA info, GROUP g, DWORD flags)
{
	(void)g;
	(void)flags; /* every socket can do overlapped I/O here */
	if (info) {
		w32_set_error(WSAEINVAL);
		return INVALID_SOCKET;
	}
	return socket_new(af, type, protocol);
}

SOCKET WSASocketW(int af, int type, int protocol, LPWSAPROTOCOL_INFOW info, GROUP g, DWORD flags)
{
	(void)g;
	(void)flags;
	if (info) {
		w32_set_error(WSAEINVAL);
		return INVALID_SOCKET;
	}
	return socket_new(af, type, protocol);
}

SOCKET cport_w32_socket(int af, int type, int protocol)
{
	return socket_new(af, type, protocol);
}

int closesocket(SOCKET s)
{
	if (!w32_socket_ok(s))
		return w32_fail(ENOTSOCK, SOCKET_ERROR);
	HANDLE port = w32_socket_forget(s);
	struct w32_slot *slot;
	void *pt = port ? w32_handle_get(port, W32_PORT, true, &slot) : NULL;
	if (pt) {
		/* Pending operations end with ERROR_OPERATION_ABORTED; the fd
		 * closes once the last of them has completed. */
		int r = cport_close(w32_port_cport(pt), (int)s, NULL);
		w32_handle_put(slot, true);
		return r < 0 ? w32_fail(-r, SOCKET_ERROR) : 0;
	}
	return close((int)s) < 0 ? w32_fail(errno, SOCKET_ERROR) : 0;
}

static int fionbio(SOCKET s, bool on)
{
	set_nonblocking_flag(s, on);
	if (atomic_load(&sock_ent[s]) & 0xffffffffu)
		return 0; /* associated: the fd stays non-blocking for the port; calls honour the flag */
	int fl = fcntl((int)s, F_GETFL);
	if (fl < 0 || fcntl((int)s, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) < 0)
		return w32_fail(errno, SOCKET_ERROR);
	return 0;
}

int ioctlsocket(SOCKET s, long cmd, u_long *argp)
{
	if (!w32_socket_ok(s))
		return w32_fail(ENOTSOCK, SOCKET_ERROR);
	if (!argp)
		return w32_fail(EFAULT, SOCKET_ERROR);
	if (cmd == (long)FIONBIO)
		return fionbio(s, *argp != 0);
	if (cmd == (long)FIONREAD || cmd == (long)SIOCATMARK) {
		int v = 0;
		if (ioctl((int)s, (unsigned long)cmd, &v) < 0)
			return w32_fail(errno, SOCKET_ERROR);
		*argp = (u_long)v;
		return 0;
	}
	return w32_fail(EINVAL, SOCKET_ERROR);
}
