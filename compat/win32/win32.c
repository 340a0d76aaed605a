/* win32.c - the Win32 shim: IOCP and Winsock calls mapped onto cport.
 *
 * Handles: a port or a thread is a struct of ours (told apart by a magic
 * number); a socket is its fd. The shim remembers which port each socket
 * is attached to, because Winsock calls name only the socket. */
#include "mswsock.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define HANDLE_MAGIC 0x63706f72u /* "cpor" */
#define MAX_SHIM_FDS (1 << 20)

enum { H_PORT = 1, H_THREAD };

struct handle {
	uint32_t magic;
	int kind;
	cport_t *port;
	pthread_t thread;
	LPTHREAD_START_ROUTINE start;
	LPVOID param;
	bool joined;
};

/* Per-OVERLAPPED scratch (ov->shim). */
enum { SH_IOV = 0, SH_HEAPIOV = 2, SH_ACCEPT_SOCK = 2, SH_OUTBUF = 3, SH_LOCALLEN = 4, SH_REMOTELEN = 5,
       SH_FROMLEN = 3, SH_SOCKLEN = 4 };

static __thread DWORD last_error;
static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static cport_t **sock_port; /* fd -> the port it is attached to */
static atomic_uint next_thread_id = 1;

_Static_assert(sizeof(struct iovec) == 2 * sizeof(uintptr_t), "an iovec fits two shim words");

DWORD GetLastError(void)
{
	return last_error;
}

void SetLastError(DWORD err)
{
	last_error = err;
}

int WSAGetLastError(void)
{
	return (int)last_error;
}

void WSASetLastError(int err)
{
	last_error = (DWORD)err;
}

static DWORD wsa_error(int e)
{
	switch (e) {
	case 0: return ERROR_SUCCESS;
	case EINTR: return WSAEINTR;
	case EBADF: return WSAEBADF;
	case EACCES: case EPERM: return WSAEACCES;
	case EFAULT: return WSAEFAULT;
	case EINVAL: return WSAEINVAL;
	case EMFILE: case ENFILE: return WSAEMFILE;
	case EAGAIN: return WSAEWOULDBLOCK;
	case EINPROGRESS: return WSAEINPROGRESS;
	case EALREADY: return WSAEALREADY;
	case ENOTSOCK: return WSAENOTSOCK;
	case EMSGSIZE: return WSAEMSGSIZE;
	case EOPNOTSUPP: return WSAEOPNOTSUPP;
	case EADDRINUSE: return WSAEADDRINUSE;
	case EADDRNOTAVAIL: return WSAEADDRNOTAVAIL;
	case ENETDOWN: return WSAENETDOWN;
	case ENETUNREACH: return WSAENETUNREACH;
	case ECONNABORTED: return WSAECONNABORTED;
	case ECONNRESET: case EPIPE: return WSAECONNRESET;
	case ENOBUFS: case ENOMEM: return WSAENOBUFS;
	case EISCONN: return WSAEISCONN;
	case ENOTCONN: return WSAENOTCONN;
	case ESHUTDOWN: return WSAESHUTDOWN;
	case ETIMEDOUT: return WSAETIMEDOUT;
	case ECONNREFUSED: return WSAECONNREFUSED;
	case EHOSTUNREACH: return WSAEHOSTUNREACH;
	case ECANCELED: return ERROR_OPERATION_ABORTED;
	default: return WSAEINVAL;
	}
}

/* GetQueuedCompletionStatus reports a reset connection as Windows does. */
static DWORD io_error(int e)
{
	return e == ECONNRESET ? ERROR_NETNAME_DELETED : wsa_error(e);
}

static int fail(int e, int ret)
{
	last_error = wsa_error(e);
	return ret;
}

static struct handle *as_handle(HANDLE h, int kind)
{
	uintptr_t v = (uintptr_t)h;
	if (h == NULL || h == INVALID_HANDLE_VALUE || v < (uintptr_t)MAX_SHIM_FDS)
		return NULL;
	struct handle *hd = h;
	return hd->magic == HANDLE_MAGIC && hd->kind == kind ? hd : NULL;
}

static bool as_fd(HANDLE h, int *fd)
{
	uintptr_t v = (uintptr_t)h;
	if (v >= (uintptr_t)MAX_SHIM_FDS)
		return false;
	*fd = (int)v;
	return true;
}

