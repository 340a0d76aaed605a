/* listener.c - a listening TCP socket: its accepts in flight, their errors and backoff. */
#include "listener.h"

#include "clock.h"
#include "conn.h"
#include "counters.h"
#include "log.h"
#include "reserve_fd.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ACCEPT_SLOTS_SHARED 8 /* accepts in flight per listener */
#define ACCEPT_SLOTS_PER_THREAD 4
#define BACKOFF_MIN_MS 50   /* accept pause after running out of fds... */
#define BACKOFF_MAX_MS 1000 /* ...doubling up to this */

/* One accept in flight; each holds a reference on the loop while it is in
 * flight or parked. */
struct accept_slot {
	struct req r;
	struct listener *l;
	struct accept_slot *next_parked;
	uint64_t wake_ms; /* parked until then (backoff) */
};

/* Park s until its backoff is over. Returns true if every slot of its
 * listener is parked now (none has an accept in the kernel). */
static bool accept_park(struct accept_slot *s)
{
	struct listener *l = s->l;
	unsigned b;
	bool all;

	/* Racing parkers may both double it: a pause is a pause. */
	b = atomic_load_explicit(&l->backoff_ms, memory_order_relaxed);
	b = b ? b * 2 : BACKOFF_MIN_MS;
	b = b > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b;
	atomic_store_explicit(&l->backoff_ms, b, memory_order_relaxed);
	s->wake_ms = now_ms() + b;
	pthread_mutex_lock(&l->park_lock);
	s->next_parked = l->parked;
	l->parked = s;
	all = ++l->nparked == l->nslots;
	pthread_mutex_unlock(&l->park_lock);
	return all;
}

/* Start (or restart) one accept; a slot of a closing listener retires. */
static void accept_submit(struct accept_slot *s, struct counters *ctr)
{
	struct listener *l = s->l;
	int r;

	if (!sock_op_begin(&l->sk))
		return;
	r = cport_accept(l->sk.core->port, l->sk.fd, &s->r.op, NULL, NULL);
	sock_op_end(&l->sk);
	if (r < 0) {
		counter_add(ctr, C_ERR_ACCEPT_OTHER, 1);
		log_limited(LK_ACCEPT_OTHER, LOG_ERR, "cannot start an accept: %s", strerror(-r));
		(void)accept_park(s);
	}
}

/* The new connection's own trouble (accept(2) lists the network errors
 * Linux passes on from the new socket): the next one may be fine. */
static int err_is_new_conns(int err)
{
	switch (err) {
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
		return 1;
	default:
		return 0;
	}
}

/* Shedding at EMFILE gives up the spare descriptor for the accept4 that
 * takes the pending connection. Any accept of this listener still in the
 * kernel would take that descriptor first (and the spare could not be had
 * back), so the others are cancelled, each parks as it comes back, and the
 * last one to park sheds. */
static void shed_when_all_parked(struct accept_slot *s, struct counters *ctr)
{
	struct listener *l = s->l;

	if (!accept_park(s))
		return;
	reserve_fd_shed(l->reserve, l->sk.fd, ctr);
	atomic_store(&l->shedding, 0);
}

static void cancel_others(struct accept_slot *s)
{
	struct listener *l = s->l;

	for (unsigned k = 0; k < l->nslots; k++) {
		if (&l->slots[k] != s)
			(void)cport_cancel(l->sk.core->port, &l->slots[k].r.op); /* -ENOENT: parked already */
	}
}

