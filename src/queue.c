/* queue.c - the completion queue and the threads that wait on it: FIFO
 * completions, followers released most recent first, the concurrency
 * limit, posting. */
#include "backend.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* A follower parked in cport_wait. Lives on its thread's stack. */
struct waiter {
	pthread_cond_t cv;
	struct cport_link link; /* on p->waiters */
	bool signaled;
};

/* The port whose completions this thread runs (it holds a reference to it),
 * and whether it counts in that port's running threads. */
static __thread struct cport *tls_port;
static __thread bool tls_counted;
static __thread struct cport *tls_polling; /* the port this thread polls now */
static __thread char tls_token;            /* its address names this thread */
static __thread const struct cport *tls_alone; /* its last wait there took the only completion */
static __thread unsigned tls_slot; /* queue_thread_slot() + 1, once asked */
static atomic_uint next_slot;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

/* The port's memory goes with its last reference: cport_destroy's, or
 * that of a thread that ran its completions and has not yet moved on. */
static void port_free(struct cport *p)
{
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->remote_lock);
	pthread_cond_destroy(&p->idle_cv);
	pthread_condattr_destroy(&p->cattr);
	free(p);
}

void queue_unref(struct cport *p)
{
	if (atomic_fetch_sub(&p->refs, 1) == 1)
		port_free(p);
}

/* Release the most recent follower. Port lock held. */
static void wake_one(struct cport *p)
{
	struct cport_link *k = list_pop_front(&p->waiters);
	if (!k)
		return;
	struct waiter *w = list_entry(k, struct waiter, link);
	w->signaled = true;
	p->woken++;
	pthread_cond_signal(&w->cv);
}

/* Someone should run what is queued (a parked follower, else the poller), or
 * poll the kernel if nobody does. Port lock held. */
static void kick(struct cport *p)
{
	if (p->running >= p->concurrency)
		return;
	if (list_empty(&p->queue)) {
		/* Nobody polls the kernel (all waited while the limit was
		 * reached): a follower takes that role. */
		if (!p->polling && !list_empty(&p->waiters))
			wake_one(p);
		return;
	}
	/* The poller queueing its own harvest takes it next (wait_loop hands
	 * on what it leaves): waking a follower now would only park it again. */
	if (tls_polling == p)
		return;
	if (!list_empty(&p->waiters))
		wake_one(p);
	else if (p->polling && !atomic_exchange(&p->wake_pending, true))
		p->be_ops->wake(p);
}

/* The thread stops counting as running on its port. What it started and
 * left for its next wait goes to the kernel now. Under the port lock, a
 * port not yet shutting down still has its backend (destroy tears it down
 * only after queue_shutdown has had that lock). */
static void uncount(struct cport *p)
{
	pthread_mutex_lock(&p->lock);
	if (!atomic_load(&p->shutdown))
		p->be_ops->flush(p);
	if (p->running)
		p->running--;
	kick(p);
	pthread_mutex_unlock(&p->lock);
}

bool queue_caller_returns(const struct cport *p)
{
	return tls_port == p && tls_counted;
}

bool queue_caller_batches(const struct cport *p)
{
	return (!p->mt || queue_caller_returns(p)) && tls_alone != p;
}

/* A wait on p took n completions: note whether they were all there was. */
static int took(struct cport *p, int n)
{
	tls_alone = n == 1 && list_empty(&p->queue) ? p : NULL;
	return n;
}

