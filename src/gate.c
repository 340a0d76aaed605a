/* gate.c - the one way an op reaches a backend, and the one place that
 * decides what follows once the kernel has answered. Every submission, the
 * first and every restart (no buffer, a kernel cancel, EAGAIN), passes the
 * same check under the fd's lock: the fd is attached, the op started in its
 * current epoch, and nobody asked to cancel it. */
#include "backend.h"
#include "fault.h"
#include "try_io.h"

#include <errno.h>

/* Restarts the kernel may force on one op (its submitting thread exited, a
 * cancel-by-number hit a reused fd) before it is given up as cancelled. */
#define MAX_RESTARTS 1000

/* Set what the caller reads of an op that ends with res. */
static void set_outputs(struct cport_op *op, int64_t res)
{
	if (op->_kind == CPORT_OP_RECVFROM && res >= 0 && op->_addrlen)
		*(socklen_t *)op->_addrlen = op->_msg.msg_namelen;
	op->_result = res;
}

/* The op leaves the library with res, through the port. */
static void finalize(struct cport_op *op, int64_t res, struct list *b)
{
	set_outputs(op, res);
	op_set_state(op, OP_DONE);
	batch_add(b, op);
}

/* fe->lock held (or a single-thread port). */
static bool still_wanted(struct cport *p, const struct fdent *fe, const struct cport_op *op)
{
	return fe->state == FD_ATTACHED && atomic_load(&fe->epoch) == op->_epoch &&
	       !op_bits_test(op, OPB_CANCEL) && !atomic_load(&p->shutdown);
}

/* fe->lock held. A test may refuse the submit (fault.h) before the backend
 * sees it. A pooled receive the backend answered with a pool buffer (2)
 * holds it from here on, as one the pool granted. */
static int backend_submit(struct cport *p, struct fdent *fe, struct cport_op *op)
{
	int r = (int)FAULT(FAULT_SUBMIT, op, 0);
	r = r < 0 ? r : p->be_ops->submit(p, fe, op);
	if (r != 2)
		return r;
	op_bits_set(op, OPB_GRANTED);
	return 1;
}

/* Hand op to the backend if it is still wanted. Returns what submit does
 * (0 pending, 1 answered at once in op->_result, -errno not started), or
 * -ECANCELED if the op may not run. */
static int submit(struct cport *p, struct cport_op *op)
{
	struct fdent *fe = op->_fd_entry;
	fd_lock(p, fe);
	int r = -ECANCELED;
	if (still_wanted(p, fe, op))
		r = backend_submit(p, fe, op);
	fd_unlock(p, fe);
	return r;
}

/* The backend answered at once (submit returned 1): report it, with the
 * pool buffer it used if it holds one. */
static void report_answer(struct cport *p, struct cport_op *op, struct list *b)
{
	if (op_bits_test(op, OPB_GRANTED))
		core_report_buf(p, op, op->_result, op->_buf_id, b);
	else
		core_report(p, op, op->_result, b);
}

/* Restart op. Returns true if the backend holds it now or it completed
 * into b; false if it was refused while holding a granted buffer, which
 * the caller still has to free (the op itself completed into b). */
static bool restart(struct cport *p, struct cport_op *op, struct list *b)
{
	int r = submit(p, op);
	if (r == 0)
		return true;
	if (r == 1) {
		report_answer(p, op, b);
		return true;
	}
	/* It did not take: the op completes with why, -ECANCELED when the gate
	 * refused it, else the backend's error (-EAGAIN: a full SQ). */
	bool had_buffer = op_bits_test(op, OPB_GRANTED);
	op_bits_clear(op, OPB_GRANTED);
	finalize(op, r, b);
	return !had_buffer;
}

void gate_restart(struct cport *p, struct cport_op *op, struct list *b)
{
	unsigned id = op->_buf_id;
	if (!restart(p, op, b))
		core_buf_free(p, id, b);
}

