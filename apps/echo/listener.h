/* listener.h - a listening TCP socket: its accepts in flight, their errors and backoff. */
#ifndef ECHO_LISTENER_H
#define ECHO_LISTENER_H

#include "sock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct accept_slot;
struct conns;
struct counters;
struct reserve_fd;

struct listener {
	struct sock sk; /* first: see sock_attach */
	struct conns *conns;        /* where accepted connections go */
	struct reserve_fd *reserve; /* given up for a moment to shed at EMFILE */
	_Atomic unsigned backoff_ms; /* accept pause after an error; 0 after a success */
	struct accept_slot *slots;
	unsigned nslots;
	pthread_mutex_t park_lock; /* slots pausing after an error */
	struct accept_slot *parked;
	unsigned nparked; /* slots on parked (park_lock) */
	_Atomic int shedding; /* at EMFILE: slots park until all have, then one sheds */
};

/* Not opened yet; cannot fail. */
void listener_init(struct listener *l, struct loop_core *core, struct conns *cs,
		   struct reserve_fd *rf);

/* Once sk.fd is open: its accept slots, more on a shared port. 0 or -ENOMEM. */
int listener_alloc_slots(struct listener *l, int shared_port);

/* Start every slot's accept: 0, or -errno (logged). */
int listener_arm(struct listener *l);

/* Restart the slots whose pause is over at now (all of them with all: a
 * stopping loop retires them). */
void listener_rearm_parked(struct listener *l, uint64_t now, int all, struct counters *ctr);

void listener_free(struct listener *l);

#endif
