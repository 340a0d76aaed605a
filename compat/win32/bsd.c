/* bsd.c - the BSD socket calls with Winsock's types and errors, and the
 * blocking transfers of calls made without an OVERLAPPED. A socket that is
 * associated with a port is non-blocking underneath (the port needs it), so
 * a call the program expects to block waits for readiness here, unless the
 * program asked for non-blocking calls with ioctlsocket(FIONBIO). */
#include "shim.h"

#include <errno.h>
#include <poll.h>

static bool may_block(SOCKET s)
{
	return !w32_socket_nonblocking(s);
}

int w32_sync_io(SOCKET s, struct msghdr *m, int flags, bool is_send, DWORD *done)
{
	for (;;) {
		ssize_t r = is_send ? sendmsg((int)s, m, flags | MSG_NOSIGNAL) : recvmsg((int)s, m, flags);
		if (r >= 0) {
			if (done)
				*done = (DWORD)r;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || !may_block(s))
			return w32_fail(errno, SOCKET_ERROR);
		int e = w32_wait_ready((int)s, is_send ? POLLOUT : POLLIN);
		if (e < 0)
			return w32_fail(-e, SOCKET_ERROR);
	}
}

static int check(int r)
{
	return r < 0 ? w32_fail(errno, SOCKET_ERROR) : 0;
}

int cport_w32_bind(SOCKET s, const struct sockaddr *name, int namelen)
{
	if (namelen < 0)
		return w32_fail(EFAULT, SOCKET_ERROR);
	return check((bind)((int)s, name, (socklen_t)namelen));
}

int cport_w32_listen(SOCKET s, int backlog)
{
	return check((listen)((int)s, backlog));
}

SOCKET cport_w32_accept(SOCKET s, struct sockaddr *addr, int *addrlen)
{
	socklen_t len = addrlen ? (socklen_t)*addrlen : 0;
	for (;;) {
		int fd = accept4((int)s, addr, addr ? &len : NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			if (addr && addrlen)
				*addrlen = (int)len;
			return w32_socket_adopt(fd);
		}
		int e = errno;
		if (e == EINTR)
			continue;
		if (e == EAGAIN && may_block(s) && (e = -w32_wait_ready((int)s, POLLIN)) == 0)
			continue;
		w32_fail(e, 0);
		return INVALID_SOCKET;
	}
}

/* A blocking connect on a non-blocking fd: wait, then read the outcome. */
static int connect_finish(SOCKET s)
{
	int e = -w32_wait_ready((int)s, POLLOUT);
	socklen_t len = sizeof(e);
	if (e == 0 && (getsockopt)((int)s, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	return e ? w32_fail(e, SOCKET_ERROR) : 0;
}

int cport_w32_connect(SOCKET s, const struct sockaddr *name, int namelen)
{
	if (namelen < 0)
		return w32_fail(EFAULT, SOCKET_ERROR);
	if ((connect)((int)s, name, (socklen_t)namelen) == 0)
		return 0;
	if (errno == EINPROGRESS && may_block(s))
		return connect_finish(s);
	/* Windows says a non-blocking connect would block. */
	return w32_fail(errno == EINPROGRESS ? EAGAIN : errno, SOCKET_ERROR);
}

int cport_w32_shutdown(SOCKET s, int how)
{
	return check((shutdown)((int)s, how));
}

/* Windows gives the receive and send timeouts as a DWORD of milliseconds. */
static bool is_timeout_opt(int level, int name, int len)
{
	return level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO) && len == (int)sizeof(DWORD);
}

static int int_opt(SOCKET s, int name)
{
	int v = 0;
	socklen_t l = sizeof(v);
	return (getsockopt)((int)s, SOL_SOCKET, name, &v, &l) == 0 && v;
}

/* SO_EXCLUSIVEADDRUSE: a Linux port is this socket's alone unless sockets
 * share it with SO_REUSEADDR (UDP) or SO_REUSEPORT. Setting it turns
 * SO_REUSEPORT off and, as on Windows, is refused (WSAEINVAL) on a socket
 * with SO_REUSEADDR, and SO_REUSEADDR or SO_REUSEPORT after it. */
static int exclusive_opt(SOCKET s, const char *val, int len)
{
	if (len < (int)sizeof(int))
		return w32_fail(EFAULT, SOCKET_ERROR);
	int on;
	memcpy(&on, val, sizeof(on));
	if (!w32_socket_ok(s))
		return w32_fail(ENOTSOCK, SOCKET_ERROR);
	if (on) {
		int off = 0;
		if (int_opt(s, SO_REUSEADDR))
			return w32_fail(EINVAL, SOCKET_ERROR);
		if ((setsockopt)((int)s, SOL_SOCKET, SO_REUSEPORT, &off, sizeof(off)) < 0)
			return w32_fail(errno, SOCKET_ERROR);
	}
	w32_socket_set_exclusive(s, on != 0);
	return 0;
}

int cport_w32_setsockopt(SOCKET s, int level, int name, const char *val, int len)
{
	if (level == SOL_SOCKET && (name == SO_UPDATE_ACCEPT_CONTEXT || name == SO_UPDATE_CONNECT_CONTEXT))
		return 0; /* a Linux socket has its context already */
	if (len < 0 || (len > 0 && !val))
		return w32_fail(EFAULT, SOCKET_ERROR);
	if (level == SOL_SOCKET && name == SO_EXCLUSIVEADDRUSE)
		return exclusive_opt(s, val, len);
	if (level == SOL_SOCKET && (name == SO_REUSEADDR || name == SO_REUSEPORT) && len >= (int)sizeof(int) &&
	    w32_socket_exclusive(s)) {
		int on;
		memcpy(&on, val, sizeof(on));
		if (on)
			return w32_fail(EINVAL, SOCKET_ERROR);
	}
	if (is_timeout_opt(level, name, len)) {
		DWORD ms;
		memcpy(&ms, val, sizeof(ms));
		struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000};
		return check((setsockopt)((int)s, level, name, &tv, sizeof(tv)));
	}
	return check((setsockopt)((int)s, level, name, val, (socklen_t)len));
}

