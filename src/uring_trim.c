/* uring_trim.c - the kernel's store of pool buffers, given back after a
 * burst. A buffer ring keeps what it was filled with until a receive takes
 * it, and there is no call that takes a buffer back out: after a burst its
 * buffers, each written once, stay resident however quiet the port gets.
 * A read of /dev/null that selects a buffer takes one out: it reads
 * nothing, writes nothing into the buffer, and its completion names the
 * buffer. So after a quiet spell (no receive took a buffer between two
 * trims) the buffers beyond the store's least depth are read out that way
 * and go to the bottom of the pool's stack, where its next trim gives them
 * back. A receive that wants a buffer meanwhile takes one as ever: the
 * store is kept at its least depth, and a drained one goes to a parked
 * receive first. */
#include "backend.h"
#include "fault.h"
#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

/* The fd the drains read: opened with the port, so that the port's
 * descriptors do not change while it runs (-errno if that failed). */
int trim_open(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Up to n reads that each take a buffer of class c out of the kernel's
 * store; with the SQ full (the kernel takes nothing now) fewer, and the
 * rest wait for a later trim. sq_lock held. 0 or -errno. */
static int queue_drains(struct cport *p, struct uring_be *b, int c, unsigned n)
{
	int fd = (int)FAULT(FAULT_TRIM, NULL, b->null_fd); /* a test's failure, before the reads */
	if (fd < 0)
		return fd;
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = get_sqe(b, NULL);
		if (!sqe)
			return 0;
		io_uring_prep_read(sqe, fd, NULL, (unsigned)p->pool.cls[c].size, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = pool_group(c);
		io_uring_sqe_set_data64(sqe, UD_DRAIN);
		sq_wrote(b);
	}
	return 0;
}

int ur_trim(struct cport *p, const unsigned excess[POOL_CLASSES])
{
	struct uring_be *b = UB(p);
	int r = 0;
	for (int c = 0; c < POOL_CLASSES && r == 0; c++) {
		if (!excess[c])
			continue;
		lock_take_if(p->mt, &b->sq_lock);
		r = queue_drains(p, b, c, excess[c]);
		sq_release(p, b);
	}
	return r;
}

void trim_reap(struct cport *p, unsigned flags, struct list *out)
{
	/* Without a buffer (-ENOBUFS) the store ran dry first: receives took
	 * them, nothing to free. */
	if (flags & IORING_CQE_F_BUFFER)
		core_buf_free_cold(p, flags >> IORING_CQE_BUFFER_SHIFT, out);
}
