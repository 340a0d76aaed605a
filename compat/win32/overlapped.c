/* overlapped.c - overlapped socket calls: WSARecv, WSASend, WSARecvFrom,
 * WSASendTo, AcceptEx, ConnectEx, DisconnectEx, and what a completion needs
 * before GetQueuedCompletionStatus hands it out. Each start is a cport op
 * on the OVERLAPPED's own cport_op, so starting I/O allocates nothing
 * (except an iovec array for more than one WSABUF). An overlapped call
 * always reports WSA_IO_PENDING and completes through the port. */
#include "shim.h"

#include <errno.h>

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
	ov->Internal = STATUS_PENDING;
	ov->InternalHigh = 0;
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
	ov->Internal = STATUS_PENDING;
	ov->InternalHigh = 0;
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
	ov->Internal = STATUS_PENDING;
	ov->InternalHigh = 0;
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
	ov->Internal = STATUS_PENDING;
	ov->InternalHigh = 0;
	ov->cport_io.iovs = NULL;
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
	ov->Internal = w32_ntstatus(*err);
	ov->InternalHigh = *bytes;
	return true;
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
