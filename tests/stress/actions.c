/* actions.c - stress-ledger's random actions on a connection slot: open and
 * attach, receive, pooled receive, send, cancel, cancel_fd, close, detach,
 * re-attach; posts. All under the slot lock. */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "stress.h"


static bool running(const struct tctx *t)
{
	return atomic_load(&t->run->phase) == PH_RUN;
}

/* An attach under a fresh key above 2^32: a truncated key shows as a mismatch. */
static int gen_attach(struct tctx *t, struct slot *s, struct conn *cn)
{
	struct gen *g = arena_alloc(t->run, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->conn = cn;
	g->no = atomic_fetch_add(&t->run->gen_no, 1) + 1;
	g->fd = cn->fd;
	unsigned where = (s->pc->idx * s->pc->nslots + s->idx) & 0xFFFFF;
	g->key = (uintptr_t)(KEY_CONN | (g->no & 0xFFFFF) << 20 | where);
	int r = cport_attach(s->pc->port, cn->fd, g->key);
	if (r < 0) {
		err_log(t->run, t, E_CALL, "cport_attach refused a free fd", CPORT_OP_NONE, cn->fd, g->no, r);
		return r;
	}
	/* Half the fds skip the port when an op succeeds at once: such an op
	 * must then be done in its start call and never complete again. Some
	 * TCP fds read ahead (--recv-ahead): every byte must still come once,
	 * in order, through cancels and closes. */
	unsigned modes = chance(&t->rng, 50) ? CPORT_SKIP_ON_SUCCESS : 0;
	cn->ahead = cn->tcp && chance(&t->rng, t->run->cfg.recv_ahead);
	modes |= cn->ahead ? CPORT_RECV_AHEAD : 0;
	if (modes) {
		r = cport_set_completion_modes(s->pc->port, cn->fd, modes);
		if (r < 0)
			err_log(t->run, t, E_CALL, "cport_set_completion_modes refused", CPORT_OP_NONE, cn->fd, g->no, r);
		t->cnt.stat[S_SKIP_FDS] += (modes & CPORT_SKIP_ON_SUCCESS) != 0;
		t->cnt.stat[S_AHEAD_FDS] += cn->ahead;
	}
	s->gen = g;
	s->conn = cn;
	s->state = SLOT_ATTACHED;
	return 0;
}

static struct conn *conn_new(struct tctx *t, struct slot *s, bool tcp, const int sv[2])
{
	struct conn *cn = arena_alloc(t->run, sizeof(*cn));
	if (!cn)
		return NULL;
	cn->slot = s;
	cn->tcp = tcp;
	cn->echo = chance(&t->rng, 50);
	cn->tx_salt = rnd(&t->rng);
	cn->rx_salt = cn->echo ? cn->tx_salt : rnd(&t->rng);
	cn->fd = sv[0];
	cn->peer_fd = sv[1];
	return cn;
}

/* A new connection in an empty slot, attached, with a receive started. */
int conn_open(struct tctx *t, struct slot *s)
{
	bool tcp = chance(&t->rng, 50);
	int sv[2];
	if (pair_open(t, tcp, sv) < 0) /* out of fds or ports: not the library's doing */
		return -1;
	if (chance(&t->rng, 30)) {
		set_small_buffers(sv[0]);
		set_small_buffers(sv[1]);
	}
	struct conn *cn = conn_new(t, s, tcp, sv);
	if (!cn || gen_attach(t, s, cn) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	t->cnt.stat[S_CONNS]++;
	t->cnt.stat[S_TCP] += tcp;
	t->cnt.stat[S_FD_REUSED] += sv[0] == s->last_closed_fd;
	peer_hand_over(t->run, cn);
	start_recv(t, s);
	return 0;
}

/* Starting: refusals other than a full queue or no memory are errors. */
static void start_refused(struct tctx *t, struct pctx *pc, struct rec *r, int ret, const char *what)
{
	if (ret != -EAGAIN && ret != -ENOMEM)
		err_log(t->run, t, E_CALL, what, (int)r->kind, r->fd, r->gen ? r->gen->no : 0, ret);
	t->cnt.stat[S_STARTED]--;
	t->cnt.started[r->kind % KINDS]--;
	if (r->gen)
		r->gen->in_flight--;
	atomic_store(&r->state, REC_DONE);
	rec_put(r);
	atomic_fetch_sub(&pc->in_flight, 1);
}

static struct rec *rec_for(struct tctx *t, struct slot *s, uint32_t kind)
{
	struct rec *r = rec_get(s->pc);
	if (!r)
		return NULL;
	r->kind = kind;
	r->gen = s->gen;
	r->fd = s->gen->fd;
	if (kind != CPORT_OP_CLOSE && kind != CPORT_OP_DETACH) {
		s->gen->in_flight++;
		s->gen->starter_mask |= 1u << (t->idx % 32);
	}
	return r;
}

/* Sizes from one byte to a full record, mostly small. */
static size_t pick_len(struct tctx *t)
{
	unsigned p = rnd_below(&t->rng, 100);
	size_t max = p < 60 ? 1024 : p < 90 ? 8192 : REC_BUF;
	return 1 + rnd_below(&t->rng, (unsigned)max);
}

/* One or two iovecs over the record's buffer. */
static int split_iov(struct tctx *t, struct rec *r)
{
	size_t cut = r->len > 1 && chance(&t->rng, 30) ? 1 + rnd_below(&t->rng, (unsigned)r->len - 1) : r->len;
	r->iov[0] = (struct iovec){ r->buf, cut };
	r->iov[1] = (struct iovec){ r->buf + cut, r->len - cut };
	return cut < r->len ? 2 : 1;
}

void start_recv(struct tctx *t, struct slot *s)
{
	struct conn *cn = s->conn;
	if (s->state != SLOT_ATTACHED || cn->rx_rec || cn->rx_dead)
		return;
	/* A poll now and then: it takes the receive's place and reads nothing. */
	unsigned pick = rnd_below(&t->rng, 100);
	uint32_t kind = pick < 15 ? CPORT_OP_POLL : pick < 57 ? CPORT_OP_RECV_POOLED : CPORT_OP_RECV;
	if (cn->ahead) /* the port refuses other reads of the fd */
		kind = CPORT_OP_RECV_POOLED;
	struct rec *r = rec_for(t, s, kind);
	if (!r)
		return;
	r->off = cn->rx_off;
	r->len = kind == CPORT_OP_RECV ? pick_len(t) : 0;
	int n = kind == CPORT_OP_RECV ? split_iov(t, r) : 0;
	count_started(t, s->pc, r);
	int ret = kind == CPORT_OP_POLL		 ? cport_poll(s->pc->port, r->fd, &r->op, POLLIN)
		  : kind == CPORT_OP_RECV_POOLED ? cport_recv_pooled(s->pc->port, r->fd, &r->op)
						 : cport_recv(s->pc->port, r->fd, &r->op, r->iov, n);
	if (ret < 0) {
		start_refused(t, s->pc, r, ret, "receive refused on an attached fd");
	} else {
		cn->rx_rec = r;
		if (ret == 1)
			ledger_done_now(t, s, r);
	}
}

/* len 0: a random length. */
void start_send_len(struct tctx *t, struct slot *s, size_t len)
{
	struct conn *cn = s->conn;
	if (s->state != SLOT_ATTACHED || cn->tx_rec || cn->tx_dead)
		return;
	struct rec *r = rec_for(t, s, CPORT_OP_SEND);
	if (!r)
		return;
	r->off = cn->tx_off;
	r->len = len ? len : pick_len(t);
	pattern_fill(r->buf, r->len, cn->tx_salt, r->off);
	int n = split_iov(t, r);
	count_started(t, s->pc, r);
	int ret = cport_send(s->pc->port, r->fd, &r->op, r->iov, n);
	if (ret < 0) {
		start_refused(t, s->pc, r, ret, "send refused on an attached fd");
	} else {
		cn->tx_rec = r;
		if (ret == 1)
			ledger_done_now(t, s, r);
	}
}

void start_send(struct tctx *t, struct slot *s)
{
	start_send_len(t, s, 0);
}

/* The connection's ops of the current generation may now end -ECANCELED. */
static void expose(struct tctx *t, struct slot *s)
{
	struct rec *rs[2] = { s->conn->rx_rec, s->conn->tx_rec };
	for (int i = 0; i < 2; i++) {
		if (!rs[i] || rs[i]->gen != s->gen || atomic_load(&rs[i]->state) != REC_INFLIGHT)
			continue;
		rs[i]->cancel_exposed = true;
		t->cnt.stat[S_CROSS_END] += rs[i]->starter != (int)t->idx;
	}
}

static void cancel_one(struct tctx *t, struct slot *s, bool rx)
{
	struct rec *r = rx ? s->conn->rx_rec : s->conn->tx_rec;
	if (!r || r->gen != s->gen || atomic_load(&r->state) != REC_INFLIGHT)
		return;
	r->cancel_exposed = true;
	t->cnt.stat[S_CANCEL]++;
	struct rec *starved = rx ? starve_begin(t, s) : NULL;
	int ret = cport_cancel(s->pc->port, &r->op);
	starve_end(t, starved, ret == 0 || ret == -ENOENT);
	if (ret < 0 && ret != -ENOENT && ret != -EAGAIN)
		err_log(t->run, t, E_CALL, "cport_cancel failed", (int)r->kind, r->fd, r->gen->no, ret);
}

static void cancel_fd(struct tctx *t, struct slot *s)
{
	expose(t, s);
	t->cnt.stat[S_CANCEL_FD]++;
	struct rec *starved = starve_begin(t, s);
	int ret = cport_cancel_fd(s->pc->port, s->gen->fd);
	starve_end(t, starved, ret == 0);
	if (ret < 0 && ret != -EAGAIN)
		err_log(t->run, t, E_CALL, "cport_cancel_fd failed on an attached fd", CPORT_OP_NONE, s->gen->fd,
			s->gen->no, ret);
}

/* Close or detach with whatever is in flight, from whichever thread is here. */
void start_end(struct tctx *t, struct slot *s, bool detach)
{
	struct rec *r = rec_for(t, s, detach ? CPORT_OP_DETACH : CPORT_OP_CLOSE);
	if (!r)
		return;
	expose(t, s);
	count_started(t, s->pc, r);
	struct rec *starved = starve_begin(t, s);
	int ret = detach ? cport_detach(s->pc->port, r->fd, &r->op) : cport_close(s->pc->port, r->fd, &r->op);
	starve_end(t, starved, ret == 0);
	if (ret < 0) {
		start_refused(t, s->pc, r, ret, detach ? "detach refused" : "close refused");
		return;
	}
	s->state = SLOT_ENDING;
	s->detach_pending = detach;
}

/* A detached fd is ours again: attach it anew under a new key. Not one
 * that read ahead: the bytes read ahead went with the detach, and its
 * stream has a gap (cport_set_completion_modes(3)). */
void reattach(struct tctx *t, struct slot *s)
{
	if (s->conn->ahead || gen_attach(t, s, s->conn) < 0) {
		conn_end_here(t, s);
		return;
	}
	t->cnt.stat[S_REATTACH]++;
	start_recv(t, s);
}

/* The connection is over on this side: close a detached fd, tell the peer. */
void conn_end_here(struct tctx *t, struct slot *s)
{
	(void)t;
	struct conn *cn = s->conn;
	if (s->state == SLOT_DETACHED || s->state == SLOT_ATTACHED) { /* closed by us, not by the port */
		close(cn->fd);
		s->last_closed_fd = cn->fd;
	}
	atomic_store(&cn->ended, 1);
	s->conn = NULL;
	s->gen = NULL;
	s->state = SLOT_EMPTY;
}

static void cancel_rx(struct tctx *t, struct slot *s)
{
	cancel_one(t, s, true);
}

static void cancel_tx(struct tctx *t, struct slot *s)
{
	cancel_one(t, s, false);
}

static void close_now(struct tctx *t, struct slot *s)
{
	start_end(t, s, false);
}

static void detach_now(struct tctx *t, struct slot *s)
{
	start_end(t, s, true);
}

/* What an attached connection does next, by cumulative percent; the rest: nothing. */
static const struct {
	unsigned upto;
	void (*act)(struct tctx *, struct slot *);
} attached_acts[] = {
	{ 35, start_recv }, { 65, start_send }, { 75, cancel_rx }, { 83, cancel_tx },
	{ 86, cancel_fd },  { 88, close_now },	{ 90, detach_now },
};

static void act_attached(struct tctx *t, struct slot *s)
{
	unsigned p = rnd_below(&t->rng, 100);
	if ((s->conn->rx_dead || s->conn->tx_dead) && p < 10) { /* a broken connection ends sooner */
		close_now(t, s);
		return;
	}
	for (size_t i = 0; i < sizeof(attached_acts) / sizeof(attached_acts[0]); i++) {
		if (p < attached_acts[i].upto) {
			attached_acts[i].act(t, s);
			return;
		}
	}
}

/* One random action on a slot. */
void slot_act(struct tctx *t, struct slot *s)
{
	pthread_mutex_lock(&s->mu);
	switch (s->state) {
	case SLOT_EMPTY:
		if (running(t) && chance(&t->rng, 50))
			conn_open(t, s);
		break;
	case SLOT_DETACHED:
		if (chance(&t->rng, 60))
			reattach(t, s);
		else
			conn_end_here(t, s);
		break;
	case SLOT_ATTACHED:
		act_attached(t, s);
		break;
	case SLOT_ENDING:
		break;
	}
	pthread_mutex_unlock(&s->mu);
}

/* The final drain: close every connection through the port. */
void slot_drain(struct tctx *t, struct slot *s)
{
	pthread_mutex_lock(&s->mu);
	if (s->state == SLOT_ATTACHED)
		start_end(t, s, false);
	else if (s->state == SLOT_DETACHED)
		conn_end_here(t, s);
	pthread_mutex_unlock(&s->mu);
}

/* A post to target, with an op from its records or without one. */
void post_random(struct tctx *t, struct pctx *target)
{
	if (chance(&t->rng, 50)) {
		post_null(t, target);
		return;
	}
	struct rec *r = rec_get(target);
	if (!r)
		return;
	r->kind = CPORT_OP_POST;
	r->fd = -1;
	uintptr_t key = (uintptr_t)(KEY_POST_OP | (rnd(&t->rng) & 0xFFFFFFFFFFFFull));
	int64_t value = (int64_t)rnd(&t->rng);
	atomic_store(&r->post_key, key);
	atomic_store(&r->post_result, value);
	count_started(t, target, r);
	int ret = cport_post(target->port, key, &r->op, value);
	if (ret < 0)
		start_refused(t, target, r, ret, "cport_post refused");
}
