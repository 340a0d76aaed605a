/* pool.c - the receive pool: one region cut into equal buffers, shared by
 * every pooled receive of a port, and the one policy for who waits for a
 * buffer and who gets the next one (see pool.h). */
#include "pool.h"

#include "fd.h"
#include "fault.h"
#include "op.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

static void class_init(struct pool_class *c, char *base, unsigned first, unsigned count, size_t size)
{
	c->base = base;
	c->depth_min = 0;
	c->first = first;
	c->count = count;
	c->size = size;
	/* A release finds a buffer's id by dividing by size, once a message. */
	c->shift = size && !(size & (size - 1)) ? (unsigned)__builtin_ctzll(size) : 0;
	/* Hand out low ids first: fewer pages touched while load is light. */
	for (unsigned i = 0; i < count; i++)
		c->free_ids[i] = first + count - 1 - i;
	c->nfree = count;
	atomic_init(&c->given, 0);
	atomic_init(&c->taken, 0);
	atomic_init(&c->depth, count);
	atomic_init(&c->took, 0);
	atomic_init(&c->burst_peak, 0);
	atomic_init(&c->window, 0);
	c->cold = 0;
	c->low = count;
	atomic_init(&c->kernel_busy, false);
}

static void free_lists(struct pool *pl)
{
	for (int c = 0; c < POOL_CLASSES; c++) {
		free(pl->cls[c].free_ids);
		pl->cls[c].free_ids = NULL;
	}
	free(pl->lent);
	pl->lent = NULL;
}

int pool_init(struct pool *pl, unsigned count, size_t size, unsigned large_count, size_t large_size, bool mt)
{
	size_t pg = page_size();
	size_t small_bytes = (size_t)count * size;
	pl->map_bytes = (small_bytes + (size_t)large_count * large_size + pg - 1) / pg * pg;
	pl->lent = calloc((size_t)count + large_count, sizeof(*pl->lent));
	/* malloc(0) may give NULL: a class with no buffers still gets a list. */
	pl->cls[POOL_SMALL].free_ids = malloc(sizeof(unsigned) * (count + 1));
	pl->cls[POOL_LARGE].free_ids = malloc(sizeof(unsigned) * (large_count + 1));
	bool lists = pl->lent && pl->cls[POOL_SMALL].free_ids && pl->cls[POOL_LARGE].free_ids;
	pl->base = lists ? map_region(pl->map_bytes) : NULL;
	if (!pl->base) {
		int e = lists ? errno : ENOMEM;
		free_lists(pl);
		return -e;
	}
	pl->mt = mt;
	lock_init(&pl->lock);
	list_init(&pl->waiters);
	atomic_init(&pl->parked, 0);
	atomic_init(&pl->count_lent, false);
	atomic_init(&pl->lent_small, 0);
	class_init(&pl->cls[POOL_SMALL], pl->base, 0, count, size);
	class_init(&pl->cls[POOL_LARGE], pl->base + small_bytes, count, large_count, large_size);
	pl->kernel_put = NULL;
	return 0;
}

void pool_fini(struct pool *pl)
{
	if (!pl->base)
		return;
	unmap_region(pl->base, pl->map_bytes);
	free_lists(pl);
	lock_fini(&pl->lock);
	pl->base = NULL;
}

/* The top of class k's stack, which is not empty (lock held). */
static unsigned pop_free(struct pool_class *k)
{
	unsigned id = k->free_ids[--k->nfree];
	if (k->nfree < k->low)
		k->low = k->nfree;
	if (k->nfree < k->cold)
		k->cold = k->nfree;
	return id;
}

/* Buffer id goes to the kernel's store (lock held). */
static void to_kernel(struct pool *pl, unsigned id)
{
	/* Counted before the kernel can see it: a take is never counted
	 * before its give. */
	lock_held_add(&pl->cls[pool_class_of(pl, id)].given, 1);
	pl->kernel_put(pl->kernel_ctx, id);
}

/* The kernel's store of a class holds at least DEPTH_MIN free buffers (if
 * the class has as many): twice the most it gave out between two reaps in
 * the last window of DEPTH_WINDOW reaps that took any, and twice as many
 * at once whenever it ran dry with buffers on the pool's stack. A 64 KiB
 * message filled into one of 64 buffers taken in turn missed the cache;
 * into one of the few freed last, it does not (docs/performance.md, "Kept:
 * a shallow buffer ring"). */
#define DEPTH_MIN 4
#define DEPTH_WINDOW 64

