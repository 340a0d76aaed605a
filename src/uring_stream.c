/* uring_stream.c - read-ahead for pooled receives on a stream socket
 * (CPORT_RECV_AHEAD), on io_uring.
 *
 * A pooled receive that goes to the kernel one by one costs a request per
 * message: the kernel tries the socket, finds it empty, arms a wait, and
 * wakes, receives and completes when data comes. One multishot receive
 * stays armed instead, and each piece of data the kernel takes into a pool
 * buffer completes the pooled receive that waits for it (docs/performance.md,
 * "Multishot receives on stream sockets").
 *
 * Bounded: the request is capped (Linux 6.17: the total bytes a multishot
 * receive takes, sqe->optlen, liburing 2.3's file_index) at one small pool
 * buffer, and ends itself there. It is armed again only when a receive
 * waits and nothing is kept, so a peer that sends and never reads is
 * read at most a cap ahead, then its bytes stay in the kernel as without
 * the mode. Data for which no receive waits is kept: the first piece in its
 * own buffer, later pieces copied onto the end of it while they fit (their
 * buffers go back to the pool at once), and a piece that does not fit in
 * a second buffer. A piece that does not fit passes the cap, so that
 * piece was the request's last: at most two buffers are kept per fd. While
 * buffers are scarce (scarce(), below) no request is armed, and one armed
 * is cancelled once its receive is answered. The small buffers' ring
 * holds two buffers for each armed request (deepen_ring()).
 *
 * Order: while a request is armed or anything is kept, every pooled receive
 * on the fd waits here, and the core refuses every other read of the fd
 * (gate.c), so the kernel has one reader and the bytes go out in order:
 * what is kept, then the end of the stream or the error that followed it.
 *
 * Lifetime: the request holds a count on the fd (core_fd_hold) until its
 * last CQE, so the fd cannot finish, and its entry cannot change hands,
 * while the kernel may still name the entry in a CQE. A cancel of the fd
 * (cancel_fd, detach, close) ends the request with the fd's other requests;
 * what was kept stays for a cancel_fd and goes back to the pool with the
 * fd's end. Locks: the fd's, then sq_lock (arming, cancelling). */
#include "fault.h"
#include "uring.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* ur_fd.st */
#define ST_STREAM 0x1     /* a SOCK_STREAM socket */
#define ST_ARMED 0x2      /* the request is in the kernel (and holds a count on the fd) */
#define ST_END 0x4        /* end holds what followed the kept bytes: 0 or -errno */
#define ST_CANCELLING 0x8 /* the request was asked to end early (buffers are scarce) */

/* A pool buffer read ahead: len bytes from its start (0: none). */
struct kept {
	uint16_t id, len;
};

/* What io_uring keeps in each fd entry. */
struct ur_fd {
	struct clist waiting; /* pooled receives behind the request (op->_backend_link) */
	struct kept kept[2];  /* kept[0] first; kept[1] only after kept[0] */
	int32_t end;
	uint8_t st;
	uint8_t owner; /* queue_thread_slot() of the thread that armed the request */
};
_Static_assert(sizeof(struct ur_fd) <= FD_BACKEND_AREA, "io_uring's fd state outgrew its area");
_Static_assert(_Alignof(struct fdent) >= 8, "the request's user_data tags an fd entry's address");

static struct ur_fd *UF(struct fdent *fe)
{
	return (struct ur_fd *)fe->backend_area;
}

/* ---- Whether this kernel caps a multishot receive ---- */

static bool kernel_caps;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

/* A capped multishot receive on an eventfd: a kernel that does not know
 * the cap refuses the field while it reads the request (-EINVAL); one that
 * knows it gets as far as finding no socket (-ENOTSOCK). */
