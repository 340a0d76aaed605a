/* backend_epoll.c - completions from readiness: try the syscall first, and
 * queue the op on its fd only when the kernel says EAGAIN. Each fd is
 * registered at attach, edge-triggered, and a TCP socket stays so: no
 * epoll_ctl per op. Any other fd is watched for writability only while a
 * send waits, and leaves the interest list while its ops keep ending at
 * once (watch() and note_at_once()). */
#include "epoll.h"
#include "fault.h"
#include "sys_io.h"
#include "try_io.h"

#include <errno.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EPOLL_BATCH 256

/* op->_backend_word */
#define EPW_CONNECTING 0x1u /* connect(2) said EINPROGRESS: wait for writability */

struct epoll_be {
	int epfd;
	int efd; /* wakes the poller */
	struct epoll_event evs[EPOLL_BATCH];
};

static struct epoll_be *EB(struct cport *p)
{
	return p->be;
}

static int ep_init(struct cport *p)
{
	struct epoll_be *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int r = 0;
	if (b->epfd < 0 || b->efd < 0) {
		r = -errno;
	} else {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
		if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->efd, &ev) < 0)
			r = -errno;
	}
	if (r < 0) {
		if (b->epfd >= 0)
			close(b->epfd);
		if (b->efd >= 0)
			close(b->efd);
		free(b);
		return r;
	}
	p->be = b;
	return 0;
}

static void ep_fini(struct cport *p)
{
	struct epoll_be *b = EB(p);
	close(b->epfd);
	close(b->efd);
	free(b);
	p->be = NULL;
}

/* Register fe (op EPOLL_CTL_ADD) or change what it is watched for
 * (EPOLL_CTL_MOD): readability always, writability when out. A TCP socket
 * is watched for writability throughout, as its edge comes only after a
 * send found the buffer full. Any other socket's buffer space comes back
 * when the peer takes each datagram (for UDP on loopback, within the send
 * itself), an edge per send: watched throughout, every reply would wake a
 * thread for nothing. So there it is watched only while a send or connect
 * waits; the kernel reports an edge at once if the room came in between. */
static int watch(struct cport *p, struct fdent *fe, int op, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLET | (out ? EPOLLOUT : 0),
				 .data.ptr = fe};
	if (epoll_ctl(EB(p)->epfd, op, fe->fd, &ev) < 0)
		return -errno;
	EF(fe)->out_watched = out;
	EF(fe)->registered = true;
	return 0;
}

/* An fd that is not TCP (a datagram socket, mostly) whose ops keep ending
 * at once (a busy UDP server's: every receive finds a datagram waiting,
 * every reply goes out) needs no events, yet while it is in the interest
 * list each datagram it sends wakes its wait queue as the datagram's
 * buffer is freed, within the send:
 * epoll's callback runs, finds no interest in EPOLLOUT and returns, at the
 * cost of a lock taken with interrupts off (3 % of the CPU per datagram at
 * 100 clients, by perf). So after HOT_AFTER results at once in a row with
 * nothing waiting, the fd leaves the interest list, and the next op that
 * has to wait adds it back (watch_for): an add reports the readiness that
 * came in between, as an edge would have. A TCP socket stays: its queue
 * is woken only when a full send buffer drains. fe->lock held. */
#define HOT_AFTER 64

static void note_at_once(struct cport *p, struct fdent *fe)
{
	struct ep_fd *ef = EF(fe);
	if (ef->stream || !ef->registered || ++ef->hot < HOT_AFTER)
		return;
	ef->hot = 0;
	if (!clist_empty(&ef->rq) || !clist_empty(&ef->wq))
		return;
	/* If this fails the fd stays in, and costs what it did. */
	if (epoll_ctl(EB(p)->epfd, EPOLL_CTL_DEL, fe->fd, NULL) == 0) {
		ef->registered = false;
		ef->out_watched = false;
	}
}

/* op (a read if rd) is about to wait on fe: make sure an event will come
 * for it. 0, or -errno if the fd could not be watched (nothing would tell
 * the op when to go on). fe->lock held. */
static int watch_for(struct cport *p, struct fdent *fe, struct cport_op *op, bool rd)
{
	struct ep_fd *ef = EF(fe);
	(void)op; /* read by the fault point only, which other builds compile out */
	ef->hot = 0;
	if (ef->registered && (rd || ef->out_watched))
		return 0;
	int r = (int)FAULT(FAULT_WATCH, op, 0); /* a test's failure, before the call */
	if (r < 0)
		return r;
	bool out = ef->stream || !rd || !clist_empty(&ef->wq);
	return watch(p, fe, ef->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, out);
}

