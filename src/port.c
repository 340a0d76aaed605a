/* port.c - the completion port: the queue, the waiting threads, posting,
 * and the bookkeeping that makes every op complete exactly once. */
#include "backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_QUEUE_DEPTH 256
#define DEFAULT_POOL_BUFFERS 1024
#define DEFAULT_POOL_BUFFER_SIZE 16384
#define MAX_QUEUE_DEPTH 32768
#define MAX_POOL_BUFFERS 32768 /* an io_uring buffer ring holds at most this many */
#define MAX_POOL_BUFFER_SIZE (1u << 30)

/* A follower parked in cport_wait. Lives on its thread's stack. */
struct waiter {
	pthread_cond_t cv;
	struct waiter *next;
	bool signaled;
};

/* The port whose completions this thread runs (it holds a reference to it),
 * and whether it counts in that port's running threads. */
static __thread struct cport *tls_port;
static __thread bool tls_counted;
static __thread struct cport *tls_polling; /* the port this thread polls now */
static __thread char tls_token;            /* its address names this thread */
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void port_free(struct cport *p)
{
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->fdtab_lock);
	pthread_cond_destroy(&p->idle_cv);
	pthread_condattr_destroy(&p->cattr);
	free(p);
}

static void port_unref(struct cport *p)
{
	if (atomic_fetch_sub(&p->refs, 1) == 1)
		port_free(p);
}

/* Release the most recent follower. Port lock held. */
static void wake_one(struct cport *p)
{
	struct waiter *w = p->waiters;
	if (!w)
		return;
	p->waiters = w->next;
	w->signaled = true;
	p->woken++;
	pthread_cond_signal(&w->cv);
}

/* Someone should run what is queued: a parked follower, else the poller. */
static void kick(struct cport *p)
{
	if (!p->q_head || p->running >= p->concurrency)
		return;
	if (p->waiters)
		wake_one(p);
	else if (p->polling && tls_polling != p && !atomic_exchange(&p->wake_pending, true))
		p->be_ops->wake(p);
}

/* The thread stops counting as running on its port. */
static void uncount(struct cport *p)
{
	pthread_mutex_lock(&p->lock);
	if (p->running)
		p->running--;
	kick(p);
	pthread_mutex_unlock(&p->lock);
}

static void thread_exit(void *arg)
{
	struct cport *p = arg;
	if (tls_counted)
		uncount(p);
	tls_counted = false;
	tls_port = NULL;
	port_unref(p);
}

static void tls_init(void)
{
	/* Failure leaves the key unusable: then exiting threads are simply not uncounted. */
	if (pthread_key_create(&tls_key, thread_exit) != 0)
		tls_key = (pthread_key_t)-1;
}

/* Forget the port this thread ran completions of, if it is not p. */
static void leave_other_port(struct cport *p)
{
	struct cport *old = tls_port;
	if (!old || old == p)
		return;
	if (tls_counted)
		uncount(old);
	tls_counted = false;
	tls_port = NULL;
	if (tls_key != (pthread_key_t)-1)
		pthread_setspecific(tls_key, NULL);
	port_unref(old);
}

static void become_running(struct cport *p)
{
	p->running++;
	tls_counted = true;
	if (tls_port != p) {
		atomic_fetch_add(&p->refs, 1);
		tls_port = p;
		if (tls_key != (pthread_key_t)-1)
			pthread_setspecific(tls_key, p);
	}
}

void batch_add(struct batch *b, struct cport_op *op)
{
	op->_next = NULL;
	if (b->tail)
		b->tail->_next = op;
	else
		b->head = op;
	b->tail = op;
	b->n++;
}

void port_deliver(struct cport *p, struct batch *b)
{
	if (!b->n)
		return;
	plock(p, &p->lock);
	if (p->q_tail)
		p->q_tail->_next = b->head;
	else
		p->q_head = b->head;
	p->q_tail = b->tail;
	p->q_len += b->n;
	if (p->mt)
		kick(p);
	punlock(p, &p->lock);
	b->head = b->tail = NULL;
	b->n = 0;
}

/* The fd's last op is done: detach it, close it if asked, complete the closer. */
void port_finish_fd(struct cport *p, struct fdent *fe, struct batch *b)
{
	plock(p, &fe->lock);
	struct cport_op *closer = fe->closer;
	int fd = fe->fd;
	bool do_close = fe->close_fd;
	uintptr_t key = fe->key;
	p->be_ops->detach(p, fe);
	/* Free the entry before close(): the fd number may be reused at once. */
	fe->state = FD_FREE;
	fe->closer = NULL;
	fe->finishing = false;
	fe->fd = -1;
	fe->cancel_epoch++;
	punlock(p, &fe->lock);
	int res = 0;
	if (do_close && close(fd) < 0)
		res = -errno;
	if (closer) {
		closer->_result = res;
		closer->_key = key;
		atomic_store_explicit((_Atomic uint32_t *)&closer->_state, OP_DONE, memory_order_release);
		batch_add(b, closer);
	}
}

