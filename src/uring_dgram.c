/* uring_dgram.c - the receives of a datagram socket on io_uring share one
 * multishot recvmsg.
 *
 * A receive that finds no data arms a poll on its socket, and every
 * datagram wakes every armed poll: with eight receives waiting on a UDP
 * socket, seven wake for nothing per datagram (docs/performance.md). So a
 * datagram socket's receives (recv, recvfrom, recvmsg) never go to the
 * kernel one by one: they wait in a queue here, as on epoll, while one
 * multishot request stays armed and takes each datagram into a buffer of
 * this port's datagram store. Each datagram fills the first waiting op
 * (payload, source address, control data, flags, as recvmsg(2) would) and
 * is reported as that op's result; one that finds no op waiting is kept in
 * the socket's stash, which the next receive takes at once. The request is
 * armed only while receives wait or nothing is stashed, and the store is
 * small: a socket nobody reads stops taking datagrams when it runs dry
 * (-ENOBUFS ends the request), and the rest stay in the kernel.
 *
 * Whose task runs it: a request's task work (taking each datagram into a
 * buffer and posting its CQE) runs in the thread that submitted it, which
 * the kernel wakes for it. A multishot request lives long, and if the
 * thread that armed it is parked in the port while another polls, every
 * datagram wakes the parked one only to have it wake the poller: two
 * context switches per datagram (seen at one client: 3 a datagram instead
 * of 1.5, in half the runs). So on a shared port the reaper, which is the
 * poller, ends the request at its first CQE once the thread that armed it
 * is parked in the port (the port's mask of parked threads, as for a
 * stream's read-ahead), and every DG_REARM_EVERY datagrams in any case, for
 * an armer that sleeps outside the port; then it arms the next itself
 * (which the poller's next wait submits, unless another thread's start
 * flushes the SQ first: a heuristic, not a rule).
 *
 * Lifetime: a socket's record (struct dg_sock) is found by fd number in a
 * table of chunks that never move. While its request is armed the kernel
 * names the record in every CQE, so a record whose fd has ended lives on,
 * orphaned, until the request's last CQE (no IORING_CQE_F_MORE). Locks: the
 * fd's lock, then the record's own (the reaper takes only the latter). */
#include "fault.h"
#include "uring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#define DG_GROUP 1      /* the datagram store's buffer group (the pool's are 0 and 2) */
#define DG_BUFS 16      /* buffers in the store, per port: 1 MiB of 64 KiB datagrams */
#define DG_NAME ((unsigned)sizeof(struct sockaddr_storage))
#define DG_CONTROL 256u /* control data kept per datagram: IP_PKTINFO, IPV6_PKTINFO, timestamps */
#define DG_PAYLOAD 65536u
#define DG_BUF_SIZE ((unsigned)sizeof(struct io_uring_recvmsg_out) + DG_NAME + DG_CONTROL + DG_PAYLOAD)
#define DG_REARM_EVERY 128 /* datagrams a request takes before the reaper arms a new one */
#define DG_CHUNK 1024
#define DG_CHUNKS 4096 /* fds up to 4M, as the fd table */

/* A datagram taken by the kernel that no receive waited for, or an error. */
struct dg_kept {
	int32_t res;  /* bytes in buffer id, or -errno */
	uint16_t id;
};

struct dg_sock {
	lock_t lock;
	struct fdent *fe; /* NULL: the fd ended, the request's last CQE frees this */
	int fd;
	bool armed;       /* the multishot request is in the kernel */
	bool asked;       /* its end was asked for (rearm_if_due) */
	uint8_t owner;    /* queue_thread_slot() of the thread that armed it */
	unsigned taken;   /* CQEs of the request armed now */
	struct clist waiting; /* receives, by op->_backend_link */
	struct dg_kept kept[DG_BUFS];
	unsigned kept_head, kept_len;
};

struct dg_table {
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	char *mem;
	size_t mem_bytes;
	struct msghdr layout; /* what each buffer reserves for name and control */
	_Atomic(struct dg_sock *) *chunks[DG_CHUNKS];
	pthread_mutex_t lock; /* growing the table */
};

/* ---- The store of buffers and the table ---- */

static char *buf_of(struct dg_table *t, unsigned id)
{
	return t->mem + (size_t)id * DG_BUF_SIZE;
}

