/* main.c - cport-echo: the seed's IOCP echo server, done properly.
 *
 * Worker threads wait on a completion port (or each on its own, with
 * --model per-thread); every socket is attached under its own key; each
 * connection has one op in flight: a pooled receive, then sends until the
 * chunk is all out, then the next receive. The main thread only waits for
 * signals (blocked everywhere else) and tells the loops to stop. */
#include "inherit.h"
#include "log.h"
#include "options.h"
#include "privdrop.h"
#include "server.h"
#include "systemd.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One malloc arena for every thread. Nothing is allocated per message
 * (connections come from a slab, data from the pool); what is (chunks
 * copied out of the pool under pressure, the library's fd table) would
 * otherwise stay in the arena of whichever thread freed it, whose top glibc's
 * malloc_trim never gives back (it trims the main arena's only). A C
 * library without the option keeps its arenas; nothing else changes. */
static void one_heap(void)
{
	(void)mallopt(M_ARENA_MAX, 1);
}

/* Before any thread exists, so that every thread inherits the mask and
 * only sigwait() in the main thread ever takes these signals. */
static int block_signals(sigset_t *set)
{
	struct sigaction sa;
	int r;

	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2); /* internal: the workers have all left */
	r = pthread_sigmask(SIG_BLOCK, set, NULL);
	if (r != 0) {
		log_msg(LOG_ERR, "pthread_sigmask: %s", strerror(r));
		return -1;
	}
	/* A peer that went away must cost an EPIPE, not the process. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0) {
		log_msg(LOG_ERR, "sigaction(SIGPIPE): %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Sockets handed to us (--inetd, or systemd's socket activation) replace
 * the addresses we would bind. 0, or -1 (logged). */
static int take_inherited(struct config *cfg)
{
	int had_metrics = cfg->metrics.len != 0;
	int n = cfg->inetd ? (inherit_stdin(cfg) == 0 ? 1 : -1) : sd_activation_collect(cfg);

	if (n <= 0)
		return n;
	if (cfg->addrs_given && !cfg->inetd) {
		log_msg(LOG_ERR, "socket activation passed %d sockets: leave out --listen, --bind and --port", n);
		return -1;
	}
	if (had_metrics && cfg->metrics.fd >= 0) {
		log_msg(LOG_ERR, "socket activation passed a '%s' socket: leave out --metrics", SD_METRICS_FD_NAME);
		return -1;
	}
	return inherit_finish(cfg);
}

static int stopping_told; /* STOPPING=1 sent (main thread only) */

/* Told to the service manager with READY=1, and on SIGUSR1. */
static void status_line(struct server *srv, char *buf, size_t len)
{
	snprintf(buf, len, "serving echo: %lu connections open (backend %s, %u threads)",
		 atomic_load(&srv->conn_limit.open), srv->backend_name ? srv->backend_name : "none",
		 srv->cfg->threads);
}

static void print_ready(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	char status[160];

	for (unsigned i = 0; i < cfg->naddrs; i++) {
		char a[80];
		if (srv->skipped[i])
			continue;
		addr_format((const struct sockaddr *)&srv->bound[i], a, sizeof(a));
		log_always(LOG_NOTICE, "listening on %s (backend %s, %u threads)", a, srv->backend_name,
			   cfg->threads);
	}
	if (srv->metrics.sk.fd >= 0) {
		char a[80];
		addr_format((const struct sockaddr *)&srv->metrics_bound, a, sizeof(a));
		log_always(LOG_NOTICE, "metrics on http://%s/metrics", a);
	}
	status_line(srv, status, sizeof(status));
	notify_ready(status);
}

/* Wait for signals until every worker has left. */
static void signal_loop(struct server *srv, const sigset_t *set)
{
	for (;;) {
		int sig, r = sigwait(set, &sig);

		if (r != 0) {
			log_msg(LOG_ERR, "sigwait: %s", strerror(r));
			server_request_stop(srv, 1);
			return;
		}
		switch (sig) {
		case SIGUSR1: {
			char status[160];

			server_print_counters(srv);
			status_line(srv, status, sizeof(status));
			notify_status(status);
			break;
		}
		case SIGINT:
		case SIGTERM:
			if (!atomic_load(&srv->stop_requested)) {
				notify_stopping("draining");
				stopping_told = 1;
				log_msg(LOG_NOTICE, "%s: draining %lu connections (at most %.1f s)",
					strsignal(sig), atomic_load(&srv->conn_limit.open),
					(double)srv->cfg->drain_ms / 1000.0);
				server_request_stop(srv, 0);
			} else {
				log_msg(LOG_NOTICE, "%s: closing every connection now", strsignal(sig));
				server_request_stop(srv, 1);
			}
			break;
		case SIGUSR2:
			if (atomic_load(&srv->workers_left) == 0)
				return;
			break;
		}
	}
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct server srv;
	sigset_t set;
	int r, status;

	one_heap();
	r = options_parse(argc, argv, &cfg);
	if (r != 0) {
		options_free(&cfg);
		return r > 0 ? EXIT_SUCCESS : EXIT_USAGE;
	}
	log_init(cfg.log_level);
	if (take_inherited(&cfg) < 0 || block_signals(&set) != 0) {
		options_free(&cfg);
		return EXIT_FAILURE;
	}
	r = server_init(&srv, &cfg);
	/* The sockets are open: root is needed no more (no thread yet). */
	if (r == 0 && cfg.user && privdrop_to(cfg.user) != 0)
		r = -EPERM;
	if (r == 0) {
		r = server_start(&srv);
		if (r < 0)
			server_request_stop(&srv, 1);
		else
			print_ready(&srv);
		signal_loop(&srv, &set);
		if (!stopping_told)
			notify_stopping(r < 0 ? "failed to start" : "stopping");
		server_wait_workers(&srv);
		server_print_counters(&srv);
	}
	status = r < 0 || atomic_load(&srv.failed) ? EXIT_FAILURE : EXIT_SUCCESS;
	server_free(&srv);
	options_free(&cfg);
	return status;
}