static unsigned depth_clamp(const struct pool_class *k, unsigned want)
{
	unsigned lo = k->depth_min ? k->depth_min : DEPTH_MIN;
	lo = k->count < lo ? k->count : lo;
	return want < lo ? lo : want > k->count ? k->count : want;
}

static unsigned depth_of(const struct pool_class *k)
{
	return atomic_load_explicit(&k->depth, memory_order_relaxed);
}

/* Lock held. */
static void set_depth(struct pool_class *k, unsigned want)
{
	atomic_store_explicit(&k->depth, depth_clamp(k, want), memory_order_relaxed);
}

/* The kernel's store of class k filled up to its depth from the pool's
 * stack, the last freed first; never while a receive is parked, which the
 * next free buffer is for (lock held). Returns how many went. */
static unsigned fill_kernel(struct pool *pl, struct pool_class *k)
{
	unsigned moved = 0;
	if (!list_empty(&pl->waiters))
		return 0;
	for (; k->nfree && pool_in_kernel(k) < depth_of(k); moved++)
		to_kernel(pl, pop_free(k));
	return moved;
}

void pool_set_depth_min(struct pool *pl, int c, unsigned min)
{
	lock_take_if(pl->mt, &pl->lock);
	pl->cls[c].depth_min = min;
	set_depth(&pl->cls[c], depth_of(&pl->cls[c]));
	lock_give_if(pl->mt, &pl->lock);
}

void pool_use_kernel_store(struct pool *pl, void (*put)(void *ctx, unsigned id), void *ctx)
{
	lock_take_if(pl->mt, &pl->lock);
	pl->kernel_put = put;
	pl->kernel_ctx = ctx;
	for (int c = 0; c < POOL_CLASSES; c++) {
		struct pool_class *k = &pl->cls[c];
		set_depth(k, DEPTH_MIN);
		fill_kernel(pl, k);
	}
	lock_give_if(pl->mt, &pl->lock);
}

int pool_id_of(const struct pool *pl, const void *buf, unsigned *id)
{
	uintptr_t a = (uintptr_t)buf;
	if (!pl->base)
		return -EINVAL;
	for (int c = 0; c < POOL_CLASSES; c++) {
		const struct pool_class *k = &pl->cls[c];
		uintptr_t base = (uintptr_t)k->base;
		if (a < base || a >= base + (uintptr_t)k->count * k->size)
			continue;
		uintptr_t off = a - base;
		uintptr_t n = k->shift ? off >> k->shift : off / k->size;
		if (off != n * k->size)
			return -EINVAL;
		*id = k->first + (unsigned)n;
		return 0;
	}
	return -EINVAL;
}

/* A free buffer of class want, else of the other; false if none (lock held). */
static bool take_free(struct pool *pl, int want, unsigned *id)
{
	struct pool_class *k = &pl->cls[want];
	if (!k->nfree)
		k = &pl->cls[!want];
	if (!k->nfree)
		return false;
	*id = pop_free(k);
	return true;
}

int pool_take(struct pool *pl, int want, unsigned *id)
{
	lock_take_if(pl->mt, &pl->lock);
	bool got = list_empty(&pl->waiters) && take_free(pl, want, id);
	lock_give_if(pl->mt, &pl->lock);
	return got ? 0 : -ENOBUFS;
}

void pool_kernel_took(struct pool *pl, const unsigned took[POOL_CLASSES])
{
	for (int c = 0; c < POOL_CLASSES; c++) {
		if (!took[c])
			continue;
		atomic_fetch_add(&pl->cls[c].taken, took[c]);
		atomic_fetch_add_explicit(&pl->cls[c].took, took[c], memory_order_relaxed);
	}
}

/* Once a message at light load: no lock unless the window is over or the
 * store is half empty. Otherwise the buffers freed next go straight in
 * (pool_put), and they are the ones still in the cache. */