static cport_t *port_of(SOCKET s)
{
	if (s >= (SOCKET)MAX_SHIM_FDS)
		return NULL;
	pthread_mutex_lock(&map_lock);
	cport_t *p = sock_port ? sock_port[s] : NULL;
	pthread_mutex_unlock(&map_lock);
	return p;
}

static int remember(int fd, cport_t *p)
{
	pthread_mutex_lock(&map_lock);
	if (!sock_port)
		sock_port = calloc(MAX_SHIM_FDS, sizeof(*sock_port));
	int ok = sock_port != NULL;
	if (ok)
		sock_port[fd] = p;
	pthread_mutex_unlock(&map_lock);
	return ok ? 0 : -ENOMEM;
}

static void forget_port(cport_t *p)
{
	pthread_mutex_lock(&map_lock);
	for (int i = 0; sock_port && i < MAX_SHIM_FDS; i++) {
		if (sock_port[i] == p)
			sock_port[i] = NULL;
	}
	pthread_mutex_unlock(&map_lock);
}

HANDLE CreateIoCompletionPort(HANDLE file, HANDLE existing, ULONG_PTR key, DWORD threads)
{
	if (file == INVALID_HANDLE_VALUE) {
		if (existing) {
			last_error = ERROR_INVALID_PARAMETER;
			return NULL;
		}
		struct handle *h = calloc(1, sizeof(*h));
		if (!h) {
			last_error = ERROR_NOT_ENOUGH_MEMORY;
			return NULL;
		}
		struct cport_options o;
		cport_options_init(&o);
		o.concurrency = threads;
		int r = cport_create(&o, &h->port);
		if (r < 0) {
			free(h);
			last_error = wsa_error(-r);
			return NULL;
		}
		h->magic = HANDLE_MAGIC;
		h->kind = H_PORT;
		return h;
	}
	struct handle *port = as_handle(existing, H_PORT);
	int fd;
	if (!port || !as_fd(file, &fd)) {
		last_error = ERROR_INVALID_HANDLE;
		return NULL;
	}
	int r = cport_attach(port->port, fd, key);
	if (r == 0)
		r = remember(fd, port->port);
	if (r < 0) {
		last_error = wsa_error(-r);
		return NULL;
	}
	return existing;
}

static DWORD to_ms(DWORD ms)
{
	return ms == INFINITE ? (DWORD)-1 : (ms > INT_MAX ? INT_MAX : ms);
}

/* Finish what Windows does before handing a completion back. Returns the
 * error to report (0 for success). */
static DWORD complete(struct cport_completion *c, LPOVERLAPPED ov, DWORD *bytes)
{
	int64_t res = c->result;
	if (ov->shim[SH_HEAPIOV] && (c->kind == CPORT_OP_RECV || c->kind == CPORT_OP_SEND ||
				       c->kind == CPORT_OP_RECVFROM || c->kind == CPORT_OP_SENDTO)) {
		free((void *)ov->shim[SH_HEAPIOV]);
		ov->shim[SH_HEAPIOV] = 0;
	}
	if (c->kind == CPORT_OP_RECVFROM && res >= 0 && ov->shim[SH_FROMLEN])
		*(int *)ov->shim[SH_FROMLEN] = (int)ov->shim[SH_SOCKLEN];
	if (c->kind == CPORT_OP_ACCEPT && res >= 0) {
		int nfd = (int)res, target = (int)ov->shim[SH_ACCEPT_SOCK];
		res = dup2(nfd, target) < 0 ? -errno : 0;
		close(nfd);
		if (res == 0 && ov->shim[SH_OUTBUF]) {
			char *out = (char *)ov->shim[SH_OUTBUF];
			socklen_t ll = (socklen_t)ov->shim[SH_LOCALLEN], rl = (socklen_t)ov->shim[SH_REMOTELEN];
			if (getsockname(target, (struct sockaddr *)out, &ll) < 0 ||
			    getpeername(target, (struct sockaddr *)(out + ov->shim[SH_LOCALLEN]), &rl) < 0)
				res = -errno;
		}
	}
	if (c->kind == CPORT_OP_ACCEPT || c->kind == CPORT_OP_CONNECT)
		*bytes = 0;
	else
		*bytes = res > 0 ? (DWORD)res : 0;
	DWORD err = res < 0 ? io_error((int)-res) : 0;
	ov->Internal = err;
	ov->InternalHigh = *bytes;
	return err;
}

