/* conn_priv.h - what the echo's two paths share: a TCP connection's record,
 * its states, and the steps that end it (conn.c). The pooled echo and the
 * PROXY header are in conn.c, the spliced echo in conn_splice.c. */
#ifndef ECHO_CONN_PRIV_H
#define ECHO_CONN_PRIV_H

#include "conn.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* SPLICE_ON: echoed through sp's pipe with splice(2), not through iov.
 * SPLICE_NEVER: no pipe could be made for it; not tried again. */
enum splice_state { SPLICE_NOT_YET, SPLICE_ON, SPLICE_NEVER };

/* CS_POLL_IN, CS_POLL_OUT: a spliced echo's cport_poll is in flight. */
enum conn_state { CS_RECV, CS_SEND, CS_CLOSING, CS_PROXY, CS_POLL_IN, CS_POLL_OUT };

/* One accepted TCP connection; attached under its own address, KEY_CONN set, as key. One
 * op at a time: recv, then send until the chunk is all out, then recv.
 * There is one per connection, idle or not, in its loop's slab (which also
 * says which loop it belongs to), so it holds only what every connection
 * needs, packed: 184 bytes, the op 144 of them (docs/performance.md). Its
 * completions find it by key (KEY_CONN), so it keeps no handler pointer. An echo in progress
 * adds just where it is in its chunk; a spliced one (conn_splice.c) has its pipe
 * where a pooled one has its chunk. */
struct conn {
	struct cport_op op;
	union {
		/* Sending: the rest of the chunk, named by the send in flight.
		 * The chunk (a pool buffer, or our own copy) starts off bytes
		 * before. */
		struct iovec iov;
		/* spliced: the pipe, and the bytes in it not yet sent back */
		struct {
			int pipe[2];
			uint32_t held;
		} sp;
	};
	int fd;
	uint32_t off;                /* bytes of the chunk sent */
	_Atomic uint32_t last_stamp; /* last completion, in STAMP_MS, for --idle-timeout */
	uint32_t born;               /* accepted, in LIFE_UNIT_MS (wraps after 497 days) */
	uint8_t state;               /* enum conn_state */
	_Atomic uint8_t kill;        /* enum kill_reason: close at the next step */
	uint8_t buf_own;             /* the chunk is malloc'd (copied out under pool pressure) */
	uint8_t listed;              /* attached, not closing: conns_kill may cancel its fd (cs->lock) */
	_Atomic uint8_t hdr_wait;    /* its PROXY header is not whole yet (KILL_PROXY may close it) */
	uint8_t spliced;             /* enum splice_state */
};

static inline struct conns *conn_cs(const struct conn *cn)
{
	return cport_container_of(slab_of(cn), struct conns, slab);
}


/* Close the connection through the port (its pipe and chunk go first). */
void conn_close(struct conn *cn, struct counters *ctr);
/* A failed op closes this connection only, counted by err. */
void conn_fail(struct conn *cn, int err, struct counters *ctr);
/* A kill (idle, drain) takes effect between two ops: 1 if it did. */
int conn_close_if_killed(struct conn *cn, struct counters *ctr);

/* conn_splice.c. A connection whose all-sent chunk was at least
 * splice_min bytes: 1 if it is spliced from now on (it has a pipe), 0 to
 * go on pooled. */
int conn_splice_begin(struct conn *cn, struct counters *ctr);
/* Run a spliced echo from next (CS_POLL_IN: wait for data). */
void conn_splice_go(struct conn *cn, int next, struct counters *ctr);
/* A spliced echo's poll completed with res. */
void conn_polled(struct conn *cn, int64_t res, struct counters *ctr);
/* Close its pipe, if it has one (and give the pipe back to the limit). */
void conn_splice_end(struct conn *cn);

#endif
