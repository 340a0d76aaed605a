/* main.c - stress-ledger: options, ports and threads, the timed run, the
 * final close-and-drain, and the one-line summary (exit 0 only with no errors).
 *
 *   stress-ledger [--seconds S] [--seed N] [--backend io_uring|epoll]
 *                 [--mode shared|single] [--threads N] [--conns N]
 *                 [--pool-buffers N] [--large-buffers N] [--drain-ms N] [--inject FAULT]
 *                 [--recv-ahead PCT]
 *
 * --inject double|stale|key|kind|eintr|data|lost plants one such fault in
 * what the program sees, to show the ledger catches it (the run then fails).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "stress.h"

#define WAIT_MS 5
#define MAX_BATCH 16
#define QUIESCE_WAIT_NS (3 * 1000000000ull)
#define RECS_PER_SLOT 8
#define RECS_FOR_POSTS 64
#define MAX_THREADS 32
#define HANG_MS 10000u

static void usage(FILE *f)
{
	fprintf(f, "usage: stress-ledger [--seconds S] [--seed N] [--backend io_uring|epoll] [--mode shared|single]\n"
		   "                     [--threads N] [--conns N] [--pool-buffers N] [--large-buffers N]\n"
		   "                     [--drain-ms N] [--recv-ahead PCT]\n"
		   "                     [--inject double|stale|key|kind|eintr|data|lost]\n");
}

static int parse_backend(struct config *cfg, const char *s)
{
	if (!strcmp(s, "io_uring"))
		cfg->backend = CPORT_BACKEND_URING;
	else if (!strcmp(s, "epoll"))
		cfg->backend = CPORT_BACKEND_EPOLL;
	else
		return -1;
	cfg->backend_name = s;
	return 0;
}

static int parse_args(struct config *cfg, int argc, char **argv)
{
	static const struct option longs[] = {
		{ "seconds", 1, 0, 's' }, { "seed", 1, 0, 'r' },	 { "backend", 1, 0, 'b' },
		{ "mode", 1, 0, 'm' },	  { "threads", 1, 0, 't' }, { "conns", 1, 0, 'c' },
		{ "pool-buffers", 1, 0, 'p' }, { "large-buffers", 1, 0, 'L' }, { "drain-ms", 1, 0, 'd' },
		{ "inject", 1, 0, 'i' }, { "recv-ahead", 1, 0, 'a' },
		{ "help", 0, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	*cfg = (struct config){ .backend = CPORT_BACKEND_EPOLL, .backend_name = "epoll", .mode = MODE_SHARED,
				.threads = 3, .conns = 16, .seconds = 5, .seed = 1, .drain_ms = 5000 };
	int o;
	while ((o = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (o) {
		case 's': cfg->seconds = atof(optarg); break;
		case 'r': cfg->seed = strtoull(optarg, NULL, 0); break;
		case 'b':
			if (parse_backend(cfg, optarg) < 0)
				return -1;
			break;
		case 'm':
			if (strcmp(optarg, "shared") && strcmp(optarg, "single"))
				return -1;
			cfg->mode = !strcmp(optarg, "single") ? MODE_SINGLE : MODE_SHARED;
			break;
		case 't': cfg->threads = (unsigned)atoi(optarg); break;
		case 'c': cfg->conns = (unsigned)atoi(optarg); break;
		case 'p': cfg->pool_buffers = (unsigned)atoi(optarg); break;
		case 'L': cfg->large_buffers = (unsigned)atoi(optarg); break;
		case 'd': cfg->drain_ms = (unsigned)atoi(optarg); break;
		case 'a': cfg->recv_ahead = (unsigned)atoi(optarg); break;
		case 'i':
			if ((cfg->inject = inject_parse(optarg)) < 0)
				return -1;
			break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind != argc || cfg->threads < 1 || cfg->threads > MAX_THREADS || cfg->conns < 1 ||
	    cfg->conns > 4096 || !(cfg->seconds > 0) || cfg->recv_ahead > 100)
		return -1;
	return 0;
}

static bool io_uring_missing(int r)
{
	return r == -ENOSYS || r == -EPERM || r == -EOPNOTSUPP;
}

static int pctx_init(struct run *run, struct pctx *pc, unsigned idx)
{
	const struct config *cfg = &run->cfg;
	struct cport_options o;
	cport_options_init(&o);
	o.backend = cfg->backend;
	o.flags = cfg->mode == MODE_SINGLE ? CPORT_SINGLE_THREAD : 0;
	o.pool_buffers = cfg->pool_buffers;
	o.pool_large_buffers = cfg->large_buffers;
	o.pool_large_buffer_size = LARGE_BUF_SIZE;
	pc->idx = idx;
	int r = cport_create(&o, &pc->port);
	if (r < 0)
		return r;
	pc->buf_size = cfg->large_buffers ? LARGE_BUF_SIZE : cport_buf_size(pc->port);
	pc->nslots = cfg->conns;
	pc->nrecs = cfg->conns * RECS_PER_SLOT + RECS_FOR_POSTS;
	pc->cap_held = (cfg->pool_buffers ? cfg->pool_buffers : 1024) + cfg->large_buffers;
	pc->pool_exact = cfg->pool_buffers && pc->cap_held <= SEEN_MAX;
	pc->slots = calloc(pc->nslots, sizeof(*pc->slots));
	pc->recs = calloc(pc->nrecs, sizeof(*pc->recs));
	pc->free_ring = calloc(pc->nrecs, sizeof(*pc->free_ring));
	pc->held = calloc(pc->cap_held, sizeof(*pc->held));
	if (!pc->slots || !pc->recs || !pc->free_ring || !pc->held)
		return -ENOMEM;
	pthread_mutex_init(&pc->pool_mu, NULL);
	pthread_mutex_init(&pc->held_mu, NULL);
	for (unsigned i = 0; i < pc->nslots; i++) {
		pthread_mutex_init(&pc->slots[i].mu, NULL);
		pc->slots[i].pc = pc;
		pc->slots[i].idx = i;
		pc->slots[i].last_closed_fd = -1;
	}
	for (unsigned i = 0; i < pc->nrecs; i++) {
		pc->recs[i].pc = pc;
		pc->free_ring[i] = i;
	}
	pc->free_count = pc->nrecs;
	return 0;
}

static void pctx_free(struct pctx *pc)
{
	if (pc->slots)
		for (unsigned i = 0; i < pc->nslots; i++)
			pthread_mutex_destroy(&pc->slots[i].mu);
	free(pc->slots);
	free(pc->recs);
	free(pc->free_ring);
	free(pc->held);
}

static struct pctx *port_of(struct tctx *t)
{
	return t->own ? t->own : &t->run->ports[0];
}

/* The pool gives back the buffers that stayed free since the last trim,
 * while others are received into, held and released: the ledger checks
 * every byte that comes through one given back. */