BOOL GetQueuedCompletionStatus(HANDLE port, LPDWORD bytes, PULONG_PTR key, LPOVERLAPPED *ovp, DWORD ms)
{
	struct handle *h = as_handle(port, H_PORT);
	if (!h || !bytes || !key || !ovp) {
		last_error = h ? ERROR_INVALID_PARAMETER : ERROR_INVALID_HANDLE;
		return FALSE;
	}
	struct cport_completion c;
	int n;
	do {
		n = cport_wait(h->port, &c, 1, (int)to_ms(ms));
	} while (n == -EINTR);
	if (n <= 0) {
		*ovp = NULL;
		last_error = n == 0 ? WAIT_TIMEOUT : n == -ESHUTDOWN ? ERROR_ABANDONED_WAIT_0 : wsa_error(-n);
		return FALSE;
	}
	*key = c.key;
	if (c.kind == CPORT_OP_POST) {
		*ovp = c.op ? cport_container_of(c.op, OVERLAPPED, cport) : NULL;
		*bytes = (DWORD)c.result;
		return TRUE;
	}
	LPOVERLAPPED ov = cport_container_of(c.op, OVERLAPPED, cport);
	*ovp = ov;
	DWORD err = complete(&c, ov, bytes);
	if (err) {
		last_error = err;
		return FALSE;
	}
	return TRUE;
}

BOOL GetQueuedCompletionStatusEx(HANDLE port, LPOVERLAPPED_ENTRY entries, ULONG count, ULONG *removed, DWORD ms,
				 BOOL alertable)
{
	(void)alertable;
	struct handle *h = as_handle(port, H_PORT);
	if (!h || !entries || !removed || count == 0) {
		last_error = h ? ERROR_INVALID_PARAMETER : ERROR_INVALID_HANDLE;
		return FALSE;
	}
	struct cport_completion c[64];
	int max = count > 64 ? 64 : (int)count, n;
	do {
		n = cport_wait(h->port, c, max, (int)to_ms(ms));
	} while (n == -EINTR);
	if (n <= 0) {
		*removed = 0;
		last_error = n == 0 ? WAIT_TIMEOUT : n == -ESHUTDOWN ? ERROR_ABANDONED_WAIT_0 : wsa_error(-n);
		return FALSE;
	}
	for (int i = 0; i < n; i++) {
		entries[i].lpCompletionKey = c[i].key;
		if (c[i].kind == CPORT_OP_POST) {
			entries[i].lpOverlapped = c[i].op ? cport_container_of(c[i].op, OVERLAPPED, cport) : NULL;
			entries[i].dwNumberOfBytesTransferred = (DWORD)c[i].result;
			entries[i].Internal = 0;
			continue;
		}
		LPOVERLAPPED ov = cport_container_of(c[i].op, OVERLAPPED, cport);
		entries[i].lpOverlapped = ov;
		entries[i].Internal = complete(&c[i], ov, &entries[i].dwNumberOfBytesTransferred);
	}
	*removed = (ULONG)n;
	return TRUE;
}

BOOL PostQueuedCompletionStatus(HANDLE port, DWORD bytes, ULONG_PTR key, LPOVERLAPPED ov)
{
	struct handle *h = as_handle(port, H_PORT);
	if (!h) {
		last_error = ERROR_INVALID_HANDLE;
		return FALSE;
	}
	int r = cport_post(h->port, key, ov ? &ov->cport : NULL, bytes);
	if (r < 0) {
		last_error = r == -EBUSY ? ERROR_INVALID_PARAMETER : wsa_error(-r);
		return FALSE;
	}
	return TRUE;
}

BOOL CancelIoEx(HANDLE file, LPOVERLAPPED ov)
{
	int fd;
	cport_t *p;
	if (!as_fd(file, &fd) || !(p = port_of((SOCKET)fd))) {
		last_error = ERROR_INVALID_HANDLE;
		return FALSE;
	}
	int r = ov ? cport_cancel(p, &ov->cport) : cport_cancel_fd(p, fd);
	if (r < 0) {
		last_error = r == -ENOENT ? ERROR_NOT_FOUND : wsa_error(-r);
		return FALSE;
	}
	return TRUE;
}

BOOL CancelIo(HANDLE file)
{
	return CancelIoEx(file, NULL);
}

static DWORD WINAPI thread_main_unused(LPVOID p)
{
	(void)p;
	return 0;
}

static void *trampoline(void *arg)
{
	struct handle *h = arg;
	LPTHREAD_START_ROUTINE start = h->start ? h->start : thread_main_unused;
	return (void *)(uintptr_t)start(h->param);
}

