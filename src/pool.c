/* pool.c - the receive pool: one region cut into equal buffers, shared by
 * every pooled receive of a port, so idle connections hold no memory. */
#include "backend.h"

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

int pool_init(struct cport *p, unsigned count, size_t size)
{
	struct pool *pl = &p->pool;
	size_t pg = page_size();
	pl->map_bytes = ((size_t)count * size + pg - 1) / pg * pg;
	pl->lent = calloc(count, 1);
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
	pthread_mutex_init(&pl->lock, NULL);
	/* Hand out low ids first: fewer pages touched while load is light. */
	for (unsigned i = 0; i < count; i++)
		pl->free_ids[i] = count - 1 - i;
	pl->nfree = count;
	return 0;
}

void pool_fini(struct cport *p)
{
	struct pool *pl = &p->pool;
	if (!pl->base)
		return;
	unmap_region(pl->base, pl->map_bytes);
	free(pl->free_ids);
	free(pl->lent);
	pl->lent = NULL;
	pthread_mutex_destroy(&pl->lock);
	pl->base = NULL;
	pl->free_ids = NULL;
}

int pool_id_of(const struct cport *p, const void *buf, unsigned *id)
{
	const struct pool *pl = &p->pool;
	uintptr_t a = (uintptr_t)buf, base = (uintptr_t)pl->base;
	if (!pl->base || a < base || a >= base + (uintptr_t)pl->count * pl->size)
		return -EINVAL;
	if ((a - base) % pl->size)
		return -EINVAL;
	*id = (unsigned)((a - base) / pl->size);
	return 0;
}

int pool_take(struct cport *p, unsigned *id)
{
	struct pool *pl = &p->pool;
	int ret = -ENOBUFS;
	plock(p, &pl->lock);
	if (pl->nfree) {
		*id = pl->free_ids[--pl->nfree];
		ret = 0;
	}
	punlock(p, &pl->lock);
	return ret;
}

void pool_put(struct cport *p, unsigned id)
{
	struct pool *pl = &p->pool;
	plock(p, &pl->lock);
	pl->free_ids[pl->nfree++] = id;
	punlock(p, &pl->lock);
}

void pool_lend(struct cport *p, unsigned id)
{
	plock(p, &p->pool.lock);
	p->pool.lent[id] = 1;
	punlock(p, &p->pool.lock);
}

/* -EINVAL for a buffer the caller does not hold (never lent, or released twice). */
int pool_unlend(struct cport *p, unsigned id)
{
	int ret = 0;
	plock(p, &p->pool.lock);
	if (p->pool.lent[id])
		p->pool.lent[id] = 0;
	else
		ret = -EINVAL;
	punlock(p, &p->pool.lock);
	return ret;
}