static void trim(struct tctx *t, struct pctx *pc)
{
	int r = cport_trim(pc->port);
	if (r < 0)
		err_log(t->run, t, E_CALL, "cport_trim failed", CPORT_OP_NONE, -1, 0, r);
}

/* A few random actions on random slots of this thread's port, a post now
 * and then, and a trim of the pool more rarely. */
static void run_actions(struct tctx *t, struct pctx *pc)
{
	struct run *run = t->run;
	held_release(t, pc, HELD_DUE);
	for (unsigned k = 1 + rnd_below(&t->rng, 3); k > 0; k--)
		slot_act(t, &pc->slots[rnd_below(&t->rng, pc->nslots)]);
	if (chance(&t->rng, 5)) /* single mode: mostly to another thread's port */
		post_random(t, t->own ? &run->ports[rnd_below(&t->rng, run->nports)] : pc);
	if (chance(&t->rng, 1))
		trim(t, pc);
}

static bool slots_empty(struct pctx *pc)
{
	bool empty = true;
	for (unsigned i = 0; i < pc->nslots && empty; i++) {
		pthread_mutex_lock(&pc->slots[i].mu);
		empty = pc->slots[i].state == SLOT_EMPTY;
		pthread_mutex_unlock(&pc->slots[i].mu);
	}
	return empty;
}

static unsigned all_threads(const struct run *run)
{
	return run->cfg.threads + 1;
}