static int ep_attach(struct cport *p, struct fdent *fe)
{
	struct ep_fd *ef = EF(fe);
	int type = 0;
	socklen_t len = sizeof(type);
	clist_init(&ef->rq);
	clist_init(&ef->wq);
	ef->rd_ready = ef->wr_ready = true;
	ef->no_infer = false;
	ef->hot = 0;
	/* Only TCP: a short read drains it. An AF_UNIX stream stops short
	 * before a message with SCM_RIGHTS or other credentials while more is
	 * queued, and anything else (a pipe, an eventfd) is taken as datagrams. */
	int proto = 0;
	socklen_t plen = sizeof(proto);
	ef->stream = getsockopt(fe->fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM &&
		     getsockopt(fe->fd, SOL_SOCKET, SO_PROTOCOL, &proto, &plen) == 0 && proto == IPPROTO_TCP;
	return watch(p, fe, EPOLL_CTL_ADD, ef->stream);
}

static unsigned ep_detach(struct cport *p, struct fdent *fe, unsigned *ids)
{
	(void)ids; /* epoll keeps no buffer for an fd */
	/* ENOENT/EBADF: already gone; nothing else can fail here. */
	epoll_ctl(EB(p)->epfd, EPOLL_CTL_DEL, fe->fd, NULL);
	return 0;
}

static bool connecting(const struct cport_op *op)
{
	return (op->_backend_word & EPW_CONNECTING) || op_bits_test(op, OPB_CONNECTING);
}

static ssize_t try_connect(struct cport_op *op, int fd)
{
	if (!connecting(op)) {
		if (connect(fd, op->_addr, op->_msg.msg_namelen) == 0)
			return 0;
		if (errno != EINPROGRESS)
			return -errno;
		op->_backend_word |= EPW_CONNECTING;
		return -EAGAIN;
	}
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	if (err)
		return -err;
	struct sockaddr_storage ss;
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		return 0;
	return errno == ENOTCONN ? -EAGAIN : -errno;
}

/* No free buffer: look without taking. Data or end of stream waiting is
 * -ENOBUFS (the core parks the op in the pool, and its turn comes as on
 * io_uring, which cannot tell the two apart before it reads); an error
 * needs no buffer. */
static ssize_t peek_for_pooled(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK);
	if (n >= 0)
		return -ENOBUFS;
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

/* A pooled receive: into its granted buffer, or one pool_take gives. The
 * buffer id used is in *id (UINT32_MAX for none). */
static ssize_t try_pooled(struct cport *p, struct cport_op *op, int fd, unsigned *id)
{
	if (op_bits_test(op, OPB_GRANTED))
		*id = op->_buf_id;
	else if (pool_take(&p->pool, pool_class_wanted(&p->pool, op->_fd_entry), id) < 0)
		return peek_for_pooled(fd);
	(void)FAULT(FAULT_POOL_TAKEN, op, *id);
	ssize_t n = sys_recv(fd, pool_buf(&p->pool, *id), pool_buf_size(&p->pool, *id), 0);
	return n >= 0 ? n : (errno == EWOULDBLOCK ? -EAGAIN : -errno);
}

/* One attempt at op's syscall: bytes/fd/0, -errno or -EAGAIN. */
static ssize_t try_op(struct cport_op *op, int fd)
{
	return op->_kind == CPORT_OP_CONNECT ? try_connect(op, fd) : try_io(op, fd);
}

static size_t iov_total(const struct msghdr *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->msg_iovlen; i++)
		n += m->msg_iov[i].iov_len;
	return n;
}

/* Learn from a result without another syscall: on a stream socket a read
 * shorter than asked drained the receive queue and a short write filled the
 * send buffer (the kernel's next edge sets the flag again). Not once the
 * peer's FIN, an error or urgent data was seen: a read then stops short of
 * what is queued, and that event's edge is already spent. fe->lock held. */