static void probe(void)
{
	struct io_uring r;
	if (io_uring_queue_init(2, &r, 0) < 0)
		return;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct io_uring_sqe *sqe = efd >= 0 ? io_uring_get_sqe(&r) : NULL;
	if (sqe) {
		io_uring_prep_recv_multishot(sqe, efd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = GROUP_SMALL;
		sqe->file_index = 1;
		struct io_uring_cqe *cqe;
		if (io_uring_submit_and_wait(&r, 1) == 1 && io_uring_peek_cqe(&r, &cqe) == 0)
			kernel_caps = cqe->res == -ENOTSOCK;
	}
	if (efd >= 0)
		close(efd);
	io_uring_queue_exit(&r);
}

unsigned st_probe(const struct pool *pl)
{
	const char *env = getenv("CPORT_RECV_AHEAD");
	size_t size = pl->cls[POOL_SMALL].size;
	/* Kept lengths are 16 bits; a pool of no small buffers has none to read into. */
	if ((env && strcmp(env, "0") == 0) || !pl->cls[POOL_SMALL].count || size > UINT16_MAX)
		return 0;
	pthread_once(&probe_once, probe);
	return (unsigned)FAULT(FAULT_RECV_CAP, NULL, kernel_caps ? (int64_t)size : 0);
}

/* ---- An fd's state ---- */

void st_attach(struct fdent *fe, int type)
{
	memset(UF(fe), 0, sizeof(struct ur_fd));
	clist_init(&UF(fe)->waiting);
	if (type == SOCK_STREAM)
		UF(fe)->st = ST_STREAM;
}

unsigned st_detach(struct cport *p, struct fdent *fe, unsigned *ids)
{
	struct ur_fd *u = UF(fe);
	unsigned n = 0;
	for (; n < 2 && u->kept[n].len; n++)
		ids[n] = u->kept[n].id;
	atomic_fetch_sub(&UB(p)->kept_bufs, n);
	st_attach(fe, 0);
	return n;
}

bool st_takes(struct cport *p, struct fdent *fe, const struct cport_op *op)
{
	return op->_kind == CPORT_OP_RECV_POOLED && (fe->modes & CPORT_RECV_AHEAD) && (UF(fe)->st & ST_STREAM) &&
	       UB(p)->recv_cap;
}

bool st_reads_ahead(struct cport *p, struct fdent *fe)
{
	(void)p;
	return UF(fe)->kept[0].len || (UF(fe)->st & (ST_ARMED | ST_END));
}

/* Read-ahead would take buffers the pool needs for receives that wait:
 * receives wait for a buffer, a quarter of the small buffers are kept,
 * fewer than an eighth are free, or requests are armed on half as many
 * fds as there are small buffers. No request is armed then, and one armed
 * is cancelled once its receive is answered: the pool's turn-taking
 * serves receives better than requests that end for want of a buffer
 * (measured at 1,000 x 64 B with 1,024 buffers: docs/performance.md). */
static bool scarce(struct cport *p)
{
	struct uring_be *b = UB(p);
	unsigned count = p->pool.cls[POOL_SMALL].count;
	unsigned kept = atomic_load_explicit(&b->kept_bufs, memory_order_relaxed);
	unsigned held = pool_lent_small(&p->pool) + kept;
	unsigned armed = atomic_load_explicit(&b->armed, memory_order_relaxed);
	return pool_has_waiters(&p->pool) || kept >= count / 4 || held + count / 8 >= count || 2 * armed >= count;
}

static void wait_for(struct ur_fd *u, struct cport_op *op)
{
	clist_push_back(&u->waiting, &op->_backend_link);
	__atomic_store_n(&op->_backend_word, OPW_QUEUED, __ATOMIC_SEQ_CST);
}

static void unwait(struct ur_fd *u, struct cport_op *op)
{
	clist_remove(&u->waiting, &op->_backend_link);
	__atomic_store_n(&op->_backend_word, OPW_REAPED, __ATOMIC_SEQ_CST);
}

static struct cport_op *first_waiting(struct ur_fd *u)
{
	return u->waiting.first ? list_entry(u->waiting.first, struct cport_op, _backend_link) : NULL;
}

/* ---- The request ---- */

/* The kernel runs a request's work (taking the data into a buffer, posting
 * the CQE) as task work of the thread that submitted it, and wakes that
 * thread for it. A follower parked on a shared port would be woken for
 * every piece of data, to wake the poller in turn with the CQE: two
 * context switches a message (at 1,000 x 64 B, about 5,500 a second each
 * way, once the threads had traded the poller's role). So a request of a parked
 * thread's ends after its CQE, and the poller's thread arms the next. */
static bool asleep(struct cport *p, const struct ur_fd *u)
{
	return p->mt && queue_slot_parked(p, u->owner);
}

/* Whether an armed request should end after this CQE: its thread sleeps
 * (asleep()), or nobody waits and buffers are scarce (scarce()). */
static bool ends_early(struct cport *p, const struct ur_fd *u)
{
	return asleep(p, u) || (clist_empty(&u->waiting) && scarce(p));
}

/* A request lives long, and after each piece of data the kernel takes a
 * buffer again to look for more: a ring kept shallow (for a buffer still
 * in the cache) would run dry under many connections and end their
 * requests (at 1,000 x 64 B, one in two messages re-armed, against one in
 * thirty with every free small buffer in the ring). So the small buffers'
 * ring holds at least two for each armed request, and a few more; no more
 * than that, or a single connection's messages would go round every
 * buffer of the pool, each one cold (16 MiB resident for one connection
 * with 4,096 buffers). Grown by doubling, so the pool's lock is taken a
 * few times, not once per request; never shrunk. */
#define RING_SLACK 8

static void deepen_ring(struct cport *p, struct uring_be *b, unsigned armed)
{
	unsigned have = atomic_load_explicit(&b->ring_for, memory_order_relaxed);
	if (2 * armed + RING_SLACK <= have)
		return;
	unsigned next = have ? have : RING_SLACK;
	while (next < 2 * armed + RING_SLACK)
		next *= 2;
	if (!atomic_compare_exchange_strong(&b->ring_for, &have, next))
		return; /* another thread's arm did it */
	if (!have)
		pool_count_lent(&p->pool); /* for scarce() */
	pool_set_depth_min(&p->pool, POOL_SMALL, next);
}

/* Arm fe's request (fe->lock held; takes sq_lock). op is the receive it is
 * for (fault injection looks at it). From the reaper the SQE waits for the
 * poller's next enter, which comes at once. False without a free SQE. */
static bool arm(struct cport *p, struct fdent *fe, struct cport_op *op, bool reaper)
{
	struct uring_be *b = UB(p);
	deepen_ring(p, b, atomic_load_explicit(&b->armed, memory_order_relaxed) + 1);
	lock_take_if(p->mt, &b->sq_lock);
	struct io_uring_sqe *sqe = get_sqe(b, op);
	if (!sqe) {
		lock_give_if(p->mt, &b->sq_lock);
		return false;
	}
	io_uring_prep_recv_multishot(sqe, fe->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = GROUP_SMALL;
	sqe->file_index = b->recv_cap; /* the cap: sqe->optlen, under liburing 2.3's name */
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)fe | UD_STREAM_TAG);
	req_started(b);
	UF(fe)->st |= ST_ARMED;
	UF(fe)->owner = (uint8_t)queue_thread_slot();
	atomic_fetch_add_explicit(&b->armed, 1, memory_order_relaxed);
	core_fd_hold(fe);
	if (reaper)
		lock_give_if(p->mt, &b->sq_lock);
	else
		sq_release(p, b);
	return true;
}

