/* backend_epoll.c - completions from readiness: try the syscall first, and
 * queue the op on its fd only when the kernel says EAGAIN. Each fd is
 * registered once, edge-triggered, at attach: no epoll_ctl per op. */
#include "backend.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EPOLL_BATCH 256
#define TRY_WAITBUF (-100000) /* pooled recv: data may be ready, the pool is empty */

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

static int ep_attach(struct cport *p, struct fdent *fe)
{
	int type = 0;
	socklen_t len = sizeof(type);
	fe->rd_ready = fe->wr_ready = true;
	fe->no_infer = false;
	/* Not a socket (a pipe, an eventfd): treated as a datagram source. */
	fe->stream = getsockopt(fe->fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET, .data.ptr = fe};
	if (epoll_ctl(EB(p)->epfd, EPOLL_CTL_ADD, fe->fd, &ev) < 0)
		return -errno;
	return 0;
}

static void ep_detach(struct cport *p, struct fdent *fe)
{
	/* ENOENT/EBADF: already gone; nothing else can fail here. */
	epoll_ctl(EB(p)->epfd, EPOLL_CTL_DEL, fe->fd, NULL);
}

static ssize_t try_connect(struct cport_op *op, int fd)
{
	if (!op_bits_test(op, OPB_POLLCONN)) {
		if (connect(fd, op->_addr, op->_msg.msg_namelen) == 0)
			return 0;
		if (errno != EINPROGRESS)
			return -errno;
		op_bits_set(op, OPB_POLLCONN);
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

static ssize_t try_pooled(struct cport *p, struct cport_op *op, int fd)
{
	unsigned id;
	if (pool_take(p, &id) < 0)
		return TRY_WAITBUF;
	void *buf = pool_buf(p, id);
	ssize_t n = recv(fd, buf, p->pool.size, 0);
	if (n > 0) {
		op->_buf = buf;
		op->_flags = CPORT_CF_BUFFER;
		pool_lend(p, id);
		return n;
	}
	int e = errno;
	pool_put(p, id);
	return n == 0 ? 0 : -e;
}

/* One attempt at op's syscall: bytes/fd/0, -errno, -EAGAIN, or TRY_WAITBUF. */
static ssize_t try_op(struct cport *p, struct cport_op *op, int fd)
{
	ssize_t n;
	const struct msghdr *m = &op->_msg;
	do {
		switch (op->_kind) {
		case CPORT_OP_RECV:
			n = m->msg_iovlen == 1 ? recv(fd, m->msg_iov[0].iov_base, m->msg_iov[0].iov_len, 0)
					       : recvmsg(fd, &op->_msg, 0);
			break;
		case CPORT_OP_RECVFROM:
			n = recvmsg(fd, &op->_msg, 0);
			break;
		case CPORT_OP_RECVMSG:
			n = recvmsg(fd, (struct msghdr *)op->_addr, 0);
			break;
		case CPORT_OP_SEND:
			n = m->msg_iovlen == 1
				    ? send(fd, m->msg_iov[0].iov_base, m->msg_iov[0].iov_len, MSG_NOSIGNAL)
				    : sendmsg(fd, m, MSG_NOSIGNAL);
			break;
		case CPORT_OP_SENDTO:
			n = sendmsg(fd, m, MSG_NOSIGNAL);
			break;
		case CPORT_OP_SENDMSG:
			n = sendmsg(fd, op->_addr, MSG_NOSIGNAL);
			break;
		case CPORT_OP_ACCEPT:
			n = accept4(fd, (struct sockaddr *)op->_addr, op->_addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
			break;
		case CPORT_OP_CONNECT:
			return try_connect(op, fd);
		case CPORT_OP_RECV_POOLED:
			return try_pooled(p, op, fd);
		default:
			return -EINVAL;
		}
	} while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
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
static void note_result(struct cport *p, struct fdent *fe, struct cport_op *op, ssize_t r)
{
	if (r == -EAGAIN) {
		if (op_is_read(op->_kind))
			fe->rd_ready = false;
		else if (op->_kind != CPORT_OP_CONNECT)
			fe->wr_ready = false;
		return;
	}
	if (!fe->stream || fe->no_infer || r <= 0)
		return;
	if (op->_kind == CPORT_OP_RECV && (size_t)r < iov_total(&op->_msg))
		fe->rd_ready = false;
	else if (op->_kind == CPORT_OP_RECV_POOLED && (size_t)r < p->pool.size)
		fe->rd_ready = false;
	else if (op->_kind == CPORT_OP_SEND && (size_t)r < iov_total(&op->_msg))
		fe->wr_ready = false;
}

/* fe->lock held. */
static void waitbuf_list(struct cport *p, struct fdent *fe)
{
	struct pool *pl = &p->pool;
	plock(p, &pl->lock);
	if (!fe->waitbuf_listed) {
		fe->waitbuf_listed = true;
		fe->waitbuf_next = NULL;
		if (pl->wait_tail)
			pl->wait_tail->waitbuf_next = fe;
		else
			pl->wait_head = fe;
		pl->wait_tail = fe;
	}
	punlock(p, &pl->lock);
}

/* Run the ops queued on one direction of fe until one would block; the ops
 * that finished move to *done. fe->lock held. */
static void run_queue(struct cport *p, struct fdent *fe, bool rd, struct batch *done)
{
	struct cport_op **head = rd ? &fe->rq_head : &fe->wq_head;
	struct cport_op **tail = rd ? &fe->rq_tail : &fe->wq_tail;
	struct cport_op *op;
	while ((op = *head) != NULL) {
		ssize_t r = try_op(p, op, fe->fd);
		note_result(p, fe, op, r);
		if (r == -EAGAIN)
			return;
		if (r == TRY_WAITBUF) {
			waitbuf_list(p, fe);
			return;
		}
		*head = op->_next;
		if (!*head)
			*tail = NULL;
		op->_result = r;
		batch_add(done, op);
	}
}

/* Ops that finished under fe->lock complete now, with the lock dropped. */
static void complete_all(struct cport *p, struct batch *done, struct batch *out)
{
	struct cport_op *op = done->head;
	while (op) {
		struct cport_op *next = op->_next;
		port_op_done(p, op, op->_result, out);
		op = next;
	}
	done->head = done->tail = NULL;
	done->n = 0;
}

static void enqueue(struct cport_op **head, struct cport_op **tail, struct cport_op *op)
{
	op->_next = NULL;
	if (*tail)
		(*tail)->_next = op;
	else
		*head = op;
	*tail = op;
}

static int ep_submit(struct cport *p, struct fdent *fe, struct cport_op *op)
{
	bool rd = op_is_read(op->_kind);
	struct cport_op **head = rd ? &fe->rq_head : &fe->wq_head;
	struct cport_op **tail = rd ? &fe->rq_tail : &fe->wq_tail;
	bool *ready = rd ? &fe->rd_ready : &fe->wr_ready;
	/* A connect's first step is the connect(2) call itself. */
	bool first_connect = op->_kind == CPORT_OP_CONNECT && !op_bits_test(op, OPB_POLLCONN);
	if (!*head && (*ready || first_connect)) {
		ssize_t r = try_op(p, op, fe->fd);
		note_result(p, fe, op, r);
		if (r != -EAGAIN && r != TRY_WAITBUF) {
			op->_result = r;
			return 1;
		}
		if (r == TRY_WAITBUF)
			waitbuf_list(p, fe);
	}
	enqueue(head, tail, op);
	return 0;
}

static bool unlink_op(struct cport_op **head, struct cport_op **tail, struct cport_op *op)
{
	struct cport_op *prev = NULL;
	for (struct cport_op *o = *head; o; prev = o, o = o->_next) {
		if (o != op)
			continue;
		if (prev)
			prev->_next = o->_next;
		else
			*head = o->_next;
		if (*tail == o)
			*tail = prev;
		return true;
	}
	return false;
}

static int ep_cancel(struct cport *p, struct cport_op *op)
{
	struct fdent *fe = op->_fe;
	if (!fe)
		return -ENOENT;
	plock(p, &fe->lock);
	bool found = unlink_op(&fe->rq_head, &fe->rq_tail, op) || unlink_op(&fe->wq_head, &fe->wq_tail, op);
	punlock(p, &fe->lock);
	if (!found)
		return -ENOENT;
	struct batch b = {0};
	port_op_done(p, op, -ECANCELED, &b);
	port_deliver(p, &b);
	return 0;
}

static void ep_cancel_fd(struct cport *p, struct fdent *fe, int fd, uint32_t epoch)
{
	(void)fd;
	struct batch done = {0}, b = {0};
	plock(p, &fe->lock);
	if (fe->cancel_epoch != epoch) {
		punlock(p, &fe->lock);
		return;
	}
	for (struct cport_op **h = &fe->rq_head;; h = &fe->wq_head) {
		for (struct cport_op *op = *h, *next; op; op = next) {
			next = op->_next;
			op->_result = -ECANCELED;
			batch_add(&done, op);
		}
		*h = NULL;
		if (h == &fe->wq_head)
			break;
	}
	fe->rq_tail = fe->wq_tail = NULL;
	punlock(p, &fe->lock);
	complete_all(p, &done, &b);
	port_deliver(p, &b);
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

static int ep_poll(struct cport *p, int timeout_ms)
{
	struct epoll_be *b = EB(p);
	int n = epoll_wait(b->epfd, b->evs, EPOLL_BATCH, timeout_ms);
	if (n < 0)
		return -errno;
	struct batch done = {0}, out = {0};
	for (int i = 0; i < n; i++) {
		struct fdent *fe = b->evs[i].data.ptr;
		uint32_t ev = b->evs[i].events;
		if (!fe) {
			drain_eventfd(b->efd);
			continue;
		}
		plock(p, &fe->lock);
		if (fe->state != FD_FREE) {
			if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI))
				fe->no_infer = true;
			if (ev & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
				fe->rd_ready = true;
				run_queue(p, fe, true, &done);
			}
			if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
				fe->wr_ready = true;
				run_queue(p, fe, false, &done);
			}
		}
		punlock(p, &fe->lock);
		complete_all(p, &done, &out);
	}
	int got = (int)out.n; /* completions, not events: a wake or a spent edge brings none */
	port_deliver(p, &out);
	return got;
}

static void ep_wake(struct cport *p)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is saturated: the poller is awake anyway. */
	if (write(EB(p)->efd, &one, sizeof(one)) < 0)
		return;
}

/* A buffer came back: let fds whose pooled recv waited for one go on. */
static void ep_buf_returned(struct cport *p, unsigned id)
{
	struct pool *pl = &p->pool;
	pool_put(p, id);
	for (;;) {
		plock(p, &pl->lock);
		struct fdent *fe = pl->nfree ? pl->wait_head : NULL;
		if (fe) {
			pl->wait_head = fe->waitbuf_next;
			if (!pl->wait_head)
				pl->wait_tail = NULL;
			fe->waitbuf_listed = false;
		}
		punlock(p, &pl->lock);
		if (!fe)
			return;
		struct batch done = {0}, out = {0};
		plock(p, &fe->lock);
		if (fe->state != FD_FREE)
			run_queue(p, fe, true, &done);
		punlock(p, &fe->lock);
		complete_all(p, &done, &out);
		port_deliver(p, &out);
	}
}

const struct backend backend_epoll = {
	.name = "epoll",
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
	.buf_returned = ep_buf_returned,
};
