/* loop_core.h - what a loop's sockets and connections share: its port and what keeps it running. */
#ifndef ECHO_LOOP_CORE_H
#define ECHO_LOOP_CORE_H

#include "cport.h"

#include <stdatomic.h>
#include <stdint.h>

#define KEY_WAKE ((uintptr_t)1) /* posted: run housekeeping now (with no op, or the loop's wake op) */
/* A connection's fd is attached under the connection's address with this
 * bit set: its completions go to conn_done by their key, so a connection
 * holds no handler pointer (8 bytes of each one's idle memory). No other
 * key has it: they are KEY_WAKE or addresses of 8-byte-aligned records. */
#define KEY_CONN ((uintptr_t)2)

struct loop_core {
	cport_t *port;     /* made by the loop's owner thread at setup */
	unsigned nworkers; /* threads waiting on port */
	_Atomic unsigned staying; /* of those, not yet gone (loop_core_leave) */
	_Atomic int stopping; /* no new connections; the sockets are closing */
	/* conns alive + listener/udp ops in flight or parked: the loop is done
	 * when stopping and this reaches 0 */
	_Atomic long pending;
	_Atomic int done;
};

/* Something more keeps the loop running. */
void loop_core_ref(struct loop_core *lc);

/* One thing less; the last one of a stopping loop finishes it. */
void loop_core_unref(struct loop_core *lc);

/* The loop is done (once; later calls do nothing): its workers leave. */
void loop_core_finish(struct loop_core *lc);

/* A worker that saw done leaves the port: it wakes one still waiting. */
void loop_core_leave(struct loop_core *lc);

#endif
