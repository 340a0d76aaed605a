/* overlapped.c - overlapped socket calls: WSARecv, WSASend, WSARecvFrom,
 * WSASendTo, AcceptEx, ConnectEx, DisconnectEx, and what a completion needs
 * before GetQueuedCompletionStatus hands it out. Each start is a cport op
 * on the OVERLAPPED's own cport_op, so starting I/O allocates nothing
 * (except an iovec array for more than one WSABUF). An overlapped call
 * always reports WSA_IO_PENDING and completes through the port. */
#include "shim.h"

#include <errno.h>
#include <stdatomic.h>

enum { STEP_NONE, STEP_CONNECT_THEN_SEND, STEP_SEND_AFTER_CONNECT };

/* Set up the iovecs for a WSABUF array; they live until completion. */
static struct iovec *iov_of(struct cport_win32_io *io, LPWSABUF bufs, DWORD n)
{
	struct iovec *iov = &io->iov1;
	io->iovs = NULL;
	if (n > 1) {
		iov = malloc(sizeof(*iov) * n);
		if (!iov)
			return NULL;
		io->iovs = iov;
	}
	for (DWORD i = 0; i < n; i++)
		iov[i] = (struct iovec){.iov_base = bufs[i].buf, .iov_len = bufs[i].len};
	return iov;
}

/* The shared tail of every overlapped start. */
static int pending(struct cport_win32_io *io, int r, int fail_ret)
{
	if (r < 0) {
		free(io->iovs);
		io->iovs = NULL;
		return w32_fail(-r, fail_ret);
	}
	w32_set_error(WSA_IO_PENDING);
	return fail_ret;
}

/* A transfer without an OVERLAPPED: a blocking call. */
static int sync_transfer(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD done, DWORD flags, bool is_send,
			 struct sockaddr *addr, int *addrlen)
{
	if (!done || n == 0 || n > 1024 || (addrlen && *addrlen < 0))
		return w32_fail(EFAULT, SOCKET_ERROR);
	struct iovec *iov = malloc(sizeof(*iov) * n);
	if (!iov)
		return w32_fail(ENOMEM, SOCKET_ERROR);
	for (DWORD i = 0; i < n; i++)
		iov[i] = (struct iovec){.iov_base = bufs[i].buf, .iov_len = bufs[i].len};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = n, .msg_name = addr,
			   .msg_namelen = addr && addrlen ? (socklen_t)*addrlen : 0};
	int r = w32_sync_io(s, &m, (int)flags, is_send, done);
	if (r == 0 && !is_send && addr && addrlen)
		*addrlen = (int)m.msg_namelen;
	free(iov);
	return r;
}

/* What every overlapped transfer does: find the port, start the op. */
static int start_transfer(SOCKET s, LPWSABUF bufs, DWORD n, LPWSAOVERLAPPED ov, bool is_send,
			  struct sockaddr *addr, int *addrlen)
{
	struct cport_win32_io *io = &ov->cport_io;
	struct w32_slot *slot;
	if (!bufs || n == 0)
		return w32_fail(EFAULT, SOCKET_ERROR);
	cport_t *cp = w32_socket_port(s, &slot, NULL);
	if (!cp)
		return w32_fail(EINVAL, SOCKET_ERROR); /* overlapped I/O needs an associated socket here */
	struct iovec *iov = iov_of(io, bufs, n);
	int r = -ENOMEM;
	w32_io_begin(ov, w32_socket_port_handle(s));
	io->fd = (int)s;
	io->step = STEP_NONE;
	if (iov && !addr)
		r = is_send ? cport_send(cp, (int)s, &io->op, iov, (int)n) : cport_recv(cp, (int)s, &io->op, iov, (int)n);
	else if (iov && is_send)
		r = cport_sendto(cp, (int)s, &io->op, iov, (int)n, addr, (socklen_t)*addrlen);
	else if (iov) {
		io->user_addrlen = addrlen;
		io->addrlen = (socklen_t)*addrlen;
		r = cport_recvfrom(cp, (int)s, &io->op, iov, (int)n, addr, &io->addrlen);
	}
	w32_handle_put(slot, true);
	return pending(io, r, SOCKET_ERROR);
}