/* Close this thread's share of the slots; true once the port is quiet. */
static bool drain_step(struct tctx *t, struct pctx *pc)
{
	struct run *run = t->run;
	unsigned step = t->own ? 1 : run->cfg.threads, first = t->own ? 0 : t->idx;
	held_release(t, pc, HELD_ALL);
	for (unsigned i = first; i < pc->nslots; i += step)
		slot_drain(t, &pc->slots[i]);
	bool done = atomic_load(&run->quiesced) == all_threads(run) && atomic_load(&pc->in_flight) == 0 &&
		    atomic_load(&pc->null_got) == atomic_load(&pc->null_sent) && slots_empty(pc);
	return done || now_ns() > run->drain_deadline_ns;
}

static void wait_quiesced(struct run *run)
{
	uint64_t until = now_ns() + QUIESCE_WAIT_NS;
	while (atomic_load(&run->quiesced) < all_threads(run) && now_ns() < until)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
}

static void worker_loop(struct tctx *t, struct pctx *pc)
{
	struct run *run = t->run;
	struct cport_completion cq[MAX_BATCH];
	bool quiet = false;
	for (;;) {
		int ph = atomic_load(&run->phase);
		struct call call = { .enter = atomic_fetch_add(&run->ticket, 1) };
		int n = cport_wait(pc->port, cq, 1 + (int)rnd_below(&t->rng, MAX_BATCH), WAIT_MS);
		call.ret = atomic_fetch_add(&run->ticket, 1);
		if (n < 0) {
			err_log(run, t, E_CALL, "cport_wait failed", CPORT_OP_NONE, -1, 0, n);
			break;
		}
		if (n == 0) /* a wait that timed out has been in the kernel: see buffers.c */
			atomic_store(&t->idled, call.enter);
		for (int i = 0; i < n; i++)
			inject_handle(t, pc, &cq[i], &call);
		inject_poll(t, pc, false);
		if (ph == PH_RUN) {
			run_actions(t, pc);
			continue;
		}
		if (!quiet) {
			quiet = true;
			atomic_fetch_add(&run->quiesced, 1);
		}
		if (drain_step(t, pc))
			break;
	}
}

static void *worker_main(void *arg)
{
	struct tctx *t = arg;
	struct pctx *pc = port_of(t);
	worker_loop(t, pc);
	inject_poll(t, pc, true);
	if (t->own) { /* a single-thread port is destroyed by its thread, once nobody posts */
		wait_quiesced(t->run);
		held_release(t, pc, HELD_FORCE);
		int r = cport_destroy(pc->port);
		if (r < 0)
			err_log(t->run, t, E_CALL, "cport_destroy failed", CPORT_OP_NONE, -1, 0, r);
		pc->destroyed = true;
	}
	return NULL;
}

static void counters_add(struct counters *to, const struct counters *from)
{
	for (int i = 0; i < E_COUNT; i++)
		to->err[i] += from->err[i];
	for (int i = 0; i < S_COUNT; i++)
		to->stat[i] += from->stat[i];
	for (int i = 0; i < KINDS; i++) {
		to->started[i] += from->started[i];
		to->completed[i] += from->completed[i];
	}
}

static uint64_t seed_for(uint64_t seed, unsigned i)
{
	uint64_t s = (seed + 1) * 0x9E3779B97F4A7C15ull + (uint64_t)i * 0xD1B54A32D192ED03ull;
	return s ? s : 1;
}

static int threads_start(struct run *run)
{
	run->workers = calloc(run->cfg.threads, sizeof(*run->workers));
	if (!run->workers)
		return -1;
	for (unsigned i = 0; i < run->cfg.threads; i++) {
		struct tctx *t = &run->workers[i];
		*t = (struct tctx){ .run = run, .idx = i, .rng = seed_for(run->cfg.seed, i), .listen_fd = -1 };
		t->own = run->cfg.mode == MODE_SINGLE ? &run->ports[i] : NULL;
		if (t->own)
			t->own->owner = t;
		if (listener_open(t) < 0 || pthread_create(&t->tid, NULL, worker_main, t) != 0)
			return -1;
	}
	run->peer = (struct tctx){ .run = run, .idx = run->cfg.threads, .rng = seed_for(run->cfg.seed, 99) };
	return pthread_create(&run->peer.tid, NULL, peer_main, &run->peer) != 0 ? -1 : 0;
}

