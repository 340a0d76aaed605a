/* backend_uring.c - completions straight from io_uring (liburing).
 *
 * One ring per port. liburing is not thread-safe on one ring, so the SQ is
 * filled under sq_lock and the CQ is reaped only by the port's poller. The
 * poller flushes the SQ and waits in one io_uring_enter. */
#include "backend.h"
#include "fault.h"
#include "uring.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define REAP_BATCH 64
#define MAX_CQ_ENTRIES 65536
/* A cancel the kernel can miss (a request its worker pool is just taking up
 * consumes the cancel's signal, then blocks: seen with a send to a silent
 * peer that neither cancel nor close ended) is asked again this often while
 * its op is still out; an fd's cancel at most CANCEL_FD_RETRIES times. */
#define CANCEL_RETRY_MS 50
#define CANCEL_FD_RETRIES 20

#define FINI_DRAIN_ROUNDS 20
#define FINI_DRAIN_MS 50


static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Publish written SQEs to the kernel; returns how many it has not consumed.
 * sq_lock held. The SQ index array is identity-mapped at init. */
static unsigned sq_flush(struct uring_be *b)
{
	struct io_uring_sq *sq = &b->ring.sq;
	if (sq->sqe_head != sq->sqe_tail) {
		sq->sqe_head = sq->sqe_tail;
		__atomic_store_n(sq->ktail, sq->sqe_tail, __ATOMIC_RELEASE);
	}
	atomic_store_explicit(&b->unflushed, 0, memory_order_relaxed);
	return sq->sqe_tail - __atomic_load_n(sq->khead, __ATOMIC_ACQUIRE);
}

/* A single-issuer ring belongs to the first thread that uses it, which need
 * not be the one that created the port. */
