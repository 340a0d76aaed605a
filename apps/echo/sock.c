/* sock.c - what a listener and a UDP socket share: the fd, attached, closed through the port. */
#include "sock.h"

#include "log.h"

#include <sched.h>
#include <string.h>
#include <unistd.h>

#define SOCK_CLOSING 1u
#define SOCK_STARTING 2u /* one op being started */

static void sock_closed(struct req *r, const struct cport_completion *c, struct counters *ctr)
{
	struct sock *sk = cport_container_of(r, struct sock, close_req);

	(void)ctr;
	sk->closed = 1;
	if (c->result < 0)
		log_msg(LOG_WARNING, "closing a socket: %s", strerror((int)-c->result));
	loop_core_unref(sk->core);
}

void sock_init(struct sock *sk, struct loop_core *core)
{
	sk->core = core;
	sk->fd = -1;
	sk->close_req.done = sock_closed;
	atomic_init(&sk->users, 0);
	pthread_mutex_init(&sk->close_lock, NULL);
}

/* Attached under the address of its listener or UDP socket (sk is the first
 * member of both). */
int sock_attach(struct sock *sk)
{
	int r = cport_attach(sk->core->port, sk->fd, (uintptr_t)sk);

	if (r < 0) {
		log_msg(LOG_ERR, "cannot attach a socket to the port: %s", strerror(-r));
		return r;
	}
	sk->attached = 1;
	return 0;
}

int sock_op_begin(struct sock *sk)
{
	if (!(atomic_fetch_add(&sk->users, SOCK_STARTING) & SOCK_CLOSING))
		return 1;
	atomic_fetch_sub(&sk->users, SOCK_STARTING);
	loop_core_unref(sk->core);
	return 0;
}

void sock_op_end(struct sock *sk)
{
	atomic_fetch_sub(&sk->users, SOCK_STARTING);
}

/* Its ops end with -ECANCELED; the close itself keeps the loop running
 * until it completes. The starts under way when it begins take a system
 * call at most: the close yields until they are over, so that none can
 * reach fd after the port closed it (and the number went to a new socket). */
void sock_close(struct sock *sk)
{
	struct loop_core *lc = sk->core;
	int r;

	pthread_mutex_lock(&sk->close_lock);
	if (!(atomic_fetch_or(&sk->users, SOCK_CLOSING) & SOCK_CLOSING)) {
		while (atomic_load(&sk->users) != SOCK_CLOSING)
			sched_yield();
		if (sk->attached && !sk->closed) {
			loop_core_ref(lc);
			r = cport_close(lc->port, sk->fd, &sk->close_req.op);
			if (r < 0) {
				loop_core_unref(lc);
				log_msg(LOG_ERR, "cannot close a socket: %s", strerror(-r));
			}
		}
	}
	pthread_mutex_unlock(&sk->close_lock);
}

void sock_free(struct sock *sk)
{
	if (sk->fd >= 0 && !sk->closed)
		close(sk->fd);
	pthread_mutex_destroy(&sk->close_lock);
}
