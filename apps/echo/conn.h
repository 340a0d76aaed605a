/* conn.h - TCP connections: the echo (through pool buffers, or spliced through a
 * pipe), one op in flight; their slab; the pool buffers they hold. */
#ifndef ECHO_CONN_H
#define ECHO_CONN_H

#include "loop_core.h"
#include "slab.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct conn;
struct counters;

/* Every loop's connections count against one limit, and their pipes
 * (spliced echoes) against another. */
struct conn_limit {
	_Atomic unsigned long open;
	unsigned long max; /* --max-connections; 0: no limit */
	_Atomic unsigned long pipes;
	unsigned long max_pipes; /* --splice-pipes; 0: no spliced echo */
};

/* KILL_PROXY: the PROXY header did not come whole in time (--proxy-protocol). */
enum kill_reason { KILL_NONE, KILL_IDLE, KILL_DRAIN, KILL_PROXY };

/* One loop's connections. */
struct conns {
	struct loop_core *core;
	struct conn_limit *limit;
	int proxy;                  /* --proxy-protocol: a PROXY header comes first */
	unsigned modes;             /* each connection's cport_set_completion_modes (conn.c) */
	size_t splice_min;          /* a chunk this big starts a spliced echo (SIZE_MAX: none) */
	unsigned pool_pressure;     /* pool buffers held that count as pressure */
	char pad0[64];              /* bufs_held changes per chunk: a line of its own */
	_Atomic unsigned bufs_held; /* pool buffers held by connections */
	char pad1[64];
	_Atomic unsigned own_bufs; /* chunks copied out of the pool, not yet sent */
	_Atomic int trim_wanted;   /* memory was freed: give it back to the system */
	pthread_mutex_t lock;      /* the slab, and each connection's listed flag */
	struct slab slab;          /* the connections */
};

/* No connections yet; pool_buffers is the port's (0: the library's
 * default), large_buffers its large ones. Cannot fail. */
void conns_init(struct conns *cs, struct loop_core *core, struct conn_limit *limit,
		unsigned pool_buffers, unsigned large_buffers);

/* The loop's port exists: a chunk of its small pool buffer's size or more
 * starts a spliced echo, if --splice-pipes allows any. */
void conns_port_ready(struct conns *cs);

/* Serve fd, just accepted: attach it and start its first receive. A loop
 * that is stopping, the limit or a failure closes fd instead. */
void conn_start(struct conns *cs, int fd, struct counters *ctr);

/* Handle a completion of a connection's op: one whose key has KEY_CONN set. */
void conn_done(const struct cport_completion *c, struct counters *ctr);

/* Close every connection (KILL_DRAIN), those without a completion since
 * cutoff (KILL_IDLE), or those still waiting for their PROXY header cutoff
 * ms after they were accepted (KILL_PROXY), at their next step. A cancel can lose the race with
 * a submission: the caller repeats. */
void conns_kill(struct conns *cs, enum kill_reason why, uint64_t cutoff);

/* 1 once when memory was freed since and no chunk is copied out: a good
 * time to give the heap back to the system. The slab's empty chunks go
 * back first. */
int conns_take_trim(struct conns *cs);

/* Close and free what is left (after a forced exit: connections the port
 * gave up on). */
void conns_free(struct conns *cs);

#endif
