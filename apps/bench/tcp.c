/* tcp.c - one TCP connection: generate, send, receive, verify every byte,
 * time each message, and name the fault when the echo is wrong. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define SEND_CHUNK 65536u        /* most bytes generated per send */
#define OWN_RECV_BUF 65536u      /* --no-pool receive buffer */
#define EVIDENCE_WAIT_NS (50 * 1000000ull)

static uint64_t stream_abs(const struct pat_pos *p, size_t size)
{
	return p->seq * size + p->off;
}

static int post_recv(struct worker *w, struct conn *c)
{
	int rc;
	if (c->rbuf) {
		c->rx_iov = (struct iovec){c->rbuf, c->r_cap};
		rc = cport_recv(w->port, c->fd, &c->op_rx, &c->rx_iov, 1);
	} else {
		rc = cport_recv_pooled(w->port, c->fd, &c->op_rx);
	}
	if (rc < 0) {
		conn_count(w, C_IO_ERROR);
		conn_close(w, c);
		return rc;
	}
	c->rx_busy = true;
	return 0;
}

static int post_send(struct worker *w, struct conn *c)
{
	c->tx_iov = (struct iovec){c->sbuf + c->s_off, c->s_len - c->s_off};
	int rc = cport_send(w->port, c->fd, &c->op_tx, &c->tx_iov, 1);
	if (rc < 0) {
		conn_count(w, C_IO_ERROR);
		conn_close(w, c);
		return rc;
	}
	c->tx_busy = true;
	return 0;
}

void tcp_opened(struct worker *w, struct conn *c, uint64_t now)
{
	const struct config *cfg = w->run->cfg;
	size_t want = cfg->mode == MODE_CLOSED ? cfg->size * cfg->pipeline : SEND_CHUNK;
	c->s_cap = want < SEND_CHUNK ? want : SEND_CHUNK;
	c->sbuf = malloc(c->s_cap);
	if (cfg->own_buffers) {
		c->r_cap = OWN_RECV_BUF;
		c->rbuf = malloc(c->r_cap);
	}
	if (cfg->mode == MODE_CLOSED) {
		c->ring = cfg->pipeline;
		c->ts = calloc(c->ring, sizeof(*c->ts));
		c->limit = cfg->pipeline;
	} else if (cfg->mode == MODE_STREAM) {
		c->limit = UINT64_MAX;
	}
	if (!c->sbuf || (cfg->own_buffers && !c->rbuf) || (cfg->mode == MODE_CLOSED && !c->ts)) {
		conn_count(w, C_IO_ERROR);
		conn_close(w, c);
		return;
	}
	if (post_recv(w, c) == 0)
		tcp_pump(w, c, now);
}

/* Bytes that may be generated now: up to the message limit, and once the
 * window is over only the rest of a message already begun. */
static size_t sendable(const struct worker *w, const struct conn *c)
{
	size_t size = w->run->cfg->size;
	if (w->stopping)
		return c->tx.off ? size - c->tx.off : 0;
	if (c->limit == UINT64_MAX)
		return SIZE_MAX;
	if (c->tx.seq >= c->limit)
		return 0;
	uint64_t n = (c->limit - c->tx.seq) * size - c->tx.off;
	return n < SIZE_MAX ? (size_t)n : SIZE_MAX;
}

void tcp_pump(struct worker *w, struct conn *c, uint64_t now)
{
	if (c->state != CONN_OPEN || c->tx_busy || !w->traffic)
		return;
	if (c->s_off < c->s_len) {
		post_send(w, c);
		return;
	}
	size_t n = sendable(w, c);
	if (n > c->s_cap)
		n = c->s_cap;
	if (n == 0)
		return;
	size_t size = w->run->cfg->size;
	if (tcp_idle(c))
		c->t_progress = now; /* the no-echo clock starts with the first byte outstanding */
	if (w->run->cfg->mode == MODE_OPEN && c->tx.off == 0 && in_window(w, now))
		hist_record(&w->st.late, now - intended_time(w, c, c->tx.seq)); /* the client's own lateness */
	if (c->ts) {
		/* Each message that begins in this chunk starts its clock now. */
		uint64_t first = c->tx.off ? c->tx.seq + 1 : c->tx.seq;
		uint64_t end = stream_abs(&c->tx, size) + n;
		for (uint64_t q = first; q * size < end; q++)
			c->ts[q % c->ring] = now;
	}
	pat_fill(c->sbuf, c->id, size, &c->tx, n);
	c->s_len = n;
	c->s_off = 0;
	post_send(w, c);
}

static void fail(struct worker *w, struct conn *c, int64_t res)
{
	if (res == -ECONNRESET || res == -EPIPE)
		conn_count(w, C_RESET);
	else
		conn_count(w, C_IO_ERROR);
	conn_close(w, c);
}

/* The server closed before the last echo, or before the end of the run. */
static void end_of_stream(struct worker *w, struct conn *c)
{
	conn_count(w, C_EOF);
	conn_close(w, c);
}