/* First submit. An fd that skips the port on success has a send tried here
 * when the backend would not try it at once itself (io_uring): a send
 * nearly always goes out at once, and then costs no trip through the
 * kernel's queue and the port's. Not when the thread is running a batch of
 * completions whose starts all go to the kernel with its next wait: there
 * the send rides a system call made anyway, and one of its own costs more.
 * fe->lock held; returns as submit. */
static int first_submit(struct cport *p, struct fdent *fe, struct cport_op *op)
{
	if ((fe->modes & CPORT_SKIP_ON_SUCCESS) && !p->be_ops->tries_at_once && op_is_send(op->_kind) &&
	    !queue_caller_batches(p)) {
		int64_t r = FAULT(FAULT_TRY, op, try_io(op, fe->fd));
		if (r != -EAGAIN) {
			op->_result = r;
			return 1;
		}
	}
	return backend_submit(p, fe, op);
}

/* An answer at once that ends the op in its start call: a success on an fd
 * that skips the port on success, not a pooled receive (its buffer is
 * handed over by a completion). fe->lock held. */
static bool skips_port(const struct fdent *fe, const struct cport_op *op)
{
	return (fe->modes & CPORT_SKIP_ON_SUCCESS) && op->_result >= 0 && op->_kind != CPORT_OP_RECV_POOLED &&
	       !op_bits_test(op, OPB_GRANTED);
}

/* On an fd that reads ahead (CPORT_RECV_AHEAD) only pooled receives read:
 * any other read would take bytes before those read ahead, or wait for
 * bytes already taken. */
static bool reads_beside_ahead(const struct cport_op *op)
{
	return op_reads(op) && op->_kind != CPORT_OP_RECV_POOLED;
}

int gate_start(struct cport *p, struct fdent *fe, struct cport_op *op)
{
	if (atomic_load(&p->shutdown))
		return -ESHUTDOWN;
	fd_lock(p, fe);
	if (fe->state != FD_ATTACHED) {
		fd_unlock(p, fe);
		return -EBADF;
	}
	if ((fe->modes & CPORT_RECV_AHEAD) && reads_beside_ahead(op)) {
		fd_unlock(p, fe);
		return -EINVAL;
	}
	op->_key = fe->key;
	op->_epoch = atomic_load(&fe->epoch);
	fd_count_start(fe, 1);
	int r = first_submit(p, fe, op);
	bool done_now = r == 1 && skips_port(fe, op);
	if (r < 0 || done_now)
		fd_count_start(fe, -1); /* attached, under its lock: no close waits on the count */
	if (done_now) {
		/* Idle before the lock goes: a cancel looks again under it. */
		set_outputs(op, op->_result);
		op_set_state(op, OP_IDLE);
	}
	fd_unlock(p, fe);
	if (done_now)
		return 1;
	if (r == 1) {
		struct list b;
		batch_init(&b);
		report_answer(p, op, &b);
		core_deliver(p, &b);
	}
	return r < 0 ? r : 0;
}

void core_buf_free(struct cport *p, unsigned id, struct list *b)
{
	struct cport_op *op;
	/* A granted op that is refused hands the buffer straight back. */
	while ((op = pool_put(&p->pool, id)) != NULL) {
		if (restart(p, op, b))
			return;
	}
}

void core_buf_free_cold(struct cport *p, unsigned id, struct list *b)
{
	struct cport_op *op = pool_kernel_returned(&p->pool, id);
	if (op && !restart(p, op, b))
		core_buf_free(p, id, b);
}

/* What follows a report. */
enum next { NEXT_COMPLETE, NEXT_RESTART, NEXT_ASK_POOL };

/* The kernel ended op without being asked to: start it again, unless that
 * has happened too often. */
static enum next unasked_cancel(struct cport_op *op, int64_t *res)
{
	if (op->_restarts++ < MAX_RESTARTS) {
		/* A connect may be under way in the kernel already: wait for it. */
		if (op->_kind == CPORT_OP_CONNECT)
			op_bits_set(op, OPB_CONNECTING);
		return NEXT_RESTART;
	}
	*res = -ECANCELED;
	return NEXT_COMPLETE;
}

