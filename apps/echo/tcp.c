/* tcp.c - accepting connections and echoing them, one op in flight each. */
#include "server.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t coarse_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
		return now_ms();
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the reserve descriptor ------------------------------------------ */

static void reserve_refill_locked(struct server *srv)
{
	if (srv->reserve_fd < 0)
		srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int reserve_fd_refill(struct server *srv)
{
	int ok;

	pthread_mutex_lock(&srv->reserve_lock);
	reserve_refill_locked(srv);
	ok = srv->reserve_fd >= 0;
	pthread_mutex_unlock(&srv->reserve_lock);
	return ok ? 0 : -EMFILE;
}

/* Out of descriptors: give up the spare one for a moment to take one
 * waiting connection off the backlog and close it, so that client learns
 * at once rather than hanging, and the backlog does not fill up. */
static void shed_one(struct worker *w, struct listener *l)
{
	struct server *srv = w->srv;
	int fd;

	pthread_mutex_lock(&srv->reserve_lock);
	if (srv->reserve_fd >= 0) {
		close(srv->reserve_fd);
		srv->reserve_fd = -1;
		fd = accept4(l->sk.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			counter_add(&w->ctr, C_CONN_SHED, 1);
			close(fd);
		}
		reserve_refill_locked(srv);
	}
	pthread_mutex_unlock(&srv->reserve_lock);
}

/* ---- accepting ------------------------------------------------------- */

/* Start (or restart) one accept; a slot of a closing listener retires. */
static void accept_submit(struct worker *w, struct accept_slot *s);

static void accept_park(struct worker *w, struct accept_slot *s)
{
	struct listener *l = s->l;
	struct loop *lp = l->sk.loop;
	unsigned b;

	/* Racing parkers may both double it: a pause is a pause. */
	b = atomic_load_explicit(&l->backoff_ms, memory_order_relaxed);
	b = b ? b * 2 : BACKOFF_MIN_MS;
	b = b > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b;
	atomic_store_explicit(&l->backoff_ms, b, memory_order_relaxed);
	s->wake_ms = now_ms() + b;
	pthread_mutex_lock(&lp->lock);
	s->next_parked = lp->parked;
	lp->parked = s;
	pthread_mutex_unlock(&lp->lock);
	(void)w;
}

static void accept_submit(struct worker *w, struct accept_slot *s)
{
	struct listener *l = s->l;
	struct loop *lp = l->sk.loop;
	int r;

	pthread_mutex_lock(&l->sk.lock);
	if (l->sk.closing) {
		pthread_mutex_unlock(&l->sk.lock);
		loop_unref(lp);
		return;
	}
	r = cport_accept(lp->port, l->sk.fd, &s->r.op, NULL, NULL);
	pthread_mutex_unlock(&l->sk.lock);
	if (r < 0) {
		counter_add(&w->ctr, C_ERR_ACCEPT_OTHER, 1);
		log_limited(LK_ACCEPT_OTHER, LOG_ERR, "cannot start an accept: %s", strerror(-r));
		accept_park(w, s);
	}
}

int listener_arm(struct worker *w, struct listener *l)
{
	struct loop *lp = l->sk.loop;

	for (unsigned i = 0; i < l->nslots; i++) {
		struct accept_slot *s = &l->slots[i];
		int r;

		loop_ref(lp);
		r = cport_accept(lp->port, l->sk.fd, &s->r.op, NULL, NULL);
		if (r < 0) {
			loop_unref(lp);
			log_msg(LOG_ERR, "cannot start accepting: %s", strerror(-r));
			return r;
		}
	}
	(void)w;
	return 0;
}

void accept_rearm_parked(struct worker *w, uint64_t now, int all)
{
	struct loop *lp = w->loop;
	struct accept_slot *due = NULL, **pp, *s;

	pthread_mutex_lock(&lp->lock);
	for (pp = &lp->parked; (s = *pp);) {
		if (all || s->wake_ms <= now) {
			*pp = s->next_parked;
			s->next_parked = due;
			due = s;
		} else {
			pp = &s->next_parked;
		}
	}
	pthread_mutex_unlock(&lp->lock);
	while ((s = due)) {
		due = s->next_parked;
		accept_submit(w, s);
	}
}

static void conn_start(struct worker *w, struct listener *l, int fd);

static void accept_failed(struct worker *w, struct accept_slot *s, int err)
{
	switch (err) {
	case ECANCELED: /* the listener is closing (else: just go on) */
		accept_submit(w, s);
		return;
	case EMFILE:
	case ENFILE:
		counter_add(&w->ctr, C_ERR_ACCEPT_NOFD, 1);
		log_limited(LK_ACCEPT_NOFD, LOG_WARNING, "accept: %s; shedding and pausing accepts",
			    strerror(err));
		shed_one(w, s->l);
		accept_park(w, s);
		return;
	case ENOBUFS:
	case ENOMEM:
		counter_add(&w->ctr, C_ERR_ACCEPT_NOMEM, 1);
		log_limited(LK_ACCEPT_NOMEM, LOG_WARNING, "accept: %s; pausing accepts", strerror(err));
		accept_park(w, s);
		return;
	/* The connection's own trouble (accept(2) lists the network errors
	 * Linux passes on from the new socket): try the next one at once. */
	case ECONNABORTED:
	case EPROTO:
	case EPERM:
	case EINTR:
	case EAGAIN:
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETUNREACH:
		counter_add(&w->ctr, C_ERR_ACCEPT_ABORTED, 1);
		log_msg(LOG_DEBUG, "accept: %s", strerror(err));
		accept_submit(w, s);
		return;
	default:
		counter_add(&w->ctr, C_ERR_ACCEPT_OTHER, 1);
		log_limited(LK_ACCEPT_OTHER, LOG_ERR, "accept: %s; pausing accepts", strerror(err));
		accept_park(w, s);
		return;
	}
}

void accept_done(struct worker *w, struct accept_slot *s, const struct cport_completion *c)
{
	struct listener *l = s->l;

	if (c->result < 0) {
		accept_failed(w, s, (int)-c->result);
		return;
	}
	if (atomic_load_explicit(&l->backoff_ms, memory_order_relaxed))
		atomic_store_explicit(&l->backoff_ms, 0, memory_order_relaxed);
	conn_start(w, l, (int)c->result);
	accept_submit(w, s);
}

/* ---- connections ----------------------------------------------------- */

static void conn_close(struct worker *w, struct conn *cn);

static void conn_free(struct worker *w, struct conn *cn)
{
	struct loop *lp = cn->loop;

	log_msg(LOG_DEBUG, "connection fd %d closed", cn->fd);
	atomic_fetch_sub(&w->srv->open_conns, 1);
	free(cn);
	if (!atomic_load_explicit(&lp->trim_wanted, memory_order_relaxed))
		atomic_store_explicit(&lp->trim_wanted, 1, memory_order_relaxed);
	loop_unref(lp);
}

/* Which errors are the peer going away, as opposed to something odd. */
static int err_is_peer(int err)
{
	switch (err) {
	case ECONNRESET:
	case EPIPE:
	case ETIMEDOUT:
	case ENOTCONN:
	case ECONNABORTED:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
		return 1;
	default:
		return 0;
	}
}

/* A failed op closes this connection only. */
static void conn_fail(struct worker *w, struct conn *cn, int err)
{
	if (err == ECANCELED && atomic_load(&cn->kill)) {
		/* we cancelled it: counted as an idle or drain close */
	} else if (err_is_peer(err)) {
		counter_add(&w->ctr, C_ERR_CONN_RESET, 1);
		log_msg(LOG_DEBUG, "connection fd %d: %s", cn->fd, strerror(err));
	} else {
		counter_add(&w->ctr, C_ERR_CONN_OTHER, 1);
		log_limited(LK_CONN, LOG_WARNING, "connection fd %d: %s", cn->fd, strerror(err));
	}
	conn_close(w, cn);
}

static void conn_recv(struct worker *w, struct conn *cn)
{
	int r;

	if (atomic_load(&cn->kill)) {
		conn_close(w, cn);
		return;
	}
	cn->state = CS_RECV;
	r = cport_recv_pooled(cn->loop->port, cn->fd, &cn->r.op);
	if (r < 0)
		conn_fail(w, cn, -r);
}

static void conn_send(struct worker *w, struct conn *cn)
{
	int r;

	if (atomic_load(&cn->kill)) {
		conn_close(w, cn);
		return;
	}
	cn->state = CS_SEND;
	cn->iov.iov_base = (char *)cn->buf + cn->off;
	cn->iov.iov_len = cn->len - cn->off;
	r = cport_send(cn->loop->port, cn->fd, &cn->r.op, &cn->iov, 1);
	if (r < 0)
		conn_fail(w, cn, -r);
}

static void conn_release_buf(struct conn *cn)
{
	if (!cn->buf)
		return;
	if (cn->buf_own) {
		free(cn->buf);
		atomic_fetch_sub_explicit(&cn->loop->own_bufs, 1, memory_order_relaxed);
		atomic_store_explicit(&cn->loop->trim_wanted, 1, memory_order_relaxed);
	} else {
		cport_buf_release(cn->loop->port, cn->buf);
		atomic_fetch_sub_explicit(&cn->loop->bufs_held, 1, memory_order_relaxed);
	}
	cn->buf = NULL;
	cn->buf_own = 0;
}

/* Most of the pool waits in sends (clients that do not read): move this
 * chunk to memory of its own and give the pool buffer back at once. */
static void conn_unpool_if_pressed(struct conn *cn)
{
	struct loop *lp = cn->loop;
	void *own;

	if (atomic_load_explicit(&lp->bufs_held, memory_order_relaxed) < lp->pool_pressure)
		return;
	own = malloc(cn->len);
	if (!own)
		return; /* keep the pool buffer: slower, not wrong */
	memcpy(own, cn->buf, cn->len);
	conn_release_buf(cn);
	cn->buf = own;
	cn->buf_own = 1;
	atomic_fetch_add_explicit(&lp->own_bufs, 1, memory_order_relaxed);
}

static void conn_close(struct worker *w, struct conn *cn)
{
	struct loop *lp = cn->loop;
	int why = atomic_load(&cn->kill), r;

	conn_release_buf(cn);
	if (why == KILL_IDLE)
		counter_add(&w->ctr, C_CONN_IDLE_CLOSED, 1);
	else if (why == KILL_DRAIN)
		counter_add(&w->ctr, C_CONN_DRAIN_CLOSED, 1);
	pthread_mutex_lock(&lp->lock);
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		lp->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	pthread_mutex_unlock(&lp->lock);
	cn->state = CS_CLOSING;
	r = cport_close(lp->port, cn->fd, &cn->r.op);
	if (r < 0) {
		log_limited(LK_CONN, LOG_ERR, "cannot close connection fd %d: %s", cn->fd, strerror(-r));
		close(cn->fd);
		conn_free(w, cn);
	}
}

static void conn_start(struct worker *w, struct listener *l, int fd)
{
	struct loop *lp = l->sk.loop;
	struct server *srv = w->srv;
	unsigned long max = srv->cfg->max_conns;
	struct conn *cn;
	int r, one = 1;

	if (atomic_load(&lp->stopping)) {
		close(fd);
		return;
	}
	if (atomic_fetch_add(&srv->open_conns, 1) >= max && max) {
		atomic_fetch_sub(&srv->open_conns, 1);
		counter_add(&w->ctr, C_CONN_REFUSED, 1); /* before the peer can see it */
		close(fd);
		log_limited(LK_MAX_CONN, LOG_INFO, "connection refused: %lu open (--max-connections)", max);
		return;
	}
	cn = calloc(1, sizeof(*cn));
	if (!cn) {
		r = -ENOMEM;
		goto fail;
	}
	/* Echo is interactive: do not hold small replies back (Nagle). */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		log_msg(LOG_DEBUG, "setsockopt(TCP_NODELAY): %s", strerror(errno));
	cn->r.type = REQ_CONN;
	cn->loop = lp;
	cn->fd = fd;
	atomic_init(&cn->kill, KILL_NONE);
	atomic_init(&cn->last_ms, coarse_ms());
	r = cport_attach(lp->port, fd, (uintptr_t)cn);
	if (r < 0)
		goto fail;
	loop_ref(lp);
	pthread_mutex_lock(&lp->lock);
	cn->next = lp->conns;
	if (lp->conns)
		lp->conns->prev = cn;
	lp->conns = cn;
	pthread_mutex_unlock(&lp->lock);
	counter_add(&w->ctr, C_CONN_TOTAL, 1);
	log_msg(LOG_DEBUG, "connection fd %d open", fd);
	conn_recv(w, cn);
	return;
fail:
	free(cn);
	close(fd);
	atomic_fetch_sub(&srv->open_conns, 1);
	counter_add(&w->ctr, C_ERR_CONN_SETUP, 1);
	log_limited(LK_CONN_SETUP, LOG_ERR, "cannot start a connection: %s", strerror(-r));
}

void conn_done(struct worker *w, struct conn *cn, const struct cport_completion *c)
{
	int64_t res = c->result;

	atomic_store_explicit(&cn->last_ms, coarse_ms(), memory_order_relaxed);
	if (cn->state == CS_CLOSING) {
		conn_free(w, cn);
		return;
	}
	if (cn->state == CS_SEND) {
		if (res <= 0) {
			conn_fail(w, cn, res < 0 ? (int)-res : EIO);
			return;
		}
		counter_add(&w->ctr, C_TCP_BYTES_OUT, (uint64_t)res);
		cn->off += (uint32_t)res;
		if (cn->off < cn->len) {
			conn_send(w, cn); /* a partial send: the rest */
			return;
		}
		conn_release_buf(cn);
		conn_recv(w, cn); /* all out: only now read more (backpressure) */
		return;
	}
	if (c->flags & CPORT_CF_BUFFER) {
		cn->buf = c->buf;
		atomic_fetch_add_explicit(&cn->loop->bufs_held, 1, memory_order_relaxed);
	}
	if (res == 0) {
		conn_close(w, cn); /* end of stream: everything read was echoed */
		return;
	}
	if (res < 0 || !cn->buf) {
		conn_fail(w, cn, res < 0 ? (int)-res : EIO);
		return;
	}
	counter_add(&w->ctr, C_TCP_BYTES_IN, (uint64_t)res);
	cn->len = (uint32_t)res;
	cn->off = 0;
	conn_unpool_if_pressed(cn);
	conn_send(w, cn);
}

/* Called with lp->lock held (the conn is on the list, its fd still ours).
 * A cancel can lose the race with a submission; the caller repeats. */
void conn_kill(struct loop *lp, struct conn *cn, enum kill_reason why)
{
	int none = KILL_NONE;

	atomic_compare_exchange_strong(&cn->kill, &none, (int)why);
	cport_cancel_fd(lp->port, cn->fd);
}
