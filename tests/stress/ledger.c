/* ledger.c - stress-ledger's ledger: op records, and the check of every
 * completion against the record of the op it names. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>

#include "stress.h"

/* Records come back oldest first, so a record is reused long after its last
 * completion: a second completion of it then finds it free, not reused. */
struct rec *rec_get(struct pctx *pc)
{
	struct rec *r = NULL;
	pthread_mutex_lock(&pc->pool_mu);
	if (pc->free_count) {
		r = &pc->recs[pc->free_ring[pc->free_head]];
		pc->free_head = (pc->free_head + 1) % pc->nrecs;
		pc->free_count--;
	}
	pthread_mutex_unlock(&pc->pool_mu);
	if (r) {
		r->use++;
		r->gen = NULL;
		r->cancel_exposed = false;
		r->nobuf_cancel = false;
	}
	return r;
}

void rec_put(struct rec *r)
{
	struct pctx *pc = r->pc;
	atomic_store_explicit(&r->state, REC_FREE, memory_order_release);
	pthread_mutex_lock(&pc->pool_mu);
	pc->free_ring[(pc->free_head + pc->free_count) % pc->nrecs] = (unsigned)(r - pc->recs);
	pc->free_count++;
	pthread_mutex_unlock(&pc->pool_mu);
}

/* Called before the start call: the completion may be handled before it returns. */
void count_started(struct tctx *t, struct pctx *pc, struct rec *r)
{
	r->starter = (int)t->idx;
	t->cnt.stat[S_STARTED]++;
	t->cnt.started[r->kind % KINDS]++;
	atomic_fetch_add(&pc->in_flight, 1);
	atomic_store_explicit(&r->state, REC_INFLIGHT, memory_order_release);
}

static uint64_t gen_no(const struct gen *g)
{
	return g ? g->no : 0;
}

static bool phase_running(const struct tctx *t)
{
	return atomic_load(&t->run->phase) == PH_RUN;
}

/* An error result: legal or not. Returns true when the direction is dead. */
static bool check_error(struct tctx *t, struct rec *r, int64_t res)
{
	struct conn *cn = r->gen->conn;
	if (res == -ECANCELED) {
		t->cnt.stat[S_CANCELED]++;
		if (!r->cancel_exposed)
			err_log(t->run, t, E_RESULT, "-ECANCELED with no cancel asked", (int)r->kind, r->fd,
				r->gen->no, res);
		return false;
	}
	if (res == -EINTR) {
		err_log(t->run, t, E_EINTR, r->cancel_exposed ? "cancelled op ended -EINTR" : "op ended -EINTR",
			(int)r->kind, r->fd, r->gen->no, res);
		return true;
	}
	if (res == -EAGAIN) { /* the port must wait for readiness, not pass the kernel's would-block on */
		err_log(t->run, t, E_EAGAIN, r->cancel_exposed ? "cancelled op ended -EAGAIN" : "op ended -EAGAIN",
			(int)r->kind, r->fd, r->gen->no, res);
		return false;
	}
	if ((res == -ECONNRESET || res == -EPIPE) && atomic_load(&cn->peer_closed))
		return true;
	err_log(t->run, t, E_RESULT,
		r->cancel_exposed ? "error the peer's behaviour does not explain (op cancelled)"
				  : "error the peer's behaviour does not explain",
		(int)r->kind, r->fd, r->gen->no, res);
	return true;
}

static bool can_rearm(struct tctx *t, struct slot *s, struct gen *g)
{
	return phase_running(t) && s->gen == g && s->state == SLOT_ATTACHED;
}

static void check_eof(struct tctx *t, struct rec *r)
{
	struct conn *cn = r->gen->conn;
	bool shut = atomic_load(&cn->peer_shut), closed = atomic_load(&cn->peer_closed);
	if (!shut && !closed)
		err_log(t->run, t, E_DATA, "end of stream while the peer's side is open", (int)r->kind, r->fd,
			r->gen->no, 0);
	else if (!closed && cn->rx_off != atomic_load(&cn->peer_shut_off))
		err_log(t->run, t, E_DATA, "end of stream before all the peer sent", (int)r->kind, r->fd,
			r->gen->no, (int64_t)(cn->rx_off - atomic_load(&cn->peer_shut_off)));
	cn->rx_dead = true;
}