static int transfer(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD done, DWORD flags, LPWSAOVERLAPPED ov,
		    LPWSAOVERLAPPED_COMPLETION_ROUTINE routine, bool is_send, struct sockaddr *addr, int *addrlen)
{
	if (routine)
		return w32_fail(EOPNOTSUPP, SOCKET_ERROR); /* no alertable waits, so no completion routines */
	if (!w32_socket_ok(s))
		return w32_fail(ENOTSOCK, SOCKET_ERROR);
	if (!ov)
		return sync_transfer(s, bufs, n, done, flags, is_send, addr, addrlen);
	if (flags)
		return w32_fail(EOPNOTSUPP, SOCKET_ERROR); /* cport's ops take no flags */
	if (done)
		*done = 0;
	return start_transfer(s, bufs, n, ov, is_send, addr, addrlen);
}

int WSARecv(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD received, LPDWORD flags, LPWSAOVERLAPPED ov,
	    LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
	if (!flags)
		return w32_fail(EFAULT, SOCKET_ERROR);
	return transfer(s, bufs, n, received, *flags, ov, routine, false, NULL, NULL);
}

int WSASend(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD sent, DWORD flags, LPWSAOVERLAPPED ov,
	    LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
	return transfer(s, bufs, n, sent, flags, ov, routine, true, NULL, NULL);
}

int WSARecvFrom(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD received, LPDWORD flags, struct sockaddr *from,
		LPINT fromlen, LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
	if (!flags || (from && (!fromlen || *fromlen <= 0)))
		return w32_fail(EFAULT, SOCKET_ERROR);
	return transfer(s, bufs, n, received, *flags, ov, routine, false, from, from ? fromlen : NULL);
}

int WSASendTo(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD sent, DWORD flags, const struct sockaddr *to, int tolen,
	      LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
	if (to && tolen <= 0)
		return w32_fail(EFAULT, SOCKET_ERROR);
	return transfer(s, bufs, n, sent, flags, ov, routine, true, (struct sockaddr *)to, to ? &tolen : NULL);
}

/* Windows wants 16 bytes more than the largest address in each area. */
#define ACCEPT_ADDR_MIN (sizeof(struct sockaddr_in) + 16)

BOOL PASCAL AcceptEx(SOCKET ls, SOCKET as, PVOID out, DWORD recvlen, DWORD locallen, DWORD remotelen,
		     LPDWORD received, LPOVERLAPPED ov)
{
	if (!ov || !out || !w32_socket_ok(as))
		return w32_fail(EINVAL, FALSE);
	if (recvlen)
		return w32_fail(EOPNOTSUPP, FALSE); /* see docs/win32.md */
	if (locallen < ACCEPT_ADDR_MIN || remotelen < ACCEPT_ADDR_MIN)
		return w32_fail(EINVAL, FALSE);
	struct w32_slot *slot;
	if (w32_socket_port(as, &slot, NULL)) {
		w32_handle_put(slot, true);
		return w32_fail(EINVAL, FALSE); /* the connection cannot land on an associated socket */
	}
	cport_t *cp = w32_socket_port(ls, &slot, NULL);
	if (!cp)
		return w32_fail(EINVAL, FALSE);
	struct cport_win32_io *io = &ov->cport_io;
	if (received)
		*received = 0;
	io->iovs = NULL;
	io->fd = (int)ls;
	io->step = STEP_NONE;
	io->accept_sock = (int)as;
	io->accept_out = out;
	io->local_len = locallen;
	io->remote_len = remotelen;
	w32_io_begin(ov, w32_socket_port_handle(ls));
	int r = cport_accept(cp, (int)ls, &io->op, NULL, NULL);
	w32_handle_put(slot, true);
	return pending(io, r, FALSE);
}

static int addr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? (int)sizeof(struct sockaddr_in6) : (int)sizeof(struct sockaddr_in);
}

VOID PASCAL GetAcceptExSockaddrs(PVOID out, DWORD recvlen, DWORD locallen, DWORD remotelen,
				 struct sockaddr **local, LPINT local_len, struct sockaddr **remote, LPINT remote_len)
{
	(void)remotelen;
	char *base = (char *)out + recvlen;
	*local = (struct sockaddr *)base;
	*remote = (struct sockaddr *)(base + locallen);
	*local_len = addr_len(*local);
	*remote_len = addr_len(*remote);
}

