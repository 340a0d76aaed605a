/* pool.c - the receive pool: one region cut into equal buffers, shared by
 * every pooled receive of a port, and the one policy for who waits for a
 * buffer and who gets the next one (see pool.h). */
#include "pool.h"

#include "fd.h"
#include "op.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

static size_t page_size(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	return pg > 0 ? (size_t)pg : 4096;
}

/* The pool's memory, between two inaccessible guard pages: an overrun
 * faults, and the kernel never merges the pool with a neighbouring mapping,
 * so it stays one region of its own in /proc/PID/maps. */
static void *map_region(size_t bytes)
{
	size_t pg = page_size();
	char *m = mmap(NULL, bytes + 2 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (mprotect(m + pg, bytes, PROT_READ | PROT_WRITE) < 0) {
		int e = errno;
		munmap(m, bytes + 2 * pg);
		errno = e;
		return NULL;
	}
	/* Named, it shows as [anon:cport-pool]; kernels without the feature say no. */
	(void)prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)(m + pg), bytes, (unsigned long)"cport-pool");
	return m + pg;
}

static void unmap_region(void *base, size_t bytes)
{
	size_t pg = page_size();
	munmap((char *)base - pg, bytes + 2 * pg);
}

int pool_init(struct pool *pl, unsigned count, size_t size, bool mt)
{
	size_t pg = page_size();
	pl->map_bytes = ((size_t)count * size + pg - 1) / pg * pg;
	pl->lent = calloc(count, sizeof(*pl->lent));
	pl->free_ids = malloc(sizeof(unsigned) * count);
	pl->base = pl->lent && pl->free_ids ? map_region(pl->map_bytes) : NULL;
	if (!pl->base) {
		int e = pl->lent && pl->free_ids ? errno : ENOMEM;
		free(pl->lent);
		free(pl->free_ids);
		pl->lent = NULL;
		pl->free_ids = NULL;
		return -e;
	}
	pl->size = size;
	pl->count = count;
	pl->mt = mt;
	lock_init(&pl->lock);
	list_init(&pl->waiters);
	/* Hand out low ids first: fewer pages touched while load is light. */
	for (unsigned i = 0; i < count; i++)
		pl->free_ids[i] = count - 1 - i;
	pl->nfree = count;
	pl->kernel_put = NULL;
	atomic_init(&pl->in_kernel, 0);
	return 0;
}

void pool_fini(struct pool *pl)
{
	if (!pl->base)
		return;
	unmap_region(pl->base, pl->map_bytes);
	free(pl->free_ids);
	free(pl->lent);
	lock_fini(&pl->lock);
	pl->lent = NULL;
	pl->base = NULL;
	pl->free_ids = NULL;
}

void pool_use_kernel_store(struct pool *pl, void (*put)(void *ctx, unsigned id), void *ctx)
{
	lock_take_if(pl->mt, &pl->lock);
	pl->kernel_put = put;
	pl->kernel_ctx = ctx;
	while (pl->nfree) {
		put(ctx, pl->free_ids[--pl->nfree]);
		atomic_fetch_add(&pl->in_kernel, 1);
	}
	lock_give_if(pl->mt, &pl->lock);
}

int pool_id_of(const struct pool *pl, const void *buf, unsigned *id)
{
	uintptr_t a = (uintptr_t)buf, base = (uintptr_t)pl->base;
	if (!pl->base || a < base || a >= base + (uintptr_t)pl->count * pl->size)
		return -EINVAL;
	if ((a - base) % pl->size)
		return -EINVAL;
	*id = (unsigned)((a - base) / pl->size);
	return 0;
}

int pool_take(struct pool *pl, unsigned *id)
{
	int ret = -ENOBUFS;
	lock_take_if(pl->mt, &pl->lock);
	if (pl->nfree && list_empty(&pl->waiters)) {
		*id = pl->free_ids[--pl->nfree];
		ret = 0;
	}
	lock_give_if(pl->mt, &pl->lock);
	return ret;
}