static int enable(struct uring_be *b)
{
	if (!b->disabled)
		return 0;
	/* liburing 2.3 declares io_uring_enable_rings but does not export it. */
	if (syscall(__NR_io_uring_register, b->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
		return -errno;
	b->disabled = false;
	return 0;
}

/* Hand everything written so far to the kernel now. sq_lock held. */
static int sq_submit_now(struct uring_be *b)
{
	int e = enable(b);
	if (e < 0)
		return e;
	unsigned n = sq_flush(b);
	if (!n)
		return 0;
	int r = io_uring_enter(b->ring.ring_fd, n, 0, 0, NULL);
	return r < 0 && r != -EAGAIN && r != -EBUSY && r != -EINTR ? r : 0;
}

/* A free SQE; if the SQ is full, submit what it holds first. sq_lock held. */
struct io_uring_sqe *get_sqe(struct uring_be *b, struct cport_op *op)
{
	(void)op; /* only fault injection looks at it */
	if (FAULT(FAULT_SQ_FULL, op, 0))
		return NULL;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
	if (!sqe) {
		sq_submit_now(b);
		sqe = io_uring_get_sqe(&b->ring);
	}
	return sqe;
}

/* Keep a read of the eventfd in flight, so a wake ends the poller's wait.
 * sq_lock held. Without a free SQE it stays unarmed, and the next poll
 * arms it before it waits. */
static void arm_wake(struct uring_be *b)
{
	struct io_uring_sqe *sqe = get_sqe(b, NULL);
	if (!sqe)
		return;
	io_uring_prep_read(sqe, b->efd, &b->efd_val, sizeof(b->efd_val), 0);
	io_uring_sqe_set_data64(sqe, UD_WAKE);
	sq_wrote(b);
	b->wake_armed = true;
}

/* The class of buffer the kernel is to pick for op: the one it asks for,
 * unless only the other class seems to have buffers in the kernel. */
static int pooled_class(struct cport *p, const struct cport_op *op)
{
	int want = pool_class_wanted(&p->pool, op->_fd_entry);
	return pool_kernel_has(&p->pool, want) || !pool_kernel_has(&p->pool, !want) ? want : !want;
}

/* A pooled receive: into the buffer it holds, or one the kernel picks from
 * the pool's store when data comes; or only a wait for data. */
static void prep_pooled(struct cport *p, struct io_uring_sqe *sqe, struct cport_op *op)
{
	if (op_bits_test(op, OPB_WANT_READY)) {
		io_uring_prep_poll_add(sqe, op->_fd, POLLIN);
	} else if (op_bits_test(op, OPB_GRANTED)) {
		io_uring_prep_recv(sqe, op->_fd, pool_buf(&p->pool, op->_buf_id), pool_buf_size(&p->pool, op->_buf_id), 0);
	} else {
		int c = pooled_class(p, op);
		io_uring_prep_recv(sqe, op->_fd, NULL, p->pool.cls[c].size, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = pool_group(c);
	}
}

/* Write op's request into sqe. */
static void prep_op(struct cport *p, struct io_uring_sqe *sqe, struct cport_op *op)
{
	int fd = op->_fd;
	struct msghdr *m = &op->_msg;
	switch (op->_kind) {
	case CPORT_OP_RECV:
		if (m->msg_iovlen == 1)
			io_uring_prep_recv(sqe, fd, m->msg_iov[0].iov_base, m->msg_iov[0].iov_len, 0);
		else
			io_uring_prep_recvmsg(sqe, fd, m, 0);
		break;
	case CPORT_OP_RECVFROM:
		io_uring_prep_recvmsg(sqe, fd, m, 0);
		break;
	case CPORT_OP_RECVMSG:
		io_uring_prep_recvmsg(sqe, fd, (struct msghdr *)op->_addr, 0);
		break;
	case CPORT_OP_SEND:
		if (m->msg_iovlen == 1)
			io_uring_prep_send(sqe, fd, m->msg_iov[0].iov_base, m->msg_iov[0].iov_len, MSG_NOSIGNAL);
		else
			io_uring_prep_sendmsg(sqe, fd, m, MSG_NOSIGNAL);
		break;
	case CPORT_OP_SENDTO:
		io_uring_prep_sendmsg(sqe, fd, m, MSG_NOSIGNAL);
		break;
	case CPORT_OP_SENDMSG:
		io_uring_prep_sendmsg(sqe, fd, op->_addr, MSG_NOSIGNAL);
		break;
	case CPORT_OP_ACCEPT:
		io_uring_prep_accept(sqe, fd, (struct sockaddr *)op->_addr, op->_addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		break;
	case CPORT_OP_CONNECT:
		if (op_bits_test(op, OPB_CONNECTING))
			io_uring_prep_poll_add(sqe, fd, POLLOUT);
		else
			io_uring_prep_connect(sqe, fd, op->_addr, op->_msg.msg_namelen);
		break;
	case CPORT_OP_RECV_POOLED:
		prep_pooled(p, sqe, op);
		break;
	case CPORT_OP_POLL:
		io_uring_prep_poll_add(sqe, fd, (unsigned)op_poll_events(op));
		break;
	default:
		break;
	}
	io_uring_sqe_set_data(sqe, op);
}

static void ur_wake(struct cport *p);

/* sq_release (uring.h), inlined into the path of every op. */
static inline __attribute__((always_inline)) void release_sq(struct cport *p, struct uring_be *b)
{
	if (!p->mt || queue_caller_returns(p)) {
		lock_give_if(p->mt, &b->sq_lock);
		return;
	}
	unsigned n = sq_flush(b);
	lock_give_if(p->mt, &b->sq_lock);
	/* Outside the lock: the kernel takes whatever is published, so a
	 * concurrent enter by another thread is harmless. Once published the
	 * SQE is the kernel's: if this enter fails, the poller's next one
	 * submits it, so the poller is woken to make it now. */
	if (n && (enable(b) < 0 || io_uring_enter(b->ring.ring_fd, n, 0, 0, NULL) < 0))
		ur_wake(p);
}

/* Queue op's request. It waits for the thread's next cport_wait, which
 * submits and waits in one io_uring_enter, when that thread will come back:
 * the thread of a single-thread port, or one running a shared port's
 * completions (a batch of them then costs one system call, not one each).
 * From any other thread it goes to the kernel at once, as on Windows.
 * -EAGAIN: the SQ is full and the kernel takes nothing now (the op is not
 * started). */
static int queue_op(struct cport *p, struct cport_op *op)
{
	struct uring_be *b = UB(p);
	lock_take_if(p->mt, &b->sq_lock);
	struct io_uring_sqe *sqe = get_sqe(b, op);
	if (!sqe) {
		lock_give_if(p->mt, &b->sq_lock);
		return -EAGAIN;
	}
	prep_op(p, sqe, op);
	/* A cancel reads it under sq_lock, and the reaper only once the kernel
	 * has the request, after sq_lock: ordered by the lock, no exchange. */
	__atomic_store_n(&op->_backend_word, OPW_OUT, __ATOMIC_RELEASE);
	req_started(b);
	release_sq(p, b);
	return 0;
}

void sq_release(struct cport *p, struct uring_be *b)
{
	release_sq(p, b);
}

static int ur_submit(struct cport *p, struct fdent *fe, struct cport_op *op)
{
	if (dg_takes(p, fe, op))
		return dg_submit(p, fe, op);
	if (st_may_take(fe, op) && st_takes(p, fe, op)) {
		int r = st_submit(p, fe, op);
		if (r != ST_PLAIN)
			return r;
	}
	return queue_op(p, op); /* its one call: inlined */
}

static int need_opcodes(struct io_uring *ring)
{
	static const int ops[] = {IORING_OP_RECV,	  IORING_OP_SEND,    IORING_OP_RECVMSG,
				  IORING_OP_SENDMSG,	  IORING_OP_ACCEPT,  IORING_OP_CONNECT,
				  IORING_OP_ASYNC_CANCEL, IORING_OP_READ,    IORING_OP_POLL_ADD};
	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
	if (!probe)
		return -EOPNOTSUPP;
	int r = 0;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (!io_uring_opcode_supported(probe, ops[i]))
			r = -EOPNOTSUPP;
	}
	io_uring_free_probe(probe);
	return r;
}

/* The pool's free buffer id goes into its class's store in the kernel
 * (pool lock held). Its id is the request's buffer id in either group. */
static void ring_put(void *ctx, unsigned id)
{
	struct cport *p = ctx;
	struct uring_be *b = UB(p);
	int c = pool_class_of(&p->pool, id);
	io_uring_buf_ring_add(b->br[c], pool_buf(&p->pool, id), (unsigned)pool_buf_size(&p->pool, id),
			      (unsigned short)id, b->br_mask[c], 0);
	io_uring_buf_ring_advance(b->br[c], 1);
}

static void drop_buf_rings(struct uring_be *b)
{
	for (int c = 0; c < POOL_CLASSES; c++) {
		if (!b->br[c])
			continue;
		io_uring_unregister_buf_ring(&b->ring, pool_group(c));
		munmap(b->br[c], b->br_bytes[c]);
		b->br[c] = NULL;
	}
}

static int setup_buf_ring(struct uring_be *b, int c, unsigned count)
{
	unsigned entries = 1;
	while (entries < count)
		entries <<= 1;
	b->br_bytes[c] = entries * sizeof(struct io_uring_buf);
	void *mem = mmap(NULL, b->br_bytes[c], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	io_uring_buf_ring_init(mem);
	struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)mem, .ring_entries = entries, .bgid = pool_group(c)};
	int r = io_uring_register_buf_ring(&b->ring, &reg, 0);
	if (r < 0) {
		munmap(mem, b->br_bytes[c]);
		return r;
	}
	b->br[c] = mem;
	b->br_mask[c] = io_uring_buf_ring_mask(entries);
	return 0;
}

static int setup_buf_rings(struct cport *p, struct uring_be *b)
{
	for (int c = 0; c < POOL_CLASSES; c++) {
		int r = p->pool.cls[c].count ? setup_buf_ring(b, c, p->pool.cls[c].count) : 0;
		if (r < 0) {
			drop_buf_rings(b);
			return r;
		}
	}
	return 0;
}

static int ring_init(struct cport *p, struct uring_be *b)
{
	struct io_uring_params prm;
	memset(&prm, 0, sizeof(prm));
	/* Room for a completion per op of many thousand connections: past it the
	 * kernel keeps overflowing completions in a slower list, and submissions
	 * can be refused (-EBUSY) until it drains. 1 MiB of ring at most. */
	unsigned cq = MAX_CQ_ENTRIES;
	prm.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
	prm.cq_entries = cq;
	if (!p->mt)
		prm.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED;
	else
		/* Not TASKRUN_FLAG: with it liburing's peek enters the kernel
		 * whenever another thread has task work pending, which the
		 * poller cannot run for it. */
		prm.flags |= IORING_SETUP_COOP_TASKRUN;
	int r = io_uring_queue_init_params(p->queue_depth, &b->ring, &prm);
	b->disabled = r == 0 && !p->mt;
	if (r == -EINVAL && !p->mt) { /* an older kernel: no single-issuer mode */
		memset(&prm, 0, sizeof(prm));
		prm.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
		prm.cq_entries = cq;
		r = io_uring_queue_init_params(p->queue_depth, &b->ring, &prm);
	}
	if (r < 0)
		return r;
	if (!(b->ring.features & IORING_FEAT_EXT_ARG) || !(b->ring.features & IORING_FEAT_NODROP)) {
		io_uring_queue_exit(&b->ring);
		return -EOPNOTSUPP;
	}
	/* sq_flush relies on SQ slot i holding SQE i. */
	for (unsigned i = 0; i < b->ring.sq.ring_entries; i++)
		b->ring.sq.array[i] = i;
	r = need_opcodes(&b->ring);
	if (r == 0)
		r = setup_buf_rings(p, b);
	if (r < 0)
		io_uring_queue_exit(&b->ring);
	return r;
}

static int ur_init(struct cport *p)
{
	struct uring_be *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	int r = ring_init(p, b);
	if (r < 0) {
		free(b);
		return r;
	}
	b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->efd < 0) {
		r = -errno;
		drop_buf_rings(b);
		io_uring_queue_exit(&b->ring);
		free(b);
		return r;
	}
	lock_init(&b->sq_lock);
	list_init(&b->asked_ops);
	b->null_fd = trim_open();
	b->recv_cap = st_probe(&p->pool);
	p->be = b;
	/* A single-thread ring is still disabled: its wake read goes in with
	 * the owner's first wait. */
	arm_wake(b);
	if (p->mt)
		sq_submit_now(b);
	/* Last: from here on the kernel holds the free buffers. */
	pool_use_kernel_store(&p->pool, ring_put, p);
	return 0;
}

static void reap_discard(struct cport *p, struct uring_be *b)
{
	struct io_uring_cqe *cqes[REAP_BATCH];
	unsigned n;
	while ((n = io_uring_peek_batch_cqe(&b->ring, cqes, REAP_BATCH)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			uint64_t ud = cqes[i]->user_data;
			if (ud == UD_WAKE || ud == UD_CANCEL || ud == UD_DRAIN)
				continue;
			if (ud_is_dgram(ud)) {
				dg_discard(p, ud, cqes[i]->flags);
				continue;
			}
			if (ud_is_stream(ud)) {
				st_discard(p, ud, cqes[i]->flags);
				continue;
			}
			req_ended(b, 1);
			/* Nobody will dequeue this connection: do not leak it. */
			struct cport_op *op = (struct cport_op *)(uintptr_t)ud;
			if (op->_kind == CPORT_OP_ACCEPT && cqes[i]->res >= 0)
				close(cqes[i]->res);
		}
		io_uring_cq_advance(&b->ring, n);
	}
}

static void ur_fini(struct cport *p)
{
	struct uring_be *b = UB(p);
	/* Cancel everything and let the kernel finish with the callers' buffers
	 * before they are given back. */
	struct io_uring_sqe *sqe = get_sqe(b, NULL);
	if (sqe) {
		io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, UD_CANCEL);
	}
	sq_submit_now(b);
	for (int i = 0; i < FINI_DRAIN_ROUNDS && req_inflight(b) > 0; i++) {
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = FINI_DRAIN_MS * 1000000L};
		struct io_uring_cqe *cqe;
		io_uring_wait_cqe_timeout(&b->ring, &cqe, &ts);
		reap_discard(p, b);
	}
	dg_fini(p);
	drop_buf_rings(b);
	io_uring_queue_exit(&b->ring);
	close(b->efd);
	if (b->null_fd >= 0)
		close(b->null_fd);
	lock_fini(&b->sq_lock);
	free(b->asked_fd);
	free(b);
	p->be = NULL;
}