BOOL PASCAL ConnectEx(SOCKET s, const struct sockaddr *name, int namelen, PVOID sendbuf, DWORD sendlen,
		      LPDWORD sent, LPOVERLAPPED ov)
{
	if (!ov || !name || namelen <= 0)
		return w32_fail(EINVAL, FALSE);
	struct w32_slot *slot;
	cport_t *cp = w32_socket_port(s, &slot, NULL);
	if (!cp)
		return w32_fail(EINVAL, FALSE);
	struct cport_win32_io *io = &ov->cport_io;
	if (sent)
		*sent = 0;
	io->iovs = NULL;
	io->fd = (int)s;
	io->step = sendbuf && sendlen ? STEP_CONNECT_THEN_SEND : STEP_NONE;
	io->iov1 = (struct iovec){.iov_base = sendbuf, .iov_len = sendlen};
	w32_io_begin(ov, w32_socket_port_handle(s));
	int r = cport_connect(cp, (int)s, &io->op, name, (socklen_t)namelen);
	w32_handle_put(slot, true);
	return pending(io, r, FALSE);
}

BOOL PASCAL DisconnectEx(SOCKET s, LPOVERLAPPED ov, DWORD flags, DWORD reserved)
{
	if (reserved)
		return w32_fail(EINVAL, FALSE);
	if (flags & TF_REUSE_SOCKET)
		return w32_fail(EOPNOTSUPP, FALSE); /* see docs/win32.md */
	if (!w32_socket_ok(s))
		return w32_fail(ENOTSOCK, FALSE);
	if ((shutdown)((int)s, SHUT_WR) < 0)
		return w32_fail(errno, FALSE);
	if (!ov)
		return TRUE;
	/* Done at once; the completion still comes through the port. */
	struct w32_slot *slot;
	ULONG_PTR key;
	cport_t *cp = w32_socket_port(s, &slot, &key);
	if (!cp)
		return w32_fail(EINVAL, FALSE);
	w32_io_begin(ov, w32_socket_port_handle(s));
	ov->cport_io.iovs = NULL;
	ov->cport_io.step = W32_STEP_POSTED;
	int r = cport_post(cp, key, &ov->cport_io.op, 0);
	w32_handle_put(slot, true);
	return pending(&ov->cport_io, r, FALSE);
}

/* The accepted connection takes the accept socket's place; the addresses
 * go where GetAcceptExSockaddrs will look. Returns 0 or -errno. */
static int64_t accept_finish(struct cport_win32_io *io, int64_t res)
{
	if (res < 0)
		return res;
	int nfd = (int)res;
	int r = dup2(nfd, io->accept_sock) < 0 ? -errno : 0;
	close(nfd);
	if (r < 0)
		return r;
	char *out = io->accept_out;
	socklen_t ll = io->local_len, rl = io->remote_len;
	if ((getsockname)(io->accept_sock, (struct sockaddr *)out, &ll) < 0 ||
	    (getpeername)(io->accept_sock, (struct sockaddr *)(out + io->local_len), &rl) < 0)
		return -errno;
	return 0;
}

/* ConnectEx with data: once connected, the data goes out on the same
 * OVERLAPPED. Returns true if the send started. */
static bool connect_then_send(cport_t *cp, struct cport_win32_io *io, int64_t *res)
{
	io->step = STEP_SEND_AFTER_CONNECT;
	int r = cp ? cport_send(cp, io->fd, &io->op, &io->iov1, 1) : -ECANCELED;
	if (r == 0)
		return true;
	io->step = STEP_NONE;
	*res = r;
	return false;
}

bool w32_complete(cport_t *cp, struct cport_completion *c, DWORD *bytes, int *err)
{
	LPOVERLAPPED ov = cport_container_of(c->op, OVERLAPPED, cport_io.op);
	struct cport_win32_io *io = &ov->cport_io;
	int64_t res = c->result;
	free(io->iovs);
	io->iovs = NULL;
	if (c->kind == CPORT_OP_RECVFROM && res >= 0 && io->user_addrlen)
		*io->user_addrlen = (int)io->addrlen;
	if (c->kind == CPORT_OP_ACCEPT)
		res = accept_finish(io, res);
	if (c->kind == CPORT_OP_CONNECT && res == 0 && io->step == STEP_CONNECT_THEN_SEND &&
	    connect_then_send(cp, io, &res))
		return false;
	io->step = STEP_NONE;
	bool no_bytes = c->kind == CPORT_OP_ACCEPT || c->kind == CPORT_OP_CONNECT;
	*bytes = no_bytes || res < 0 ? 0 : (DWORD)res;
	*err = res < 0 ? (int)-res : 0;
	return w32_io_done(ov, *bytes, *err);
}