static void thread_exit(void *arg)
{
	struct cport *p = arg;
	if (tls_counted)
		uncount(p);
	tls_counted = false;
	tls_port = NULL;
	queue_unref(p);
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
	queue_unref(old);
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

void port_queue_append(struct cport *p, struct list *b)
{
	if (list_empty(b))
		return;
	plock(p, &p->lock);
	list_splice_back(&p->queue, b);
	if (p->mt)
		kick(p);
	punlock(p, &p->lock);
}

/* Move up to max queued completions to out. Port lock held. */
static int take(struct cport *p, struct cport_completion *out, int max)
{
	int n = 0;
	struct cport_link *k;
	while (n < max && (k = list_pop_front(&p->queue)) != NULL) {
		struct cport_op *op = op_of_queue_link(k);
		struct cport_completion *c = &out[n++];
		c->key = op->_key;
		c->result = op->_result;
		c->flags = op->_flags;
		c->kind = op->_kind;
		c->buf = op->_flags & CPORT_CF_BUFFER ? pool_buf(&p->pool, op->_buf_id) : NULL;
		if (op_bits_test(op, OPB_NODE)) {
			c->op = NULL;
			free(op);
			continue;
		}
		c->op = op;
		op_set_state(op, OP_IDLE);
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

unsigned queue_thread_slot(void)
{
	if (!tls_slot)
		tls_slot = atomic_fetch_add_explicit(&next_slot, 1, memory_order_relaxed) % 64 + 1;
	return tls_slot - 1;
}

/* Park as a follower until released, the deadline, or shutdown. Port lock
 * held. Returns whether it was released (to run completions, or to poll).
 * Meanwhile its bit in p->parked is set. */
static bool park(struct cport *p, const struct timespec *deadline, int timeout_ms)
{
	struct waiter w = {.signaled = false};
	pthread_cond_init(&w.cv, &p->cattr);
	list_push_front(&p->waiters, &w.link);
	uint64_t bit = UINT64_C(1) << queue_thread_slot();
	atomic_fetch_or_explicit(&p->parked, bit, memory_order_relaxed);
	while (!w.signaled && !atomic_load(&p->shutdown)) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&w.cv, &p->lock);
		} else if (pthread_cond_timedwait(&w.cv, &p->lock, deadline) == ETIMEDOUT) {
			break;
		}
	}
	atomic_fetch_and_explicit(&p->parked, ~bit, memory_order_relaxed);
	if (w.signaled) {
		p->woken--;
	} else {
		list_remove(&p->waiters, &w.link);
	}
	pthread_cond_destroy(&w.cv);
	return w.signaled;
}

static bool poll_failed(int r)
{
	return r < 0 && r != -EINTR && r != -ETIME && r != -EAGAIN && r != -EBUSY;
}

/* Posts other threads made to a single-thread port join its queue, in order. */
static void take_remote(struct cport *p)
{
	struct list b;
	batch_init(&b);
	pthread_mutex_lock(&p->remote_lock);
	atomic_store(&p->remote_pending, false);
	list_splice_back(&b, &p->remote);
	pthread_mutex_unlock(&p->remote_lock);
	port_queue_append(p, &b);
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
		if (atomic_load_explicit(&p->remote_pending, memory_order_acquire))
			take_remote(p);
		if (!list_empty(&p->queue))
			return took(p, take(p, out, max));
		int left = ms_left(&deadline, timeout_ms);
		int r = p->be_ops->poll(p, left);
		if (poll_failed(r))
			return r;
		if (list_empty(&p->queue) && left == 0)
			return 0;
	}
}

/* One cport_wait on a shared port: its deadline and what its polls brought. */
struct wait {
	struct timespec deadline;
	int timeout_ms;
	bool polled;    /* it has been the poller */
	bool harvested; /* its last poll completed ops */
	bool flushed;   /* what this thread started while running is in the kernel */
};

/* May this waiter take queued completions now? The poller has waited
 * longest. It runs what it just collected from the kernel itself (it is
 * awake, its caches are warm); when it woke with nothing of its own (a
 * post, a timeout), completions go to the followers, most recent first, as
 * IOCP releases them. Port lock held. */
static bool may_take(const struct cport *p, const struct wait *w)
{
	bool mine = !w->polled || w->harvested || (list_empty(&p->waiters) && !p->woken);
	return !list_empty(&p->queue) && p->running < p->concurrency && mine;
}

