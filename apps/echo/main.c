/* main.c - cport-echo: the seed's IOCP echo server, done properly.
 *
 * Worker threads wait on a completion port (or each on its own, with
 * --model per-thread); every socket is attached under its own key; each
 * connection has one op in flight: a pooled receive, then sends until the
 * chunk is all out, then the next receive. The main thread only waits for
 * signals (blocked everywhere else) and tells the loops to stop. */
#include "log.h"
#include "options.h"
#include "server.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
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

static void print_ready(struct server *srv)
{
	const struct config *cfg = srv->cfg;

	for (unsigned i = 0; i < cfg->naddrs; i++) {
		char a[80];
		if (srv->skipped[i])
			continue;
		addr_format((const struct sockaddr *)&srv->bound[i], a, sizeof(a));
		log_always(LOG_NOTICE, "listening on %s (backend %s, %u threads)", a, srv->backend_name,
			   cfg->threads);
	}
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
		case SIGUSR1:
			server_print_counters(srv);
			break;
		case SIGINT:
		case SIGTERM:
			if (!atomic_load(&srv->stop_requested)) {
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
	if (block_signals(&set) != 0) {
		options_free(&cfg);
		return EXIT_FAILURE;
	}
	r = server_init(&srv, &cfg);
	if (r == 0) {
		r = server_start(&srv);
		if (r < 0)
			server_request_stop(&srv, 1);
		else
			print_ready(&srv);
		signal_loop(&srv, &set);
		server_wait_workers(&srv);
		server_print_counters(&srv);
	}
	status = r < 0 || atomic_load(&srv.failed) ? EXIT_FAILURE : EXIT_SUCCESS;
	server_free(&srv);
	options_free(&cfg);
	return status;
}
