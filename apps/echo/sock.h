/* sock.h - what a listener and a UDP socket share: the fd, attached, closed through the port. */
#ifndef ECHO_SOCK_H
#define ECHO_SOCK_H

#include "loop_core.h"
#include "req.h"

#include <pthread.h>
#include <stdatomic.h>

struct sock {
	struct loop_core *core;
	int fd; /* -1: not opened (an optional address that is not available) */
	int attached;
	int closed; /* its close through the port completed */
	/* Twice the ops being started on fd now, plus SOCK_CLOSING once a
	 * close began: a start and a close never overlap, and starts from many
	 * threads (a shared UDP socket's replies) take no lock. */
	_Atomic unsigned users;
	pthread_mutex_t close_lock; /* one close at a time */
	struct req close_req;
};

/* Not opened yet; cannot fail. */
void sock_init(struct sock *sk, struct loop_core *core);

/* Attach fd to the port: 0 or -errno (logged). */
int sock_attach(struct sock *sk);

/* Before starting an op of one of sk's slots on fd: 1, and a close waits
 * for the sock_op_end that must follow; or 0 if sk is closing: then the slot
 * retires, giving back the reference on the loop it held. */
int sock_op_begin(struct sock *sk);

/* The op is started (or failed to): a close may go ahead. */
void sock_op_end(struct sock *sk);

/* Stop starting ops on fd and close it through the port; their slots see
 * closing and retire. Safe to call again, and on a socket never attached. */
void sock_close(struct sock *sk);

/* Close fd if the port did not; sk is not used again. */
void sock_free(struct sock *sk);

#endif
