/* server.c - building, starting, stopping and freeing the loops. */
#include "server.h"

#include "log.h"
#include "sockets.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail with a valid clock */
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int loop_init(struct server *srv, struct loop *lp, unsigned index)
{
	const struct config *cfg = srv->cfg;

	lp->srv = srv;
	lp->index = index;
	lp->pool_pressure = (cfg->pool_buffers ? cfg->pool_buffers : LIB_POOL_BUFFERS) *
			    POOL_PRESSURE_NUM / POOL_PRESSURE_DEN;
	pthread_mutex_init(&lp->lock, NULL);
	pthread_mutex_init(&lp->hk_lock, NULL);
	pthread_mutex_init(&lp->ready_lock, NULL);
	pthread_cond_init(&lp->ready_cv, NULL);
	if (cfg->tcp) {
		lp->listeners = calloc(cfg->naddrs, sizeof(*lp->listeners));
		if (!lp->listeners)
			return -ENOMEM;
		lp->nlisteners = cfg->naddrs;
		for (unsigned i = 0; i < cfg->naddrs; i++)
			sock_init(&lp->listeners[i].sk, lp);
	}
	if (cfg->udp) {
		lp->udps = calloc(cfg->naddrs, sizeof(*lp->udps));
		if (!lp->udps)
			return -ENOMEM;
		lp->nudps = cfg->naddrs;
		for (unsigned i = 0; i < cfg->naddrs; i++)
			sock_init(&lp->udps[i].sk, lp);
	}
	return 0;
}

/* Per-I/O data for the sockets really opened. */
static int loop_alloc_slots(struct server *srv, struct loop *lp)
{
	int shared = srv->cfg->model == MODEL_SHARED;
	unsigned naccept = shared ? ACCEPT_SLOTS_SHARED : ACCEPT_SLOTS_PER_THREAD;
	unsigned nudp = shared ? UDP_SLOTS_SHARED : UDP_SLOTS_PER_THREAD;

	for (unsigned i = 0; i < lp->nlisteners; i++) {
		struct listener *l = &lp->listeners[i];
		if (l->sk.fd < 0)
			continue;
		l->slots = calloc(naccept, sizeof(*l->slots));
		if (!l->slots)
			return -ENOMEM;
		l->nslots = naccept;
		for (unsigned k = 0; k < naccept; k++) {
			l->slots[k].r.type = REQ_ACCEPT;
			l->slots[k].l = l;
		}
	}
	for (unsigned i = 0; i < lp->nudps; i++) {
		struct udp_sock *u = &lp->udps[i];
		if (u->sk.fd < 0)
			continue;
		u->slots = calloc(nudp, sizeof(*u->slots));
		if (!u->slots)
			return -ENOMEM;
		for (; u->nslots < nudp; u->nslots++) {
			struct udp_slot *s = calloc(1, sizeof(*s));
			if (!s)
				return -ENOMEM;
			s->r.type = REQ_UDP;
			s->u = u;
			u->slots[u->nslots] = s;
		}
	}
	return 0;
}

int server_init(struct server *srv, const struct config *cfg)
{
	unsigned nloops = cfg->model == MODEL_PER_THREAD ? cfg->threads : 1;
	int r;

	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->reserve_fd = -1;
	pthread_mutex_init(&srv->reserve_lock, NULL);
	pthread_mutex_init(&srv->start_lock, NULL);
	pthread_cond_init(&srv->start_cv, NULL);
	srv->loops = calloc(nloops, sizeof(*srv->loops));
	/* aligned: each worker's counters on cache lines of their own */
	srv->workers = aligned_alloc(_Alignof(struct worker), cfg->threads * sizeof(*srv->workers));
	if (srv->workers)
		memset(srv->workers, 0, cfg->threads * sizeof(*srv->workers));
	srv->bound = calloc(cfg->naddrs, sizeof(*srv->bound));
	srv->skipped = calloc(cfg->naddrs, sizeof(*srv->skipped));
	if (!srv->loops || !srv->workers || !srv->bound || !srv->skipped)
		goto nomem;
	srv->nloops = nloops;
	srv->nworkers = cfg->threads;
	for (unsigned i = 0; i < nloops; i++) {
		struct loop *lp = &srv->loops[i];
		if (loop_init(srv, lp, i) != 0)
			goto nomem;
		lp->nworkers = nloops == 1 ? cfg->threads : 1;
		lp->workers = calloc(lp->nworkers, sizeof(*lp->workers));
		if (!lp->workers)
			goto nomem;
	}
	for (unsigned i = 0; i < cfg->threads; i++) {
		struct worker *w = &srv->workers[i];
		struct loop *lp = &srv->loops[nloops == 1 ? 0 : i];
		unsigned k = nloops == 1 ? i : 0;
		w->srv = srv;
		w->loop = lp;
		w->id = i;
		w->owner = k == 0;
		lp->workers[k] = w;
	}
	r = sockets_open(srv);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < nloops; i++)
		if (loop_alloc_slots(srv, &srv->loops[i]) != 0)
			goto nomem;
	/* The spare descriptor that lets us shed connections at EMFILE. */
	if (reserve_fd_refill(srv) != 0) {
		r = -errno;
		log_msg(LOG_ERR, "cannot open /dev/null: %s", strerror(errno));
		return r;
	}
	return 0;