void pool_reaped(struct pool *pl)
{
	for (int c = 0; c < POOL_CLASSES; c++) {
		struct pool_class *k = &pl->cls[c];
		if (!atomic_load_explicit(&k->took, memory_order_relaxed))
			continue;
		unsigned took = atomic_exchange_explicit(&k->took, 0, memory_order_relaxed);
		if (!atomic_load_explicit(&k->kernel_busy, memory_order_relaxed))
			atomic_store_explicit(&k->kernel_busy, true, memory_order_relaxed);
		if (took > atomic_load_explicit(&k->burst_peak, memory_order_relaxed))
			atomic_store_explicit(&k->burst_peak, took, memory_order_relaxed);
		bool resize = atomic_fetch_add_explicit(&k->window, 1, memory_order_relaxed) + 1 == DEPTH_WINDOW;
		if (!resize && 2 * pool_in_kernel(k) >= depth_of(k))
			continue;
		lock_take_if(pl->mt, &pl->lock);
		/* Shallower once a whole window wanted less; deeper only when the
		 * store ran dry (deepen), which a burst that only came near does
		 * not: the next 64 KiB message would go to a cold buffer. */
		if (resize) {
			set_depth(k, 2 * atomic_load_explicit(&k->burst_peak, memory_order_relaxed));
			atomic_store_explicit(&k->burst_peak, 0, memory_order_relaxed);
			atomic_store_explicit(&k->window, 0, memory_order_relaxed);
		}
		fill_kernel(pl, k);
		lock_give_if(pl->mt, &pl->lock);
	}
}

/* The kernel's store of class k ran dry while the pool had buffers of its
 * own (lock held): it holds twice as many from now on. */
static unsigned deepen(struct pool *pl, struct pool_class *k)
{
	set_depth(k, 2 * depth_of(k));
	return fill_kernel(pl, k);
}

bool pool_kernel_grow(struct pool *pl, int want)
{
	lock_take_if(pl->mt, &pl->lock);
	struct pool_class *k = &pl->cls[want];
	if (!k->nfree)
		k = &pl->cls[!want];
	/* Without a kernel store (epoll) there is no ring to deepen. */
	bool moved = pl->kernel_put && k->nfree && deepen(pl, k) > 0;
	lock_give_if(pl->mt, &pl->lock);
	return moved;
}

static void grant(struct cport_op *op, unsigned id)
{
	op->_buf_id = id;
	op_bits_set(op, OPB_GRANTED);
}

/* The longest-parked receive, granted buffer id, or NULL if none is parked (lock held). */
static struct cport_op *take_waiter(struct pool *pl, unsigned id)
{
	struct cport_link *k = list_pop_front(&pl->waiters);
	if (!k)
		return NULL;
	struct cport_op *op = list_entry(k, struct cport_op, _pool_link);
	op_bits_clear(op, OPB_PARKED);
	atomic_fetch_sub_explicit(&pl->parked, 1, memory_order_relaxed);
	grant(op, id);
	return op;
}