static enum next decide(struct cport *p, struct cport_op *op, int64_t *res)
{
	const struct fdent *fe = op->_fd_entry;
	if (op_bits_test(op, OPB_WANT_READY)) {
		op_bits_clear(op, OPB_WANT_READY);
		if (*res >= 0) {
			op_bits_set(op, OPB_READY);
			return NEXT_ASK_POOL;
		}
	}
	if (*res == -ENOBUFS && op->_kind == CPORT_OP_RECV_POOLED) {
		if (p->be_ops->nobufs_means_data || op_bits_test(op, OPB_READY))
			return NEXT_ASK_POOL;
		/* The kernel's store was kept shallow, and the pool had more. */
		if (pool_kernel_grow(&p->pool, pool_class_wanted(&p->pool, fe)))
			return NEXT_RESTART;
		/* No buffer, and maybe no data either: wait for data first, so an
		 * idle receive never takes a buffer from one with data. */
		op_bits_set(op, OPB_WANT_READY);
		return NEXT_RESTART;
	}
	if (*res == -EAGAIN) {
		op_bits_clear(op, OPB_READY);
		return NEXT_RESTART;
	}
	if (*res != -ECANCELED && *res != -EINTR)
		return NEXT_COMPLETE;
	/* Cancelled on purpose (the op, its fd, or the port): -ECANCELED,
	 * whatever the kernel called it. Otherwise the kernel did it on its own. */
	bool asked = op_bits_test(op, OPB_CANCEL) || atomic_load(&fe->epoch) != op->_epoch ||
		     atomic_load(&p->shutdown);
	if (!asked)
		return unasked_cancel(op, res);
	*res = -ECANCELED;
	return NEXT_COMPLETE;
}

/* The pool decides for a receive with data waiting and no buffer. */
static void ask_pool(struct cport *p, struct cport_op *op, struct list *b)
{
	switch (pool_wait(&p->pool, op)) {
	case POOL_GRANTED:
	case POOL_RETRY:
		gate_restart(p, op, b);
		break;
	case POOL_PARKED:
		break;
	case POOL_REFUSED:
		finalize(op, -ECANCELED, b);
		break;
	}
}

void core_report(struct cport *p, struct cport_op *op, int64_t res, struct list *b)
{
	res = FAULT(FAULT_REPORT, op, res);
	switch (decide(p, op, &res)) {
	case NEXT_COMPLETE:
		finalize(op, res, b);
		break;
	case NEXT_RESTART:
		gate_restart(p, op, b);
		break;
	case NEXT_ASK_POOL:
		(void)FAULT(FAULT_POOL_ASK, op, 0);
		ask_pool(p, op, b);
		break;
	}
}

void core_report_buf(struct cport *p, struct cport_op *op, int64_t res, unsigned id, struct list *b)
{
	struct fdent *fe = op->_fd_entry;
	/* As much as a small buffer holds, or more: large ones next, until
	 * LARGE_STREAK receives in a row got less. A big message often comes
	 * as a long receive and a short one (its last segment), which alone
	 * must not send the next message back to small buffers. */
	if (res > 0) { /* only data moves it: not a give-back, a cancel or an error */
		unsigned big = atomic_load_explicit(&fe->pooled_big, memory_order_relaxed);
		big = (size_t)res >= p->pool.cls[POOL_SMALL].size ? LARGE_STREAK : big ? big - 1 : 0;
		atomic_store_explicit(&fe->pooled_big, (uint8_t)big, memory_order_relaxed);
	}
	/* Rarely set here (the kernel chose the buffer): a load, not a locked
	 * clear, in the common case. It is set only before the op goes to the
	 * kernel (at its submit, or by the pool's grant before a restart), so
	 * it cannot be set while its completion is reported. */
	if (op_bits_test(op, OPB_GRANTED))
		op_bits_clear(op, OPB_GRANTED);
	if (res > 0) {
		op->_buf_id = id; /* the completion's buf */
		op->_flags = CPORT_CF_BUFFER;
		pool_lend(&p->pool, id);
	} else {
		core_buf_free(p, id, b);
	}
	core_report(p, op, res, b);
}