/* GetOverlappedResult's waits: callers blocked until an operation's
 * Internal leaves STATUS_PENDING. Completions look at the count and wake
 * them only when there are some. */
static atomic_int io_waiters;

/* hEvent with its low bit cleared: the event, if the program gave one. */
static HANDLE event_of(LPOVERLAPPED ov)
{
	return (HANDLE)((uintptr_t)ov->hEvent & ~(uintptr_t)1);
}

void w32_io_begin(LPOVERLAPPED ov, HANDLE port)
{
	ov->InternalHigh = 0;
	__atomic_store_n(&ov->Internal, (ULONG_PTR)STATUS_PENDING, __ATOMIC_RELAXED);
	ov->cport_io.port = port;
	/* As on Windows, an operation's event is reset when it starts. */
	if (ov->hEvent)
		w32_event_reset(event_of(ov));
}

bool w32_io_done(LPOVERLAPPED ov, DWORD bytes, int err)
{
	HANDLE ev = ov->hEvent;
	ov->InternalHigh = bytes;
	__atomic_store_n(&ov->Internal, w32_ntstatus(err), __ATOMIC_SEQ_CST);
	/* From here on the program may reuse or free ov (it may be watching
	 * Internal): only ev, read before, is used. */
	if (atomic_load(&io_waiters) > 0) {
		pthread_mutex_lock(&w32_wait_lock);
		w32_wait_changed();
		pthread_mutex_unlock(&w32_wait_lock);
	}
	if (ev)
		w32_event_set((HANDLE)((uintptr_t)ev & ~(uintptr_t)1));
	return !((uintptr_t)ev & 1);
}

/* Wait for ov's operation to be recorded as complete. The shim records it
 * when its completion is dequeued from the port (by a GetQueuedCompletionStatus
 * caller), so this ends once some thread has dequeued it, or with
 * ERROR_OPERATION_ABORTED once the port is gone (nobody can dequeue it any
 * more), or WAIT_TIMEOUT. Returns 0 when complete. */
#define IO_WAIT_SLICE_MS 100

static DWORD io_wait(LPOVERLAPPED ov, DWORD ms)
{
	HANDLE port = ov->cport_io.port;
	struct timespec deadline, slice;
	w32_deadline_after(&deadline, ms);
	w32_wait_init();
	atomic_fetch_add(&io_waiters, 1);
	DWORD r = 0;
	pthread_mutex_lock(&w32_wait_lock);
	while (__atomic_load_n(&ov->Internal, __ATOMIC_SEQ_CST) == STATUS_PENDING) {
		if (!port || w32_handle_gone(port)) {
			/* The slot's last pin went after the last hand-out: a final look. */
			if (__atomic_load_n(&ov->Internal, __ATOMIC_ACQUIRE) == STATUS_PENDING)
				r = ERROR_OPERATION_ABORTED;
			break;
		}
		w32_deadline_after(&slice, IO_WAIT_SLICE_MS);
		bool last = ms != INFINITE && (slice.tv_sec > deadline.tv_sec ||
					       (slice.tv_sec == deadline.tv_sec && slice.tv_nsec >= deadline.tv_nsec));
		if (w32_wait_until(last ? &deadline : &slice) == ETIMEDOUT && last &&
		    __atomic_load_n(&ov->Internal, __ATOMIC_ACQUIRE) == STATUS_PENDING) {
			r = WAIT_TIMEOUT;
			break;
		}
	}
	pthread_mutex_unlock(&w32_wait_lock);
	atomic_fetch_sub(&io_waiters, 1);
	return r;
}

/* The shared part: *err is 0 or the errno the operation ended with;
 * returns a Win32 error for a call that cannot say (pending, ...) or 0. */
static DWORD overlapped_result(LPOVERLAPPED ov, LPDWORD bytes, DWORD ms, int *err)
{
	*err = 0;
	if (!ov || !bytes)
		return ERROR_INVALID_PARAMETER;
	if (__atomic_load_n(&ov->Internal, __ATOMIC_ACQUIRE) == STATUS_PENDING) {
		if (ms == 0)
			return ERROR_IO_INCOMPLETE;
		DWORD r = io_wait(ov, ms);
		if (r == WAIT_TIMEOUT)
			return WAIT_TIMEOUT;
		if (r) {
			*bytes = 0;
			*err = ECANCELED;
			return 0;
		}
	}
	*bytes = (DWORD)ov->InternalHigh;
	*err = w32_errno_of_status(__atomic_load_n(&ov->Internal, __ATOMIC_ACQUIRE));
	return 0;
}

