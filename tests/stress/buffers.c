/* buffers.c - stress-ledger's pooled buffers: given back at once or kept a
 * while, and the check that a pooled receive cancelled while no buffer was
 * free ends without data (a receive waiting for a buffer has not finished,
 * so its cancel must win: cport_cancel(3)).
 *
 * Such a receive is flagged, and no buffer is given back until it has
 * completed or the cancel has surely reached the kernel: every waiting thread
 * of the port has had a cport_wait entered after the cancel call returned time
 * out. A wait that times out has waited in the kernel (or, on a shared port,
 * the poller among them has), and entering that wait submits what is queued;
 * a cancel of a receive armed there is dealt with on submission. If the
 * receive completes with data after that, the cancel missed it: an escape.
 * On a correct port the receive ends -ECANCELED (or 0, or an error) first. */
#include <errno.h>

#include "stress.h"

#define HOLD_MAX_NS (20 * 1000000ull)

/* The check needs the pool's exact size: a small pool, every buffer of which
 * we can see. Seeing more distinct buffers than asked for turns it off. */
static void note_buffer(struct pctx *pc, void *buf)
{
	for (unsigned i = 0; i < pc->nseen; i++)
		if (pc->seen[i] == buf)
			return;
	if (pc->nseen < SEEN_MAX)
		pc->seen[pc->nseen++] = buf;
	if (pc->nseen > pc->cap_held)
		pc->pool_exact = false;
}

static void give_back(struct tctx *t, struct pctx *pc, void *buf)
{
	int r = cport_buf_release(pc->port, buf);
	if (r < 0)
		err_log(t->run, t, E_CALL, "cport_buf_release refused a buffer", CPORT_OP_RECV_POOLED, -1, 0, r);
}

static bool idled_since(struct tctx *t, uint64_t ticket)
{
	return atomic_load(&t->idled) > ticket;
}

/* Under held_mu: true while a starved cancel keeps the buffers held. */
static bool frozen_now(struct tctx *t, struct pctx *pc)
{
	struct run *run = t->run;
	if (!pc->frozen)
		return false;
	bool all = true;
	if (pc->owner)
		all = idled_since(pc->owner, pc->frozen_ticket);
	for (unsigned i = 0; !pc->owner && i < run->cfg.threads; i++)
		all = all && idled_since(&run->workers[i], pc->frozen_ticket);
	if (!all)
		return true;
	pc->frozen = NULL;
	t->cnt.stat[S_THAWED]++;
	return false;
}

/* A pooled buffer: given back now, or kept a little while (always while a
 * starved cancel is pending: then no buffer may become free). */
void held_add(struct tctx *t, struct pctx *pc, void *buf, bool now)
{
	pthread_mutex_lock(&pc->held_mu);
	note_buffer(pc, buf);
	for (unsigned i = 0; i < pc->nheld; i++)
		if (pc->held[i].buf == buf)
			err_log(t->run, t, E_RESULT, "pool buffer handed out while still held", CPORT_OP_RECV_POOLED,
				-1, 0, 0);
	if (pc->nheld < pc->cap_held && (frozen_now(t, pc) || (!now && chance(&t->rng, 50)))) {
		pc->held[pc->nheld++] = (struct held){ buf, now_ns() + rnd(&t->rng) % HOLD_MAX_NS };
		t->cnt.stat[S_HELD]++;
	} else {
		give_back(t, pc, buf);
	}
	pthread_mutex_unlock(&pc->held_mu);
}

/* Give back the buffers whose time is up (HELD_ALL: all), unless a starved
 * cancel is pending; HELD_FORCE: all, whatever is pending. */
void held_release(struct tctx *t, struct pctx *pc, enum held_mode mode)
{
	uint64_t now = now_ns();
	pthread_mutex_lock(&pc->held_mu);
	for (unsigned i = 0; i < pc->nheld && (mode == HELD_FORCE || !frozen_now(t, pc));) {
		if (mode == HELD_DUE && pc->held[i].until_ns > now) {
			i++;
			continue;
		}
		give_back(t, pc, pc->held[i].buf);
		pc->held[i] = pc->held[--pc->nheld];
	}
	pthread_mutex_unlock(&pc->held_mu);
}

/* Before a cancel, cancel_fd, close or detach of s: if its pooled receive is
 * in flight while we hold every buffer of the pool, flag it and keep the held
 * list locked over the call, so no buffer can become free before the cancel
 * is asked. Returns the flagged record (the lock then held) or NULL. */
struct rec *starve_begin(struct tctx *t, struct slot *s)
{
	struct pctx *pc = s->pc;
	struct rec *r = s->conn->rx_rec;
	if (!t->run->cfg.pool_buffers || pc->cap_held > SEEN_MAX || !r ||
	    r->kind != CPORT_OP_RECV_POOLED || r->gen != s->gen || r->nobuf_cancel ||
	    atomic_load(&r->state) != REC_INFLIGHT)
		return NULL;
	pthread_mutex_lock(&pc->held_mu);
	if (!pc->pool_exact || pc->nheld < pc->cap_held || pc->frozen) { /* one at a time */
		pthread_mutex_unlock(&pc->held_mu);
		return NULL;
	}
	r->nobuf_cancel = true;
	pc->frozen = r;
	return r;
}

/* After the call: keep the flag (and buffers held) only if the cancel was asked. */
void starve_end(struct tctx *t, struct rec *r, bool asked)
{
	if (!r)
		return;
	struct pctx *pc = r->pc;
	if (!asked) {
		r->nobuf_cancel = false;
		pc->frozen = NULL;
	} else {
		pc->frozen_ticket = atomic_fetch_add(&t->run->ticket, 1);
	}
	pthread_mutex_unlock(&pc->held_mu);
}

/* The flagged receive's completion: it may end -ECANCELED, 0 or an error, never with data. */
void starve_check(struct tctx *t, struct rec *r, const struct cport_completion *c)
{
	struct pctx *pc = r->pc;
	if (!r->nobuf_cancel)
		return;
	t->cnt.stat[S_STARVED]++;
	pthread_mutex_lock(&pc->held_mu);
	if (pc->frozen == r)
		pc->frozen = NULL;
	bool exact = pc->pool_exact;
	pthread_mutex_unlock(&pc->held_mu);
	if (c->result > 0 && exact)
		err_log(t->run, t, E_ESCAPE, "pooled receive cancelled while no buffer was free completed with data",
			(int)r->kind, r->fd, r->gen->no, c->result);
}
