/* counters.h - what cport-echo counts, per worker thread, summed to print. */
#ifndef ECHO_COUNTERS_H
#define ECHO_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

enum counter {
	C_CONN_TOTAL,        /* connections accepted and served */
	C_CONN_REFUSED,      /* closed at once: over --max-connections */
	C_CONN_SHED,         /* closed at once: out of descriptors (reserve fd) */
	C_CONN_IDLE_CLOSED,  /* closed by --idle-timeout */
	C_CONN_DRAIN_CLOSED, /* closed when the drain timed out */
	C_CONN_SPLICED,      /* echoed through a pipe with splice(2) from some point on */
	C_TCP_BYTES_IN,
	C_TCP_BYTES_OUT,
	C_TCP_MSGS_IN,  /* receives that brought data */
	C_TCP_MSGS_OUT, /* sends completed (a partial send counts once) */
	C_UDP_DGRAMS_IN,
	C_UDP_DGRAMS_OUT,
	C_UDP_BYTES_IN,
	C_UDP_BYTES_OUT,
	C_UDP_DROP_PRIVPORT,  /* source port below --udp-min-source-port */
	C_UDP_DROP_BROADCAST, /* broadcast or multicast source or destination */
	C_UDP_DROP_TRUNC,     /* larger than the receive buffer */
	C_ERR_ACCEPT_NOFD,    /* EMFILE, ENFILE */
	C_ERR_ACCEPT_NOMEM,   /* ENOBUFS, ENOMEM */
	C_ERR_ACCEPT_ABORTED, /* ECONNABORTED, EPROTO, EPERM: the peer's problem */
	C_ERR_ACCEPT_OTHER,
	C_ERR_CONN_RESET, /* ECONNRESET, EPIPE, ETIMEDOUT, ... */
	C_ERR_CONN_OTHER,
	C_ERR_CONN_SETUP, /* could not allocate or attach a new connection */
	C_ERR_SPLICE_PIPE, /* no pipe for a spliced echo (descriptors, memory): echoed as before */
	C_ERR_UDP_RECV,
	C_ERR_UDP_SEND,
	C_PROXY_PROXIED,       /* --proxy-protocol: headers that named the client */
	C_PROXY_LOCAL,         /* headers without a client (v2 LOCAL, v1 UNKNOWN) */
	C_PROXY_EMPTY,         /* closed before any byte: a balancer's health check */
	C_PROXY_ERR_TRUNC,     /* closed inside the header */
	C_PROXY_ERR_MISSING,   /* data that is no PROXY header */
	C_PROXY_ERR_MALFORMED, /* a header, but not a valid one */
	C_PROXY_ERR_OVERSIZED, /* longer than the parser takes */
	C_PROXY_ERR_TIMEOUT,   /* not whole within --proxy-header-timeout */
	C_COUNT
};

/* Connection lifetimes, in LIFE_UNIT_MS: upper bounds of the histogram's
 * buckets (a last one, +Inf, takes the rest). */
#define LIFE_UNIT_MS 10
#define LIFE_BOUNDS {1, 10, 100, 1000, 6000, 60000, 360000} /* 0.01 s .. 1 h */
#define LIFE_NBOUNDS 7

/* One thread's counters: written by that thread only (relaxed atomics, no
 * shared cache line on the hot path), read by whoever prints. */
struct counters {
	_Alignas(64) _Atomic uint64_t v[C_COUNT];
	_Atomic uint64_t life[LIFE_NBOUNDS + 1]; /* closed connections per lifetime bucket */
	_Atomic uint64_t life_sum;               /* their lifetimes, in LIFE_UNIT_MS */
};

/* Its one writer needs no read-modify-write (a locked instruction, some
 * twenty cycles, four per echoed datagram): a relaxed load and store, which
 * a reader sees whole, old or new. */
static inline void counter_add(struct counters *c, enum counter i, uint64_t n)
{
	atomic_store_explicit(&c->v[i], atomic_load_explicit(&c->v[i], memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* A connection closed after units LIFE_UNIT_MS. */
void counter_lifetime(struct counters *c, uint64_t units);

/* Summed over every thread: the histogram's buckets (not cumulative) and sum. */
struct life_hist {
	uint64_t bucket[LIFE_NBOUNDS + 1];
	uint64_t sum;
};

void counters_sum_life(struct counters *const *sets, unsigned n, struct life_hist *out);

/* Sum n counter sets into out (plain numbers). */
void counters_sum(struct counters *const *sets, unsigned n, uint64_t out[C_COUNT]);

/* Print one line "counters: connections_open=N name=value ...". */
void counters_print(const uint64_t sum[C_COUNT], uint64_t open_now);

#endif
