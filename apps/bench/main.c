/* main.c - cport-bench: a verifying echo load generator on libcport.
 * Connect everything, warm up, measure a fixed window, drain, report. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

#define FDS_SPARE 64
#define POLL_NS (10 * 1000000ull)
#define PROGRESS_NS BENCH_NS
#define CONNECT_SLACK_S 10.0

static void raise_nofile(unsigned want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
		rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Deal the connections round-robin: connection id j*threads + t goes to worker t. */
static int make_workers(struct run *run, const struct config *cfg)
{
	run->workers = calloc(cfg->threads, sizeof(*run->workers));
	if (!run->workers)
		return -1;
	for (unsigned t = 0; t < cfg->threads; t++) {
		struct worker *w = &run->workers[t];
		w->run = run;
		w->id = t;
		w->tick_fd[0] = w->tick_fd[1] = -1;
		w->n = cfg->conns / cfg->threads + (t < cfg->conns % cfg->threads);
		w->conns = calloc(w->n ? w->n : 1, sizeof(*w->conns));
		if (!w->conns)
			return -1;
		for (unsigned j = 0; j < w->n; j++) {
			w->conns[j].id = j * cfg->threads + t;
			w->conns[j].idx = j;
			w->conns[j].fd = -1;
		}
	}
	return 0;
}

struct progress {
	bool tty;
	uint64_t last_t, last_msgs, last_bytes;
	bool shown;
};

static void progress_tick(struct run *run, struct progress *p, uint64_t now, uint64_t t0)
{
	if (!p->tty || now - p->last_t < PROGRESS_NS)
		return;
	uint64_t msgs = 0, bytes = 0, errors = 0;
	unsigned conns = 0;
	for (unsigned t = 0; t < run->cfg->threads; t++) {
		struct worker *w = &run->workers[t];
		msgs += atomic_load_explicit(&w->live_msgs, memory_order_relaxed);
		bytes += atomic_load_explicit(&w->live_bytes, memory_order_relaxed);
		errors += atomic_load_explicit(&w->live_errors, memory_order_relaxed);
		conns += atomic_load_explicit(&w->live_conns, memory_order_relaxed);
	}
	double dt = p->last_t ? (double)(now - p->last_t) / 1e9 : 0;
	if (dt > 0)
		fprintf(stderr, "\r\033[K[%5.1fs] %u conns  %.0f msgs/s  %.2f MiB/s  errors %llu", (double)(now - t0) / 1e9,
			conns, (double)(msgs - p->last_msgs) / dt, (double)(bytes - p->last_bytes) / dt / (1024.0 * 1024.0),
			(unsigned long long)errors);
	p->shown = p->shown || dt > 0;
	p->last_t = now;
	p->last_msgs = msgs;
	p->last_bytes = bytes;
}

static void sleep_until(struct run *run, struct progress *p, uint64_t until, uint64_t t0)
{
	for (uint64_t now = now_ns(); now < until; now = now_ns()) {
		uint64_t step = until - now < POLL_NS ? until - now : POLL_NS;
		struct timespec ts = {(time_t)(step / BENCH_NS), (long)(step % BENCH_NS)};
		nanosleep(&ts, NULL);
		progress_tick(run, p, now_ns(), t0);
	}
}

/* Wait until every connection has connected or failed (each is bounded by
 * --timeout, the whole by a safety margin). */
static int wait_connected(struct run *run, struct progress *p, uint64_t t0)
{
	const struct config *cfg = run->cfg;
	double limit_s = cfg->timeout + CONNECT_SLACK_S + (cfg->connect_rate > 0 ? cfg->conns / cfg->connect_rate : 0);
	uint64_t limit = t0 + (uint64_t)(limit_s * 1e9);
	while (atomic_load(&run->resolved) < cfg->conns) {
		if (now_ns() > limit) {
			fprintf(stderr, "cport-bench: connections not resolved after %.0f s\n", limit_s);
			return -1;
		}
		sleep_until(run, p, now_ns() + POLL_NS, t0);
	}
	for (unsigned t = 0; t < cfg->threads; t++) {
		if (run->workers[t].setup_error) {
			fprintf(stderr, "cport-bench: cannot create a port (backend %s): %s\n",
				cfg->backend == CPORT_BACKEND_URING ? "io_uring" : cfg->backend == CPORT_BACKEND_EPOLL ? "epoll" : "auto",
				strerror(-run->workers[t].setup_error));
			return -1;
		}
	}
	return 0;
}

