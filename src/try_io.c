/* try_io.c - one non-blocking attempt at an op's socket call. */
#include "try_io.h"
#include "op.h"
#include "sys_io.h"

#include <errno.h>
#include <sys/socket.h>

/* recvmsg and sendmsg take at most a sockaddr_storage of the name's length;
 * recvfrom and sendto would fail a longer one (after taking the datagram,
 * for recvfrom): cut it as the former do. */
static socklen_t name_len(const struct msghdr *m)
{
	return m->msg_namelen < sizeof(struct sockaddr_storage) ? m->msg_namelen
								 : (socklen_t)sizeof(struct sockaddr_storage);
}

/* A poll op's attempt: the events ready now, as the kernel's poll would
 * report them (POLLERR and POLLHUP whether asked or not), or EAGAIN. */
static ssize_t poll_once(const struct cport_op *op, int fd)
{
	struct pollfd pfd = {.fd = fd, .events = op_poll_events(op)};
	int n = sys_poll_now(&pfd);
	if (n < 0)
		return -1;
	if (pfd.revents & POLLNVAL) {
		errno = EBADF;
		return -1;
	}
	short got = op_poll_report(op, pfd.revents);
	if (!got)
		errno = EAGAIN;
	return got ? got : -1;
}

static ssize_t call_once(struct cport_op *op, int fd)
{
	struct msghdr *m = &op->_msg;
	switch (op->_kind) {
	case CPORT_OP_RECV:
		return m->msg_iovlen == 1 ? sys_recv(fd, m->msg_iov[0].iov_base, m->msg_iov[0].iov_len, 0)
					  : sys_recvmsg(fd, m, 0);
	case CPORT_OP_RECVFROM:
		/* One buffer: recvfrom(2) takes it as arguments, where recvmsg(2)
		 * copies in a msghdr and an iovec first (both as the kernel's
		 * own: msg_namelen is a socklen_t). */
		if (m->msg_iovlen != 1)
			return sys_recvmsg(fd, m, 0);
		m->msg_namelen = name_len(m);
		return sys_recvfrom(fd, m->msg_iov[0].iov_base, m->msg_iov[0].iov_len, 0, m->msg_name,
				    m->msg_name ? &m->msg_namelen : NULL);
	case CPORT_OP_RECVMSG:
		return sys_recvmsg(fd, (struct msghdr *)op->_addr, 0);
	case CPORT_OP_SEND:
		return m->msg_iovlen == 1 ? sys_send(fd, m->msg_iov[0].iov_base, m->msg_iov[0].iov_len, MSG_NOSIGNAL)
					  : sys_sendmsg(fd, m, MSG_NOSIGNAL);
	case CPORT_OP_SENDTO:
		return m->msg_iovlen == 1 ? sys_sendto(fd, m->msg_iov[0].iov_base, m->msg_iov[0].iov_len, MSG_NOSIGNAL,
						       m->msg_name, name_len(m))
					  : sys_sendmsg(fd, m, MSG_NOSIGNAL);
	case CPORT_OP_SENDMSG:
		return sys_sendmsg(fd, op->_addr, MSG_NOSIGNAL);
	case CPORT_OP_ACCEPT:
		return accept4(fd, (struct sockaddr *)op->_addr, op->_addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	case CPORT_OP_POLL:
		return poll_once(op, fd);
	default:
		errno = EINVAL;
		return -1;
	}
}

ssize_t try_io(struct cport_op *op, int fd)
{
	ssize_t n;
	do
		n = call_once(op, fd);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}
