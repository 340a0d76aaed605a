/* fd.c - an attached fd's life: attach; its ops counted until each one's
 * completion is in the queue; cancel_fd; detach and close, whose op
 * completes after every other op of the fd. */
#include "backend.h"
#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#if !defined(CPORT_LOCK_TSAN)
/* docs/performance.md ("Where each byte goes now") counts on it. */
_Static_assert(sizeof(struct fdent) == 56, "the fd entry outgrew its 56 bytes");
#endif

/* Ops are moved to the queue in chunks this size, each fd counted off after. */
#define DELIVER_CHUNK 64

/* fl: the fd's file status flags, as F_GETFL read them. */
static int make_nonblocking(int fd, int fl)
{
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* fe->lock held, fe free; fl the fd's status flags. Nothing about the fd
 * changes unless it succeeds (a socket already non-blocking stays so
 * either way). */
static int attach_locked(struct cport *p, struct fdent *fe, int fd, int fl, uintptr_t key)
{
	int r = make_nonblocking(fd, fl);
	if (r < 0)
		return r;
	fe->fd = fd;
	fe->key = key;
	fe->finishing = false;
	fe->modes = 0;
	atomic_store_explicit(&fe->pooled_big, 0, memory_order_relaxed);
	/* A new life counts from 0, as the last one ended (fd_finish comes
	 * only once every op's end is counted, so no end of it is still on
	 * its way): a miscount in one life cannot hang a later close. */
	atomic_store_explicit(&fe->started, atomic_load(&fe->ended), memory_order_relaxed);
	r = p->be_ops->attach(p, fe);
	if (r < 0) {
		fe->fd = -1;
		return r;
	}
	fe->state = FD_ATTACHED;
	return 0;
}

int cport_attach(cport_t *p, int fd, uintptr_t key)
{
	if (!p)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	if (atomic_load(&p->shutdown))
		return -ESHUTDOWN;
	/* One call checks that fd is open and reads what attach needs: an
	 * accepted socket (already non-blocking) costs no other fcntl. */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	struct fdent *fe = fdtab_get_or_make(&p->fdtab, fd, p->mt);
	if (!fe)
		return fd >= FDTAB_CHUNK * FDTAB_CHUNKS ? -EBADF : -ENOMEM;
	fd_lock(p, fe);
	int r = fe->state == FD_FREE ? attach_locked(p, fe, fd, fl, key) : -EEXIST;
	fd_unlock(p, fe);
	return r;
}

/* Whether the backend still reads fe ahead: the mode cannot be cleared
 * then, or the caller's own reads would take bytes out of order. fe->lock held. */
static bool reads_ahead(struct cport *p, struct fdent *fe)
{
	return (fe->modes & CPORT_RECV_AHEAD) && p->be_ops->reads_ahead && p->be_ops->reads_ahead(p, fe);
}

int cport_set_completion_modes(cport_t *p, int fd, unsigned modes)
{
	if (!p || (modes & ~(CPORT_SKIP_ON_SUCCESS | CPORT_RECV_AHEAD)))
		return -EINVAL;
	struct fdent *fe = fd < 0 ? NULL : fdtab_get(&p->fdtab, fd);
	if (!fe)
		return -EBADF;
	fd_lock(p, fe);
	int r = fe->state == FD_ATTACHED ? 0 : -EBADF;
	if (r == 0 && !(modes & CPORT_RECV_AHEAD) && reads_ahead(p, fe))
		r = -EBUSY;
	if (r == 0)
		fe->modes = (uint8_t)modes;
	fd_unlock(p, fe);
	return r;
}

/* Complete every op of list with -ECANCELED and queue them. */
static void deliver_cancelled(struct cport *p, struct list *ops)
{
	list_for_each_safe(ops, k, nx)
	{
		struct cport_op *op = op_of_queue_link(k);
		op->_result = -ECANCELED;
		op_set_state(op, OP_DONE);
	}
	core_deliver(p, ops);
}

/* fe->lock held: cancel every op fe has now, after bumping its epoch so
 * that none of them can be started again. */
static void cancel_all_locked(struct cport *p, struct fdent *fe, struct list *dropped)
{
	unsigned epoch = atomic_fetch_add(&fe->epoch, 1) + 1;
	p->be_ops->cancel_fd(p, fe, dropped);
	pool_unpark_fd(&p->pool, fe, epoch, dropped);
}

int cport_cancel_fd(cport_t *p, int fd)
{
	if (!p)
		return -EINVAL;
	struct fdent *fe = fdtab_get(&p->fdtab, fd);
	if (!fe)
		return -EBADF;
	struct list dropped;
	batch_init(&dropped);
	fd_lock(p, fe);
	int r = fe->state == FD_ATTACHED ? 0 : -EBADF;
	if (r == 0)
		cancel_all_locked(p, fe, &dropped);
	fd_unlock(p, fe);
	deliver_cancelled(p, &dropped);
	return r;
}

void fd_finish(struct cport *p, struct fdent *fe)
{
	fd_lock(p, fe);
	struct cport_op *closer = fe->closer;
	int fd = fe->fd;
	bool do_close = fe->close_fd;
	unsigned kept[DETACH_IDS];
	unsigned nkept = p->be_ops->detach(p, fe, kept);
	/* Free the entry before close(): the fd number may be reused at once. */
	fe->state = FD_FREE;
	fe->closer = NULL;
	fe->finishing = false;
	fe->fd = -1;
	atomic_fetch_add(&fe->epoch, 1);
	fd_unlock(p, fe);
	int res = 0;
	/* Linux frees the number even when close(2) says EINTR: not an error
	 * worth reporting, and never -EINTR (the contract's). */
	if (do_close && close(fd) < 0 && errno != EINTR)
		res = -errno;
	struct list b;
	batch_init(&b);
	/* Buffers freed may restart receives of other fds parked for one. */
	for (unsigned i = 0; i < nkept; i++)
		core_buf_free(p, kept[i], &b);
	core_deliver(p, &b);
	if (!closer)
		return;
	closer->_result = res;
	op_set_state(closer, OP_DONE);
	batch_add(&b, closer);
	port_queue_append(p, &b);
}

void core_fd_hold(struct fdent *fe)
{
	fd_count_start(fe, 1);
}

void core_fd_release(struct cport *p, struct fdent *fe)
{
	fd_op_queued(p, fe);
}

void fd_op_queued(struct cport *p, struct fdent *fe)
{
	/* The common case takes no lock: the op is counted ended, and the fd
	 * is not closing. A close sets CLOSING before it reads the counts, and
	 * this counts the op before it reads the state (both sequentially
	 * consistent), so one of the two sees the other and finishes the fd.
	 * While it closes, each op's end looks under the lock. */
	atomic_fetch_add(&fe->ended, 1);
	if (atomic_load(&fe->state) != FD_CLOSING)
		return;
	fd_lock(p, fe);
	bool fin = fe->state == FD_CLOSING && !fe->finishing && fd_inflight(fe) == 0;
	if (fin)
		fe->finishing = true;
	fd_unlock(p, fe);
	if (fin)
		fd_finish(p, fe);
}

void core_deliver(struct cport *p, struct list *b)
{
	while (!list_empty(b)) {
		struct fdent *fes[DELIVER_CHUNK];
		unsigned n = 0;
		struct list chunk;
		batch_init(&chunk);
		while (n < DELIVER_CHUNK && !list_empty(b)) {
			struct cport_op *op = op_of_queue_link(list_pop_front(b));
			if (op->_fd_entry)
				fes[n++] = op->_fd_entry;
			batch_add(&chunk, op);
		}
		(void)FAULT(FAULT_DELIVER, op_of_queue_link(chunk.head._next), 0);
		/* The ops may be dequeued and reused once queued: their fds were
		 * read before. */
		port_queue_append(p, &chunk);
		for (unsigned i = 0; i < n; i++)
			fd_op_queued(p, fes[i]);
	}
}

static void closer_init(struct cport_op *op, int fd, bool close_fd)
{
	op->_kind = close_fd ? CPORT_OP_CLOSE : CPORT_OP_DETACH;
	__atomic_store_n(&op->_bits, 0, __ATOMIC_SEQ_CST);
	op->_flags = 0;
	op->_fd_entry = NULL; /* the closer is not one of the fd's counted ops */
	op->_fd = fd;
}

static int end_fd(struct cport *p, int fd, struct cport_op *op, bool close_fd)
{
	if (!p)
		return -EINVAL;
	struct fdent *fe = fdtab_get(&p->fdtab, fd);
	if (!fe)
		return -EBADF;
	if (op && !op_claim(op))
		return -EBUSY;
	if (op)
		closer_init(op, fd, close_fd);
	struct list dropped;
	batch_init(&dropped);
	fd_lock(p, fe);
	if (fe->state != FD_ATTACHED) {
		fd_unlock(p, fe);
		if (op)
			op_set_state(op, OP_IDLE);
		return -EBADF;
	}
	fe->state = FD_CLOSING;
	/* The closer takes the key's place in the entry, and the key with it. */
	if (op)
		op->_key = fe->key;
	fe->closer = op;
	fe->close_fd = close_fd;
	cancel_all_locked(p, fe, &dropped);
	bool now = fd_inflight(fe) == 0;
	if (now)
		fe->finishing = true;
	fd_unlock(p, fe);
	deliver_cancelled(p, &dropped);
	if (now) /* no op in flight: the closer still completes through the port */
		fd_finish(p, fe);
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
