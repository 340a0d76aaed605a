/* loop.c - a worker thread: wait on the port, dispatch, keep house. */
#include "server.h"

#include "log.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <string.h>

#define FORCE_EXIT_MS 2000 /* after closing everything, how long ops may linger */
#define IDLE_SCAN_MIN_MS TICK_MS
#define IDLE_SCAN_MAX_MS 1000

void loop_ref(struct loop *lp)
{
	atomic_fetch_add(&lp->pending, 1);
}

/* The loop is finished: wake every other worker of its port to leave. */
static void loop_finish(struct loop *lp)
{
	int no = 0;

	if (!atomic_compare_exchange_strong(&lp->done, &no, 1))
		return;
	for (unsigned i = 1; i < lp->nworkers; i++)
		cport_post(lp->port, KEY_WAKE, NULL, 0);
}

void loop_unref(struct loop *lp)
{
	if (atomic_fetch_sub(&lp->pending, 1) == 1 && atomic_load(&lp->stopping))
		loop_finish(lp);
}

void sock_init(struct sock *sk, struct loop *lp)
{
	sk->loop = lp;
	sk->fd = -1;
	sk->close_req.type = REQ_SOCK_CLOSE;
	pthread_mutex_init(&sk->lock, NULL);
}

/* Attached under the address of its listener or UDP socket (sk is the first
 * member of both). */
int sock_attach(struct sock *sk)
{
	int r = cport_attach(sk->loop->port, sk->fd, (uintptr_t)sk);

	if (r < 0) {
		log_msg(LOG_ERR, "cannot attach a socket to the port: %s", strerror(-r));
		return r;
	}
	sk->attached = 1;
	return 0;
}

/* Close through the port: its ops end with -ECANCELED, their slots retire
 * (they check closing under the lock before starting anything on fd). */
void sock_close(struct sock *sk)
{
	struct loop *lp = sk->loop;
	int r;

	pthread_mutex_lock(&sk->lock);
	if (!sk->closing && sk->attached && !sk->closed) {
		loop_ref(lp);
		r = cport_close(lp->port, sk->fd, &sk->close_req.op);
		if (r < 0) {
			loop_unref(lp);
			log_msg(LOG_ERR, "cannot close a socket: %s", strerror(-r));
		}
	}
	sk->closing = 1;
	pthread_mutex_unlock(&sk->lock);
}

static void dispatch(struct worker *w, const struct cport_completion *c)
{
	struct req *r;

	if (!c->op) {
		if (c->key == KEY_WAKE)
			atomic_store(&w->loop->next_hk_ms, 0);
		return;
	}
	r = cport_container_of(c->op, struct req, op);
	switch (r->type) {
	case REQ_CONN:
		conn_done(w, cport_container_of(r, struct conn, r), c);
		break;
	case REQ_ACCEPT:
		accept_done(w, cport_container_of(r, struct accept_slot, r), c);
		break;
	case REQ_UDP:
		udp_done(w, cport_container_of(r, struct udp_slot, r), c);
		break;
	case REQ_SOCK_CLOSE: {
		struct sock *sk = cport_container_of(r, struct sock, close_req);
		sk->closed = 1;
		if (c->result < 0)
			log_msg(LOG_WARNING, "closing a socket: %s", strerror((int)-c->result));
		loop_unref(w->loop);
		break;
	}
	}
}

static void loop_begin_stop(struct worker *w, uint64_t now)
{
	struct loop *lp = w->loop;

	lp->drain_deadline_ms = now + w->srv->cfg->drain_ms;
	atomic_store(&lp->stopping, 1);
	for (unsigned i = 0; i < lp->nlisteners; i++)
		sock_close(&lp->listeners[i].sk);
	for (unsigned i = 0; i < lp->nudps; i++)
		sock_close(&lp->udps[i].sk);
}