/* Buffer id is the kernel's to fill again. Under sq_lock: one writer. */
static void store_put(struct uring_be *b, unsigned id)
{
	struct dg_table *t = b->dg;
	io_uring_buf_ring_add(t->br, buf_of(t, id), DG_BUF_SIZE, (unsigned short)id,
			      io_uring_buf_ring_mask(DG_BUFS), 0);
	io_uring_buf_ring_advance(t->br, 1);
}

static void store_put_locked(struct cport *p, unsigned id)
{
	struct uring_be *b = UB(p);
	lock_take_if(p->mt, &b->sq_lock);
	store_put(b, id);
	lock_give_if(p->mt, &b->sq_lock);
}

static void table_free(struct dg_table *t)
{
	for (unsigned i = 0; i < DG_CHUNKS; i++)
		free(t->chunks[i]);
	if (t->mem)
		munmap(t->mem, t->mem_bytes);
	if (t->br)
		munmap(t->br, t->br_bytes);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static int store_init(struct uring_be *b, struct dg_table *t)
{
	t->br_bytes = DG_BUFS * sizeof(struct io_uring_buf);
	t->mem_bytes = (size_t)DG_BUFS * DG_BUF_SIZE;
	void *br = mmap(NULL, t->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *mem = mmap(NULL, t->mem_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->br = br == MAP_FAILED ? NULL : br;
	t->mem = mem == MAP_FAILED ? NULL : mem;
	if (!t->br || !t->mem)
		return -ENOMEM;
	io_uring_buf_ring_init(t->br);
	struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)t->br, .ring_entries = DG_BUFS, .bgid = DG_GROUP};
	int r = io_uring_register_buf_ring(&b->ring, &reg, 0);
	if (r < 0) {
		munmap(t->br, t->br_bytes); /* not the kernel's: table_free must not unregister */
		t->br = NULL;
		return r;
	}
	b->dg = t;
	for (unsigned id = 0; id < DG_BUFS; id++)
		store_put(b, id);
	return 0;
}

/* The table and the store, made with the first datagram socket. sq_lock
 * guards making them; once made they stay until fini. */
static struct dg_table *table_get(struct cport *p)
{
	struct uring_be *b = UB(p);
	struct dg_table *t = __atomic_load_n(&b->dg, __ATOMIC_ACQUIRE);
	if (t)
		return t;
	lock_take_if(p->mt, &b->sq_lock);
	t = b->dg;
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (t) {
			pthread_mutex_init(&t->lock, NULL);
			t->layout.msg_namelen = DG_NAME;
			t->layout.msg_controllen = DG_CONTROL;
			if (store_init(b, t) < 0) {
				table_free(t);
				t = NULL;
			}
		}
	}
	lock_give_if(p->mt, &b->sq_lock);
	return t;
}

static _Atomic(struct dg_sock *) *slot_of(struct dg_table *t, int fd, bool make)
{
	unsigned c = (unsigned)fd / DG_CHUNK;
	if (fd < 0 || c >= DG_CHUNKS)
		return NULL;
	_Atomic(struct dg_sock *) *chunk = __atomic_load_n(&t->chunks[c], __ATOMIC_ACQUIRE);
	if (!chunk && make) {
		pthread_mutex_lock(&t->lock);
		chunk = t->chunks[c];
		if (!chunk) {
			chunk = calloc(DG_CHUNK, sizeof(*chunk));
			__atomic_store_n(&t->chunks[c], chunk, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&t->lock);
	}
	return chunk ? &chunk[(unsigned)fd % DG_CHUNK] : NULL;
}

/* fe's record, or NULL for a socket that is not a datagram one. */
static struct dg_sock *sock_of(struct cport *p, const struct fdent *fe)
{
	struct dg_table *t = __atomic_load_n(&UB(p)->dg, __ATOMIC_ACQUIRE);
	_Atomic(struct dg_sock *) *s = t ? slot_of(t, fe->fd, false) : NULL;
	return s ? atomic_load(s) : NULL;
}

/* ---- A socket's record ---- */

int dg_attach(struct cport *p, struct fdent *fe, int type)
{
	if (type != SOCK_DGRAM)
		return 0; /* not a socket, or not a datagram one: receives go one by one */
	struct dg_table *t = table_get(p);
	_Atomic(struct dg_sock *) *slot = t ? slot_of(t, fe->fd, true) : NULL;
	struct dg_sock *ds = slot ? calloc(1, sizeof(*ds)) : NULL;
	if (!ds)
		return -ENOMEM;
	lock_init(&ds->lock);
	ds->fe = fe;
	ds->fd = fe->fd;
	clist_init(&ds->waiting);
	atomic_store(slot, ds);
	return 0;
}

/* Give back what the record keeps. ds->lock held, or the record unreachable. */
static void drop_kept(struct cport *p, struct dg_sock *ds)
{
	for (; ds->kept_len; ds->kept_len--, ds->kept_head = (ds->kept_head + 1) % DG_BUFS) {
		const struct dg_kept *k = &ds->kept[ds->kept_head];
		if (k->res >= 0)
			store_put_locked(p, k->id);
	}
}

static void sock_free(struct dg_sock *ds)
{
	lock_fini(&ds->lock);
	free(ds);
}

/* Write a cancel of ds's request; false without a free SQE (a detach's
 * request then ends when the store runs dry, or at fini; a re-arm's cancel
 * is asked again later). sq_lock held. */
static bool prep_cancel_request(struct uring_be *b, struct dg_sock *ds)
{
	struct io_uring_sqe *sqe = get_sqe(b, NULL);
	if (!sqe)
		return false;
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)ds | UD_DGRAM_TAG, 0);
	io_uring_sqe_set_data64(sqe, UD_CANCEL);
	sq_wrote(b);
	return true;
}

