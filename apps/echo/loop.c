/* loop.c - a loop: one port with its sockets and connections; built, set up, stopped, freed. */
#include "loop.h"

#include "bind.h"
#include "clock.h"
#include "housekeep.h"
#include "listener.h"
#include "log.h"
#include "metrics_server.h"
#include "options.h"
#include "sock.h"
#include "udp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void wake_done(struct req *r, const struct cport_completion *c, struct counters *ctr)
{
	(void)c;
	(void)ctr;
	housekeep_soon(cport_container_of(r, struct loop, wake));
}

int loop_init(struct loop *lp, unsigned index, unsigned nworkers, const struct config *cfg,
	      struct conn_limit *limit, struct reserve_fd *rf)
{
	lp->cfg = cfg;
	lp->index = index;
	lp->core.nworkers = nworkers;
	atomic_init(&lp->core.staying, nworkers);
	lp->reserve = rf;
	conns_init(&lp->conns, &lp->core, limit, cfg->pool_buffers, cfg->pool_large_buffers);
	lp->conns.proxy = cfg->proxy_protocol;
	lp->conns.modes = CPORT_SKIP_ON_SUCCESS | (cfg->recv_ahead ? CPORT_RECV_AHEAD : 0);
	pthread_mutex_init(&lp->hk_lock, NULL);
	pthread_mutex_init(&lp->port_lock, NULL);
	lp->wake.done = wake_done;
	pthread_mutex_init(&lp->ready_lock, NULL);
	pthread_cond_init(&lp->ready_cv, NULL);
	atomic_init(&lp->alive_ms, now_ms());
	atomic_init(&lp->hk_due, 1);
	lp->wait_ms = TICK_MS;
	if (cfg->tcp) {
		lp->listeners = calloc(cfg->naddrs, sizeof(*lp->listeners));
		if (!lp->listeners)
			return -ENOMEM;
		lp->nlisteners = cfg->naddrs;
		for (unsigned i = 0; i < cfg->naddrs; i++)
			listener_init(&lp->listeners[i], &lp->core, &lp->conns, rf);
	}
	if (cfg->udp) {
		lp->udps = calloc(cfg->naddrs, sizeof(*lp->udps));
		if (!lp->udps)
			return -ENOMEM;
		lp->nudps = cfg->naddrs;
		for (unsigned i = 0; i < cfg->naddrs; i++)
			udp_init(&lp->udps[i], &lp->core, cfg);
	}
	return 0;
}

int *loop_fd_at(struct loop *lp, unsigned addr, int proto)
{
	if (proto == BIND_TCP)
		return addr < lp->nlisteners ? &lp->listeners[addr].sk.fd : NULL;
	return addr < lp->nudps ? &lp->udps[addr].sk.fd : NULL;
}

/* Only for the sockets really opened (an optional address may be off). */
int loop_alloc_slots(struct loop *lp)
{
	int shared = lp->cfg->model == MODEL_SHARED;

	for (unsigned i = 0; i < lp->nlisteners; i++)
		if (lp->listeners[i].sk.fd >= 0 && listener_alloc_slots(&lp->listeners[i], shared) != 0)
			return -ENOMEM;
	for (unsigned i = 0; i < lp->nudps; i++)
		if (lp->udps[i].sk.fd >= 0 && udp_alloc_slots(&lp->udps[i], shared) != 0)
			return -ENOMEM;
	return 0;
}

static const char *backend_label(int backend)
{
	return backend == CPORT_BACKEND_URING   ? "io_uring"
	       : backend == CPORT_BACKEND_EPOLL ? "epoll"
						: "auto";
}

/* In the thread that will use it: a single-thread io_uring belongs to the
 * thread that made it. */
