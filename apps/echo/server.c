/* server.c - the server: its loops and worker threads; start, stop, free. */
#include "server.h"

#include "bind.h"
#include "counters.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND() RUNNING_ON_VALGRIND
#else
#define UNDER_VALGRIND() 0
#endif

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

static void host_loop_ready(void *ctx, struct loop *lp, int err)
{
	struct server *srv = ctx;

	if (err == 0 && lp->index == 0)
		srv->backend_name = cport_backend_name(lp->core.port);
	start_report(srv, err);
}

static void host_fatal(void *ctx)
{
	struct server *srv = ctx;

	atomic_store(&srv->failed, 1);
	server_request_stop(srv, 1);
}

/* The main thread waits in sigwait: the last worker out tells it. */
static void host_left(void *ctx)
{
	struct server *srv = ctx;

	if (atomic_fetch_sub(&srv->workers_left, 1) == 1) {
		int r = pthread_kill(srv->main_thread, SIGUSR2);
		if (r != 0)
			log_msg(LOG_ERR, "pthread_kill: %s", strerror(r));
	}
}

static const struct worker_host server_host = {
	.loop_ready = host_loop_ready,
	.fatal = host_fatal,
	.left = host_left,
};

static int *bind_fd_at(void *ctx, unsigned copy, unsigned addr, int proto)
{
	struct server *srv = ctx;

	return loop_fd_at(&srv->loops[copy], addr, proto);
}

static int server_alloc(struct server *srv, unsigned nloops)
{
	const struct config *cfg = srv->cfg;

	srv->loops = calloc(nloops, sizeof(*srv->loops));
	/* aligned: each worker's counters on cache lines of their own */
	srv->workers = aligned_alloc(_Alignof(struct worker), cfg->threads * sizeof(*srv->workers));
	if (srv->workers)
		memset(srv->workers, 0, cfg->threads * sizeof(*srv->workers));
	srv->bound = calloc(cfg->naddrs, sizeof(*srv->bound));
	srv->skipped = calloc(cfg->naddrs, sizeof(*srv->skipped));
	if (!srv->loops || !srv->workers || !srv->bound || !srv->skipped)
		return -ENOMEM;
	srv->nloops = nloops;
	srv->nworkers = cfg->threads;
	return 0;
}

/* One loop for every worker (shared model), or one loop each. */
static int server_build(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	unsigned per_loop = srv->nloops == 1 ? cfg->threads : 1;

	for (unsigned i = 0; i < srv->nloops; i++)
		if (loop_init(&srv->loops[i], i, per_loop, cfg, &srv->conn_limit, &srv->reserve) != 0)
			return -ENOMEM;
	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct worker *w = &srv->workers[i];

		w->loop = &srv->loops[srv->nloops == 1 ? 0 : i];
		w->host = &server_host;
		w->host_ctx = srv;
		w->owner = srv->nloops == 1 ? i == 0 : 1;
	}
	return 0;
}

/* What a scrape shows: every worker's counters summed (exact once the
 * traffic has stopped; a moment's sum while it flows). */
static void server_snapshot(void *ctx, struct metrics_snapshot *s)
{
	struct server *srv = ctx;
	struct counters *sets[srv->nworkers ? srv->nworkers : 1];

	for (unsigned i = 0; i < srv->nworkers; i++)
		sets[i] = &srv->workers[i].ctr;
	counters_sum(sets, srv->nworkers, s->c);
	counters_sum_life(sets, srv->nworkers, &s->life);
	s->open = atomic_load(&srv->conn_limit.open);
	s->backend = srv->backend_name;
	s->threads = srv->nworkers;
}

/* --metrics: its socket now, with the others (before --user drops the
 * right to bind a low port); served by loop 0. */
static int server_open_metrics(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	int fd;

	if (!cfg->metrics.len)
		return 0;
	fd = bind_listen_tcp(&cfg->metrics, &srv->metrics_bound);
	if (fd < 0)
		return fd;
	srv->metrics.sk.fd = fd;
	srv->metrics.sk.core = &srv->loops[0].core;
	srv->loops[0].metrics = &srv->metrics;
	return 0;
}

static int server_bind(struct server *srv)
{
	struct bind_plan plan = {
		.ncopies = srv->nloops,
		.fd_at = bind_fd_at,
		.ctx = srv,
		.bound = srv->bound,
		.skipped = srv->skipped,
	};

	return bind_open_all(srv->cfg, &plan);
}