static int ur_attach(struct cport *p, struct fdent *fe)
{
	int type = 0;
	socklen_t len = sizeof(type);
	if (getsockopt(fe->fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		type = 0; /* not a socket getsockopt knows */
	st_attach(fe, type);
	return dg_attach(p, fe, type);
}

/* Its last op was reported. A cancel of the fd still listed is dropped at
 * its next retry, when it sees the epoch fd_finish moves on. */
static unsigned ur_detach(struct cport *p, struct fdent *fe, unsigned *ids)
{
	dg_detach(p, fe);
	return st_detach(p, fe, ids);
}

/* Write a cancel of op. sq_lock held. */
static void prep_cancel_op(struct uring_be *b, struct cport_op *op)
{
	if (FAULT(FAULT_CANCEL_MISSED, op, 0))
		return;
	struct io_uring_sqe *sqe = get_sqe(b, NULL);
	if (!sqe)
		return; /* asked again at the next retry */
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
	io_uring_sqe_set_data64(sqe, UD_CANCEL);
	sq_wrote(b);
}

/* Write a cancel of every request on fd. sq_lock held. */
static void prep_cancel_fd(struct uring_be *b, int fd)
{
	if (FAULT(FAULT_CANCEL_MISSED, NULL, 0))
		return;
	struct io_uring_sqe *sqe = get_sqe(b, NULL);
	if (!sqe)
		return;
	io_uring_prep_cancel_fd(sqe, (int)FAULT(FAULT_CANCEL_FD, NULL, fd), IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, UD_CANCEL);
	sq_wrote(b);
}

/* One more cancel to confirm. The first one since the lists were empty
 * wakes the poller, which may be waiting with no end and must now wake by
 * the retry's time. sq_lock held. */
static void arm_retry(struct cport *p, struct uring_be *b)
{
	if (atomic_fetch_add(&b->asked, 1) != 0)
		return;
	b->retry_at_ms = now_ms() + CANCEL_RETRY_MS;
	ur_wake(p);
}

static int ur_cancel(struct cport *p, struct fdent *fe, struct cport_op *op)
{
	if (dg_takes(p, fe, op))
		return dg_cancel(p, fe, op);
	if (st_cancel(fe, op))
		return 1;
	struct uring_be *b = UB(p);
	lock_take_if(p->mt, &b->sq_lock);
	prep_cancel_op(b, op);
	/* Listed until its completion is reaped, unless that happened already. */
	uint32_t out = OPW_OUT;
	if (__atomic_compare_exchange_n(&op->_backend_word, &out, OPW_CANCEL_ASKED, false, __ATOMIC_SEQ_CST,
					__ATOMIC_SEQ_CST)) {
		list_push_back(&b->asked_ops, &op->_backend_link);
		arm_retry(p, b);
	}
	sq_submit_now(b);
	lock_give_if(p->mt, &b->sq_lock);
	return 0;
}

/* The reaper has op's completion: a cancel of it is confirmed. sq_lock
 * held, which a cancel holds to ask: so a load and a store, not an
 * exchange per completion. */
static void confirm_op(struct uring_be *b, struct cport_op *op)
{
	uint32_t was = __atomic_load_n(&op->_backend_word, __ATOMIC_RELAXED);
	__atomic_store_n(&op->_backend_word, OPW_REAPED, __ATOMIC_RELAXED);
	if (was != OPW_CANCEL_ASKED)
		return;
	list_remove(&b->asked_ops, &op->_backend_link);
	atomic_fetch_sub(&b->asked, 1);
}

/* Ask again for what is not confirmed yet. sq_lock held. */
static void retry_cancels(struct uring_be *b)
{
	list_for_each_safe(&b->asked_ops, k, nx)
	{
		prep_cancel_op(b, list_entry(k, struct cport_op, _backend_link));
	}
	for (unsigned i = 0; i < b->asked_fds;) {
		struct asked_fd *a = &b->asked_fd[i];
		if (atomic_load(&a->fe->epoch) != a->epoch || ++a->retries > CANCEL_FD_RETRIES) {
			*a = b->asked_fd[--b->asked_fds]; /* order does not matter */
			atomic_fetch_sub(&b->asked, 1);
			continue;
		}
		prep_cancel_fd(b, a->fd);
		i++;
	}
	b->retry_at_ms = now_ms() + CANCEL_RETRY_MS;
}

/* At each poll: retry cancels that are due. Returns the ms until the next
 * retry (-1 for none), to bound the poll's wait. */
static int cancels_due(struct cport *p, struct uring_be *b)
{
	if (!atomic_load(&b->asked))
		return -1;
	lock_take_if(p->mt, &b->sq_lock);
	int64_t left = b->retry_at_ms - now_ms();
	if (left <= 0 && atomic_load(&b->asked)) {
		retry_cancels(b);
		left = CANCEL_RETRY_MS;
	}
	lock_give_if(p->mt, &b->sq_lock);
	return atomic_load(&b->asked) ? (int)left : -1;
}

/* List fe's cancel for retries; false without memory (then it was asked
 * once only). sq_lock held. */
static bool list_asked_fd(struct uring_be *b, struct fdent *fe)
{
	if (b->asked_fds == b->asked_fd_room) {
		unsigned room = b->asked_fd_room ? 2 * b->asked_fd_room : 16;
		struct asked_fd *a = realloc(b->asked_fd, room * sizeof(*a));
		if (!a)
			return false;
		b->asked_fd = a;
		b->asked_fd_room = room;
	}
	b->asked_fd[b->asked_fds++] =
		(struct asked_fd){.fe = fe, .fd = fe->fd, .epoch = atomic_load(&fe->epoch), .retries = 0};
	return true;
}

/* By number: the kernel ends every request on the fd. One of a later owner
 * of the number (if this cancel is late) is restarted by the core. */
static void ur_cancel_fd(struct cport *p, struct fdent *fe, struct list *dropped)
{
	bool dg_armed = dg_cancel_fd(p, fe, dropped);
	st_cancel_fd(fe, dropped);
	/* Nothing of the fd's is out (ops are counted from their start, under
	 * fe->lock as here, until their completion is queued; a datagram
	 * socket's multishot request is not an op): a cancel would find
	 * nothing, and cost a system call and a wake of the poller. This is
	 * every close of a TCP socket after an error or the end of the stream. */
	if (!dg_armed && fd_inflight(fe) == 0)
		return;
	struct uring_be *b = UB(p);
	lock_take_if(p->mt, &b->sq_lock);
	prep_cancel_fd(b, fe->fd);
	/* Listed until the fd ends or a later cancel_fd moves its epoch on. */
	if (list_asked_fd(b, fe))
		arm_retry(p, b);
	sq_submit_now(b);
	lock_give_if(p->mt, &b->sq_lock);
}

static void ur_flush(struct cport *p)
{
	struct uring_be *b = UB(p);
	if (!atomic_load(&b->unflushed))
		return;
	lock_take_if(p->mt, &b->sq_lock);
	sq_submit_now(b);
	lock_give_if(p->mt, &b->sq_lock);
}

/* A connect restarted as a wait for writability: its result is the socket's. */
static int connect_result(const struct cport_op *op, int res)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (res < 0)
		return res;
	if (getsockopt(op->_fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	if (err)
		return -err;
	/* Writable without an error is not connected yet if connect(2) never
	 * ran (the kernel ended the request before it did). */
	struct sockaddr_storage ss;
	len = sizeof(ss);
	return getpeername(op->_fd, (struct sockaddr *)&ss, &len) == 0 ? 0 : -errno;
}

/* Tell the core what the kernel said for op. */
static void report_cqe(struct cport *p, struct cport_op *op, int res, unsigned flags, struct list *out)
{
	if (op->_kind == CPORT_OP_RECV_POOLED && (flags & IORING_CQE_F_BUFFER)) {
		unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
		core_report_buf(p, op, res, id, out);
	} else if (op->_kind == CPORT_OP_RECV_POOLED && op_bits_test(op, OPB_GRANTED)) {
		core_report_buf(p, op, res, op->_buf_id, out);
	} else if (op->_kind == CPORT_OP_CONNECT && op_bits_test(op, OPB_CONNECTING)) {
		core_report(p, op, connect_result(op, res), out);
	} else if (op->_kind == CPORT_OP_POLL && res > 0) {
		/* As poll(2) reports them, on both backends: what was asked,
		 * POLLERR and POLLHUP (the kernel adds POLLRDNORM and others). */
		core_report(p, op, op_poll_report(op, res), out);
	} else {
		core_report(p, op, res, out);
	}
}

/* Before any of a batch of completions is acted on: the pool is told of
 * the buffers the kernel took in them (a receive restarted on the way asks
 * what the kernel's store still holds), and the ops' cancels are confirmed,
 * all under one hold of sq_lock: per batch, not a locked instruction per
 * completion. Datagram sockets' buffers
 * are not the pool's; a drain's is not counted (pool_kernel_returned). */
static void prepare_batch(struct cport *p, struct uring_be *b, struct io_uring_cqe **cqes, unsigned n)
{
	unsigned took[POOL_CLASSES] = {0};
	lock_take_if(p->mt, &b->sq_lock);
	for (unsigned i = 0; i < n; i++) {
		uint64_t ud = cqes[i]->user_data;
		if ((cqes[i]->flags & IORING_CQE_F_BUFFER) && ud != UD_DRAIN && !ud_is_dgram(ud))
			took[pool_class_of(&p->pool, cqes[i]->flags >> IORING_CQE_BUFFER_SHIFT)]++;
		if (ud > UD_DRAIN && !ud_is_multishot(ud))
			confirm_op(b, (struct cport_op *)(uintptr_t)ud);
	}
	lock_give_if(p->mt, &b->sq_lock);
	pool_kernel_took(&p->pool, took);
}

static int reap(struct cport *p, struct uring_be *b)
{
	struct io_uring_cqe *cqes[REAP_BATCH];
	struct list out;
	batch_init(&out);
	int total = 0;
	unsigned n, ended = 0;
	while ((n = io_uring_peek_batch_cqe(&b->ring, cqes, REAP_BATCH)) > 0) {
		prepare_batch(p, b, cqes, n);
		for (unsigned i = 0; i < n; i++) {
			uint64_t ud = cqes[i]->user_data;
			if (ud == UD_WAKE) {
				lock_take_if(p->mt, &b->sq_lock);
				b->wake_armed = false;
				arm_wake(b);
				lock_give_if(p->mt, &b->sq_lock);
				continue;
			}
			if (ud == UD_CANCEL)
				continue;
			if (ud == UD_DRAIN) {
				trim_reap(p, cqes[i]->flags, &out);
				continue;
			}
			if (ud_is_multishot(ud)) {
				if (ud_is_dgram(ud))
					dg_reap(p, ud, cqes[i]->res, cqes[i]->flags, &out);
				else
					st_reap(p, ud, cqes[i]->res, cqes[i]->flags, &out);
				total++;
				continue;
			}
			struct cport_op *op = (struct cport_op *)(uintptr_t)ud;
			ended++;
			report_cqe(p, op, cqes[i]->res, cqes[i]->flags, &out);
			total++;
		}
		io_uring_cq_advance(&b->ring, n);
	}
	if (ended)
		req_ended(b, ended);
	pool_reaped(&p->pool);
	core_deliver(p, &out);
	return total;
}

static int ur_poll(struct cport *p, int timeout_ms)
{
	struct uring_be *b = UB(p);
	int e = enable(b);
	if (e < 0)
		return e;
	int due = cancels_due(p, b);
	if (due >= 0 && (timeout_ms < 0 || due < timeout_ms))
		timeout_ms = due;
	lock_take_if(p->mt, &b->sq_lock);
	if (!b->wake_armed)
		arm_wake(b);
	unsigned to_submit = sq_flush(b);
	lock_give_if(p->mt, &b->sq_lock);

	struct __kernel_timespec ts;
	struct io_uring_getevents_arg arg;
	memset(&arg, 0, sizeof(arg));
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000LL;
		arg.ts = (uint64_t)(uintptr_t)&ts;
	}
	bool ready = io_uring_cq_ready(&b->ring) > 0;
	unsigned wait_nr = timeout_ms == 0 || ready ? 0 : 1;
	int r = io_uring_enter2(b->ring.ring_fd, to_submit, wait_nr, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
				(sigset_t *)&arg, sizeof(arg));
	if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
		return r;
	int n = reap(p, b);
	return n ? n : (r < 0 ? r : 0);
}

static void ur_wake(struct cport *p)
{
	uint64_t one = 1;
	/* EAGAIN: the counter is saturated, so a wake is pending anyway. */
	if (write(UB(p)->efd, &one, sizeof(one)) < 0)
		return;
}

const struct backend backend_uring = {
	.name = "io_uring",
	.id = CPORT_BACKEND_URING,
	.preference = 20,
	.nobufs_means_data = false,
	.init = ur_init,
	.fini = ur_fini,
	.attach = ur_attach,
	.detach = ur_detach,
	.submit = ur_submit,
	.cancel = ur_cancel,
	.cancel_fd = ur_cancel_fd,
	.reads_ahead = st_reads_ahead,
	.trim = ur_trim,
	.flush = ur_flush,
	.poll = ur_poll,
	.wake = ur_wake,
};