/* Verify the bytes received at the connection's receive offset. */
static void check_data(struct tctx *t, struct rec *r, const uint8_t *data, int64_t res)
{
	struct conn *cn = r->gen->conn;
	if (cn->rx_dead) /* after an earlier data error nothing can be checked */
		return;
	long bad = pattern_check(data, (size_t)res, cn->rx_salt, cn->rx_off);
	if (bad >= 0) {
		err_log(t->run, t, E_DATA, "received bytes out of order, lost or duplicated", (int)r->kind, r->fd,
			r->gen->no, (int64_t)(cn->rx_off + (uint64_t)bad));
		cn->rx_dead = true;
	}
	cn->rx_off += (uint64_t)res;
	t->cnt.stat[S_BYTES_RX] += (uint64_t)res;
}

/* A pooled completion carries a buffer exactly when its result is positive. */
static const uint8_t *pooled_data(struct tctx *t, struct rec *r, const struct cport_completion *c)
{
	bool has = (c->flags & CPORT_CF_BUFFER) && c->buf;
	if (c->result > 0 && (!has || (size_t)c->result > r->pc->buf_size)) {
		err_log(t->run, t, E_RESULT, "pooled data without a buffer or longer than one", (int)r->kind, r->fd,
			r->gen->no, c->result);
		if (c->buf)
			held_add(t, r->pc, c->buf, true);
		return NULL;
	}
	if (c->result <= 0 && (c->buf || c->flags)) {
		err_log(t->run, t, E_RESULT, "pooled completion with no data but a buffer", (int)r->kind, r->fd,
			r->gen->no, c->result);
		if (c->buf)
			held_add(t, r->pc, c->buf, true);
		return NULL;
	}
	return c->result > 0 ? c->buf : NULL;
}

/* What follows an op in a connection's receive slot (a receive or a poll)
 * that ended with result, not 0: often another receive; after an error,
 * the direction is dead, or now and then tried again. */
static void rx_next(struct tctx *t, struct slot *s, struct rec *r, int64_t result)
{
	if (result > 0) {
		if (can_rearm(t, s, r->gen) && chance(&t->rng, 90))
			start_recv(t, s);
	} else if (check_error(t, r, result)) {
		r->gen->conn->rx_dead = true;
	} else if (can_rearm(t, s, r->gen) && chance(&t->rng, 50)) {
		start_recv(t, s);
	}
}

static void on_recv(struct tctx *t, struct slot *s, struct rec *r, const struct cport_completion *c)
{
	struct conn *cn = r->gen->conn;
	bool pooled = r->kind == CPORT_OP_RECV_POOLED;
	const uint8_t *data = pooled ? pooled_data(t, r, c) : r->buf;
	if (pooled)
		starve_check(t, r, c);
	if (cn->rx_rec == r)
		cn->rx_rec = NULL;
	if (!pooled && (c->flags || c->buf))
		err_log(t->run, t, E_RESULT, "plain receive with a pool buffer", (int)r->kind, r->fd, r->gen->no,
			c->result);
	if (c->result > 0 && (!data || (!pooled && (size_t)c->result > r->len))) {
		err_log(t->run, t, E_RESULT, "more bytes than the buffer holds", (int)r->kind, r->fd, r->gen->no,
			c->result);
		cn->rx_dead = true;
	} else if (c->result > 0) {
		check_data(t, r, data, c->result);
		if (pooled)
			held_add(t, r->pc, c->buf, !phase_running(t));
		rx_next(t, s, r, c->result);
	} else if (c->result == 0) {
		check_eof(t, r);
	} else {
		rx_next(t, s, r, c->result);
	}
}