static void accept_failed(struct accept_slot *s, int err, struct counters *ctr)
{
	if (atomic_load(&s->l->shedding) && err != EMFILE && err != ENFILE) {
		shed_when_all_parked(s, ctr); /* cancelled for the shed, or anything else meanwhile */
		return;
	}
	if (err == ECANCELED) { /* the listener is closing (else: just go on) */
		accept_submit(s, ctr);
		return;
	}
	if (err_is_new_conns(err)) { /* try the next one at once */
		counter_add(ctr, C_ERR_ACCEPT_ABORTED, 1);
		log_msg(LOG_DEBUG, "accept: %s", strerror(err));
		accept_submit(s, ctr);
		return;
	}
	switch (err) {
	case EMFILE:
	case ENFILE:
		counter_add(ctr, C_ERR_ACCEPT_NOFD, 1);
		log_limited(LK_ACCEPT_NOFD, LOG_WARNING, "accept: %s; shedding and pausing accepts",
			    strerror(err));
		if (!atomic_exchange(&s->l->shedding, 1))
			cancel_others(s);
		shed_when_all_parked(s, ctr);
		return;
	case ENOBUFS:
	case ENOMEM:
		counter_add(ctr, C_ERR_ACCEPT_NOMEM, 1);
		log_limited(LK_ACCEPT_NOMEM, LOG_WARNING, "accept: %s; pausing accepts", strerror(err));
		break;
	default:
		counter_add(ctr, C_ERR_ACCEPT_OTHER, 1);
		log_limited(LK_ACCEPT_OTHER, LOG_ERR, "accept: %s; pausing accepts", strerror(err));
		break;
	}
	(void)accept_park(s);
}

static void accept_done(struct req *r, const struct cport_completion *c, struct counters *ctr)
{
	struct accept_slot *s = cport_container_of(r, struct accept_slot, r);
	struct listener *l = s->l;

	if (c->result < 0) {
		accept_failed(s, (int)-c->result, ctr);
		return;
	}
	if (atomic_load_explicit(&l->backoff_ms, memory_order_relaxed))
		atomic_store_explicit(&l->backoff_ms, 0, memory_order_relaxed);
	conn_start(l->conns, (int)c->result, ctr);
	if (atomic_load(&l->shedding))
		shed_when_all_parked(s, ctr);
	else
		accept_submit(s, ctr);
}

void listener_init(struct listener *l, struct loop_core *core, struct conns *cs,
		   struct reserve_fd *rf)
{
	sock_init(&l->sk, core);
	l->conns = cs;
	l->reserve = rf;
	pthread_mutex_init(&l->park_lock, NULL);
}

int listener_alloc_slots(struct listener *l, int shared_port)
{
	unsigned n = shared_port ? ACCEPT_SLOTS_SHARED : ACCEPT_SLOTS_PER_THREAD;

	l->slots = calloc(n, sizeof(*l->slots));
	if (!l->slots)
		return -ENOMEM;
	l->nslots = n;
	for (unsigned k = 0; k < n; k++) {
		l->slots[k].r.done = accept_done;
		l->slots[k].l = l;
	}
	return 0;
}

int listener_arm(struct listener *l)
{
	struct loop_core *lc = l->sk.core;

	for (unsigned i = 0; i < l->nslots; i++) {
		struct accept_slot *s = &l->slots[i];
		int r;

		loop_core_ref(lc);
		r = cport_accept(lc->port, l->sk.fd, &s->r.op, NULL, NULL);
		if (r < 0) {
			loop_core_unref(lc);
			log_msg(LOG_ERR, "cannot start accepting: %s", strerror(-r));
			return r;
		}
	}
	return 0;
}

void listener_rearm_parked(struct listener *l, uint64_t now, int all, struct counters *ctr)
{
	struct accept_slot *due = NULL, **pp, *s;

	/* A shed waits for every slot to park: none goes back meanwhile. */
	if (!all && atomic_load(&l->shedding))
		return;
	pthread_mutex_lock(&l->park_lock);
	for (pp = &l->parked; (s = *pp);) {
		if (all || s->wake_ms <= now) {
			*pp = s->next_parked;
			s->next_parked = due;
			due = s;
			l->nparked--;
		} else {
			pp = &s->next_parked;
		}
	}
	pthread_mutex_unlock(&l->park_lock);
	while ((s = due)) {
		due = s->next_parked;
		accept_submit(s, ctr);
	}
}

void listener_free(struct listener *l)
{
	sock_free(&l->sk);
	free(l->slots);
	pthread_mutex_destroy(&l->park_lock);
}
