/* sock.c - what a listener and a UDP socket share: the fd, attached, closed through the port. */
#include "sock.h"

#include "log.h"

#include <string.h>
#include <unistd.h>

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
	pthread_mutex_init(&sk->lock, NULL);
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
	pthread_mutex_lock(&sk->lock);
	if (!sk->closing)
		return 1;
	pthread_mutex_unlock(&sk->lock);
	loop_core_unref(sk->core);
	return 0;
}

void sock_op_end(struct sock *sk)
{
	pthread_mutex_unlock(&sk->lock);
}

/* Its ops end with -ECANCELED; the close itself keeps the loop running
 * until it completes. */
void sock_close(struct sock *sk)
{
	struct loop_core *lc = sk->core;
	int r;

	pthread_mutex_lock(&sk->lock);
	if (!sk->closing && sk->attached && !sk->closed) {
		loop_core_ref(lc);
		r = cport_close(lc->port, sk->fd, &sk->close_req.op);
		if (r < 0) {
			loop_core_unref(lc);
			log_msg(LOG_ERR, "cannot close a socket: %s", strerror(-r));
		}
	}
	sk->closing = 1;
	pthread_mutex_unlock(&sk->lock);
}

void sock_free(struct sock *sk)
{
	if (sk->fd >= 0 && !sk->closed)
		close(sk->fd);
	pthread_mutex_destroy(&sk->lock);
}
