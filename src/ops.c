/* ops.c - the public calls that start and cancel operations: argument
 * checks, then the gate. */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

void cport_op_init(struct cport_op *op)
{
	if (op)
		memset(op, 0, sizeof(*op));
}

int cport_op_kind(const struct cport_op *op)
{
	return op ? op->_kind : CPORT_OP_NONE;
}

int64_t cport_op_result(const struct cport_op *op)
{
	return op ? op->_result : -EINVAL;
}

/* A claimed op that will not start is the caller's again. */
static int give_back(struct cport_op *op, int err)
{
	op_set_state(op, OP_IDLE);
	return err;
}

/* Common end of every fd op's start: the op is claimed (precheck) and the
 * fields its kind needs are set. Reset what the library keeps in it and
 * pass it through the gate; on any failure the op is the caller's again. */
static int start(struct cport *p, int fd, struct cport_op *op, unsigned kind)
{
	struct fdent *fe = fdtab_get(&p->fdtab, fd);
	if (!fe)
		return give_back(op, -EBADF);
	op->_kind = (uint8_t)kind;
	/* Not an exchange: a cancel sets a bit under the fd's lock, which the
	 * gate takes next, so the lock orders the two. */
	__atomic_store_n(&op->_bits, 0, __ATOMIC_RELEASE);
	op->_flags = 0;
	op->_fd_entry = fe;
	op->_fd = fd;
	op->_restarts = 0;
	op->_backend_word = 0;
	int r = gate_start(p, fe, op);
	return r < 0 ? give_back(op, r) : r;
}

/* An op's _addr is its _msg.msg_name, under another name. */
_Static_assert(offsetof(struct msghdr, msg_name) == 0, "op->_addr must be _msg.msg_name");

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

/* Claim the op before any of its fields is touched: of two starts of one
 * op, the loser gets -EBUSY and writes nothing. */
static int precheck(struct cport *p, struct cport_op *op)
{
	if (!p || !op)
		return -EINVAL;
	return op_claim(op) ? 0 : -EBUSY;
}

static int start_iov(struct cport *p, int fd, struct cport_op *op, unsigned kind, const struct iovec *iov,
		     int iovcnt, const struct sockaddr *addr, socklen_t alen, socklen_t *alenp)
{
	int r = precheck(p, op);
	if (r < 0)
		return r;
	r = check_iov(iov, iovcnt);
	if (r < 0)
		return give_back(op, r);
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
		return give_back(op, -EINVAL);
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
		return give_back(op, -EINVAL);
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
		return give_back(op, -EINVAL);
	op->_addr = addr;
	op->_msg.msg_namelen = addrlen;
	return start(p, fd, op, CPORT_OP_CONNECT);
}

int cport_recv_pooled(cport_t *p, int fd, struct cport_op *op)
{
	int r = precheck(p, op);
	return r < 0 ? r : start(p, fd, op, CPORT_OP_RECV_POOLED);
}

int cport_poll(cport_t *p, int fd, struct cport_op *op, short events)
{
	int r = precheck(p, op);
	if (r < 0)
		return r;
	if (events != POLLIN && events != POLLOUT)
		return give_back(op, -EINVAL);
	memset(&op->_msg, 0, sizeof(op->_msg));
	op->_msg.msg_flags = events;
	return start(p, fd, op, CPORT_OP_POLL);
}

int cport_buf_release(cport_t *p, void *buf)
{
	unsigned id;
	if (!p || !buf)
		return -EINVAL;
	int r = pool_id_of(&p->pool, buf, &id);
	if (r == 0)
		r = pool_unlend(&p->pool, id);
	if (r < 0)
		return r;
	struct list b;
	batch_init(&b);
	core_buf_free(p, id, &b);
	core_deliver(p, &b);
	return 0;
}

/* Whether op is an fd op that may be in flight (posts and closers are not cancellable). */
static bool cancellable(const struct cport_op *op)
{
	return op_state(op) == OP_INFLIGHT && op->_kind != CPORT_OP_CLOSE && op->_kind != CPORT_OP_DETACH &&
	       op->_kind != CPORT_OP_POST && op->_fd_entry;
}

int cport_cancel(cport_t *p, struct cport_op *op)
{
	if (!p || !op)
		return -EINVAL;
	if (!cancellable(op))
		return -ENOENT;
	struct fdent *fe = op->_fd_entry;
	/* Under the fd's lock the gate cannot be between its check of the
	 * bit and its submit: the op is found, or it will not start again. */
	fd_lock(p, fe);
	if (op_state(op) != OP_INFLIGHT) {
		/* It ended in its start call (CPORT_SKIP_ON_SUCCESS) or was
		 * queued since the look above. */
		fd_unlock(p, fe);
		return -ENOENT;
	}
	op_bits_set(op, OPB_CANCEL);
	bool dropped = pool_unpark(&p->pool, op) || p->be_ops->cancel(p, fe, op) == 1;
	fd_unlock(p, fe);
	if (dropped) {
		struct list b;
		batch_init(&b);
		op->_result = -ECANCELED;
		op_set_state(op, OP_DONE);
		batch_add(&b, op);
		core_deliver(p, &b);
	}
	return 0;
}