/* A thread that does not come back means a cport call hung: say so and stop. */
static void join_or_die(struct run *run, pthread_t tid, uint64_t until_ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t left = until_ns > now_ns() ? until_ns - now_ns() : 0;
	uint64_t ns = (uint64_t)ts.tv_nsec + left % 1000000000ull;
	ts.tv_sec += (time_t)(left / 1000000000ull + ns / 1000000000ull);
	ts.tv_nsec = (long)(ns % 1000000000ull);
	if (pthread_timedjoin_np(tid, NULL, &ts) == 0)
		return;
	printf("stress-ledger: %s %s: FAIL: a thread did not return %u ms after the drain deadline "
	       "(a cport call hung)\n",
	       run->cfg.backend_name, run->cfg.mode == MODE_SHARED ? "shared" : "single", HANG_MS);
	fflush(stdout);
	err_log_print();
	_exit(1);
}

static void threads_join(struct run *run)
{
	uint64_t until = run->drain_deadline_ns + HANG_MS * 1000000ull;
	for (unsigned i = 0; i < run->cfg.threads; i++) {
		join_or_die(run, run->workers[i].tid, until);
		close(run->workers[i].listen_fd);
	}
	atomic_store(&run->phase, PH_DONE);
	join_or_die(run, run->peer.tid, until);
}

static void sleep_until(uint64_t t_ns)
{
	uint64_t now;
	while ((now = now_ns()) < t_ns) {
		uint64_t d = t_ns - now;
		nanosleep(&(struct timespec){ (time_t)(d / 1000000000ull), (long)(d % 1000000000ull) }, NULL);
	}
}

/* After the drain: lost completions, then the shared port's destroy. */
static unsigned finish(struct run *run)
{
	unsigned lost = 0;
	for (unsigned i = 0; i < run->nports; i++) {
		struct pctx *pc = &run->ports[i];
		lost += ledger_lost(run, pc);
		if (!pc->destroyed) {
			held_release(&run->fin, pc, HELD_FORCE);
			int r = cport_destroy(pc->port);
			if (r < 0)
				err_log(run, &run->fin, E_CALL, "cport_destroy failed", CPORT_OP_NONE, -1, 0, r);
		}
	}
	return lost;
}