BOOL GetOverlappedResultEx(HANDLE file, LPOVERLAPPED ov, LPDWORD bytes, DWORD ms, BOOL alertable)
{
	(void)file;
	(void)alertable; /* no APCs here: never WAIT_IO_COMPLETION */
	int err;
	DWORD r = overlapped_result(ov, bytes, ms, &err);
	if (r || err) {
		w32_set_error(r ? r : w32_io_error(err));
		return FALSE;
	}
	return TRUE;
}

BOOL GetOverlappedResult(HANDLE file, LPOVERLAPPED ov, LPDWORD bytes, BOOL wait)
{
	return GetOverlappedResultEx(file, ov, bytes, wait ? INFINITE : 0, FALSE);
}

BOOL WSAGetOverlappedResult(SOCKET s, LPWSAOVERLAPPED ov, LPDWORD bytes, BOOL wait, LPDWORD flags)
{
	if (!w32_socket_ok(s))
		return w32_fail(ENOTSOCK, FALSE);
	if (!flags || !bytes || !ov)
		return w32_fail(EFAULT, FALSE);
	int err;
	DWORD r = overlapped_result(ov, bytes, wait ? INFINITE : 0, &err);
	if (r) {
		w32_set_error(r == ERROR_IO_INCOMPLETE ? WSA_IO_INCOMPLETE : r);
		return FALSE;
	}
	*flags = 0;
	return err ? w32_fail(err, FALSE) : TRUE;
}

static const GUID guid_acceptex = WSAID_ACCEPTEX;
static const GUID guid_connectex = WSAID_CONNECTEX;
static const GUID guid_sockaddrs = WSAID_GETACCEPTEXSOCKADDRS;
static const GUID guid_disconnectex = WSAID_DISCONNECTEX;

/* The extension function a GUID names, as a generic function pointer. */
static void (*extension(const GUID *g))(void)
{
	if (!memcmp(g, &guid_acceptex, sizeof(*g)))
		return (void (*)(void))AcceptEx;
	if (!memcmp(g, &guid_connectex, sizeof(*g)))
		return (void (*)(void))ConnectEx;
	if (!memcmp(g, &guid_sockaddrs, sizeof(*g)))
		return (void (*)(void))GetAcceptExSockaddrs;
	if (!memcmp(g, &guid_disconnectex, sizeof(*g)))
		return (void (*)(void))DisconnectEx;
	return NULL;
}

int WSAIoctl(SOCKET s, DWORD code, LPVOID in, DWORD inlen, LPVOID out, DWORD outlen, LPDWORD returned,
	     LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
	(void)ov; /* every code here completes at once */
	if (routine)
		return w32_fail(EOPNOTSUPP, SOCKET_ERROR);
	if (!w32_socket_ok(s))
		return w32_fail(ENOTSOCK, SOCKET_ERROR);
	if (code == SIO_GET_EXTENSION_FUNCTION_POINTER) {
		void (*fn)(void);
		if (!in || inlen < sizeof(GUID) || !out || outlen < sizeof(fn))
			return w32_fail(EFAULT, SOCKET_ERROR);
		if (!(fn = extension(in)))
			return w32_fail(EINVAL, SOCKET_ERROR);
		memcpy(out, &fn, sizeof(fn));
		if (returned)
			*returned = sizeof(fn);
		return 0;
	}
	if (code == (DWORD)FIONBIO || code == (DWORD)FIONREAD) {
		u_long v = 0;
		if (in && inlen >= sizeof(v))
			memcpy(&v, in, sizeof(v));
		if (ioctlsocket(s, (long)code, &v) != 0)
			return SOCKET_ERROR;
		if (out && outlen >= sizeof(v))
			memcpy(out, &v, sizeof(v));
		if (returned)
			*returned = code == (DWORD)FIONREAD ? sizeof(v) : 0;
		return 0;
	}
	return w32_fail(EOPNOTSUPP, SOCKET_ERROR);
}