void port_op_done(struct cport *p, struct cport_op *op, int64_t res, struct batch *b)
{
	struct fdent *fe = op->_fe;
	if (op->_kind == CPORT_OP_RECVFROM && res >= 0 && op->_addrlen)
		*(socklen_t *)op->_addrlen = op->_msg.msg_namelen;
	op->_result = res;
	atomic_store_explicit((_Atomic uint32_t *)&op->_state, OP_DONE, memory_order_release);
	batch_add(b, op);
	if (!fe)
		return;
	plock(p, &fe->lock);
	fe->inflight--;
	bool fin = fe->inflight == 0 && fe->state == FD_CLOSING && !fe->finishing;
	if (fin)
		fe->finishing = true;
	punlock(p, &fe->lock);
	if (fin)
		port_finish_fd(p, fe, b);
}

/* Move up to max queued completions to out. Port lock held. */
static int take(struct cport *p, struct cport_completion *out, int max)
{
	int n = 0;
	while (n < max && p->q_head) {
		struct cport_op *op = p->q_head;
		p->q_head = op->_next;
		if (!p->q_head)
			p->q_tail = NULL;
		p->q_len--;
		struct cport_completion *c = &out[n++];
		c->key = op->_key;
		c->result = op->_result;
		c->flags = op->_flags;
		c->kind = op->_kind;
		c->buf = op->_buf;
		if (op_bits_test(op, OPB_NODE)) {
			c->op = NULL;
			free(op);
			continue;
		}
		c->op = op;
		op->_next = NULL;
		atomic_store_explicit((_Atomic uint32_t *)&op->_state, OP_IDLE, memory_order_release);
	}
	return n;
}

static void deadline_after(struct timespec *d, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, d);
	d->tv_sec += ms / 1000;
	d->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (d->tv_nsec >= 1000000000L) {
		d->tv_sec++;
		d->tv_nsec -= 1000000000L;
	}
}

/* Milliseconds left until d (rounded up), 0 when past; -1 for no deadline. */
static int ms_left(const struct timespec *d, int timeout_ms)
{
	if (timeout_ms < 0)
		return -1;
	if (timeout_ms == 0)
		return 0;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ns = (long long)(d->tv_sec - now.tv_sec) * 1000000000LL + (d->tv_nsec - now.tv_nsec);
	if (ns <= 0)
		return 0;
	return (int)((ns + 999999) / 1000000);
}

/* Park as a follower until released, the deadline, or shutdown. Port lock held. */
static void park(struct cport *p, const struct timespec *deadline, int timeout_ms)
{
	struct waiter w = {.signaled = false};
	pthread_cond_init(&w.cv, &p->cattr);
	w.next = p->waiters;
	p->waiters = &w;
	while (!w.signaled && !atomic_load(&p->shutdown)) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&w.cv, &p->lock);
		} else if (pthread_cond_timedwait(&w.cv, &p->lock, deadline) == ETIMEDOUT) {
			break;
		}
	}
	if (w.signaled) {
		p->woken--;
	} else {
		for (struct waiter **pp = &p->waiters; *pp; pp = &(*pp)->next) {
			if (*pp == &w) {
				*pp = w.next;
				break;
			}
		}
	}
	pthread_cond_destroy(&w.cv);
}

static bool poll_failed(int r)
{
	return r < 0 && r != -EINTR && r != -ETIME && r != -ETIMEDOUT && r != -EAGAIN;
}

/* Posts other threads made to a single-thread port join its queue, in order. */
static void take_remote(struct cport *p)
{
	struct cport_op *stack = atomic_exchange(&p->remote, NULL), *fifo = NULL;
	while (stack) {
		struct cport_op *next = stack->_next;
		stack->_next = fifo;
		fifo = stack;
		stack = next;
	}
	struct batch b = {0};
	while (fifo) {
		struct cport_op *next = fifo->_next;
		batch_add(&b, fifo);
		fifo = next;
	}
	port_deliver(p, &b);
}

