/* epoll_dgram.c - the receives queued on a datagram socket, taken with one
 * recvmmsg(2) when its edge comes rather than a recvmsg(2) each.
 *
 * A batch also tells when the socket is empty. recvmmsg stops short of the
 * receives offered only when the next datagram would block, or on an error.
 * An error the socket holds when the batch starts ends it at once and goes
 * to the first receive (a receive looks at the socket's error before its
 * queue); one that arrives during the batch brings an edge of its own, which
 * comes after. So a short batch means drained (the registration is
 * edge-triggered: the next datagram or error brings a new edge), and the
 * receive behind it is not tried, saving the recvmsg bound to fail with
 * EAGAIN. One case breaks the rule: an error the kernel makes itself
 * mid-batch, EFAULT for a receive's bad buffer, drops that datagram and is
 * put back on the socket without an edge, so that receive, and the
 * datagrams still queued behind it, wait for the socket's next edge (one at
 * a time, the receive would have had EFAULT at once). It needs a caller's
 * bad buffer. */
#include "epoll.h"
#include "sys_io.h"

#include <errno.h>
#include <sys/socket.h>

#define DG_BATCH 16

static bool batchable(const struct cport_op *op)
{
	return op->_kind == CPORT_OP_RECV || op->_kind == CPORT_OP_RECVFROM || op->_kind == CPORT_OP_RECVMSG;
}

/* The msghdr the kernel fills for op, as try_io gives it to recvmsg. */
static struct msghdr *op_msg(struct cport_op *op)
{
	return op->_kind == CPORT_OP_RECVMSG ? (struct msghdr *)op->_addr : &op->_msg;
}

/* The batchable receives at the head of q, at most room of them. */
static unsigned gather(struct clist *q, struct cport_op **ops, struct mmsghdr *v, unsigned room)
{
	unsigned n = 0;
	struct cport_link *k = q->first;
	if (!k)
		return 0;
	do {
		struct cport_op *op = list_entry(k, struct cport_op, _backend_link);
		if (!batchable(op))
			break;
		ops[n] = op;
		v[n].msg_hdr = *op_msg(op);
		v[n].msg_len = 0;
		n++;
		k = k->_next;
	} while (n < room && k != q->first);
	return n;
}

/* The kernel filled v's copy of op's msghdr: what recvmsg would have
 * written into op's own. */
static void fill_back(struct cport_op *op, const struct mmsghdr *v)
{
	struct msghdr *m = op_msg(op);
	m->msg_namelen = v->msg_hdr.msg_namelen;
	m->msg_controllen = v->msg_hdr.msg_controllen;
	m->msg_flags = v->msg_hdr.msg_flags;
}

unsigned ep_dgram_batch(struct fdent *fe, struct clist *q, struct answer *ans, unsigned max, bool *drained)
{
	struct ep_fd *ef = EF(fe);
	struct cport_op *ops[DG_BATCH];
	struct mmsghdr v[DG_BATCH];
	*drained = false;
	if (ef->stream)
		return 0;
	unsigned n = gather(q, ops, v, max < DG_BATCH ? max : DG_BATCH);
	if (n < 2)
		return 0;
	int r;
	do
		r = sys_recvmmsg(fe->fd, v, n, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EWOULDBLOCK) {
		ef->rd_ready = false;
		*drained = true;
		return 0;
	}
	if (r < 0) { /* an error before any datagram: it is the head receive's */
		clist_remove(q, &ops[0]->_backend_link);
		ans[0] = (struct answer){ops[0], -errno, UINT32_MAX};
		return 1;
	}
	for (int i = 0; i < r; i++) {
		fill_back(ops[i], &v[i]);
		clist_remove(q, &ops[i]->_backend_link);
		ans[i] = (struct answer){ops[i], (ssize_t)v[i].msg_len, UINT32_MAX};
	}
	if ((unsigned)r < n) {
		ef->rd_ready = false;
		*drained = true;
	}
	return (unsigned)r;
}