/* A poll for POLLIN: the events, and nothing read; it holds the receive's place. */
static void on_poll(struct tctx *t, struct slot *s, struct rec *r, const struct cport_completion *c)
{
	struct conn *cn = r->gen->conn;
	if (cn->rx_rec == r)
		cn->rx_rec = NULL;
	if (c->flags || c->buf)
		err_log(t->run, t, E_RESULT, "poll with a pool buffer", (int)r->kind, r->fd, r->gen->no, c->result);
	if (c->result > 0 && (c->result & ~(int64_t)(POLLIN | POLLERR | POLLHUP))) {
		err_log(t->run, t, E_RESULT, "poll reported events not asked for", (int)r->kind, r->fd, r->gen->no,
			c->result);
	} else if (c->result == 0) {
		err_log(t->run, t, E_RESULT, "poll ended with no events", (int)r->kind, r->fd, r->gen->no, 0);
	} else {
		rx_next(t, s, r, c->result);
	}
}

static void on_send(struct tctx *t, struct slot *s, struct rec *r, const struct cport_completion *c)
{
	struct conn *cn = r->gen->conn;
	if (cn->tx_rec == r)
		cn->tx_rec = NULL;
	if (c->flags || c->buf)
		err_log(t->run, t, E_RESULT, "send with a pool buffer", (int)r->kind, r->fd, r->gen->no, c->result);
	if (c->result > (int64_t)r->len || c->result == 0) {
		err_log(t->run, t, E_RESULT, "send result outside 1..length", (int)r->kind, r->fd, r->gen->no,
			c->result);
		cn->tx_dead = true;
	} else if (c->result > 0) {
		cn->tx_off += (uint64_t)c->result;
		t->cnt.stat[S_BYTES_TX] += (uint64_t)c->result;
		bool partial = (size_t)c->result < r->len;
		t->cnt.stat[S_PARTIAL] += partial;
		if (can_rearm(t, s, r->gen) && (partial || chance(&t->rng, 60)))
			start_send_len(t, s, partial ? r->len - (size_t)c->result : 0);
	} else if (check_error(t, r, c->result)) {
		cn->tx_dead = true;
	}
}

/* The fd's close or detach completion: nothing of this generation may follow. */
static void on_end(struct tctx *t, struct slot *s, struct rec *r, const struct cport_completion *c,
		   const struct call *call)
{
	struct gen *g = r->gen;
	if (c->result != 0 || c->flags || c->buf)
		err_log(t->run, t, E_RESULT, "close or detach did not end with 0", (int)r->kind, r->fd, g->no,
			c->result);
	g->ended = true;
	g->end_kind = r->kind;
	g->end_call = call->ret;
	if (g->max_op_enter > call->ret)
		err_log(t->run, t, E_STALE, "an op of this fd was dequeued after its end", (int)r->kind, r->fd, g->no,
			0);
	if (s->gen != g) /* cannot happen: the slot keeps its gen until the end is handled */
		return;
	s->gen = NULL;
	if (r->kind == CPORT_OP_CLOSE) {
		s->last_closed_fd = g->fd;
		conn_end_here(t, s);
		if (phase_running(t) && chance(&t->rng, 70)) /* reuse the fd number at once */
			conn_open(t, s);
		return;
	}
	s->state = SLOT_DETACHED;
	if (!phase_running(t))
		conn_end_here(t, s);
	else if (chance(&t->rng, 50))
		reattach(t, s);
}

/* Stale: the op's fd generation had ended before this completion was taken. */
static void check_order(struct tctx *t, struct rec *r, const struct cport_completion *c, const struct call *call)
{
	struct gen *g = r->gen;
	g->in_flight--;
	if (!g->ended) {
		if (call->enter > g->max_op_enter)
			g->max_op_enter = call->enter;
		return;
	}
	if (call->ret == g->end_call || call->enter > g->end_call)
		err_log(t->run, t, E_STALE,
			g->end_kind == CPORT_OP_CLOSE ? "completion after its fd's close completion"
						      : "completion after its fd's detach completion",
			(int)r->kind, r->fd, g->no, c->result);
	else
		t->cnt.stat[S_LATE_OK]++;
}