int server_init(struct server *srv, const struct config *cfg)
{
	unsigned nloops = cfg->model == MODEL_PER_THREAD ? cfg->threads : 1;
	int r;

	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->conn_limit.max = cfg->max_conns;
	srv->conn_limit.max_pipes = cfg->splice_pipes;
	reserve_fd_init(&srv->reserve);
	pthread_mutex_init(&srv->start_lock, NULL);
	pthread_cond_init(&srv->start_cv, NULL);
	/* Its loop is known once the loops are built (server_open_metrics). */
	metrics_server_init(&srv->metrics, NULL, (struct metrics_source){server_snapshot, srv});
	if (server_alloc(srv, nloops) != 0 || server_build(srv) != 0)
		goto nomem;
	r = server_bind(srv);
	if (r == 0)
		r = server_open_metrics(srv);
	if (r < 0)
		return r;
	watchdog_init(&srv->watchdog, srv->loops, srv->nloops);
	srv->loops[0].watchdog = &srv->watchdog;
	for (unsigned i = 0; i < nloops; i++)
		if (loop_alloc_slots(&srv->loops[i]) != 0)
			goto nomem;
	/* The spare descriptor that lets us shed connections at EMFILE. */
	if (reserve_fd_refill(&srv->reserve) != 0) {
		r = -errno;
		log_msg(LOG_ERR, "cannot open /dev/null: %s", strerror(errno));
		return r;
	}
	return 0;
nomem:
	log_msg(LOG_ERR, "out of memory");
	return -ENOMEM;
}

static void server_tick(void *ctx)
{
	struct server *srv = ctx;

	for (unsigned i = 0; i < srv->nloops; i++)
		loop_wake(&srv->loops[i]);
}

/* Workers wait with no timeout while the ticker runs; without it, with
 * TICK_MS, and a wait that times out runs the housekeeping. So they do
 * under valgrind too: it does not know that io_uring_enter blocks, so a
 * thread asleep in it keeps valgrind's one lock, and an idle poller with
 * no timeout would stop every other thread (the ticker, the signals). */
static void start_ticker(struct server *srv)
{
	/* Test only: CPORT_ECHO_TEST_NO_TICKER=1 runs the path of a ticker
	 * that could not start, which nothing else can provoke on demand. */
	const char *off = getenv("CPORT_ECHO_TEST_NO_TICKER");
	int ok = !(off && strcmp(off, "1") == 0) && ticker_start(&srv->ticker, server_tick, srv, TICK_MS) == 0 &&
		 !UNDER_VALGRIND();

	for (unsigned i = 0; i < srv->nloops; i++)
		srv->loops[i].wait_ms = ok ? -1 : TICK_MS;
}

int server_start(struct server *srv)
{
	srv->main_thread = pthread_self();
	start_ticker(srv);
	atomic_store(&srv->workers_left, srv->nworkers);
	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct worker *w = &srv->workers[i];
		int r = pthread_create(&w->tid, NULL, worker_main, w);

		if (r == 0) {
			w->started = 1;
			continue;
		}
		log_msg(LOG_ERR, "cannot start a worker thread: %s", strerror(r));
		if (w->owner) { /* a loop that will never be set up */
			loop_set_ready(w->loop, 0);
			start_report(srv, -EAGAIN);
		}
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
	for (unsigned i = 0; i < srv->nloops; i++)
		loop_request_stop(&srv->loops[i], now);
}

void server_wait_workers(struct server *srv)
{
	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct worker *w = &srv->workers[i];
		if (w->started)
			pthread_join(w->tid, NULL);
		w->started = 0;
	}
	ticker_stop(&srv->ticker);
	for (unsigned i = 0; i < srv->nloops; i++)
		loop_close_port(&srv->loops[i]);
}

void server_free(struct server *srv)
{
	for (unsigned i = 0; i < srv->nloops; i++)
		loop_free(&srv->loops[i]);
	metrics_server_free(&srv->metrics);
	reserve_fd_free(&srv->reserve);
	free(srv->loops);
	free(srv->workers);
	free(srv->bound);
	free(srv->skipped);
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
	counters_print(sum, atomic_load(&srv->conn_limit.open));
}
