/* udp.c - one UDP flow: a datagram per message, each verified whole; loss,
 * reordering, duplicates and late arrivals counted, not fatal. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define OPEN_LOOP_RING 1024 /* datagrams in flight per flow in open loop */

int udp_open(struct worker *w, struct conn *c, uint64_t now)
{
	const struct config *cfg = w->run->cfg;
	c->ring = cfg->mode == MODE_CLOSED ? cfg->pipeline : OPEN_LOOP_RING;
	c->slots = calloc(c->ring, sizeof(*c->slots));
	c->sbuf = malloc(cfg->size);
	c->r_cap = cfg->size + 1; /* one byte more shows an oversized datagram */
	c->rbuf = malloc(c->r_cap);
	if (!c->slots || !c->sbuf || !c->rbuf)
		return -ENOMEM;
	int fd = socket(cfg->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (connect(fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen) < 0)
		rc = -errno;
	if (rc == 0)
		rc = cport_attach(w->port, fd, (uintptr_t)c);
	if (rc == 0) {
		c->rx_iov = (struct iovec){c->rbuf, c->r_cap};
		rc = cport_recv(w->port, fd, &c->op_rx, &c->rx_iov, 1);
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	c->fd = fd;
	c->state = CONN_OPEN;
	c->rx_busy = true;
	c->t_started = c->t_progress = now;
	if (cfg->mode == MODE_CLOSED)
		c->limit = UINT64_MAX; /* the window of slots is the limit */
	return 0;
}

static struct udp_slot *slot(struct conn *c, uint64_t seq)
{
	return &c->slots[seq % c->ring];
}

void udp_pump(struct worker *w, struct conn *c, uint64_t now)
{
	const struct config *cfg = w->run->cfg;
	if (c->state != CONN_OPEN || c->tx_busy || w->stopping || !w->traffic)
		return;
	if (c->tx.seq >= c->limit || c->tx.seq - c->oldest >= c->ring)
		return;
	if (cfg->mode == MODE_OPEN && in_window(w, now))
		hist_record(&w->st.late, now - intended_time(w, c, c->tx.seq));
	struct udp_slot *s = slot(c, c->tx.seq);
	*s = (struct udp_slot){.seq = c->tx.seq, .sent = now, .pending = 1};
	pat_fill(c->sbuf, c->id, cfg->size, &c->tx, cfg->size);
	c->tx_iov = (struct iovec){c->sbuf, cfg->size};
	int rc = cport_send(w->port, c->fd, &c->op_tx, &c->tx_iov, 1);
	if (rc < 0) {
		conn_count(w, C_IO_ERROR);
		conn_close(w, c);
		return;
	}
	c->tx_busy = true;
}

void udp_sent(struct worker *w, struct conn *c, int64_t res, uint64_t now)
{
	c->tx_busy = false;
	if (res != (int64_t)w->run->cfg->size) {
		/* ECONNREFUSED: nothing listens there (an earlier datagram's ICMP). */
		conn_count(w, res == -ECONNREFUSED ? C_CONNECT_FAILED : C_IO_ERROR);
		conn_close(w, c);
		return;
	}
	udp_pump(w, c, now);
}

/* Move past datagrams already echoed or lost. */
static void advance_oldest(struct conn *c)
{
	while (c->oldest < c->tx.seq && !slot(c, c->oldest)->pending)
		c->oldest++;
}

static void echoed(struct worker *w, struct conn *c, uint64_t seq, uint64_t now)
{
	const struct config *cfg = w->run->cfg;
	struct udp_slot *s = slot(c, seq);
	if (seq >= c->tx.seq || s->seq != seq || (!s->pending && !s->lost)) {
		conn_count(w, seq >= c->tx.seq ? C_CORRUPT : C_DUPLICATE);
		return;
	}
	if (s->lost) {
		conn_count(w, C_LATE);
		s->lost = 0; /* a second copy is a duplicate */
		return;
	}
	s->pending = 0;
	if (seq < c->next_rx)
		conn_count(w, C_REORDERED);
	else
		c->next_rx = seq + 1;
	advance_oldest(c);
	atomic_fetch_add_explicit(&w->live_msgs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->live_bytes, cfg->size, memory_order_relaxed);
	if (!in_window(w, now))
		return;
	w->st.msgs++;
	w->st.bytes += cfg->size;
	uint64_t from = cfg->mode == MODE_OPEN ? intended_time(w, c, seq) : s->sent;
	hist_record(&w->st.hist, now - from);
}

static void check_datagram(struct worker *w, struct conn *c, const uint8_t *d, size_t n, uint64_t now)
{
	const struct config *cfg = w->run->cfg;
	uint32_t conn;
	uint64_t seq;
	if (n != cfg->size || pat_decode_first(d, n, cfg->conns, &conn, &seq) < 0) {
		conn_count(w, C_CORRUPT);
		return;
	}
	if (conn != c->id) {
		conn_count(w, C_CROSSTALK);
		return;
	}
	if (pat_check(d, conn, seq, 0, n) != n) {
		conn_count(w, C_CORRUPT);
		return;
	}
	echoed(w, c, seq, now);
}

void udp_received(struct worker *w, struct conn *c, const struct cport_completion *cp, uint64_t now)
{
	c->rx_busy = false;
	if (cp->result < 0) {
		/* ECONNREFUSED: an ICMP port unreachable came back, nothing listens. */
		conn_count(w, cp->result == -ECONNREFUSED ? C_CONNECT_FAILED : C_IO_ERROR);
		conn_close(w, c);
		return;
	}
	c->t_progress = now;
	check_datagram(w, c, c->rbuf, (size_t)cp->result, now);
	if (cport_recv(w->port, c->fd, &c->op_rx, &c->rx_iov, 1) < 0) {
		conn_count(w, C_IO_ERROR);
		conn_close(w, c);
		return;
	}
	c->rx_busy = true;
	udp_pump(w, c, now);
}

/* A datagram not echoed within --timeout is lost. Datagrams leave in order,
 * so only the oldest pending ones need looking at. */
void udp_housekeep(struct worker *w, struct conn *c, uint64_t now)
{
	uint64_t timeout = (uint64_t)(w->run->cfg->timeout * 1e9);
	bool freed = false;
	for (uint64_t q = c->oldest; q < c->tx.seq; q++) {
		struct udp_slot *s = slot(c, q);
		if (!s->pending)
			continue;
		if (now - s->sent <= timeout)
			break;
		s->pending = 0;
		s->lost = 1;
		conn_count(w, C_LOST);
		freed = true;
	}
	advance_oldest(c);
	if (freed)
		udp_pump(w, c, now);
}

bool udp_idle(const struct conn *c)
{
	return c->oldest == c->tx.seq;
}