static int wait_single(struct cport *p, struct cport_completion *out, int max, int timeout_ms)
{
	struct timespec deadline;
	if (timeout_ms > 0)
		deadline_after(&deadline, timeout_ms);
	if (atomic_load_explicit(&p->owner, memory_order_relaxed) != &tls_token)
		atomic_store(&p->owner, &tls_token);
	for (;;) {
		if (atomic_load(&p->shutdown))
			return -ESHUTDOWN;
		if (atomic_load_explicit(&p->remote, memory_order_relaxed))
			take_remote(p);
		if (p->q_head)
			return take(p, out, max);
		int left = ms_left(&deadline, timeout_ms);
		int r = p->be_ops->poll(p, left);
		if (poll_failed(r))
			return r;
		if (!p->q_head && left == 0)
			return 0;
	}
}

int cport_wait(cport_t *p, struct cport_completion *out, int max, int timeout_ms)
{
	if (!p || !out || max <= 0)
		return -EINVAL;
	if (!p->mt)
		return wait_single(p, out, max, timeout_ms);
	leave_other_port(p);
	if (atomic_load(&p->shutdown))
		return -ESHUTDOWN;
	/* Our own queued submissions go to the kernel before we park. */
	p->be_ops->flush(p);

	struct timespec deadline;
	if (timeout_ms > 0)
		deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&p->lock);
	if (tls_port == p && tls_counted) {
		p->running--;
		tls_counted = false;
	}
	p->nwaiters++;
	int ret;
	bool polled = false, harvested = false;
	for (;;) {
		if (atomic_load(&p->shutdown)) {
			ret = -ESHUTDOWN;
			break;
		}
		/* The poller has waited longest. It runs what it just collected
		 * from the kernel itself (it is awake, its caches are warm); when
		 * it woke with nothing of its own (a post, a timeout), completions
		 * go to the followers, most recent first, as IOCP releases them. */
		bool mine = !polled || harvested || (!p->waiters && !p->woken);
		if (p->q_head && p->running < p->concurrency && mine) {
			ret = take(p, out, max);
			become_running(p);
			if (p->q_head && p->running < p->concurrency)
				wake_one(p);
			break;
		}
		int left = ms_left(&deadline, timeout_ms);
		if (!p->polling) {
			p->polling = true;
			pthread_mutex_unlock(&p->lock);
			tls_polling = p;
			int r = p->be_ops->poll(p, left);
			tls_polling = NULL;
			pthread_mutex_lock(&p->lock);
			p->polling = false;
			polled = true;
			harvested = r > 0;
			atomic_store(&p->wake_pending, false);
			if (poll_failed(r)) {
				ret = r;
				break;
			}
			bool can_take = p->q_head && p->running < p->concurrency && (harvested || (!p->waiters && !p->woken));
			if (left == 0 && !can_take) {
				ret = 0;
				break;
			}
			continue;
		}
		if (left == 0) {
			ret = 0;
			break;
		}
		park(p, &deadline, timeout_ms);
	}
	p->nwaiters--;
	/* Leaving: if nobody polls the kernel now, hand that role to a follower. */
	if (!p->polling && p->waiters && !atomic_load(&p->shutdown))
		wake_one(p);
	if (atomic_load(&p->shutdown) && p->nwaiters == 0)
		pthread_cond_broadcast(&p->idle_cv);
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int cport_post(cport_t *p, uintptr_t key, struct cport_op *op, int64_t result)
{
	if (!p)
		return -EINVAL;
	if (atomic_load(&p->shutdown))
		return -ESHUTDOWN;
	if (!op) {
		op = calloc(1, sizeof(*op));
		if (!op)
			return -ENOMEM;
		op->_bits = OPB_NODE;
	} else {
		uint32_t idle = OP_IDLE;
		if (!atomic_compare_exchange_strong((_Atomic uint32_t *)&op->_state, &idle, OP_INFLIGHT))
			return -EBUSY;
		__atomic_store_n(&op->_bits, 0, __ATOMIC_SEQ_CST);
	}
	op->_key = key;
	op->_result = result;
	op->_kind = CPORT_OP_POST;
	op->_flags = 0;
	op->_buf = NULL;
	op->_fe = NULL;
	atomic_store_explicit((_Atomic uint32_t *)&op->_state, OP_DONE, memory_order_release);
	if (!p->mt && atomic_load(&p->owner) != &tls_token) {
		/* Another thread posts to a single-thread port: hand it over
		 * without a lock and wake the owner. */
		op->_next = atomic_load(&p->remote);
		while (!atomic_compare_exchange_weak(&p->remote, &op->_next, op))
			;
		p->be_ops->wake(p);
		return 0;
	}
	struct batch b = {0};
	batch_add(&b, op);
	port_deliver(p, &b);
	return 0;
}

void cport_options_init(struct cport_options *o)
{
	if (o)
		memset(o, 0, sizeof(*o));
}