struct cport_op *pool_put(struct pool *pl, unsigned id)
{
	lock_take_if(pl->mt, &pl->lock);
	struct cport_op *op = take_waiter(pl, id);
	if (!op) {
		struct pool_class *cl = &pl->cls[pool_class_of(pl, id)];
		if (pl->kernel_put && pool_in_kernel(cl) < depth_of(cl))
			to_kernel(pl, id);
		else
			cl->free_ids[cl->nfree++] = id;
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
	atomic_fetch_add_explicit(&pl->parked, 1, memory_order_relaxed);
}

static void unpark(struct pool *pl, struct cport_op *op)
{
	list_remove(&pl->waiters, &op->_pool_link);
	op_bits_clear(op, OPB_PARKED);
	atomic_fetch_sub_explicit(&pl->parked, 1, memory_order_relaxed);
}

enum pool_wait pool_wait(struct pool *pl, struct cport_op *op)
{
	enum pool_wait r;
	unsigned id;
	lock_take_if(pl->mt, &pl->lock);
	if (op_unwanted(op)) {
		r = POOL_REFUSED;
	} else if (!list_empty(&pl->waiters)) {
		park(pl, op);
		r = POOL_PARKED;
	} else if (take_free(pl, pool_class_wanted(pl, op->_fd_entry), &id)) {
		grant(op, id);
		r = POOL_GRANTED;
		if (pl->kernel_put)
			deepen(pl, &pl->cls[pool_class_of(pl, id)]);
	} else if (pool_kernel_has(pl, POOL_SMALL) || pool_kernel_has(pl, POOL_LARGE)) {
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

/* Runs of buffers pool_trim gives back per hold of the lock: each run is a
 * madvise, and every receive of the port waits for the lock meanwhile. */
#define TRIM_RUNS_PER_LOCK 16

/* The run of buffers with consecutive ids that starts at free_ids[i] (an
 * untouched stack holds them in descending order, as class_init laid them
 * out): returns where it ends, and its lowest id in *lo. */
static unsigned run_end(const struct pool_class *k, unsigned i, unsigned *lo)
{
	unsigned j = i + 1;
	while (j < k->low && k->free_ids[j] + 1 == k->free_ids[j - 1])
		j++;
	*lo = k->free_ids[j - 1];
	return j;
}

/* The whole pages of class k's buffers lo .. lo + n - 1 go back to the
 * system; a page that also holds another buffer keeps its memory. */
static int give_back(const struct pool_class *k, unsigned lo, unsigned n)
{
	uintptr_t pg = page_size();
	uintptr_t a = (uintptr_t)k->base + (uintptr_t)(lo - k->first) * k->size;
	uintptr_t start = (a + pg - 1) / pg * pg, end = (a + (uintptr_t)n * k->size) / pg * pg;
	int r = (int)FAULT(FAULT_TRIM, NULL, 0); /* a test's failure, before the call */
	if (r == 0 && end > start && madvise((void *)start, end - start, MADV_DONTNEED) < 0)
		r = -errno;
	return r;
}

/* Up to TRIM_RUNS_PER_LOCK runs of class k's buffers that stayed free go
 * back, from the bottom of its stack up (lock held). 1 if more are left,
 * 0 if none, or -errno. */
static int trim_some(struct pool_class *k)
{
	for (int runs = 0; k->cold < k->low; runs++) {
		if (runs == TRIM_RUNS_PER_LOCK)
			return 1;
		unsigned lo, end = run_end(k, k->cold, &lo);
		int r = give_back(k, lo, end - k->cold);
		if (r < 0)
			return r;
		k->cold = end;
	}
	return 0;
}

static int trim_class(struct pool *pl, struct pool_class *k, unsigned *excess)
{
	int r;
	do {
		lock_take_if(pl->mt, &pl->lock);
		r = trim_some(k);
		if (r == 0) {
			k->low = k->nfree;
			/* A quiet store need not stay deep: whatever it holds beyond its
			 * least depth goes back to the stack once used, and from there
			 * to the system at a later trim. */
			if (pl->kernel_put && !atomic_exchange_explicit(&k->kernel_busy, false, memory_order_relaxed)) {
				set_depth(k, 0);
				unsigned held = pool_in_kernel(k);
				*excess = held > depth_of(k) ? held - depth_of(k) : 0;
			}
		}
		lock_give_if(pl->mt, &pl->lock);
	} while (r == 1);
	return r;
}

int pool_trim(struct pool *pl, unsigned excess[POOL_CLASSES])
{
	for (int c = 0; c < POOL_CLASSES; c++)
		excess[c] = 0;
	for (int c = 0; pl->base && c < POOL_CLASSES; c++) {
		int r = trim_class(pl, &pl->cls[c], &excess[c]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Buffer id goes under the stack's buffers that stayed free since the last
 * trim, above those given back: the next trim gives it back (lock held). */
static void push_cold(struct pool_class *k, unsigned id)
{
	memmove(&k->free_ids[k->cold + 1], &k->free_ids[k->cold], sizeof(unsigned) * (k->nfree - k->cold));
	k->free_ids[k->cold] = id;
	k->nfree++;
	k->low++;
}

struct cport_op *pool_kernel_returned(struct pool *pl, unsigned id)
{
	struct pool_class *k = &pl->cls[pool_class_of(pl, id)];
	atomic_fetch_add(&k->taken, 1);
	lock_take_if(pl->mt, &pl->lock);
	struct cport_op *op = take_waiter(pl, id);
	if (!op)
		push_cold(k, id);
	lock_give_if(pl->mt, &pl->lock);
	return op;
}

/* pl->lent[id]: 0 free or in the kernel, LENT lent, LENT_COUNTED lent and
 * counted in lent_small (so that a buffer lent before the counting began
 * is not taken off it). */
enum { LENT = 1, LENT_COUNTED = 2 };

void pool_count_lent(struct pool *pl)
{
	atomic_store(&pl->count_lent, true);
}

void pool_lend(struct pool *pl, unsigned id)
{
	unsigned char how = LENT;
	if (atomic_load_explicit(&pl->count_lent, memory_order_relaxed) && pool_class_of(pl, id) == POOL_SMALL) {
		atomic_fetch_add_explicit(&pl->lent_small, 1, memory_order_relaxed);
		how = LENT_COUNTED;
	}
	atomic_store_explicit(&pl->lent[id], how, memory_order_relaxed);
}

int pool_unlend(struct pool *pl, unsigned id)
{
	unsigned char how = atomic_exchange(&pl->lent[id], 0);
	if (how == LENT_COUNTED)
		atomic_fetch_sub_explicit(&pl->lent_small, 1, memory_order_relaxed);
	return how ? 0 : -EINVAL;
}