void pool_kernel_took(struct pool *pl)
{
	atomic_fetch_sub(&pl->in_kernel, 1);
}

static void grant(struct cport_op *op, unsigned id)
{
	op->_buf_id = id;
	op_bits_set(op, OPB_GRANTED);
}

struct cport_op *pool_put(struct pool *pl, unsigned id)
{
	struct cport_op *op = NULL;
	lock_take_if(pl->mt, &pl->lock);
	struct cport_link *k = list_pop_front(&pl->waiters);
	if (k) {
		op = list_entry(k, struct cport_op, _pool_link);
		op_bits_clear(op, OPB_PARKED);
		grant(op, id);
	} else if (pl->kernel_put) {
		pl->kernel_put(pl->kernel_ctx, id);
		atomic_fetch_add(&pl->in_kernel, 1);
	} else {
		pl->free_ids[pl->nfree++] = id;
	}
	lock_give_if(pl->mt, &pl->lock);
	return op;
}

/* Cancelled by the caller, or started before its fd's last cancel_fd,
 * detach or close. Both are set before the canceller looks at the waiters,
 * under the same lock, so a park cannot slip past a cancel. */
static bool op_unwanted(const struct cport_op *op)
{
	const struct fdent *fe = op->_fd_entry;
	return op_bits_test(op, OPB_CANCEL) || atomic_load(&fe->epoch) != op->_epoch;
}

/* Pool lock held. The op's _pool_link shares its bytes with the backend's
 * link, so whether it is parked is a bit of its own, not the link's. */
static void park(struct pool *pl, struct cport_op *op)
{
	list_push_back(&pl->waiters, &op->_pool_link);
	op_bits_set(op, OPB_PARKED);
}

static void unpark(struct pool *pl, struct cport_op *op)
{
	list_remove(&pl->waiters, &op->_pool_link);
	op_bits_clear(op, OPB_PARKED);
}

enum pool_wait pool_wait(struct pool *pl, struct cport_op *op)
{
	enum pool_wait r;
	lock_take_if(pl->mt, &pl->lock);
	if (op_unwanted(op)) {
		r = POOL_REFUSED;
	} else if (!list_empty(&pl->waiters)) {
		park(pl, op);
		r = POOL_PARKED;
	} else if (pl->nfree) {
		grant(op, pl->free_ids[--pl->nfree]);
		r = POOL_GRANTED;
	} else if (atomic_load(&pl->in_kernel) > 0) {
		r = POOL_RETRY;
	} else {
		park(pl, op);
		r = POOL_PARKED;
	}
	lock_give_if(pl->mt, &pl->lock);
	return r;
}

bool pool_unpark(struct pool *pl, struct cport_op *op)
{
	lock_take_if(pl->mt, &pl->lock);
	bool parked = op_bits_test(op, OPB_PARKED);
	if (parked)
		unpark(pl, op);
	lock_give_if(pl->mt, &pl->lock);
	return parked;
}

void pool_unpark_fd(struct pool *pl, const void *fe, unsigned epoch, struct list *out)
{
	lock_take_if(pl->mt, &pl->lock);
	list_for_each_safe(&pl->waiters, k, nx)
	{
		struct cport_op *op = list_entry(k, struct cport_op, _pool_link);
		if (op->_fd_entry != fe || op->_epoch == epoch)
			continue;
		unpark(pl, op);
		list_push_back(out, &op->_queue_link);
	}
	lock_give_if(pl->mt, &pl->lock);
}

void pool_lend(struct pool *pl, unsigned id)
{
	atomic_store_explicit(&pl->lent[id], 1, memory_order_relaxed);
}

int pool_unlend(struct pool *pl, unsigned id)
{
	return atomic_exchange(&pl->lent[id], 0) ? 0 : -EINVAL;
}
