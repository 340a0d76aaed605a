/* ops.c - the public calls that start, cancel and end operations: argument
 * checks and fd bookkeeping common to both backends. */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

static bool cas_state(struct cport_op *op, uint32_t from, uint32_t to)
{
	return atomic_compare_exchange_strong((_Atomic uint32_t *)&op->_state, &from, to);
}

static void set_state(struct cport_op *op, uint32_t s)
{
	atomic_store_explicit((_Atomic uint32_t *)&op->_state, s, memory_order_release);
}

void cport_op_init(struct cport_op *op)
{
	if (op)
		memset(op, 0, sizeof(*op));
}

int cport_op_kind(const struct cport_op *op)
{
	return op ? op->_kind : CPORT_OP_NONE;
}

int cport_attach(cport_t *p, int fd, uintptr_t key)
{
	if (!p)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	if (atomic_load(&p->shutdown))
		return -ESHUTDOWN;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	struct fdent *fe = fdtab_get_or_make(p, fd);
	if (!fe)
		return fd >= FDTAB_CHUNK * FDTAB_CHUNKS ? -EBADF : -ENOMEM;
	plock(p, &fe->lock);
	int r = -EEXIST;
	if (fe->state == FD_FREE) {
		fe->fd = fd;
		fe->key = key;
		fe->inflight = 0;
		fe->closer = NULL;
		fe->finishing = false;
		fe->rq_head = fe->rq_tail = fe->wq_head = fe->wq_tail = NULL;
		r = p->be_ops->attach(p, fe);
		if (r == 0)
			fe->state = FD_ATTACHED;
		else
			fe->fd = -1;
	}
	punlock(p, &fe->lock);
	return r;
}

/* Common start of every fd op: claim the op, count it on its fd, hand it to
 * the backend. Fields of the op that the kind needs are already set. */
static int start(struct cport *p, int fd, struct cport_op *op, unsigned kind)
{
	struct fdent *fe = fdtab_get(p, fd);
	if (!fe)
		return -EBADF;
	if (!cas_state(op, OP_IDLE, OP_INFLIGHT))
		return -EBUSY;
	op->_kind = (uint16_t)kind;
	__atomic_store_n(&op->_bits, 0, __ATOMIC_SEQ_CST);
	op->_flags = 0;
	op->_buf = NULL;
	op->_fe = fe;
	op->_fd = fd;
	op->_next = NULL;
	plock(p, &fe->lock);
	if (fe->state != FD_ATTACHED) {
		punlock(p, &fe->lock);
		set_state(op, OP_IDLE);
		return -EBADF;
	}
	fe->inflight++;
	op->_key = fe->key;
	op->_spare[0] = fe->cancel_epoch;
	op->_spare[1] = 0; /* times the kernel cancelled it on its own */
	int r = p->be_ops->submit(p, fe, op);
	if (r < 0)
		fe->inflight--;
	punlock(p, &fe->lock);
	if (r < 0) {
		set_state(op, OP_IDLE);
		return r;
	}
	if (r == 1) { /* finished at once: it still completes through the port */
		struct batch b = {0};
		port_op_done(p, op, op->_result, &b);
		port_deliver(p, &b);
	}
	return 0;
}

static int check_iov(const struct iovec *iov, int iovcnt)
{
	if (!iov || iovcnt <= 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_base && iov[i].iov_len)
			return -EINVAL;
	}
	return 0;
}

/* Busy ops are refused before their fields are touched. */
static int precheck(struct cport *p, struct cport_op *op)
{
	if (!p || !op)
		return -EINVAL;
	if (atomic_load_explicit((_Atomic uint32_t *)&op->_state, memory_order_acquire) != OP_IDLE)
		return -EBUSY;
	return 0;
}

static int start_iov(struct cport *p, int fd, struct cport_op *op, unsigned kind, const struct iovec *iov,
		     int iovcnt, const struct sockaddr *addr, socklen_t alen, socklen_t *alenp)
{
	int r = precheck(p, op);
	if (r == 0)
		r = check_iov(iov, iovcnt);
	if (r < 0)
		return r;
	memset(&op->_msg, 0, sizeof(op->_msg));
	op->_msg.msg_iov = (struct iovec *)iov;
	op->_msg.msg_iovlen = (size_t)iovcnt;
	op->_msg.msg_name = (void *)addr;
	op->_msg.msg_namelen = alen;
	op->_addrlen = alenp;
	op->_addr = addr;
	return start(p, fd, op, kind);
}

int cport_recv(cport_t *p, int fd, struct cport_op *op, const struct iovec *iov, int iovcnt)
{
	return start_iov(p, fd, op, CPORT_OP_RECV, iov, iovcnt, NULL, 0, NULL);
}

int cport_send(cport_t *p, int fd, struct cport_op *op, const struct iovec *iov, int iovcnt)
{
	return start_iov(p, fd, op, CPORT_OP_SEND, iov, iovcnt, NULL, 0, NULL);
}

int cport_recvfrom(cport_t *p, int fd, struct cport_op *op, const struct iovec *iov, int iovcnt,
		   struct sockaddr *addr, socklen_t *addrlen)
{
	if (addr && (!addrlen || *addrlen == 0))
		return -EINVAL;
	return start_iov(p, fd, op, CPORT_OP_RECVFROM, iov, iovcnt, addr, addr ? *addrlen : 0,
			 addr ? addrlen : NULL);
}