/* s->mu held. */
static void handle_io_locked(struct tctx *t, struct rec *r, const struct cport_completion *c, const struct call *call)
{
	struct gen *g = r->gen;
	struct slot *s = g->conn->slot;
	if (c->key != g->key)
		err_log(t->run, t, E_KEY, "key differs from the attach key", (int)r->kind, r->fd, g->no,
			(int64_t)(c->key >> 32));
	if (r->kind == CPORT_OP_CLOSE || r->kind == CPORT_OP_DETACH) {
		on_end(t, s, r, c, call);
	} else {
		check_order(t, r, c, call);
		if (r->kind == CPORT_OP_SEND)
			on_send(t, s, r, c);
		else if (r->kind == CPORT_OP_POLL)
			on_poll(t, s, r, c);
		else
			on_recv(t, s, r, c);
	}
}

static void handle_io(struct tctx *t, struct rec *r, const struct cport_completion *c, const struct call *call)
{
	struct slot *s = r->gen->conn->slot;
	pthread_mutex_lock(&s->mu);
	handle_io_locked(t, r, c, call);
	pthread_mutex_unlock(&s->mu);
}

static void handle_post_op(struct tctx *t, struct rec *r, const struct cport_completion *c)
{
	if (c->key != (uintptr_t)atomic_load(&r->post_key) || c->result != atomic_load(&r->post_result) ||
	    c->flags || c->buf)
		err_log(t->run, t, E_KEY, "post came back with another key or value", CPORT_OP_POST, -1, 0,
			c->result);
}

static int64_t null_post_result(uint32_t id)
{
	return (int64_t)((uint64_t)id * 0x9E3779B97F4A7C15ull);
}

static void handle_null_post(struct tctx *t, struct pctx *pc, const struct cport_completion *c)
{
	uint64_t key = c->key, id = key & 0xFFFFFFFFu, port = (key >> 32) & 0xFFFFu;
	t->cnt.completed[CPORT_OP_POST]++;
	t->cnt.stat[S_COMPLETED]++;
	if (c->kind != CPORT_OP_POST || (key & ~0xFFFFFFFFFFFFull) != KEY_POST_NULL || port != pc->idx ||
	    id >= NULL_POST_IDS ||
	    c->result != null_post_result((uint32_t)id)) {
		err_log(t->run, t, E_KEY, "post without op: key, kind or value not as posted", (int)c->kind, -1, 0,
			c->result);
		return;
	}
	uint64_t bit = 1ull << (id % 64);
	if (atomic_fetch_or(&t->run->null_seen[id / 64], bit) & bit)
		err_log(t->run, t, E_DOUBLE, "post without op dequeued twice", CPORT_OP_POST, -1, id, c->result);
	atomic_fetch_add(&pc->null_got, 1);
}

/* Post a completion without an op, keyed so that its port and id come back. */
int post_null(struct tctx *t, struct pctx *pc)
{
	uint32_t id = atomic_fetch_add(&t->run->null_next, 1);
	if (id >= NULL_POST_IDS)
		return 0;
	uintptr_t key = (uintptr_t)(KEY_POST_NULL | (uint64_t)pc->idx << 32 | id);
	atomic_fetch_add(&pc->null_sent, 1);
	t->cnt.stat[S_STARTED]++;
	t->cnt.started[CPORT_OP_POST]++;
	int r = cport_post(pc->port, key, NULL, null_post_result(id));
	if (r < 0) {
		atomic_fetch_sub(&pc->null_sent, 1);
		t->cnt.stat[S_STARTED]--;
		t->cnt.started[CPORT_OP_POST]--;
		if (r != -ENOMEM)
			err_log(t->run, t, E_CALL, "cport_post (no op) refused", CPORT_OP_POST, -1, 0, r);
	}
	return r;
}

