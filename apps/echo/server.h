/* server.h - the server: its loops and worker threads; start, stop, free. */
#ifndef ECHO_SERVER_H
#define ECHO_SERVER_H

#include "conn.h"
#include "metrics_server.h"
#include "options.h"
#include "reserve_fd.h"
#include "ticker.h"
#include "watchdog.h"

#include <pthread.h>
#include <stdatomic.h>

struct loop;
struct worker;

struct server {
	const struct config *cfg;
	struct loop *loops;
	unsigned nloops;
	struct worker *workers;
	unsigned nworkers;
	struct sockaddr_storage *bound; /* per cfg address: the address really served */
	int *skipped;                   /* per cfg address: optional, not available */
	const char *backend_name;
	struct metrics_server metrics;         /* --metrics: on loop 0 */
	struct sockaddr_storage metrics_bound; /* its address */
	struct watchdog watchdog;              /* systemd's: kept by loop 0 */

	struct conn_limit conn_limit; /* open connections, --max-connections */
	struct reserve_fd reserve;    /* the spare fd given up to shed a connection at EMFILE */
	_Atomic int stop_requested;   /* SIGTERM: drain */
	_Atomic int failed;           /* exit status 1 */
	_Atomic unsigned workers_left;
	pthread_t main_thread;
	struct ticker ticker; /* wakes every loop each TICK_MS */

	pthread_mutex_t start_lock; /* loops reporting their setup */
	pthread_cond_t start_cv;
	unsigned loops_ready, loops_failed;
	int start_err;
};

/* Build the loops and open every socket: 0 or -errno (logged). Call
 * server_free after it either way. */
int server_init(struct server *srv, const struct config *cfg);

/* From the main thread: start the workers and wait until every loop is set
 * up (0) or one failed (-errno). */
int server_start(struct server *srv);

/* Any thread: drain the connections, or with now close them all. */
void server_request_stop(struct server *srv, int now);

/* Once every worker has left: join them, destroy the ports left. */
void server_wait_workers(struct server *srv);

void server_free(struct server *srv);

/* Log the counters summed over every worker. */
void server_print_counters(struct server *srv);

#endif