/* Be the poller once. Returns -errno to end the wait, 0 to end it with
 * nothing (a poll without wait found nothing to take), 1 to go on. Port
 * lock held; dropped while polling. */
static int poll_once(struct cport *p, struct wait *w, int left)
{
	p->polling = true;
	pthread_mutex_unlock(&p->lock);
	tls_polling = p;
	int r = p->be_ops->poll(p, left);
	tls_polling = NULL;
	pthread_mutex_lock(&p->lock);
	p->polling = false;
	w->polled = true;
	w->harvested = r > 0;
	w->flushed = true; /* a poll submits everything queued */
	atomic_store(&p->wake_pending, false);
	if (poll_failed(r))
		return r;
	return left == 0 && !may_take(p, w) ? 0 : 1;
}

/* What this thread started while it ran goes to the kernel before it takes
 * more work or parks; a thread that polls next submits it with its wait, in
 * one system call. Port lock held, dropped meanwhile. Returns whether it
 * flushed now (then the caller looks again). */
static bool flush_once(struct cport *p, struct wait *w)
{
	if (w->flushed)
		return false;
	w->flushed = true;
	pthread_mutex_unlock(&p->lock);
	p->be_ops->flush(p);
	pthread_mutex_lock(&p->lock);
	return true;
}

/* The least a thread is given of a batch that is shared out: waking
 * another thread for less costs more than running it warm. Measured with
 * two CPUs (docs/performance.md, "Kept: a wait takes all that is
 * queued"): 32 against 64 takes 100 x 64 B from 1.28x to 1.03x of
 * ref-epoll and leaves 1,000 x 64 B where it was; 16 is no better. */
#define SHARE_MIN 32

/* How many queued completions a waiter takes: up to max, all of them on a
 * port where it is the only thread that may run now. Where the limit
 * leaves room and followers wait, a queue of 2 * SHARE_MIN or more is
 * shared out in parts of at least SHARE_MIN, one per thread that may run,
 * so that a caller with a large max does not run the lot while the other
 * CPUs idle. Port lock held; the waiter does not count as running yet, nor
 * as woken. */
static int share(const struct cport *p, int max)
{
	unsigned len = p->queue.len;
	unsigned others = p->concurrency - p->running - 1; /* may_take: running < concurrency */
	unsigned followers = p->waiters.len + p->woken;    /* parked, or released and on their way */
	if (others > followers)
		others = followers;
	unsigned parts = len / SHARE_MIN;
	if (parts > others + 1)
		parts = others + 1;
	if (parts == 0)
		parts = 1;
	unsigned part = (len + parts - 1) / parts;
	return part < (unsigned)max ? (int)part : max;
}

/* Port lock held. Returns the count taken, 0 at the deadline, or -errno. */
static int wait_loop(struct cport *p, struct cport_completion *out, int max, struct wait *w)
{
	for (;;) {
		if (atomic_load(&p->shutdown))
			return -ESHUTDOWN;
		if (may_take(p, w)) {
			if (flush_once(p, w))
				continue;
			int n = took(p, take(p, out, share(p, max)));
			become_running(p);
			if (!list_empty(&p->queue) && p->running < p->concurrency)
				wake_one(p);
			return n;
		}
		int left = ms_left(&w->deadline, w->timeout_ms);
		/* Poll only with room to run what the kernel gives: at the limit,
		 * completions wait in the kernel until a running thread comes
		 * back to wait (and polls then), rather than wake this one to
		 * spin on what it may not take. */
		if (!p->polling && p->running < p->concurrency) {
			int r = poll_once(p, w, left);
			if (r <= 0)
				return r;
			continue;
		}
		if (flush_once(p, w))
			continue;
		if (left == 0)
			return 0;
		/* Released from parking it is a follower, whatever it did
		 * before (a poller parks when the limit is reached). */
		if (park(p, &w->deadline, w->timeout_ms))
			w->polled = false;
	}
}