int cport_sendto(cport_t *p, int fd, struct cport_op *op, const struct iovec *iov, int iovcnt,
		 const struct sockaddr *addr, socklen_t addrlen)
{
	if (addr && addrlen == 0)
		return -EINVAL;
	return start_iov(p, fd, op, CPORT_OP_SENDTO, iov, iovcnt, addr, addr ? addrlen : 0, NULL);
}

static int start_msg(struct cport *p, int fd, struct cport_op *op, unsigned kind, const struct msghdr *msg)
{
	int r = precheck(p, op);
	if (r < 0)
		return r;
	if (!msg || (msg->msg_iovlen && check_iov(msg->msg_iov, (int)msg->msg_iovlen) < 0) ||
	    (!msg->msg_control && msg->msg_controllen))
		return -EINVAL;
	op->_addr = msg;
	op->_addrlen = NULL;
	return start(p, fd, op, kind);
}

int cport_recvmsg(cport_t *p, int fd, struct cport_op *op, struct msghdr *msg)
{
	return start_msg(p, fd, op, CPORT_OP_RECVMSG, msg);
}

int cport_sendmsg(cport_t *p, int fd, struct cport_op *op, const struct msghdr *msg)
{
	return start_msg(p, fd, op, CPORT_OP_SENDMSG, msg);
}

int cport_accept(cport_t *p, int listen_fd, struct cport_op *op, struct sockaddr *addr, socklen_t *addrlen)
{
	int r = precheck(p, op);
	if (r < 0)
		return r;
	if (addr && !addrlen)
		return -EINVAL;
	op->_addr = addr;
	op->_addrlen = addr ? addrlen : NULL;
	return start(p, listen_fd, op, CPORT_OP_ACCEPT);
}

int cport_connect(cport_t *p, int fd, struct cport_op *op, const struct sockaddr *addr, socklen_t addrlen)
{
	int r = precheck(p, op);
	if (r < 0)
		return r;
	if (!addr || addrlen == 0 || addrlen > sizeof(struct sockaddr_storage))
		return -EINVAL;
	op->_addr = addr;
	op->_msg.msg_namelen = addrlen;
	return start(p, fd, op, CPORT_OP_CONNECT);
}

int cport_recv_pooled(cport_t *p, int fd, struct cport_op *op)
{
	int r = precheck(p, op);
	if (r < 0)
		return r;
	return start(p, fd, op, CPORT_OP_RECV_POOLED);
}

int cport_buf_release(cport_t *p, void *buf)
{
	unsigned id;
	if (!p || !buf)
		return -EINVAL;
	int r = pool_id_of(p, buf, &id);
	if (r == 0)
		r = pool_unlend(p, id);
	if (r == 0)
		p->be_ops->buf_returned(p, id);
	return r;
}

int cport_cancel(cport_t *p, struct cport_op *op)
{
	if (!p || !op)
		return -EINVAL;
	if (atomic_load_explicit((_Atomic uint32_t *)&op->_state, memory_order_acquire) != OP_INFLIGHT)
		return -ENOENT;
	if (op->_kind == CPORT_OP_CLOSE || op->_kind == CPORT_OP_DETACH || op->_kind == CPORT_OP_POST)
		return -ENOENT;
	op_bits_set(op, OPB_CANCEL);
	return p->be_ops->cancel(p, op);
}

int cport_cancel_fd(cport_t *p, int fd)
{
	if (!p)
		return -EINVAL;
	struct fdent *fe = fdtab_get(p, fd);
	if (!fe)
		return -EBADF;
	plock(p, &fe->lock);
	int state = fe->state;
	if (state == FD_ATTACHED)
		fe->cancel_epoch++;
	uint32_t epoch = fe->cancel_epoch;
	punlock(p, &fe->lock);
	if (state != FD_ATTACHED)
		return -EBADF;
	p->be_ops->cancel_fd(p, fe, fd, epoch);
	return 0;
}

static int end_fd(struct cport *p, int fd, struct cport_op *op, bool close_fd)
{
	if (!p)
		return -EINVAL;
	struct fdent *fe = fdtab_get(p, fd);
	if (!fe)
		return -EBADF;
	if (op && !cas_state(op, OP_IDLE, OP_INFLIGHT))
		return -EBUSY;
	if (op) {
		op->_kind = close_fd ? CPORT_OP_CLOSE : CPORT_OP_DETACH;
		__atomic_store_n(&op->_bits, 0, __ATOMIC_SEQ_CST);
		op->_flags = 0;
		op->_buf = NULL;
		op->_fe = NULL; /* the closer is not one of the fd's counted ops */
		op->_fd = fd;
	}
	plock(p, &fe->lock);
	if (fe->state != FD_ATTACHED) {
		punlock(p, &fe->lock);
		if (op)
			set_state(op, OP_IDLE);
		return -EBADF;
	}
	fe->state = FD_CLOSING;
	fe->closer = op;
	fe->close_fd = close_fd;
	fe->cancel_epoch++;
	uint32_t epoch = fe->cancel_epoch;
	bool now = fe->inflight == 0;
	if (now)
		fe->finishing = true;
	punlock(p, &fe->lock);
	if (now) {
		/* No op in flight: the closer still completes through the port. */
		struct batch b = {0};
		port_finish_fd(p, fe, &b);
		port_deliver(p, &b);
	} else {
		p->be_ops->cancel_fd(p, fe, fd, epoch);
	}
	return 0;
}

int cport_detach(cport_t *p, int fd, struct cport_op *op)
{
	return end_fd(p, fd, op, false);
}

int cport_close(cport_t *p, int fd, struct cport_op *op)
{
	return end_fd(p, fd, op, true);
}