nomem:
	log_msg(LOG_ERR, "out of memory");
	return -ENOMEM;
}

/* A loop that will never be set up: release whoever waits for it. */
static void loop_never_ready(struct server *srv, struct loop *lp)
{
	pthread_mutex_lock(&lp->ready_lock);
	lp->ready = -1;
	pthread_cond_broadcast(&lp->ready_cv);
	pthread_mutex_unlock(&lp->ready_lock);
	pthread_mutex_lock(&srv->start_lock);
	srv->loops_failed++;
	srv->start_err = srv->start_err ? srv->start_err : -EAGAIN;
	pthread_cond_broadcast(&srv->start_cv);
	pthread_mutex_unlock(&srv->start_lock);
}

int server_start(struct server *srv)
{
	srv->main_thread = pthread_self();
	atomic_store(&srv->workers_left, srv->nworkers);
	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct worker *w = &srv->workers[i];
		int r = pthread_create(&w->tid, NULL, worker_main, w);

		if (r == 0) {
			w->started = 1;
			continue;
		}
		log_msg(LOG_ERR, "cannot start a worker thread: %s", strerror(r));
		if (w->owner)
			loop_never_ready(srv, w->loop);
		atomic_fetch_sub(&srv->workers_left, 1);
	}
	pthread_mutex_lock(&srv->start_lock);
	while (srv->loops_ready + srv->loops_failed < srv->nloops)
		pthread_cond_wait(&srv->start_cv, &srv->start_lock);
	pthread_mutex_unlock(&srv->start_lock);
	return srv->loops_failed ? (srv->start_err ? srv->start_err : -EIO) : 0;
}

void server_request_stop(struct server *srv, int now)
{
	atomic_store(&srv->stop_requested, 1);
	if (now)
		atomic_store(&srv->stop_now, 1);
	/* cport_post may be called from any thread, on a CPORT_SINGLE_THREAD
	 * port too. But a loop with one worker has that worker destroy its
	 * port as it leaves, maybe right now, so this thread must not touch
	 * it: that worker sees the flag within a tick. A loop with several
	 * workers keeps its port until after the joins: wake one to act now. */
	for (unsigned i = 0; i < srv->nloops; i++) {
		struct loop *lp = &srv->loops[i];
		if (lp->nworkers > 1 && lp->port)
			cport_post(lp->port, KEY_WAKE, NULL, 0);
	}
}

void server_wait_workers(struct server *srv)
{
	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct worker *w = &srv->workers[i];
		if (w->started)
			pthread_join(w->tid, NULL);
		w->started = 0;
	}
	for (unsigned i = 0; i < srv->nloops; i++) {
		struct loop *lp = &srv->loops[i];
		if (lp->port)
			cport_destroy(lp->port);
		lp->port = NULL;
	}
}

static void loop_free(struct loop *lp)
{
	struct conn *cn;

	for (unsigned i = 0; i < lp->nlisteners; i++) {
		struct listener *l = &lp->listeners[i];
		if (l->sk.fd >= 0 && !l->sk.closed)
			close(l->sk.fd);
		free(l->slots);
		pthread_mutex_destroy(&l->sk.lock);
	}
	for (unsigned i = 0; i < lp->nudps; i++) {
		struct udp_sock *u = &lp->udps[i];
		if (u->sk.fd >= 0 && !u->sk.closed)
			close(u->sk.fd);
		for (unsigned k = 0; k < u->nslots; k++)
			free(u->slots[k]);
		free(u->slots);
		pthread_mutex_destroy(&u->sk.lock);
	}
	/* Only after a forced exit: connections the port gave up on. */
	while ((cn = lp->conns)) {
		lp->conns = cn->next;
		close(cn->fd);
		free(cn);
	}
	free(lp->listeners);
	free(lp->udps);
	free(lp->workers);
	pthread_mutex_destroy(&lp->lock);
	pthread_mutex_destroy(&lp->hk_lock);
	pthread_mutex_destroy(&lp->ready_lock);
	pthread_cond_destroy(&lp->ready_cv);
}

void server_free(struct server *srv)
{
	for (unsigned i = 0; i < srv->nloops; i++)
		loop_free(&srv->loops[i]);
	if (srv->reserve_fd >= 0)
		close(srv->reserve_fd);
	free(srv->loops);
	free(srv->workers);
	free(srv->bound);
	free(srv->skipped);
	pthread_mutex_destroy(&srv->reserve_lock);
	pthread_mutex_destroy(&srv->start_lock);
	pthread_cond_destroy(&srv->start_cv);
	memset(srv, 0, sizeof(*srv));
}

void server_print_counters(struct server *srv)
{
	struct counters *sets[srv->nworkers ? srv->nworkers : 1];
	uint64_t sum[C_COUNT];

	for (unsigned i = 0; i < srv->nworkers; i++)
		sets[i] = &srv->workers[i].ctr;
	counters_sum(sets, srv->nworkers, sum);
	counters_print(sum, atomic_load(&srv->open_conns));
}
