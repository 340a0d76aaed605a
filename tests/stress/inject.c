/* inject.c - stress-ledger's self-check: `--inject NAME` plants one fault of
 * that kind in the completions the program sees (never in the library), to
 * show that the ledger counts it. A checker that cannot fail checks nothing. */
#include <errno.h>
#include <string.h>

#include "stress.h"

#define INJECT_AFTER_NS (200 * 1000000ull) /* let connections get going first */

static const char *const names[INJ_COUNT] = {
	[INJ_NONE] = "none", [INJ_DOUBLE] = "double", [INJ_STALE] = "stale", [INJ_KEY] = "key", [INJ_KIND] = "kind",
	[INJ_EINTR] = "eintr", [INJ_DATA] = "data",	[INJ_LOST] = "lost",
};

int inject_parse(const char *s)
{
	for (int i = 0; i < INJ_COUNT; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* The fault a completion can carry: an I/O op of a connection, in a state that shows it. */
static bool fits(int what, const struct rec *r, const struct cport_completion *c)
{
	bool io = r->kind == CPORT_OP_RECV || r->kind == CPORT_OP_SEND || r->kind == CPORT_OP_RECV_POOLED;
	switch (what) {
	case INJ_EINTR: return io && c->result == -ECANCELED;
	case INJ_DATA: return r->kind == CPORT_OP_RECV && c->result > 0;
	case INJ_STALE: return r->kind == CPORT_OP_RECV;
	default: return io;
	}
}

/* Take this completion for the fault? Only once per run. */
static bool claim(struct tctx *t, const struct cport_completion *c)
{
	struct run *run = t->run;
	if (!run->cfg.inject || !c->op || atomic_load(&run->injected) || now_ns() - run->t0_ns < INJECT_AFTER_NS)
		return false;
	const struct rec *r = cport_container_of(c->op, struct rec, op);
	if (atomic_load(&r->state) != REC_INFLIGHT || !fits(run->cfg.inject, r, c))
		return false;
	int expect = 0;
	return atomic_compare_exchange_strong(&run->injected, &expect, 1);
}

/* Stale: hold the completion back, close its fd, and hand it in after the close completion. */
static void hold_for_stale(struct tctx *t, const struct cport_completion *c)
{
	struct rec *r = cport_container_of(c->op, struct rec, op);
	struct slot *s = r->gen->conn->slot;
	t->held_back = *c;
	t->has_held_back = true;
	pthread_mutex_lock(&s->mu);
	if (s->gen == r->gen && s->state == SLOT_ATTACHED)
		start_end(t, s, false);
	pthread_mutex_unlock(&s->mu);
}

/* Each loop: a held-back completion goes in once its fd's end has been
 * handled (or at the thread's end), as if dequeued only now. */
void inject_poll(struct tctx *t, struct pctx *pc, bool force)
{
	if (!t->has_held_back)
		return;
	struct rec *r = cport_container_of(t->held_back.op, struct rec, op);
	struct slot *s = r->gen->conn->slot;
	pthread_mutex_lock(&s->mu);
	bool ended = r->gen->ended;
	pthread_mutex_unlock(&s->mu);
	if (!ended && !force)
		return;
	struct call now = { .enter = atomic_fetch_add(&t->run->ticket, 1) };
	now.ret = atomic_fetch_add(&t->run->ticket, 1);
	t->has_held_back = false;
	ledger_handle(t, pc, &t->held_back, &now);
}

/* Handle c, with the planted fault if it is the one chosen. */
void inject_handle(struct tctx *t, struct pctx *pc, const struct cport_completion *c, const struct call *call)
{
	if (!claim(t, c)) {
		ledger_handle(t, pc, c, call);
		return;
	}
	struct cport_completion f = *c;
	struct rec *r = cport_container_of(c->op, struct rec, op);
	switch (t->run->cfg.inject) {
	case INJ_DOUBLE:
		ledger_handle(t, pc, &f, call);
		break;
	case INJ_STALE: hold_for_stale(t, c); return;
	case INJ_KEY: f.key = (uint32_t)f.key; break; /* as if truncated to 32 bits */
	case INJ_KIND: f.kind = CPORT_OP_RECVFROM; break;
	case INJ_EINTR: f.result = -EINTR; break;
	case INJ_DATA: r->buf[0] ^= 0xFF; break;
	case INJ_LOST: return;
	}
	ledger_handle(t, pc, &f, call);
}
