/* loop.h - a loop: one port with its sockets and connections; built, set up, stopped, freed. */
#ifndef ECHO_LOOP_H
#define ECHO_LOOP_H

#include "conn.h"
#include "loop_core.h"
#include "req.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define TICK_MS 100 /* housekeeping period: stop, timeouts, backoff */

struct config;
struct counters;
struct listener;
struct metrics_server;
struct reserve_fd;
struct watchdog;
struct udp_sock;

/* Every worker of the shared model waits on the one loop; in the
 * per-thread model each worker has a loop of its own. */
struct loop {
	struct loop_core core; /* what its sockets and connections share */
	const struct config *cfg;
	unsigned index;
	struct listener *listeners; /* one per configured address (TCP) */
	unsigned nlisteners;
	struct udp_sock *udps; /* one per configured address (UDP) */
	unsigned nudps;
	struct conns conns;
	struct reserve_fd *reserve; /* the server's */
	_Atomic int stop_requested; /* drain */
	_Atomic int stop_now;       /* close everything */

	/* housekeeping (housekeep.c): one thread at a time */
	pthread_mutex_t hk_lock;
	_Atomic int hk_due; /* a wake-up asked for it (housekeep_soon) */
	uint64_t next_idle_ms;
	uint64_t next_proxy_ms; /* next scan for PROXY headers late (--proxy-protocol) */
	uint64_t next_trim_ms;
	bool trim_failed;        /* cport_trim failed once: said once */
	uint64_t drain_deadline_ms;
	_Atomic uint64_t alive_ms;       /* last housekeeping: systemd's watchdog looks */
	struct watchdog *watchdog;       /* loop 0's, when systemd asks for one */
	struct metrics_server *metrics;  /* loop 0's, with --metrics */

	/* The ticker's wake-up (loop_wake): workers wait with no timeout,
	 * since a timed wait costs the kernel a timer armed and cancelled
	 * every time a thread sleeps, once a message at one connection. */
	struct req wake;
	pthread_mutex_t port_lock; /* loop_wake against loop_close_port */
	int wait_ms;               /* the workers' cport_wait timeout: -1 with the ticker */

	/* set up by the owner worker; the others wait for it */
	pthread_mutex_t ready_lock;
	pthread_cond_t ready_cv;
	int ready; /* 0 setting up, 1 ready, -1 failed */
};

/* The loop and its sockets, none opened yet. 0 or -ENOMEM; loop_free
 * undoes it either way. */
int loop_init(struct loop *lp, unsigned index, unsigned nworkers, const struct config *cfg,
	      struct conn_limit *limit, struct reserve_fd *rf);

/* Where the fd of the socket for address addr goes (proto: BIND_TCP or
 * BIND_UDP), for bind_open_all; NULL if that protocol is not served. */
int *loop_fd_at(struct loop *lp, unsigned addr, int proto);

/* Once the sockets are open: their per-op data. 0 or -ENOMEM. */
int loop_alloc_slots(struct loop *lp);

/* In the owner thread: create the port, attach the sockets and start their
 * I/O. 0 or -errno (logged); the port may exist even then. */
int loop_setup(struct loop *lp, struct counters *ctr);

/* The owner's setup is over (ok: it worked); wakes the other workers. */
void loop_set_ready(struct loop *lp, int ok);

/* Wait for the owner's setup: 0 if it worked, -1 if not. */
int loop_wait_ready(struct loop *lp);

/* Any thread: drain (or, with now, close everything), at the loop's next
 * housekeeping. */
void loop_request_stop(struct loop *lp, int now);

/* Any thread: a worker runs the loop's housekeeping soon (the server's
 * ticker calls it every TICK_MS). Nothing if one is on its way already, or the
 * port is gone. */
void loop_wake(struct loop *lp);

/* Destroy the port (cancelling whatever is left); the loop runs no more. */
void loop_close_port(struct loop *lp);

void loop_free(struct loop *lp);

#endif