static void note_result(struct cport *p, struct ep_fd *ef, struct cport_op *op, ssize_t r, unsigned buf_id)
{
	if (r == -EAGAIN) {
		if (op_reads(op))
			ef->rd_ready = false;
		else if (op->_kind != CPORT_OP_CONNECT)
			ef->wr_ready = false;
		return;
	}
	if (!ef->stream || ef->no_infer || r <= 0)
		return;
	if (op->_kind == CPORT_OP_RECV && (size_t)r < iov_total(&op->_msg))
		ef->rd_ready = false;
	else if (op->_kind == CPORT_OP_RECV_POOLED && buf_id != UINT32_MAX && (size_t)r < pool_buf_size(&p->pool, buf_id))
		ef->rd_ready = false;
	else if (op->_kind == CPORT_OP_SEND && (size_t)r < iov_total(&op->_msg))
		ef->wr_ready = false;
}

/* Try op once; fe->lock held. False if it has to wait for readiness. */
static bool attempt(struct cport *p, struct fdent *fe, struct cport_op *op, struct answer *a)
{
	unsigned id = UINT32_MAX;
	ssize_t r = op->_kind == CPORT_OP_RECV_POOLED ? try_pooled(p, op, fe->fd, &id) : try_op(op, fe->fd);
	note_result(p, EF(fe), op, r, id);
	/* A granted buffer is never kept while waiting: EAGAIN goes back to the
	 * core with it, which frees the buffer and starts the op again. */
	if (r == -EAGAIN && id == UINT32_MAX)
		return false;
	*a = (struct answer){op, r, id};
	return true;
}

static void report(struct cport *p, const struct answer *a, struct list *out)
{
	if (a->buf_id != UINT32_MAX)
		core_report_buf(p, a->op, a->res, a->buf_id, out);
	else
		core_report(p, a->op, a->res, out);
}

static int ep_submit(struct cport *p, struct fdent *fe, struct cport_op *op)
{
	struct ep_fd *ef = EF(fe);
	bool rd = op_reads(op);
	struct clist *q = rd ? &ef->rq : &ef->wq;
	/* A connect's first step is the connect(2) call itself. */
	bool first_connect = op->_kind == CPORT_OP_CONNECT && !connecting(op);
	bool ready = rd ? ef->rd_ready : ef->wr_ready;
	if (clist_empty(q) && (ready || first_connect)) {
		struct answer a;
		if (attempt(p, fe, op, &a)) {
			/* The gate reports it; a buffer it used goes with the result. */
			if (a.buf_id != UINT32_MAX) {
				op->_buf_id = a.buf_id;
				op_bits_set(op, OPB_GRANTED);
			}
			op->_result = a.res;
			note_at_once(p, fe);
			return 1;
		}
	} else if (op_bits_test(op, OPB_GRANTED)) {
		/* Others wait ahead of it: give the buffer back rather than hold it. */
		op->_result = -EAGAIN;
		return 1;
	}
	int r = watch_for(p, fe, op, rd);
	if (r < 0) {
		/* Nothing would tell it when to go on: it ends here. */
		op->_result = r;
		return 1;
	}
	clist_push_back(q, &op->_backend_link);
	return 0;
}

/* A poll op answered by the epoll event itself (ev, 0 for none), with no
 * second look by ppoll(2); 0 if the event says nothing of what it reports. */
static short poll_from_event(const struct cport_op *op, uint32_t ev)
{
	return op_poll_report(op, (ev & (EPOLLIN | EPOLLRDHUP) ? POLLIN : 0) | (ev & EPOLLOUT ? POLLOUT : 0) |
					  (ev & EPOLLERR ? POLLERR : 0) | (ev & EPOLLHUP ? POLLHUP : 0));
}

/* Run the ops queued on one direction of fe until one would block; their
 * answers go to ans (room for max). ev: the epoll event that woke them (0
 * for none). fe->lock held. Returns how many. */
static unsigned run_queue(struct cport *p, struct fdent *fe, struct clist *q, uint32_t ev, struct answer *ans,
			  unsigned max)
{
	unsigned n = 0;
	while (n < max && !clist_empty(q)) {
		bool drained = false;
		unsigned k = q == &EF(fe)->rq ? ep_dgram_batch(fe, q, ans + n, max - n, &drained) : 0;
		n += k;
		if (drained)
			break;
		if (k)
			continue;
		struct cport_op *op = list_entry(q->first, struct cport_op, _backend_link);
		short told = op->_kind == CPORT_OP_POLL ? poll_from_event(op, ev) : 0;
		if (told)
			ans[n] = (struct answer){op, told, UINT32_MAX};
		else if (!attempt(p, fe, op, &ans[n]))
			break;
		clist_remove(q, &op->_backend_link);
		n++;
	}
	return n;
}