HANDLE CreateThread(LPSECURITY_ATTRIBUTES attrs, SIZE_T stack, LPTHREAD_START_ROUTINE start, LPVOID param,
		    DWORD flags, LPDWORD thread_id)
{
	(void)attrs;
	(void)stack;
	if (!start || flags) {
		last_error = flags ? ERROR_NOT_SUPPORTED : ERROR_INVALID_PARAMETER;
		return NULL;
	}
	struct handle *h = calloc(1, sizeof(*h));
	if (!h) {
		last_error = ERROR_NOT_ENOUGH_MEMORY;
		return NULL;
	}
	h->magic = HANDLE_MAGIC;
	h->kind = H_THREAD;
	h->start = start;
	h->param = param;
	int r = pthread_create(&h->thread, NULL, trampoline, h);
	if (r) {
		free(h);
		last_error = wsa_error(r);
		return NULL;
	}
	if (thread_id)
		*thread_id = atomic_fetch_add(&next_thread_id, 1);
	return h;
}

DWORD WaitForSingleObject(HANDLE hd, DWORD ms)
{
	struct handle *h = as_handle(hd, H_THREAD);
	if (!h) {
		last_error = ERROR_INVALID_HANDLE;
		return WAIT_FAILED;
	}
	if (h->joined)
		return WAIT_OBJECT_0;
	int r;
	if (ms == INFINITE) {
		r = pthread_join(h->thread, NULL);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		r = pthread_timedjoin_np(h->thread, NULL, &ts);
	}
	if (r == ETIMEDOUT)
		return WAIT_TIMEOUT;
	if (r) {
		last_error = wsa_error(r);
		return WAIT_FAILED;
	}
	h->joined = true;
	return WAIT_OBJECT_0;
}

BOOL CloseHandle(HANDLE hd)
{
	struct handle *h = as_handle(hd, H_PORT);
	if (h) {
		forget_port(h->port);
		cport_destroy(h->port);
		h->magic = 0;
		free(h);
		return TRUE;
	}
	h = as_handle(hd, H_THREAD);
	if (h) {
		if (!h->joined)
			pthread_detach(h->thread);
		h->magic = 0;
		free(h);
		return TRUE;
	}
	int fd;
	if (as_fd(hd, &fd))
		return closesocket((SOCKET)fd) == 0;
	last_error = ERROR_INVALID_HANDLE;
	return FALSE;
}

void Sleep(DWORD ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void GetSystemInfo(LPSYSTEM_INFO info)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN), pg = sysconf(_SC_PAGESIZE);
	memset(info, 0, sizeof(*info));
	info->dwNumberOfProcessors = n > 0 ? (DWORD)n : 1;
	info->dwPageSize = pg > 0 ? (DWORD)pg : 4096;
	info->dwAllocationGranularity = 65536;
}

HGLOBAL GlobalAlloc(UINT flags, SIZE_T bytes)
{
	void *m = (flags & GMEM_ZEROINIT) ? calloc(1, bytes ? bytes : 1) : malloc(bytes ? bytes : 1);
	if (!m)
		last_error = ERROR_NOT_ENOUGH_MEMORY;
	return m;
}

HGLOBAL GlobalFree(HGLOBAL mem)
{
	free(mem);
	return NULL;
}

int WSAStartup(WORD version, LPWSADATA data)
{
	if (!data)
		return WSAEFAULT;
	memset(data, 0, sizeof(*data));
	data->wVersion = version;
	data->wHighVersion = MAKEWORD(2, 2);
	strcpy(data->szDescription, "cport Win32 shim");
	strcpy(data->szSystemStatus, "Running");
	return 0;
}

int WSACleanup(void)
{
	return 0;
}

SOCKET WSASocket(int af, int type, int protocol, LPWSAPROTOCOL_INFOA info, GROUP g, DWORD flags)
{
	(void)info;
	(void)g;
	(void)flags;
	int fd = socket(af, type | SOCK_CLOEXEC, protocol);
	if (fd < 0) {
		fail(errno, 0);
		return INVALID_SOCKET;
	}
	if (fd >= MAX_SHIM_FDS) {
		close(fd);
		last_error = WSAEMFILE;
		return INVALID_SOCKET;
	}
	return (SOCKET)fd;
}