static struct rec *rec_of(struct pctx *pc, struct cport_op *op)
{
	struct rec *r = cport_container_of(op, struct rec, op);
	uintptr_t p = (uintptr_t)r, lo = (uintptr_t)pc->recs, hi = (uintptr_t)(pc->recs + pc->nrecs);
	if (p < lo || p >= hi || (p - lo) % sizeof(struct rec))
		return NULL;
	return r;
}

/* Take r's completion, once: false (and logged) if it was taken already. */
static bool take_once(struct tctx *t, struct rec *r, const struct cport_completion *c)
{
	int expect = REC_INFLIGHT;
	if (!atomic_compare_exchange_strong_explicit(&r->state, &expect, REC_DONE, memory_order_acq_rel,
						     memory_order_acquire)) {
		err_log(t->run, t, E_DOUBLE, "op completed again", (int)c->kind, -1, 0, c->result);
		return false;
	}
	t->cnt.stat[S_COMPLETED]++;
	t->cnt.completed[r->kind % KINDS]++;
	return true;
}

void ledger_done_now(struct tctx *t, struct slot *s, struct rec *r)
{
	struct cport_completion c = {
		.key = r->gen->key, .op = &r->op, .result = cport_op_result(&r->op), .kind = r->kind,
	};
	uint64_t now = atomic_fetch_add(&t->run->ticket, 1);
	struct call call = { .enter = now, .ret = now };
	t->cnt.stat[S_DONE_NOW]++;
	if (c.result < 0 || r->kind == CPORT_OP_RECV_POOLED)
		err_log(t->run, t, E_RESULT, "done at once, but a failure or a pooled receive", (int)r->kind, r->fd,
			gen_no(r->gen), c.result);
	if (!take_once(t, r, &c))
		return;
	handle_io_locked(t, r, &c, &call);
	rec_put(r);
	atomic_fetch_sub(&s->pc->in_flight, 1);
}

/* Check one completion against the ledger. */
void ledger_handle(struct tctx *t, struct pctx *pc, const struct cport_completion *c, const struct call *call)
{
	if (!c->op) {
		handle_null_post(t, pc, c);
		return;
	}
	struct rec *r = rec_of(pc, c->op);
	if (!r) {
		err_log(t->run, t, E_UNKNOWN, "op not started on this port", (int)c->kind, -1, 0, c->result);
		return;
	}
	if (!take_once(t, r, c))
		return;
	if (c->kind != r->kind || cport_op_kind(c->op) != (int)r->kind)
		err_log(t->run, t, E_KIND, "kind differs from the op started", (int)c->kind, r->fd, gen_no(r->gen),
			c->result);
	if (r->kind == CPORT_OP_POST)
		handle_post_op(t, r, c);
	else
		handle_io(t, r, c, call);
	rec_put(r);
	atomic_fetch_sub(&pc->in_flight, 1);
}

/* After the drain: every record still in flight is a lost completion. */
unsigned ledger_lost(struct run *run, struct pctx *pc)
{
	unsigned lost = 0;
	for (unsigned i = 0; i < pc->nrecs; i++) {
		struct rec *r = &pc->recs[i];
		if (atomic_load(&r->state) != REC_INFLIGHT)
			continue;
		lost++;
		err_log(run, &run->fin, E_LOST,
			r->nobuf_cancel	    ? "never completed, cancelled while every pool buffer was held"
			: r->cancel_exposed ? "never completed, cancelled"
					    : "never completed",
			(int)r->kind, r->fd, gen_no(r->gen), 0);
	}
	uint64_t sent = atomic_load(&pc->null_sent), got = atomic_load(&pc->null_got);
	if (got < sent) { /* one log line, one count per post */
		run->fin.cnt.err[E_LOST] += sent - got - 1;
		err_log(run, &run->fin, E_LOST, "posts without op never dequeued (result: how many)", CPORT_OP_POST,
			-1, 0, (int64_t)(sent - got));
		lost += (unsigned)(sent - got);
	}
	return lost;
}