void dg_detach(struct cport *p, struct fdent *fe)
{
	struct dg_sock *ds = sock_of(p, fe);
	if (!ds)
		return;
	atomic_store(slot_of(UB(p)->dg, fe->fd, false), NULL);
	lock_take_if(p->mt, &ds->lock);
	ds->fe = NULL;
	drop_kept(p, ds);
	bool armed = ds->armed;
	lock_give_if(p->mt, &ds->lock);
	if (!armed) {
		sock_free(ds);
		return;
	}
	/* Its last CQE frees it. */
	struct uring_be *b = UB(p);
	lock_take_if(p->mt, &b->sq_lock);
	prep_cancel_request(b, ds);
	lock_give_if(p->mt, &b->sq_lock);
}

/* ---- Receives ---- */

bool dg_takes(struct cport *p, struct fdent *fe, const struct cport_op *op)
{
	return (op->_kind == CPORT_OP_RECVMSG || op->_kind == CPORT_OP_RECVFROM || op->_kind == CPORT_OP_RECV) &&
	       sock_of(p, fe) != NULL;
}

/* The msghdr the datagram goes into: the caller's own for recvmsg. */
static struct msghdr *dest_of(struct cport_op *op)
{
	return op->_kind == CPORT_OP_RECVMSG ? (struct msghdr *)op->_addr : &op->_msg;
}

static size_t copy_payload(const struct msghdr *m, const char *src, size_t len)
{
	size_t done = 0;
	for (size_t i = 0; i < m->msg_iovlen && done < len; i++) {
		size_t n = m->msg_iov[i].iov_len < len - done ? m->msg_iov[i].iov_len : len - done;
		if (n)
			memcpy(m->msg_iov[i].iov_base, src + done, n);
		done += n;
	}
	return done;
}

/* Fill op from the datagram in buffer id (len bytes, as the CQE said):
 * what recvmsg(2) would have. Returns op's result. */
static int64_t fill(struct dg_table *t, struct cport_op *op, unsigned id, int len)
{
	struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf_of(t, id), len, &t->layout);
	if (!o)
		return -EIO; /* the kernel wrote less than its own header: cannot happen */
	struct msghdr *m = dest_of(op);
	int flags = (int)o->flags;
	const char *payload = io_uring_recvmsg_payload(o, &t->layout);
	size_t plen = io_uring_recvmsg_payload_length(o, len, &t->layout);
	size_t got = copy_payload(m, payload, plen);
	if (got < plen)
		flags |= MSG_TRUNC;
	if (m->msg_name) {
		socklen_t n = o->namelen < m->msg_namelen ? o->namelen : m->msg_namelen;
		memcpy(m->msg_name, io_uring_recvmsg_name(o), n);
		m->msg_namelen = o->namelen;
	}
	if (m->msg_control) {
		size_t n = o->controllen < m->msg_controllen ? o->controllen : m->msg_controllen;
		if (n < o->controllen)
			flags |= MSG_CTRUNC;
		memcpy(m->msg_control, io_uring_recvmsg_cmsg_firsthdr(o, &t->layout), n);
		m->msg_controllen = n;
	} else if (o->controllen) {
		flags |= MSG_CTRUNC;
	}
	m->msg_flags = flags;
	return (int64_t)got;
}