/* Close every connection (drain over), or those idle since before cutoff. */
static void kill_conns(struct loop *lp, enum kill_reason why, uint64_t cutoff)
{
	pthread_mutex_lock(&lp->lock);
	for (struct conn *cn = lp->conns; cn; cn = cn->next)
		if (why == KILL_DRAIN || atomic_load_explicit(&cn->last_ms, memory_order_relaxed) <= cutoff)
			conn_kill(lp, cn, why);
	pthread_mutex_unlock(&lp->lock);
}

static void housekeep_stopping(struct worker *w, uint64_t now)
{
	struct loop *lp = w->loop;
	struct server *srv = w->srv;

	accept_rearm_parked(w, now, 1);
	if (atomic_load(&lp->pending) == 0) {
		loop_finish(lp);
		return;
	}
	if (atomic_load(&srv->stop_now) && lp->drain_deadline_ms > now)
		lp->drain_deadline_ms = now;
	if (now < lp->drain_deadline_ms)
		return;
	kill_conns(lp, KILL_DRAIN, 0); /* again each tick: a cancel can lose a race */
	if (now >= lp->drain_deadline_ms + FORCE_EXIT_MS) {
		/* cport_destroy cancels whatever is left */
		log_msg(LOG_WARNING, "%ld operations did not finish; exiting anyway",
			(long)atomic_load(&lp->pending));
		loop_finish(lp);
	}
}

/* After a crowd is gone (thousands of connections, or chunks copied out of
 * the pool for clients that never read), malloc keeps the freed memory;
 * hand it back so the server's footprint returns to its baseline. */
static void heap_trim(struct loop *lp, uint64_t now)
{
	if (now < lp->next_trim_ms)
		return;
	lp->next_trim_ms = now + TRIM_PERIOD_MS;
	if (!atomic_load_explicit(&lp->trim_wanted, memory_order_relaxed) ||
	    atomic_load_explicit(&lp->own_bufs, memory_order_relaxed))
		return;
	atomic_store_explicit(&lp->trim_wanted, 0, memory_order_relaxed);
	malloc_trim(0);
}

/* Timers without timers: every TICK_MS one thread of the loop runs this. */
static void housekeep(struct worker *w)
{
	struct loop *lp = w->loop;
	struct server *srv = w->srv;
	unsigned long idle = srv->cfg->idle_ms;
	uint64_t now = now_ms();

	if (now < atomic_load(&lp->next_hk_ms) || pthread_mutex_trylock(&lp->hk_lock) != 0)
		return;
	atomic_store(&lp->next_hk_ms, now + TICK_MS);
	if (atomic_load(&srv->stop_requested) && !atomic_load(&lp->stopping))
		loop_begin_stop(w, now);
	if (atomic_load(&lp->stopping)) {
		housekeep_stopping(w, now);
	} else {
		accept_rearm_parked(w, now, 0);
		reserve_fd_refill(srv);
		heap_trim(lp, now);
		if (idle && now >= lp->next_idle_ms) {
			unsigned long scan = idle / 4;
			scan = scan < IDLE_SCAN_MIN_MS ? IDLE_SCAN_MIN_MS : scan > IDLE_SCAN_MAX_MS ? IDLE_SCAN_MAX_MS : scan;
			lp->next_idle_ms = now + scan;
			if (now > idle)
				kill_conns(lp, KILL_IDLE, now - idle);
		}
	}
	pthread_mutex_unlock(&lp->hk_lock);
}

/* Create the loop's port in the thread that will use it (a single-thread
 * io_uring belongs to the thread that made it), attach, start the I/O. */
