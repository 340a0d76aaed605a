/* port.c - a port's life: options, choosing a backend, create, destroy. */
#include "backend.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_QUEUE_DEPTH 256
#define DEFAULT_POOL_BUFFERS 1024
#define DEFAULT_POOL_BUFFER_SIZE 16384
#define DEFAULT_POOL_LARGE_BUFFER_SIZE 65536
#define MAX_QUEUE_DEPTH 32768
#define MAX_POOL_BUFFERS 32768 /* an io_uring buffer ring holds at most this many */
#define MAX_POOL_BUFFER_SIZE (1u << 30)
/* Both classes' ids are io_uring buffer ids, which have 16 bits. */
_Static_assert(2ull * MAX_POOL_BUFFERS <= 65536, "pool buffer ids outgrow io_uring's 16-bit buffer ids");

void cport_options_init(struct cport_options *o)
{
	if (o)
		memset(o, 0, sizeof(*o));
}

/* The CPUs this process may run on (its affinity mask), not all online:
 * more running threads than that only take turns. */
static unsigned default_concurrency(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* The backend asked for: CPORT_BACKEND overrides auto only. */
static int wanted_backend(int want)
{
	const char *env = getenv("CPORT_BACKEND");
	if (want != CPORT_BACKEND_AUTO || !env || !*env)
		return want;
	return cport_backend_parse(env);
}

/* Auto: every backend, highest preference first, until one can run. */
static int init_auto(struct cport *p)
{
	bool tried[8] = {false};
	int r = -ENOSYS;
	for (unsigned n = 0; n < backends_count && n < 8; n++) {
		int best = -1;
		for (unsigned i = 0; i < backends_count && i < 8; i++) {
			if (!tried[i] && (best < 0 || backends[i]->preference > backends[best]->preference))
				best = (int)i;
		}
		tried[best] = true;
		p->be_ops = backends[best];
		r = p->be_ops->init(p);
		if (r == 0)
			return 0;
	}
	return r;
}

static int init_backend(struct cport *p, int want)
{
	want = wanted_backend(want);
	if (want < 0)
		return want;
	if (want == CPORT_BACKEND_AUTO)
		return init_auto(p);
	p->be_ops = backend_by_id(want);
	return p->be_ops ? p->be_ops->init(p) : -EINVAL;
}

static int check_options(const struct cport_options *o)
{
	if (o->backend < CPORT_BACKEND_AUTO || o->backend > CPORT_BACKEND_EPOLL ||
	    (o->flags & ~CPORT_SINGLE_THREAD) || o->queue_depth > MAX_QUEUE_DEPTH)
		return -EINVAL;
	if (o->pool_buffer_size > MAX_POOL_BUFFER_SIZE || o->pool_buffers > MAX_POOL_BUFFERS)
		return -EINVAL;
	if (o->pool_large_buffer_size > MAX_POOL_BUFFER_SIZE || o->pool_large_buffers > MAX_POOL_BUFFERS)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(o->reserved) / sizeof(o->reserved[0]); i++)
		if (o->reserved[i])
			return -EINVAL;
	/* A large buffer smaller than a small one is a mistake, not a choice. */
	size_t small = o->pool_buffer_size ? o->pool_buffer_size : DEFAULT_POOL_BUFFER_SIZE;
	size_t large = o->pool_large_buffer_size ? o->pool_large_buffer_size : DEFAULT_POOL_LARGE_BUFFER_SIZE;
	if (o->pool_large_buffers && large <= small)
		return -EINVAL;
	return 0;
}

/* Everything but the backend; on failure nothing is left allocated. */
static int port_new(const struct cport_options *o, struct cport **out)
{
	struct cport *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->mt = !(o->flags & CPORT_SINGLE_THREAD);
	p->queue_depth = o->queue_depth ? o->queue_depth : DEFAULT_QUEUE_DEPTH;
	p->concurrency = o->concurrency ? o->concurrency : default_concurrency();
	unsigned nbuf = o->pool_buffers ? o->pool_buffers : DEFAULT_POOL_BUFFERS;
	size_t bsize = o->pool_buffer_size ? o->pool_buffer_size : DEFAULT_POOL_BUFFER_SIZE;
	size_t lsize = o->pool_large_buffer_size ? o->pool_large_buffer_size : DEFAULT_POOL_LARGE_BUFFER_SIZE;
	int r = queue_init(p);
	if (r == 0)
		r = fdtab_init(&p->fdtab);
	if (r == 0) {
		r = pool_init(&p->pool, nbuf, bsize, o->pool_large_buffers, lsize, p->mt);
		if (r < 0)
			fdtab_fini(&p->fdtab);
	}
	if (r < 0) {
		queue_unref(p);
		return r;
	}
	*out = p;
	return 0;
}

int cport_create(const struct cport_options *opts, cport_t **out)
{
	struct cport_options o = {0};
	if (opts)
		o = *opts;
	if (!out)
		return -EINVAL;
	*out = NULL;
	int r = check_options(&o);
	struct cport *p = NULL;
	if (r == 0)
		r = port_new(&o, &p);
	if (r < 0)
		return r;
	r = init_backend(p, o.backend);
	if (r < 0) {
		pool_fini(&p->pool);
		fdtab_fini(&p->fdtab);
		queue_unref(p);
		return r;
	}
	*out = p;
	return 0;
}

/* An fd closed through the port whose ops had not all finished. */
static void close_if_asked(struct fdent *fe, void *arg)
{
	(void)arg;
	if (fe->state == FD_CLOSING && fe->close_fd)
		close(fe->fd);
}

int cport_destroy(cport_t *p)
{
	if (!p)
		return -EINVAL;
	if (atomic_exchange(&p->shutdown, true))
		return -EALREADY;
	queue_shutdown(p);
	p->be_ops->fini(p);
	fdtab_each_used(&p->fdtab, close_if_asked, NULL);
	fdtab_fini(&p->fdtab);
	pool_fini(&p->pool);
	queue_forget_thread(p);
	queue_unref(p);
	return 0;
}

int cport_retain(cport_t *p)
{
	if (!p)
		return -EINVAL;
	atomic_fetch_add(&p->refs, 1);
	return 0;
}

void cport_release(cport_t *p)
{
	if (p)
		queue_unref(p);
}

const char *cport_backend_name(const cport_t *p)
{
	return p && p->be_ops ? p->be_ops->name : "none";
}

unsigned cport_concurrency(const cport_t *p)
{
	return p ? p->concurrency : 0;
}

size_t cport_buf_size(const cport_t *p)
{
	return p ? p->pool.cls[POOL_SMALL].size : 0;
}

int cport_trim(cport_t *p)
{
	if (!p)
		return -EINVAL;
	unsigned excess[POOL_CLASSES];
	int r = pool_trim(&p->pool, excess);
	return r == 0 && p->be_ops->trim ? p->be_ops->trim(p, excess) : r;
}

const char *cport_version(void)
{
	return CPORT_VERSION_STRING;
}