/* Keep the request armed while receives wait. ds->lock held; takes sq_lock.
 * The reaper's request goes with its poller's next wait; any other
 * thread's as its other ops do (sq_release: at once from a thread that
 * runs no completions, which nothing else would take to the kernel while
 * the poller sleeps). */
static void arm(struct cport *p, struct dg_sock *ds, bool reaper)
{
	if (ds->armed || clist_empty(&ds->waiting) || !ds->fe)
		return;
	struct uring_be *b = UB(p);
	lock_take_if(p->mt, &b->sq_lock);
	struct io_uring_sqe *sqe = get_sqe(b, NULL);
	if (sqe) {
		io_uring_prep_recvmsg_multishot(sqe, ds->fd, &b->dg->layout, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = DG_GROUP;
		io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)ds | UD_DGRAM_TAG);
		req_started(b);
		ds->armed = true;
		ds->asked = false;
		ds->owner = (uint8_t)queue_thread_slot();
		ds->taken = 0;
	}
	if (reaper)
		lock_give_if(p->mt, &b->sq_lock);
	else
		sq_release(p, b);
}

/* On a shared port the reaper ends a request whose thread is parked in
 * the port, once, and any request every DG_REARM_EVERY CQEs, so that the
 * next is armed by the reaper's thread (see the top); if the kernel could
 * not cancel it (it was running), the count asks again. A single-thread
 * port has one thread: nothing to move. ds->lock held. */
static void rearm_if_due(struct cport *p, struct dg_sock *ds)
{
	if (!p->mt || !ds->armed || !ds->fe)
		return;
	bool due = ++ds->taken % DG_REARM_EVERY == 0;
	if (!due && (ds->asked || !queue_slot_parked(p, ds->owner)))
		return;
	ds->asked = true;
	struct uring_be *b = UB(p);
	lock_take_if(p->mt, &b->sq_lock);
	prep_cancel_request(b, ds);
	lock_give_if(p->mt, &b->sq_lock);
}

/* What ds kept goes to op: its result. ds->lock held, something kept. */
static int64_t take_kept(struct cport *p, struct dg_sock *ds, struct cport_op *op)
{
	struct dg_kept k = ds->kept[ds->kept_head];
	ds->kept_head = (ds->kept_head + 1) % DG_BUFS;
	ds->kept_len--;
	if (k.res < 0)
		return k.res;
	int64_t r = fill(UB(p)->dg, op, k.id, k.res);
	store_put_locked(p, k.id);
	return r;
}

int dg_submit(struct cport *p, struct fdent *fe, struct cport_op *op)
{
	struct dg_sock *ds = sock_of(p, fe);
	lock_take_if(p->mt, &ds->lock);
	if (ds->kept_len) {
		op->_result = take_kept(p, ds, op);
		lock_give_if(p->mt, &ds->lock);
		return 1; /* answered at once */
	}
	clist_push_back(&ds->waiting, &op->_backend_link);
	arm(p, ds, false);
	bool armed = ds->armed;
	if (!armed)
		clist_remove(&ds->waiting, &op->_backend_link);
	lock_give_if(p->mt, &ds->lock);
	return armed ? 0 : -EAGAIN; /* no free SQE: the op is not started */
}

int dg_cancel(struct cport *p, struct fdent *fe, struct cport_op *op)
{
	struct dg_sock *ds = sock_of(p, fe);
	lock_take_if(p->mt, &ds->lock);
	/* Not waiting: the reaper filled it, and its report follows. */
	int r = link_linked(&op->_backend_link) ? 1 : 0;
	if (r)
		clist_remove(&ds->waiting, &op->_backend_link);
	lock_give_if(p->mt, &ds->lock);
	return r;
}

bool dg_cancel_fd(struct cport *p, struct fdent *fe, struct list *dropped)
{
	struct dg_sock *ds = sock_of(p, fe);
	if (!ds)
		return false;
	lock_take_if(p->mt, &ds->lock);
	struct cport_link *k;
	while ((k = clist_pop_front(&ds->waiting)) != NULL)
		batch_add(dropped, list_entry(k, struct cport_op, _backend_link));
	bool armed = ds->armed;
	lock_give_if(p->mt, &ds->lock);
	return armed;
}

