/* metrics_server.h - --metrics: GET /metrics over HTTP/1.1, served from a loop's completion port beside the echo. */
#ifndef ECHO_METRICS_SERVER_H
#define ECHO_METRICS_SERVER_H

#include "metrics.h"
#include "sock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct mconn;

/* Where a scrape's numbers come from (the server). Called from a worker. */
struct metrics_source {
	void (*snapshot)(void *ctx, struct metrics_snapshot *s);
	void *ctx;
};

/* One listening socket and its few connections. Apart from the echo: its
 * own connection limit and buffers, no pool buffer, no echo counter. */
struct metrics_server {
	struct sock sk; /* first: see sock_attach */
	struct req accept_req;
	_Atomic int accept_parked; /* an accept failed: retried at the next tick (holds its loop reference) */
	struct metrics_source src;
	pthread_mutex_t lock; /* the connections' list and count */
	struct mconn *conns; /* every connection, open or closing */
	unsigned nconns;
	_Atomic int stopping;
	_Atomic uint64_t http[METRICS_NCODES]; /* responses, per METRICS_CODES */
};

/* Not opened yet; cannot fail. */
void metrics_server_init(struct metrics_server *ms, struct loop_core *core, struct metrics_source src);

/* In the loop's owner thread, once sk.fd is open and the port exists:
 * attach it and start accepting. 0 or -errno (logged). */
int metrics_server_setup(struct metrics_server *ms);

/* From the loop's housekeeping: time out slow clients, retry a failed
 * accept. */
void metrics_server_tick(struct metrics_server *ms, uint64_t now);

/* The loop stops: no more accepts; connections close at the next ticks. */
void metrics_server_stop(struct metrics_server *ms);

/* Its responses so far, per METRICS_CODES (any thread). */
void metrics_server_codes(struct metrics_server *ms, uint64_t out[METRICS_NCODES]);

/* Close and free what is left (after the port is gone). */
void metrics_server_free(struct metrics_server *ms);

#endif