static void print_summary(const struct run *run, const struct counters *c, double secs)
{
	const struct config *cfg = &run->cfg;
	uint64_t errs = 0;
	char pool[16] = "default";
	if (cfg->pool_buffers || cfg->large_buffers)
		snprintf(pool, sizeof(pool), "%u+%u", cfg->pool_buffers, cfg->large_buffers);
	printf("stress-ledger: %s %s threads=%u conns=%u pool=%s seed=%llu %.1fs: ops started %llu completed %llu",
	       cfg->backend_name, cfg->mode == MODE_SHARED ? "shared" : "single", cfg->threads, cfg->conns, pool,
	       (unsigned long long)cfg->seed, secs,
	       (unsigned long long)c->stat[S_STARTED], (unsigned long long)c->stat[S_COMPLETED]);
	static const int kinds[] = { CPORT_OP_RECV, CPORT_OP_RECV_POOLED, CPORT_OP_POLL, CPORT_OP_SEND,
				     CPORT_OP_CLOSE, CPORT_OP_DETACH, CPORT_OP_POST };
	printf(" (");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		printf("%s%s %llu/%llu", i ? ", " : "", kind_name(kinds[i]),
		       (unsigned long long)c->completed[kinds[i]], (unsigned long long)c->started[kinds[i]]);
	printf("); conns %llu (tcp %llu) reattach %llu fd-reuse %llu cancel %llu cancel_fd %llu ecanceled %llu "
	       "partial %llu cross-thread-end %llu late-ok %llu held %llu starved-cancel %llu (thawed %llu) "
	       "skip-on-success fds %llu recv-ahead fds %llu done-at-once %llu peer reset/shut/silent %llu/%llu/%llu rx %lluk tx %lluk;"
	       " errors:",
	       (unsigned long long)c->stat[S_CONNS], (unsigned long long)c->stat[S_TCP],
	       (unsigned long long)c->stat[S_REATTACH], (unsigned long long)c->stat[S_FD_REUSED],
	       (unsigned long long)c->stat[S_CANCEL], (unsigned long long)c->stat[S_CANCEL_FD],
	       (unsigned long long)c->stat[S_CANCELED], (unsigned long long)c->stat[S_PARTIAL],
	       (unsigned long long)c->stat[S_CROSS_END], (unsigned long long)c->stat[S_LATE_OK],
	       (unsigned long long)c->stat[S_HELD], (unsigned long long)c->stat[S_STARVED],
	       (unsigned long long)c->stat[S_THAWED], (unsigned long long)c->stat[S_SKIP_FDS],
	       (unsigned long long)c->stat[S_AHEAD_FDS], (unsigned long long)c->stat[S_DONE_NOW],
	       (unsigned long long)c->stat[S_PEER_RESET], (unsigned long long)c->stat[S_PEER_SHUT],
	       (unsigned long long)c->stat[S_PEER_SILENT], (unsigned long long)(c->stat[S_BYTES_RX] >> 10),
	       (unsigned long long)(c->stat[S_BYTES_TX] >> 10));
	for (int e = 0; e < E_COUNT; e++) {
		printf(" %s %llu", err_name(e), (unsigned long long)c->err[e]);
		errs += c->err[e];
	}
	printf(" => %s\n", errs ? "FAIL" : "ok");
	fflush(stdout);
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int make_ports(struct run *run)
{
	run->nports = run->cfg.mode == MODE_SINGLE ? run->cfg.threads : 1;
	run->ports = calloc(run->nports, sizeof(*run->ports));
	if (!run->ports)
		return -ENOMEM;
	for (unsigned i = 0; i < run->nports; i++) {
		int r = pctx_init(run, &run->ports[i], i);
		if (r < 0) {
			for (unsigned j = 0; j < i; j++)
				cport_destroy(run->ports[j].port);
			return r;
		}
	}
	return 0;
}

static int run_all(struct run *run)
{
	run->t0_ns = now_ns();
	if (threads_start(run) < 0) {
		fprintf(stderr, "stress-ledger: cannot start threads or listeners: %s\n", strerror(errno));
		exit(2);
	}
	sleep_until(run->t0_ns + (uint64_t)(run->cfg.seconds * 1e9));
	run->drain_deadline_ns = now_ns() + (uint64_t)run->cfg.drain_ms * 1000000ull;
	atomic_store(&run->phase, PH_DRAIN);
	threads_join(run);
	finish(run);
	struct counters total = { 0 };
	for (unsigned i = 0; i < run->cfg.threads; i++)
		counters_add(&total, &run->workers[i].cnt);
	counters_add(&total, &run->peer.cnt);
	counters_add(&total, &run->fin.cnt);
	print_summary(run, &total, (double)(now_ns() - run->t0_ns) / 1e9);
	err_log_print();
	uint64_t errs = 0;
	for (int e = 0; e < E_COUNT; e++)
		errs += total.err[e];
	return errs ? 1 : 0;
}

int main(int argc, char **argv)
{
	static struct run run;
	if (parse_args(&run.cfg, argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	run.fin = (struct tctx){ .run = &run, .idx = MAX_THREADS + 1 };
	pthread_mutex_init(&run.inbox_mu, NULL);
	pthread_mutex_init(&run.arena_mu, NULL);
	run.null_seen = calloc(NULL_POST_IDS / 64, sizeof(*run.null_seen));
	int r = run.null_seen ? make_ports(&run) : -ENOMEM;
	const char *expected = getenv("CPORT_URING_EXPECTED");
	if (r < 0 && run.cfg.backend == CPORT_BACKEND_URING && io_uring_missing(r) && !(expected && !strcmp(expected, "1"))) {
		printf("stress-ledger: io_uring %s: skipped: cport_create: %s\n",
		       run.cfg.mode == MODE_SHARED ? "shared" : "single", strerror(-r));
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "stress-ledger: cport_create (%s): %s\n", run.cfg.backend_name, strerror(-r));
		return 2;
	}
	int rc = run_all(&run);
	for (unsigned i = 0; i < run.nports; i++)
		pctx_free(&run.ports[i]);
	free(run.ports);
	free(run.workers);
	free((void *)run.null_seen);
	arena_free_all(&run);
	return rc;
}