int closesocket(SOCKET s)
{
	cport_t *p = port_of(s);
	if (s >= (SOCKET)MAX_SHIM_FDS)
		return fail(EBADF, SOCKET_ERROR);
	if (p) {
		/* Pending operations end with ERROR_OPERATION_ABORTED, then the fd closes. */
		pthread_mutex_lock(&map_lock);
		sock_port[s] = NULL;
		pthread_mutex_unlock(&map_lock);
		int r = cport_close(p, (int)s, NULL);
		return r < 0 ? fail(-r, SOCKET_ERROR) : 0;
	}
	return close((int)s) < 0 ? fail(errno, SOCKET_ERROR) : 0;
}

/* Wait until fd is ready for events (the fd may be non-blocking once attached). */
static int wait_ready(int fd, short events)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int r;
	while ((r = poll(&pfd, 1, -1)) < 0 && errno == EINTR)
		;
	return r < 0 ? -1 : 0;
}

SOCKET WSAAccept(SOCKET s, struct sockaddr *addr, int *addrlen, void *condition, DWORD_PTR data)
{
	(void)data;
	if (condition) {
		fail(EOPNOTSUPP, 0);
		return INVALID_SOCKET;
	}
	socklen_t len = addrlen ? (socklen_t)*addrlen : 0;
	for (;;) {
		int fd = accept4((int)s, addr, addr ? &len : NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			if (addrlen)
				*addrlen = (int)len;
			return (SOCKET)fd;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || wait_ready((int)s, POLLIN) < 0) {
			fail(errno, 0);
			return INVALID_SOCKET;
		}
	}
}

/* The iovecs for a WSABUF array, kept in the OVERLAPPED until completion. */
static struct iovec *iov_for(LPWSAOVERLAPPED ov, LPWSABUF bufs, DWORD n)
{
	struct iovec *iov = (struct iovec *)&ov->shim[SH_IOV];
	ov->shim[SH_HEAPIOV] = 0;
	if (n > 1) {
		iov = malloc(sizeof(*iov) * n);
		if (!iov)
			return NULL;
		ov->shim[SH_HEAPIOV] = (uintptr_t)iov;
	}
	for (DWORD i = 0; i < n; i++) {
		iov[i].iov_base = bufs[i].buf;
		iov[i].iov_len = bufs[i].len;
	}
	return iov;
}

static void iov_free(LPWSAOVERLAPPED ov)
{
	free((void *)ov->shim[SH_HEAPIOV]);
	ov->shim[SH_HEAPIOV] = 0;
}

/* A blocking transfer, for calls made without an OVERLAPPED. */
static int sync_io(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD done, bool is_send, struct sockaddr *addr,
		   socklen_t *alen)
{
	struct iovec iov[64];
	if (n == 0 || n > 64 || !done)
		return fail(EINVAL, SOCKET_ERROR);
	for (DWORD i = 0; i < n; i++) {
		iov[i].iov_base = bufs[i].buf;
		iov[i].iov_len = bufs[i].len;
	}
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = n, .msg_name = addr, .msg_namelen = alen ? *alen : 0};
	for (;;) {
		ssize_t r = is_send ? sendmsg((int)s, &m, MSG_NOSIGNAL) : recvmsg((int)s, &m, 0);
		if (r >= 0) {
			*done = (DWORD)r;
			if (alen)
				*alen = m.msg_namelen;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || wait_ready((int)s, is_send ? POLLOUT : POLLIN) < 0)
			return fail(errno, SOCKET_ERROR);
	}
}

/* Common tail of an overlapped call: it always completes through the port. */
static int pending(LPWSAOVERLAPPED ov, int r)
{
	if (r < 0) {
		iov_free(ov);
		return fail(-r, SOCKET_ERROR);
	}
	last_error = WSA_IO_PENDING;
	return SOCKET_ERROR;
}

static int start_io(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD done, LPWSAOVERLAPPED ov, void *routine,
		    bool is_send, struct sockaddr *addr, int *alen)
{
	if (routine)
		return fail(EOPNOTSUPP, SOCKET_ERROR);
	socklen_t sl = alen ? (socklen_t)*alen : 0;
	if (!ov) {
		int r = sync_io(s, bufs, n, done, is_send, addr, addr ? &sl : NULL);
		if (r == 0 && alen && !is_send)
			*alen = (int)sl;
		return r;
	}
	cport_t *p = port_of(s);
	if (!p)
		return fail(EINVAL, SOCKET_ERROR);
	if (!bufs || n == 0)
		return fail(EFAULT, SOCKET_ERROR);
	struct iovec *iov = iov_for(ov, bufs, n);
	if (!iov)
		return fail(ENOMEM, SOCKET_ERROR);
	ov->Internal = STATUS_PENDING;
	int r;
	if (!addr)
		r = is_send ? cport_send(p, (int)s, &ov->cport, iov, (int)n) : cport_recv(p, (int)s, &ov->cport, iov, (int)n);
	else if (is_send)
		r = cport_sendto(p, (int)s, &ov->cport, iov, (int)n, addr, sl);
	else {
		ov->shim[SH_FROMLEN] = (uintptr_t)alen;
		ov->shim[SH_SOCKLEN] = sl;
		r = cport_recvfrom(p, (int)s, &ov->cport, iov, (int)n, addr, (socklen_t *)&ov->shim[SH_SOCKLEN]);
	}
	return pending(ov, r);
}