/* Ask the kernel to end fe's request early (fe->lock held; takes sq_lock).
 * Without a free SQE it ends at its cap. */
static void cancel_request(struct cport *p, struct fdent *fe)
{
	struct uring_be *b = UB(p);
	lock_take_if(p->mt, &b->sq_lock);
	struct io_uring_sqe *sqe = get_sqe(b, NULL);
	if (sqe) {
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)fe | UD_STREAM_TAG, 0);
		io_uring_sqe_set_data64(sqe, UD_CANCEL);
		sq_wrote(b);
		UF(fe)->st |= ST_CANCELLING;
	}
	lock_give_if(p->mt, &b->sq_lock);
}

/* ---- Receives ---- */

int st_submit(struct cport *p, struct fdent *fe, struct cport_op *op)
{
	struct ur_fd *u = UF(fe);
	if (!u->kept[0].len && !(u->st & (ST_ARMED | ST_END))) {
		/* Nothing ahead: a receive the pool's waits shaped (it found no
		 * buffer before), one for a large buffer, or one the small
		 * buffers' ring cannot serve now goes to the kernel as it is, by
		 * the pool's rules (which may pick a large buffer: a request
		 * of small ones would find none again, and again). */
		if (op_bits_test(op, OPB_GRANTED | OPB_WANT_READY | OPB_READY) ||
		    pool_class_wanted(&p->pool, fe) != POOL_SMALL || !pool_kernel_has(&p->pool, POOL_SMALL) ||
		    scarce(p))
			return ST_PLAIN;
		wait_for(u, op);
		if (arm(p, fe, op, false))
			return 0;
		unwait(u, op);
		return -EAGAIN; /* no free SQE: not started */
	}
	/* A buffer granted, or a wait for data only: the core frees the
	 * buffer and starts the receive again as a plain one, which then
	 * takes what is here. */
	if (op_bits_test(op, OPB_GRANTED | OPB_WANT_READY)) {
		op->_result = -EAGAIN;
		return 1;
	}
	if (u->kept[0].len) {
		op->_buf_id = u->kept[0].id;
		op->_result = u->kept[0].len;
		u->kept[0] = u->kept[1];
		u->kept[1] = (struct kept){0, 0};
		atomic_fetch_sub(&UB(p)->kept_bufs, 1);
		return 2;
	}
	if (u->st & ST_END) {
		op->_result = u->end;
		u->st &= ~ST_END;
		return 1;
	}
	wait_for(u, op);
	return 0;
}