static int pick_backend(int want, const struct backend **out)
{
	if (want == CPORT_BACKEND_AUTO) {
		const char *env = getenv("CPORT_BACKEND");
		if (env && *env && strcmp(env, "auto") != 0) {
			if (strcmp(env, "io_uring") == 0 || strcmp(env, "uring") == 0)
				want = CPORT_BACKEND_URING;
			else if (strcmp(env, "epoll") == 0)
				want = CPORT_BACKEND_EPOLL;
			else
				return -EINVAL;
		}
	}
	*out = want == CPORT_BACKEND_EPOLL ? &backend_epoll : &backend_uring;
	return want;
}

static int init_backend(struct cport *p, int want)
{
	const struct backend *be;
	want = pick_backend(want, &be);
	if (want < 0)
		return want;
	p->be_ops = be;
	int r = be->init(p);
	if (r < 0 && want == CPORT_BACKEND_AUTO) {
		p->be_ops = &backend_epoll;
		r = backend_epoll.init(p);
	}
	return r;
}

int cport_create(const struct cport_options *opts, cport_t **out)
{
	struct cport_options o = {0};
	if (opts)
		o = *opts;
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (o.backend < CPORT_BACKEND_AUTO || o.backend > CPORT_BACKEND_EPOLL ||
	    (o.flags & ~CPORT_SINGLE_THREAD) || o.queue_depth > MAX_QUEUE_DEPTH)
		return -EINVAL;
	if (o.pool_buffer_size > MAX_POOL_BUFFER_SIZE || o.pool_buffers > MAX_POOL_BUFFERS)
		return -EINVAL;
	pthread_once(&tls_once, tls_init);

	struct cport *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->mt = !(o.flags & CPORT_SINGLE_THREAD);
	p->queue_depth = o.queue_depth ? o.queue_depth : DEFAULT_QUEUE_DEPTH;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	p->concurrency = o.concurrency ? o.concurrency : (ncpu > 0 ? (unsigned)ncpu : 1);
	atomic_init(&p->refs, 1);
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->fdtab_lock, NULL);
	pthread_condattr_init(&p->cattr);
	pthread_condattr_setclock(&p->cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->idle_cv, &p->cattr);

	unsigned nbuf = o.pool_buffers ? o.pool_buffers : DEFAULT_POOL_BUFFERS;
	size_t bsize = o.pool_buffer_size ? o.pool_buffer_size : DEFAULT_POOL_BUFFER_SIZE;
	int r = pool_init(p, nbuf, bsize);
	if (r == 0) {
		r = init_backend(p, o.backend);
		if (r < 0)
			pool_fini(p);
	}
	if (r < 0) {
		port_free(p);
		return r;
	}
	*out = p;
	return 0;
}

int cport_destroy(cport_t *p)
{
	if (!p)
		return -EINVAL;
	if (atomic_exchange(&p->shutdown, true))
		return -EALREADY;
	plock(p, &p->lock);
	while (p->waiters)
		wake_one(p);
	if (p->polling)
		p->be_ops->wake(p);
	while (p->mt && p->nwaiters)
		pthread_cond_wait(&p->idle_cv, &p->lock);
	/* Completions nobody dequeued: free our own post nodes, close accepted
	 * connections nobody will see. */
	while (p->q_head) {
		struct cport_op *op = p->q_head;
		p->q_head = op->_next;
		if (op->_kind == CPORT_OP_ACCEPT && op->_result >= 0)
			close((int)op->_result);
		if (op_bits_test(op, OPB_NODE))
			free(op);
	}
	p->q_tail = NULL;
	punlock(p, &p->lock);
	for (struct cport_op *op = atomic_exchange(&p->remote, NULL), *next; op; op = next) {
		next = op->_next;
		if (op_bits_test(op, OPB_NODE))
			free(op);
	}

	p->be_ops->fini(p);
	/* fds closed through the port whose ops had not all finished. */
	for (int c = 0; c < FDTAB_CHUNKS; c++) {
		struct fdent *chunk = atomic_load(&p->fdtab[c]);
		for (int i = 0; chunk && i < FDTAB_CHUNK; i++) {
			if (chunk[i].state == FD_CLOSING && chunk[i].close_fd)
				close(chunk[i].fd);
		}
	}
	fdtab_free(p);
	pool_fini(p);
	if (tls_port == p) {
		tls_counted = false;
		tls_port = NULL;
		if (tls_key != (pthread_key_t)-1)
			pthread_setspecific(tls_key, NULL);
		port_unref(p);
	}
	port_unref(p);
	return 0;
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
	return p ? p->pool.size : 0;
}

const char *cport_version(void)
{
	return CPORT_VERSION_STRING;
}
