/* buffers.c - stress-ledger's pooled buffers: given back at once or kept a
 * while, and the check that a pooled receive cancelled while no buffer was
 * free ends without data (a receive waiting for a buffer has not finished,
 * so its cancel must win: cport_cancel(3)). */
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
	if (pc->nheld < pc->cap_held && (pc->frozen || (!now && chance(&t->rng, 50)))) {
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
	for (unsigned i = 0; i < pc->nheld && (mode == HELD_FORCE || !pc->frozen);) {
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
	if (!t->run->cfg.pool_buffers || t->run->cfg.pool_buffers > SEEN_MAX || !r ||
	    r->kind != CPORT_OP_RECV_POOLED || r->gen != s->gen || r->nobuf_cancel ||
	    atomic_load(&r->state) != REC_INFLIGHT)
		return NULL;
	pthread_mutex_lock(&pc->held_mu);
	if (!pc->pool_exact || pc->nheld < pc->cap_held || pc->frozen) { /* one at a time: no chain of freezes */
		pthread_mutex_unlock(&pc->held_mu);
		return NULL;
	}
	r->nobuf_cancel = true;
	pc->frozen++;
	return r;
}

/* After the call: keep the flag (and buffers held) only if the cancel was asked. */
void starve_end(struct pctx *pc, struct rec *r, bool asked)
{
	if (!r)
		return;
	if (!asked) {
		r->nobuf_cancel = false;
		pc->frozen--;
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
	pc->frozen--;
	bool exact = pc->pool_exact;
	pthread_mutex_unlock(&pc->held_mu);
	if (c->result > 0 && exact)
		err_log(t->run, t, E_ESCAPE, "pooled receive cancelled while no buffer was free completed with data",
			(int)r->kind, r->fd, r->gen->no, c->result);
}