int st_cancel(struct fdent *fe, struct cport_op *op)
{
	if (__atomic_load_n(&op->_backend_word, __ATOMIC_SEQ_CST) != OPW_QUEUED)
		return 0;
	unwait(UF(fe), op);
	return 1;
}

/* Every op waiting on u goes to batch b, in order. */
static void unwait_all(struct ur_fd *u, struct list *b)
{
	struct cport_op *op;
	while ((op = first_waiting(u)) != NULL) {
		unwait(u, op);
		batch_add(b, op);
	}
}

void st_cancel_fd(struct fdent *fe, struct list *dropped)
{
	unwait_all(UF(fe), dropped);
}

/* len bytes of data in buffer id that no receive waits for. Returns
 * whether the buffer is kept; if not, its bytes were copied and the
 * caller frees it. fe->lock held. */
static bool keep(struct cport *p, struct ur_fd *u, unsigned id, unsigned len)
{
	struct pool *pl = &p->pool;
	int last = u->kept[1].len ? 1 : u->kept[0].len ? 0 : -1;
	if (last >= 0 && u->kept[last].len + len <= pl->cls[POOL_SMALL].size) {
		char *to = (char *)pool_buf(pl, u->kept[last].id) + u->kept[last].len;
		memcpy(to, pool_buf(pl, id), len);
		u->kept[last].len = (uint16_t)(u->kept[last].len + len);
		return false;
	}
	if (last == 1) {
		/* Cannot happen: more than a buffer kept is past the cap, which
		 * ended the request. Were it to, the stream ends in an error
		 * after the bytes kept, rather than going on with a gap. */
		u->end = -EIO;
		u->st |= ST_END;
		return false;
	}
	u->kept[last + 1] = (struct kept){(uint16_t)id, (uint16_t)len};
	atomic_fetch_add(&UB(p)->kept_bufs, 1);
	return true;
}