static int ep_cancel(struct cport *p, struct fdent *fe, struct cport_op *op)
{
	(void)p;
	if (!link_linked(&op->_backend_link))
		return -ENOENT;
	struct ep_fd *ef = EF(fe);
	clist_remove(op_reads(op) ? &ef->rq : &ef->wq, &op->_backend_link);
	return 1;
}

static void drop_queue(struct clist *q, struct list *dropped)
{
	struct cport_link *k;
	while ((k = clist_pop_front(q)) != NULL)
		batch_add(dropped, list_entry(k, struct cport_op, _backend_link));
}

static void ep_cancel_fd(struct cport *p, struct fdent *fe, struct list *dropped)
{
	(void)p;
	drop_queue(&EF(fe)->rq, dropped);
	drop_queue(&EF(fe)->wq, dropped);
}

static void ep_flush(struct cport *p)
{
	(void)p;
}

static void drain_eventfd(int efd)
{
	uint64_t v;
	/* EAGAIN: another wake already drained it. */
	while (read(efd, &v, sizeof(v)) == sizeof(v))
		;
}

#define ANSWERS 32

/* What a readiness event tells: fe->lock held. */
static void note_event(struct fdent *fe, uint32_t ev, bool rd, bool wr)
{
	struct ep_fd *ef = EF(fe);
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI))
		ef->no_infer = true;
	if (rd)
		ef->rd_ready = true;
	if (wr)
		ef->wr_ready = true;
}

/* One readiness event for fe: run the ops it unblocked and report them,
 * a round of at most ANSWERS at a time (reports are made unlocked). */
static int fd_event(struct cport *p, struct fdent *fe, uint32_t ev, struct list *out)
{
	struct answer ans[ANSWERS];
	bool rd = ev & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
	bool wr = ev & (EPOLLOUT | EPOLLHUP | EPOLLERR);
	bool first = true;
	int total = 0;
	unsigned n;
	do {
		n = 0;
		fd_lock(p, fe);
		if (fe->state != FD_FREE) {
			if (first)
				note_event(fe, ev, rd, wr);
			if (rd)
				n += run_queue(p, fe, &EF(fe)->rq, first ? ev : 0, ans, ANSWERS);
			if (wr)
				n += run_queue(p, fe, &EF(fe)->wq, first ? ev : 0, ans + n, ANSWERS - n);
			/* The last waiting send went: stop the edges (if this fails,
			 * they cost wake-ups, and the next event tries again). */
			if (wr && !EF(fe)->stream && EF(fe)->out_watched && clist_empty(&EF(fe)->wq))
				(void)watch(p, fe, EPOLL_CTL_MOD, false);
		}
		fd_unlock(p, fe);
		first = false;
		for (unsigned i = 0; i < n; i++)
			report(p, &ans[i], out);
		total += (int)n;
	} while (n == ANSWERS);
	return total;
}

static int ep_poll(struct cport *p, int timeout_ms)
{
	struct epoll_be *b = EB(p);
	int n = epoll_wait(b->epfd, b->evs, EPOLL_BATCH, timeout_ms);
	if (n < 0)
		return -errno;
	struct list out;
	batch_init(&out);
	int got = 0; /* ops reported, not events: a wake or a spent edge brings none */
	for (int i = 0; i < n; i++) {
		struct fdent *fe = b->evs[i].data.ptr;
		if (!fe)
			drain_eventfd(b->efd);
		else
			got += fd_event(p, fe, b->evs[i].events, &out);
	}
	core_deliver(p, &out);
	return got;
}

static void ep_wake(struct cport *p)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is saturated: the poller is awake anyway. */
	if (write(EB(p)->efd, &one, sizeof(one)) < 0)
		return;
}

const struct backend backend_epoll = {
	.name = "epoll",
	.id = CPORT_BACKEND_EPOLL,
	.preference = 10,
	.nobufs_means_data = true,
	.tries_at_once = true,
	.init = ep_init,
	.fini = ep_fini,
	.attach = ep_attach,
	.detach = ep_detach,
	.submit = ep_submit,
	.cancel = ep_cancel,
	.cancel_fd = ep_cancel_fd,
	.flush = ep_flush,
	.poll = ep_poll,
	.wake = ep_wake,
};