int cport_wait(cport_t *p, struct cport_completion *out, int max, int timeout_ms)
{
	if (!p || !out || max <= 0)
		return -EINVAL;
	/* A thread that ran another port's completions leaves it first, so
	 * what it started there reaches that port's kernel queue now. */
	leave_other_port(p);
	if (!p->mt)
		return wait_single(p, out, max, timeout_ms);
	if (atomic_load(&p->shutdown))
		return -ESHUTDOWN;

	struct wait w = {.timeout_ms = timeout_ms};
	if (timeout_ms > 0)
		deadline_after(&w.deadline, timeout_ms);
	pthread_mutex_lock(&p->lock);
	/* Only a thread that ran this port's completions can have starts
	 * waiting for its wait; any other's went to the kernel at once. */
	w.flushed = !queue_caller_returns(p);
	if (tls_port == p && tls_counted) {
		p->running--;
		tls_counted = false;
	}
	p->nwaiters++;
	int ret = wait_loop(p, out, max, &w);
	p->nwaiters--;
	/* Leaving: if nobody polls the kernel now, hand that role to a follower. */
	if (!p->polling && !list_empty(&p->waiters) && p->running < p->concurrency && !atomic_load(&p->shutdown))
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
		if (!op_claim(op))
			return -EBUSY;
		__atomic_store_n(&op->_bits, 0, __ATOMIC_SEQ_CST);
	}
	op->_key = key;
	op->_result = result;
	op->_kind = CPORT_OP_POST;
	op->_flags = 0;
	op->_fd_entry = NULL;
	op_set_state(op, OP_DONE);
	if (!p->mt && atomic_load(&p->owner) != &tls_token) {
		/* Another thread posts to a single-thread port: hand it over
		 * under a lock of its own and wake the owner. */
		pthread_mutex_lock(&p->remote_lock);
		list_push_back(&p->remote, &op->_queue_link);
		atomic_store(&p->remote_pending, true);
		pthread_mutex_unlock(&p->remote_lock);
		p->be_ops->wake(p);
		return 0;
	}
	struct list b;
	batch_init(&b);
	batch_add(&b, op);
	port_queue_append(p, &b);
	return 0;
}


int queue_init(struct cport *p)
{
	pthread_once(&tls_once, tls_init);
	atomic_init(&p->refs, 1);
	list_init(&p->queue);
	list_init(&p->waiters);
	list_init(&p->remote);
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->remote_lock, NULL);
	pthread_condattr_init(&p->cattr);
	pthread_condattr_setclock(&p->cattr, CLOCK_MONOTONIC);
	return -pthread_cond_init(&p->idle_cv, &p->cattr);
}

/* A completion nobody will dequeue: free our own post node, close an
 * accepted connection nobody will see. */
static void discard(struct cport_op *op)
{
	if (op->_kind == CPORT_OP_ACCEPT && op->_result >= 0)
		close((int)op->_result);
	if (op_bits_test(op, OPB_NODE))
		free(op);
}

static void discard_all(struct list *l)
{
	struct cport_link *k;
	while ((k = list_pop_front(l)) != NULL)
		discard(op_of_queue_link(k));
}

void queue_shutdown(struct cport *p)
{
	plock(p, &p->lock);
	while (!list_empty(&p->waiters))
		wake_one(p);
	if (p->polling)
		p->be_ops->wake(p);
	while (p->mt && p->nwaiters)
		pthread_cond_wait(&p->idle_cv, &p->lock);
	discard_all(&p->queue);
	punlock(p, &p->lock);
	pthread_mutex_lock(&p->remote_lock);
	discard_all(&p->remote);
	pthread_mutex_unlock(&p->remote_lock);
}

void queue_forget_thread(struct cport *p)
{
	if (tls_port != p)
		return;
	tls_counted = false;
	tls_port = NULL;
	if (tls_key != (pthread_key_t)-1)
		pthread_setspecific(tls_key, NULL);
	queue_unref(p);
}