static int loop_create_port(struct loop *lp)
{
	const struct config *cfg = lp->cfg;
	struct cport_options o;
	cport_t *port = NULL;
	int r;

	cport_options_init(&o);
	o.backend = cfg->backend;
	if (cfg->model == MODEL_PER_THREAD)
		o.flags |= CPORT_SINGLE_THREAD;
	if (cfg->pool_buffers)
		o.pool_buffers = cfg->pool_buffers;
	if (cfg->pool_buffer_size)
		o.pool_buffer_size = cfg->pool_buffer_size;
	o.pool_large_buffers = cfg->pool_large_buffers;
	o.pool_large_buffer_size = cfg->pool_large_buffer_size;
	r = cport_create(&o, &port);
	/* Under the lock the ticker's loop_wake reads it with. */
	pthread_mutex_lock(&lp->port_lock);
	lp->core.port = r < 0 ? NULL : port;
	pthread_mutex_unlock(&lp->port_lock);
	if (r < 0) {
		log_msg(LOG_ERR, "cannot create a completion port (backend %s): %s",
			backend_label(cfg->backend), strerror(-r));
		return r;
	}
	conns_port_ready(&lp->conns); /* before loop_set_ready: the other workers read it after */
	return 0;
}

int loop_setup(struct loop *lp, struct counters *ctr)
{
	int r = loop_create_port(lp);

	if (r < 0)
		return r;
	for (unsigned i = 0; i < lp->nlisteners; i++) {
		struct listener *l = &lp->listeners[i];
		if (l->sk.fd < 0)
			continue;
		if ((r = sock_attach(&l->sk)) < 0 || (r = listener_arm(l)) < 0)
			return r;
	}
	for (unsigned i = 0; i < lp->nudps; i++) {
		struct udp_sock *u = &lp->udps[i];
		if (u->sk.fd < 0)
			continue;
		if ((r = sock_attach(&u->sk)) < 0 || (r = udp_arm(u, ctr)) < 0)
			return r;
	}
	if (lp->metrics && (r = metrics_server_setup(lp->metrics)) < 0)
		return r;
	return 0;
}

void loop_set_ready(struct loop *lp, int ok)
{
	pthread_mutex_lock(&lp->ready_lock);
	lp->ready = ok ? 1 : -1;
	pthread_cond_broadcast(&lp->ready_cv);
	pthread_mutex_unlock(&lp->ready_lock);
}

int loop_wait_ready(struct loop *lp)
{
	int r;

	pthread_mutex_lock(&lp->ready_lock);
	while (!lp->ready)
		pthread_cond_wait(&lp->ready_cv, &lp->ready_lock);
	r = lp->ready < 0 ? -1 : 0;
	pthread_mutex_unlock(&lp->ready_lock);
	return r;
}

void loop_request_stop(struct loop *lp, int now)
{
	atomic_store(&lp->stop_requested, 1);
	if (now)
		atomic_store(&lp->stop_now, 1);
	loop_wake(lp);
}

/* cport_post may be called from any thread, on a CPORT_SINGLE_THREAD port
 * too; but a loop with one worker has that worker destroy its port as it
 * leaves, maybe right now: the lock keeps the post and the destroy apart.
 * One op, reused: a loop whose workers are stuck is not sent a growing
 * queue of wake-ups (-EBUSY: the last one is still queued). */
void loop_wake(struct loop *lp)
{
	pthread_mutex_lock(&lp->port_lock);
	if (lp->core.port && !atomic_load(&lp->core.done)) {
		int r = cport_post(lp->core.port, KEY_WAKE, &lp->wake.op, 0);

		if (r < 0 && r != -EBUSY && r != -ESHUTDOWN)
			log_msg(LOG_ERR, "cannot wake a loop: %s", strerror(-r));
	}
	pthread_mutex_unlock(&lp->port_lock);
}

void loop_close_port(struct loop *lp)
{
	pthread_mutex_lock(&lp->port_lock);
	cport_t *port = lp->core.port;

	lp->core.port = NULL;
	pthread_mutex_unlock(&lp->port_lock);
	if (port)
		cport_destroy(port);
}

void loop_free(struct loop *lp)
{
	for (unsigned i = 0; i < lp->nlisteners; i++)
		listener_free(&lp->listeners[i]);
	for (unsigned i = 0; i < lp->nudps; i++)
		udp_free(&lp->udps[i]);
	conns_free(&lp->conns);
	free(lp->listeners);
	free(lp->udps);
	pthread_mutex_destroy(&lp->hk_lock);
	pthread_mutex_destroy(&lp->port_lock);
	pthread_mutex_destroy(&lp->ready_lock);
	pthread_cond_destroy(&lp->ready_cv);
}