int cport_w32_getsockopt(SOCKET s, int level, int name, char *val, int *len)
{
	if (!len || *len < 0 || !val)
		return w32_fail(EFAULT, SOCKET_ERROR);
	if (is_timeout_opt(level, name, *len)) {
		struct timeval tv;
		socklen_t tl = sizeof(tv);
		if ((getsockopt)((int)s, level, name, &tv, &tl) < 0)
			return w32_fail(errno, SOCKET_ERROR);
		DWORD ms = (DWORD)(tv.tv_sec * 1000 + tv.tv_usec / 1000);
		memcpy(val, &ms, sizeof(ms));
		return 0;
	}
	if (level == SOL_SOCKET && name == SO_EXCLUSIVEADDRUSE) {
		if (*len < (int)sizeof(int))
			return w32_fail(EFAULT, SOCKET_ERROR);
		int on = w32_socket_exclusive(s);
		memcpy(val, &on, sizeof(on));
		*len = sizeof(on);
		return 0;
	}
	socklen_t l = (socklen_t)*len;
	if ((getsockopt)((int)s, level, name, val, &l) < 0)
		return w32_fail(errno, SOCKET_ERROR);
	*len = (int)l;
	return 0;
}

static int name_call(int (*fn)(int, struct sockaddr *, socklen_t *), SOCKET s, struct sockaddr *name, int *namelen)
{
	if (!name || !namelen || *namelen < 0)
		return w32_fail(EFAULT, SOCKET_ERROR);
	socklen_t l = (socklen_t)*namelen;
	if (fn((int)s, name, &l) < 0)
		return w32_fail(errno, SOCKET_ERROR);
	*namelen = (int)l;
	return 0;
}

int cport_w32_getsockname(SOCKET s, struct sockaddr *name, int *namelen)
{
	return name_call((getsockname), s, name, namelen);
}

int cport_w32_getpeername(SOCKET s, struct sockaddr *name, int *namelen)
{
	return name_call((getpeername), s, name, namelen);
}

/* recv, send, recvfrom, sendto: one buffer through w32_sync_io. */
static int one_buffer(SOCKET s, char *buf, int len, int flags, bool is_send, struct sockaddr *addr, int *addrlen)
{
	if (len < 0 || (len > 0 && !buf) || (addrlen && *addrlen < 0))
		return w32_fail(EFAULT, SOCKET_ERROR);
	struct iovec iov = {buf, (size_t)len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_name = addr,
			   .msg_namelen = addr && addrlen ? (socklen_t)*addrlen : 0};
	DWORD done = 0;
	if (w32_sync_io(s, &m, flags, is_send, &done) < 0)
		return SOCKET_ERROR;
	if (!is_send && addr && addrlen)
		*addrlen = (int)m.msg_namelen;
	return (int)done;
}