int WSARecv(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD received, LPDWORD flags, LPWSAOVERLAPPED ov,
	    LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
	if (flags && *flags)
		return fail(EOPNOTSUPP, SOCKET_ERROR);
	return start_io(s, bufs, n, received, ov, (void *)routine, false, NULL, NULL);
}

int WSASend(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD sent, DWORD flags, LPWSAOVERLAPPED ov,
	    LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
	if (flags)
		return fail(EOPNOTSUPP, SOCKET_ERROR);
	return start_io(s, bufs, n, sent, ov, (void *)routine, true, NULL, NULL);
}

int WSARecvFrom(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD received, LPDWORD flags, struct sockaddr *from,
		int *fromlen, LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
	if (flags && *flags)
		return fail(EOPNOTSUPP, SOCKET_ERROR);
	if (from && (!fromlen || *fromlen <= 0))
		return fail(EFAULT, SOCKET_ERROR);
	return start_io(s, bufs, n, received, ov, (void *)routine, false, from, fromlen);
}

int WSASendTo(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD sent, DWORD flags, const struct sockaddr *to, int tolen,
	      LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
	if (flags)
		return fail(EOPNOTSUPP, SOCKET_ERROR);
	if (to && tolen <= 0)
		return fail(EFAULT, SOCKET_ERROR);
	return start_io(s, bufs, n, sent, ov, (void *)routine, true, (struct sockaddr *)to, to ? &tolen : NULL);
}

BOOL AcceptEx(SOCKET ls, SOCKET as, PVOID out, DWORD recvlen, DWORD locallen, DWORD remotelen, LPDWORD received,
	      LPOVERLAPPED ov)
{
	cport_t *p = port_of(ls);
	if (!ov || !p)
		return fail(EINVAL, FALSE);
	if (recvlen)
		return fail(EOPNOTSUPP, FALSE);
	if (out && (locallen < sizeof(struct sockaddr_in) || remotelen < sizeof(struct sockaddr_in)))
		return fail(EFAULT, FALSE);
	if (received)
		*received = 0;
	ov->shim[SH_ACCEPT_SOCK] = as;
	ov->shim[SH_OUTBUF] = (uintptr_t)out;
	ov->shim[SH_LOCALLEN] = locallen;
	ov->shim[SH_REMOTELEN] = remotelen;
	ov->Internal = STATUS_PENDING;
	int r = cport_accept(p, (int)ls, &ov->cport, NULL, NULL);
	if (r < 0)
		return fail(-r, FALSE);
	last_error = ERROR_IO_PENDING;
	return FALSE;
}

void GetAcceptExSockaddrs(PVOID out, DWORD recvlen, DWORD locallen, DWORD remotelen, struct sockaddr **local,
			  int *local_len, struct sockaddr **remote, int *remote_len)
{
	char *base = (char *)out + recvlen;
	*local = (struct sockaddr *)base;
	*local_len = (int)locallen;
	*remote = (struct sockaddr *)(base + locallen);
	*remote_len = (int)remotelen;
}

BOOL ConnectEx(SOCKET s, const struct sockaddr *name, int namelen, PVOID sendbuf, DWORD sendlen, LPDWORD sent,
	       LPOVERLAPPED ov)
{
	cport_t *p = port_of(s);
	if (!ov || !p || !name || namelen <= 0)
		return fail(EINVAL, FALSE);
	if (sendbuf || sendlen)
		return fail(EOPNOTSUPP, FALSE);
	if (sent)
		*sent = 0;
	ov->shim[SH_HEAPIOV] = 0;
	ov->Internal = STATUS_PENDING;
	int r = cport_connect(p, (int)s, &ov->cport, name, (socklen_t)namelen);
	if (r < 0)
		return fail(-r, FALSE);
	last_error = ERROR_IO_PENDING;
	return FALSE;
}