/* What one CQE of fe's request means, decided under fe->lock. */
struct st_cqe {
	struct cport_op *taker; /* the receive it completes, or NULL */
	int buf;                /* the pool buffer it filled, or -1 */
	struct list back;       /* receives left waiting when the request ended for good (a batch) */
};

/* A CQE with data, the end of the stream or an error (not the request's
 * own end: no buffers, a cancel). fe->lock held, fe attached. */
static void deliver(struct cport *p, struct ur_fd *u, int res, struct st_cqe *c)
{
	c->taker = first_waiting(u);
	if (c->taker) {
		unwait(u, c->taker);
	} else if (res <= 0 || c->buf < 0) {
		u->end = res <= 0 ? res : -EIO; /* data without a buffer: cannot happen */
		u->st |= ST_END;
	} else if (keep(p, u, (unsigned)c->buf, (unsigned)res)) {
		c->buf = -1;
	}
}

/* The request's last CQE: arm the next one if receives wait, or hand them
 * back. fe->lock held. */
static void ended(struct cport *p, struct fdent *fe, bool live, int res, struct st_cqe *c)
{
	struct ur_fd *u = UF(fe);
	u->st &= (uint8_t)~(ST_ARMED | ST_CANCELLING);
	req_ended(UB(p), 1);
	atomic_fetch_sub_explicit(&UB(p)->armed, 1, memory_order_relaxed);
	struct cport_op *op = first_waiting(u);
	if (!op || (live && res != -ENOBUFS && arm(p, fe, op, true)))
		return;
	unwait_all(u, &c->back);
}

void st_reap(struct cport *p, uint64_t ud, int res, unsigned flags, struct list *out)
{
	struct fdent *fe = (struct fdent *)(uintptr_t)(ud & ~7ull);
	struct ur_fd *u = UF(fe);
	bool last = !(flags & IORING_CQE_F_MORE);
	struct st_cqe c = {.taker = NULL, .buf = -1};
	batch_init(&c.back);
	if (flags & IORING_CQE_F_BUFFER)
		c.buf = (int)(flags >> IORING_CQE_BUFFER_SHIFT);
	/* The pool ran dry, or the request was cancelled: nothing to tell. */
	bool quiet = res == -ENOBUFS || res == -ECANCELED || res == -EINTR;
	fd_lock(p, fe);
	bool live = fe->state == FD_ATTACHED && !atomic_load(&p->shutdown);
	if (live && !quiet)
		deliver(p, u, res, &c);
	if (last)
		ended(p, fe, live, res, &c);
	else if (live && !(u->st & ST_CANCELLING) && ends_early(p, u))
		cancel_request(p, fe);
	fd_unlock(p, fe);

	if (c.taker && res > 0 && c.buf >= 0) {
		core_report_buf(p, c.taker, res, (unsigned)c.buf, out);
		c.buf = -1;
	} else if (c.taker) {
		core_report(p, c.taker, res > 0 ? -EIO : res, out); /* data without a buffer: cannot happen */
	}
	if (c.buf >= 0)
		core_buf_free(p, (unsigned)c.buf, out);
	/* Back through the core: no buffers grows the kernel's store or waits
	 * for data first; anything else starts them again through the gate. */
	struct cport_link *k;
	while ((k = list_pop_front(&c.back)) != NULL)
		core_report(p, op_of_queue_link(k), res == -ENOBUFS ? -ENOBUFS : -EAGAIN, out);
	if (last)
		core_fd_release(p, fe);
}

void st_discard(struct cport *p, uint64_t ud, unsigned flags)
{
	(void)ud;
	if (!(flags & IORING_CQE_F_MORE))
		req_ended(UB(p), 1);
}