int cport_w32_recv(SOCKET s, char *buf, int len, int flags)
{
	return one_buffer(s, buf, len, flags, false, NULL, NULL);
}

int cport_w32_send(SOCKET s, const char *buf, int len, int flags)
{
	return one_buffer(s, (char *)buf, len, flags, true, NULL, NULL);
}

int cport_w32_recvfrom(SOCKET s, char *buf, int len, int flags, struct sockaddr *from, int *fromlen)
{
	if (from && !fromlen)
		return w32_fail(EFAULT, SOCKET_ERROR);
	return one_buffer(s, buf, len, flags, false, from, fromlen);
}

int cport_w32_sendto(SOCKET s, const char *buf, int len, int flags, const struct sockaddr *to, int tolen)
{
	return one_buffer(s, (char *)buf, len, flags, true, (struct sockaddr *)to, to ? &tolen : NULL);
}

SOCKET WSAAccept(SOCKET s, struct sockaddr *addr, LPINT addrlen, LPCONDITIONPROC cond, DWORD_PTR data)
{
	struct sockaddr_storage peer;
	int plen = sizeof(peer);
	SOCKET a = cport_w32_accept(s, (struct sockaddr *)&peer, &plen);
	if (a == INVALID_SOCKET)
		return a;
	if (addr && addrlen) {
		int n = plen < *addrlen ? plen : *addrlen;
		memcpy(addr, &peer, (size_t)(n > 0 ? n : 0));
		*addrlen = plen;
	}
	if (!cond)
		return a;
	/* The condition function sees the caller's address; anything but
	 * CF_ACCEPT refuses the connection, which is already established here. */
	WSABUF caller = {.len = (ULONG)plen, .buf = (CHAR *)&peer};
	GROUP g = 0;
	if (cond(&caller, NULL, NULL, NULL, NULL, NULL, &g, data) == CF_ACCEPT)
		return a;
	closesocket(a);
	w32_set_error(WSAECONNREFUSED);
	return INVALID_SOCKET;
}

/* Windows ignores select's first argument; Linux needs the highest fd + 1,
 * found here in the sets. Windows refuses a call with no socket at all. */
static int highest_fd(fd_set *r, fd_set *w, fd_set *e)
{
	for (int fd = FD_SETSIZE - 1; fd >= 0; fd--) {
		if ((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e)))
			return fd;
	}
	return -1;
}

int cport_w32_select(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timeval *timeout)
{
	(void)nfds;
	int top = highest_fd(r, w, e);
	if (top < 0 || (timeout && (timeout->tv_sec < 0 || timeout->tv_usec < 0)))
		return w32_fail(EINVAL, SOCKET_ERROR);
	struct timespec deadline = {0}, now;
	if (timeout) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += timeout->tv_sec + timeout->tv_usec / 1000000;
		deadline.tv_nsec += (timeout->tv_usec % 1000000) * 1000;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	fd_set r0, w0, e0;
	if (r)
		r0 = *r;
	if (w)
		w0 = *w;
	if (e)
		e0 = *e;
	for (;;) {
		struct timeval left, *tv = NULL;
		if (timeout) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			int64_t ns = (int64_t)(deadline.tv_sec - now.tv_sec) * 1000000000 + (deadline.tv_nsec - now.tv_nsec);
			if (ns < 0)
				ns = 0;
			left = (struct timeval){.tv_sec = ns / 1000000000, .tv_usec = (ns % 1000000000) / 1000};
			tv = &left;
		}
		int n = (select)(top + 1, r, w, e, tv);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return w32_fail(errno, SOCKET_ERROR);
		/* A signal: the sets as given, the time that is left. */
		if (r)
			*r = r0;
		if (w)
			*w = w0;
		if (e)
			*e = e0;
	}
}

int WSAPoll(LPWSAPOLLFD fds, ULONG n, INT timeout)
{
	if (!fds || n == 0)
		return w32_fail(EINVAL, SOCKET_ERROR);
	struct timespec deadline;
	if (timeout > 0)
		w32_deadline_after(&deadline, (DWORD)timeout);
	for (;;) {
		int left = timeout;
		if (timeout > 0) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			int64_t ms = (int64_t)(deadline.tv_sec - now.tv_sec) * 1000 + (deadline.tv_nsec - now.tv_nsec) / 1000000;
			left = ms < 0 ? 0 : (int)ms;
		}
		int r = poll(fds, (nfds_t)n, left);
		if (r >= 0)
			return r;
		if (errno != EINTR)
			return w32_fail(errno, SOCKET_ERROR);
	}
}