static void collect(struct run *run, struct summary *s)
{
	hist_init(&s->total.hist);
	hist_init(&s->total.late);
	snprintf(s->backend, sizeof(s->backend), "%s", run->workers[0].backend);
	for (unsigned t = 0; t < run->cfg->threads; t++) {
		struct stats *st = &run->workers[t].st;
		hist_merge(&s->total.hist, &st->hist);
		hist_merge(&s->total.late, &st->late);
		s->total.msgs += st->msgs;
		s->total.bytes += st->bytes;
		s->total.connected += st->connected;
		s->echoed_all += atomic_load(&run->workers[t].live_msgs);
		for (int k = 0; k < C_NCOUNTERS; k++)
			s->total.counters[k] += st->counters[k];
	}
}

static int start_threads(struct run *run)
{
	for (unsigned t = 0; t < run->cfg->threads; t++) {
		hist_init(&run->workers[t].st.hist);
		hist_init(&run->workers[t].st.late);
		int rc = pthread_create(&run->workers[t].thread, NULL, worker_main, &run->workers[t]);
		if (rc) {
			fprintf(stderr, "cport-bench: pthread_create: %s\n", strerror(rc));
			atomic_store(&run->abort, 1);
			for (unsigned u = 0; u < t; u++)
				pthread_join(run->workers[u].thread, NULL);
			return -1;
		}
	}
	return 0;
}

static void join_threads(struct run *run)
{
	for (unsigned t = 0; t < run->cfg->threads; t++)
		pthread_join(run->workers[t].thread, NULL);
}

/* Connect, warm up, measure; the summary gets the window's figures. */
static int run_bench(struct run *run, struct summary *s)
{
	const struct config *cfg = run->cfg;
	struct progress p = {.tty = isatty(STDERR_FILENO)};
	uint64_t t0 = now_ns();
	if (start_threads(run))
		return -1;
	if (wait_connected(run, &p, t0)) {
		atomic_store(&run->abort, 1);
		join_threads(run);
		return -1;
	}
	uint64_t start = now_ns(), measure = start + (uint64_t)(cfg->warmup * 1e9);
	uint64_t end = measure + (uint64_t)(cfg->duration * 1e9);
	atomic_store(&run->t_end, end);
	atomic_store(&run->t_measure, measure);
	atomic_store(&run->t_start, start);
	pthread_t pacer;
	bool paced = cfg->mode == MODE_OPEN && pthread_create(&pacer, NULL, pacer_main, run) == 0;
	sleep_until(run, &p, measure, t0);
	s->server_before = proc_sample(cfg->server_pid);
	double cpu0 = self_cpu_seconds();
	sleep_until(run, &p, end, t0);
	s->client_cpu_s = self_cpu_seconds() - cpu0;
	s->server_after = proc_sample(cfg->server_pid);
	s->window_s = (double)(end - measure) / 1e9;
	if (paced)
		pthread_join(pacer, NULL);
	join_threads(run);
	if (p.shown)
		fprintf(stderr, "\r\033[K");
	return 0;
}

int main(int argc, char **argv)
{
	static struct config cfg;
	int rc = options_parse(argc, argv, &cfg);
	if (rc)
		return rc > 0 ? 0 : 2;
	signal(SIGPIPE, SIG_IGN);
	raise_nofile(cfg.conns + FDS_SPARE);
	static struct run run;
	run.cfg = &cfg;
	static struct summary s;
	if (make_workers(&run, &cfg)) {
		fprintf(stderr, "cport-bench: out of memory\n");
		return 2;
	}
	if (run_bench(&run, &s))
		return 2;
	collect(&run, &s);
	s.exit_status = summary_exit_status(&cfg, &s);
	report_human(&cfg, &s);
	if (cfg.json_path && report_json(&cfg, &s, cfg.json_path))
		fprintf(stderr, "cport-bench: cannot write %s: %s\n", cfg.json_path, strerror(errno));
	if (cfg.hgrm_path && report_hgrm(&s, cfg.hgrm_path))
		fprintf(stderr, "cport-bench: cannot write %s: %s\n", cfg.hgrm_path, strerror(errno));
	return s.exit_status;
}