void tcp_sent(struct worker *w, struct conn *c, int64_t res, uint64_t now)
{
	c->tx_busy = false;
	if (res <= 0) {
		fail(w, c, res ? res : -EIO);
		return;
	}
	c->s_off += (size_t)res;
	c->t_progress = now; /* the server is reading: the no-echo clock restarts */
	tcp_pump(w, c, now);
}

/* Decide what the evidence shows, count it once, give the connection up. */
static void conclude(struct worker *w, struct conn *c)
{
	const struct config *cfg = w->run->cfg;
	uint64_t max_seq = 4 * c->tx.seq + 1024;
	enum pat_fault f = pat_classify(c->ev->bytes, c->ev->len, c->id, cfg->size, c->ev->at, cfg->conns, max_seq);
	static const enum counter as_counter[PAT_NFAULTS] = {
		[PAT_CORRUPT] = C_CORRUPT, [PAT_LOST] = C_LOST,
		[PAT_REORDERED] = C_REORDERED, [PAT_CROSSTALK] = C_CROSSTALK};
	conn_count(w, as_counter[f]);
	conn_close(w, c);
}

static void gather(struct worker *w, struct conn *c, const uint8_t *d, size_t n)
{
	size_t k = EVIDENCE_MAX - c->ev->len < n ? EVIDENCE_MAX - c->ev->len : n;
	memcpy(c->ev->bytes + c->ev->len, d, k);
	c->ev->len += k;
	if (c->ev->len >= EVIDENCE_ENOUGH)
		conclude(w, c);
}

static void mismatch(struct worker *w, struct conn *c, const uint8_t *d, size_t n, struct pat_pos at, uint64_t now)
{
	c->ev = calloc(1, sizeof(*c->ev));
	if (!c->ev) {
		conn_count(w, C_CORRUPT);
		conn_close(w, c);
		return;
	}
	c->ev->at = at;
	c->ev->since = now;
	gather(w, c, d, n);
}

static void message_done(struct worker *w, struct conn *c, uint64_t now)
{
	const struct config *cfg = w->run->cfg;
	uint64_t q = c->rx.seq;
	atomic_fetch_add_explicit(&w->live_msgs, 1, memory_order_relaxed);
	if (cfg->mode == MODE_CLOSED)
		c->limit = q + 1 + cfg->pipeline;
	if (!in_window(w, now))
		return;
	w->st.msgs++;
	if (cfg->mode == MODE_CLOSED)
		hist_record(&w->st.hist, now - c->ts[q % c->ring]);
	else if (cfg->mode == MODE_OPEN)
		hist_record(&w->st.hist, now - intended_time(w, c, q));
}

/* Check n received bytes against the stream; stop at the first wrong one. */
static void verify(struct worker *w, struct conn *c, const uint8_t *d, size_t n, uint64_t now)
{
	size_t size = w->run->cfg->size;
	bool counted = in_window(w, now);
	while (n > 0) {
		size_t k = size - c->rx.off < n ? size - c->rx.off : n;
		size_t bad = pat_check(d, c->id, c->rx.seq, c->rx.off, k);
		if (bad < k) {
			struct pat_pos at = {c->rx.seq, c->rx.off + bad};
			mismatch(w, c, d + bad, n - bad, at, now);
			return;
		}
		if (counted)
			w->st.bytes += k;
		atomic_fetch_add_explicit(&w->live_bytes, k, memory_order_relaxed);
		c->rx.off += k;
		d += k;
		n -= k;
		if (c->rx.off == size) {
			message_done(w, c, now);
			c->rx.off = 0;
			c->rx.seq++;
		}
	}
}

void tcp_received(struct worker *w, struct conn *c, const struct cport_completion *cp, uint64_t now)
{
	c->rx_busy = false;
	const uint8_t *data = (cp->flags & CPORT_CF_BUFFER) ? cp->buf : c->rbuf;
	if (cp->result > 0) {
		c->t_progress = now;
		if (c->ev)
			gather(w, c, data, (size_t)cp->result);
		else
			verify(w, c, data, (size_t)cp->result, now);
	}
	if (cp->flags & CPORT_CF_BUFFER)
		cport_buf_release(w->port, cp->buf);
	if (c->state != CONN_OPEN)
		return;
	if (cp->result <= 0) {
		if (c->ev)
			conclude(w, c);
		else if (cp->result == 0 && tcp_idle(c) && w->stopping)
			conn_close(w, c);
		else if (cp->result == 0)
			end_of_stream(w, c);
		else
			fail(w, c, cp->result);
		return;
	}
	if (post_recv(w, c) == 0)
		tcp_pump(w, c, now);
}

/* Nothing outstanding: every byte generated has come back. */
bool tcp_idle(const struct conn *c)
{
	return c->tx.seq == c->rx.seq && c->tx.off == c->rx.off && !c->ev;
}

void tcp_housekeep(struct worker *w, struct conn *c, uint64_t now)
{
	if (c->ev) {
		if (now - c->ev->since > EVIDENCE_WAIT_NS)
			conclude(w, c);
		return;
	}
	uint64_t timeout = (uint64_t)(w->run->cfg->timeout * 1e9);
	if (!tcp_idle(c) && now - c->t_progress > timeout) {
		conn_count(w, C_TIMEOUT);
		conn_close(w, c);
	}
}