/* A datagram (or an error) for nobody yet. ds->lock held. False if there is
 * no room: the caller gives the buffer back (the store holds DG_BUFS, so
 * only errors can find the stash full). */
static bool keep(struct dg_sock *ds, int res, unsigned id)
{
	if (ds->kept_len == DG_BUFS)
		return false;
	ds->kept[(ds->kept_head + ds->kept_len) % DG_BUFS] = (struct dg_kept){res, (uint16_t)id};
	ds->kept_len++;
	return true;
}

/* The request ended (its last CQE). ds->lock held. Returns true if the
 * record is to be freed (its fd ended). */
static bool ended(struct cport *p, struct dg_sock *ds)
{
	ds->armed = false;
	req_ended(UB(p), 1);
	if (!ds->fe)
		return true;
	arm(p, ds, true); /* receives still wait: a new request */
	return false;
}

/* One CQE with data or an error, for ds. ds->lock held. The op it
 * completes, or NULL. */
static struct cport_op *deliver(struct cport *p, struct dg_sock *ds, int res, unsigned flags, int64_t *result)
{
	bool has_buf = flags & IORING_CQE_F_BUFFER;
	unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
	/* The store ran dry or the request was cancelled: nothing to tell. */
	bool quiet = res == -ENOBUFS || res == -ECANCELED || res == -EINTR;
	struct cport_link *k = ds->fe && !quiet ? clist_pop_front(&ds->waiting) : NULL;
	if (k) {
		struct cport_op *op = list_entry(k, struct cport_op, _backend_link);
		*result = has_buf ? fill(UB(p)->dg, op, id, res) : res;
		if (has_buf)
			store_put_locked(p, id);
		return op;
	}
	if (ds->fe && !quiet && keep(ds, res, id))
		return NULL;
	if (has_buf)
		store_put_locked(p, id);
	return NULL;
}

/* The request ended and could not be armed again (no free SQE): the
 * receives that wait would wait for nothing. Each goes back to the core
 * with -EAGAIN, which starts it again through the gate (and completes it
 * with -EAGAIN if the SQ is still full), as any op's restart. */
static void give_back_stranded(struct cport *p, struct dg_sock *ds, struct list *out)
{
	for (;;) {
		lock_take_if(p->mt, &ds->lock);
		struct cport_link *k = ds->armed ? NULL : clist_pop_front(&ds->waiting);
		lock_give_if(p->mt, &ds->lock);
		if (!k)
			return;
		core_report(p, list_entry(k, struct cport_op, _backend_link), -EAGAIN, out);
	}
}

void dg_reap(struct cport *p, uint64_t ud, int res, unsigned flags, struct list *out)
{
	struct dg_sock *ds = (struct dg_sock *)(uintptr_t)(ud & ~7ull);
	int64_t result = 0;
	lock_take_if(p->mt, &ds->lock);
	struct cport_op *op = deliver(p, ds, res, flags, &result);
	bool last = !(flags & IORING_CQE_F_MORE);
	if (!last)
		rearm_if_due(p, ds);
	bool free_it = last && ended(p, ds);
	bool stranded = last && !free_it && !ds->armed && !clist_empty(&ds->waiting);
	lock_give_if(p->mt, &ds->lock);
	if (op)
		core_report(p, op, result, out);
	if (free_it)
		sock_free(ds);
	else if (stranded)
		give_back_stranded(p, ds, out);
}

void dg_discard(struct cport *p, uint64_t ud, unsigned flags)
{
	struct dg_sock *ds = (struct dg_sock *)(uintptr_t)(ud & ~7ull);
	if (flags & IORING_CQE_F_MORE)
		return;
	req_ended(UB(p), 1);
	ds->armed = false;
	if (!ds->fe)
		sock_free(ds); /* orphaned: no table slot names it */
}

void dg_fini(struct cport *p)
{
	struct uring_be *b = UB(p);
	struct dg_table *t = b->dg;
	if (!t)
		return;
	for (unsigned c = 0; c < DG_CHUNKS; c++) {
		for (unsigned i = 0; t->chunks[c] && i < DG_CHUNK; i++) {
			struct dg_sock *ds = atomic_load(&t->chunks[c][i]);
			if (ds && !ds->armed)
				sock_free(ds); /* a request still armed past the drain keeps its record (never read again) */
		}
	}
	io_uring_unregister_buf_ring(&b->ring, DG_GROUP);
	table_free(t);
	b->dg = NULL;
}