static int loop_setup(struct worker *w)
{
	struct loop *lp = w->loop;
	struct server *srv = w->srv;
	const struct config *cfg = srv->cfg;
	struct cport_options o;
	int r;

	cport_options_init(&o);
	o.backend = cfg->backend;
	if (cfg->model == MODEL_PER_THREAD)
		o.flags |= CPORT_SINGLE_THREAD;
	if (cfg->pool_buffers)
		o.pool_buffers = cfg->pool_buffers;
	if (cfg->pool_buffer_size)
		o.pool_buffer_size = cfg->pool_buffer_size;
	r = cport_create(&o, &lp->port);
	if (r < 0) {
		lp->port = NULL;
		log_msg(LOG_ERR, "cannot create a completion port (backend %s): %s",
			cfg->backend == CPORT_BACKEND_URING   ? "io_uring"
			: cfg->backend == CPORT_BACKEND_EPOLL ? "epoll"
							      : "auto",
			strerror(-r));
		return r;
	}
	for (unsigned i = 0; i < lp->nlisteners; i++) {
		struct listener *l = &lp->listeners[i];
		if (l->sk.fd < 0)
			continue;
		if ((r = sock_attach(&l->sk)) < 0 || (r = listener_arm(w, l)) < 0)
			return r;
	}
	for (unsigned i = 0; i < lp->nudps; i++) {
		struct udp_sock *u = &lp->udps[i];
		if (u->sk.fd < 0)
			continue;
		if ((r = sock_attach(&u->sk)) < 0 || (r = udp_arm(w, u)) < 0)
			return r;
	}
	return 0;
}

static void start_report(struct server *srv, int r)
{
	pthread_mutex_lock(&srv->start_lock);
	if (r < 0) {
		srv->loops_failed++;
		if (!srv->start_err)
			srv->start_err = r;
	} else {
		srv->loops_ready++;
	}
	pthread_cond_broadcast(&srv->start_cv);
	pthread_mutex_unlock(&srv->start_lock);
}

/* The owner sets the loop up; the others wait for it. 0: run the loop. */
static int loop_start(struct worker *w)
{
	struct loop *lp = w->loop;
	int r = 0;

	if (w->owner) {
		r = loop_setup(w);
		if (r == 0 && lp->index == 0)
			w->srv->backend_name = cport_backend_name(lp->port);
		pthread_mutex_lock(&lp->ready_lock);
		lp->ready = r < 0 ? -1 : 1;
		pthread_cond_broadcast(&lp->ready_cv);
		pthread_mutex_unlock(&lp->ready_lock);
		start_report(w->srv, r);
	} else {
		pthread_mutex_lock(&lp->ready_lock);
		while (!lp->ready)
			pthread_cond_wait(&lp->ready_cv, &lp->ready_lock);
		r = lp->ready < 0 ? -1 : 0;
		pthread_mutex_unlock(&lp->ready_lock);
	}
	/* A loop whose setup failed half way still runs, to close what it
	 * started; one without a port has nothing to run. */
	return lp->port ? 0 : -1;
}

static void loop_run(struct worker *w)
{
	struct loop *lp = w->loop;
	struct cport_completion comp[WAIT_BATCH];

	while (!atomic_load(&lp->done)) {
		int n = cport_wait(lp->port, comp, WAIT_BATCH, TICK_MS);

		if (n == -EINTR)
			continue;
		if (n < 0) {
			log_msg(LOG_ERR, "cport_wait: %s", strerror(-n));
			atomic_store(&w->srv->failed, 1);
			server_request_stop(w->srv, 1);
			break;
		}
		for (int i = 0; i < n; i++)
			dispatch(w, &comp[i]);
		housekeep(w);
	}
}

void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct loop *lp = w->loop;
	struct server *srv = w->srv;

	if (loop_start(w) == 0)
		loop_run(w);
	/* A single-thread port is destroyed by its own thread. */
	if (lp->nworkers == 1 && lp->port) {
		cport_destroy(lp->port);
		lp->port = NULL;
	}
	if (atomic_fetch_sub(&srv->workers_left, 1) == 1) {
		int r = pthread_kill(srv->main_thread, SIGUSR2); /* main: all done */
		if (r != 0)
			log_msg(LOG_ERR, "pthread_kill: %s", strerror(r));
	}
	return NULL;
}
