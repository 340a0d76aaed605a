/* peer.c - stress-ledger's peer thread: the other end of every connection,
 * on plain non-blocking syscalls. Each peer echoes or sends its own stream,
 * verifies what it receives, and now and then resets, half-closes or goes
 * silent; in the final drain all go silent. It also posts to the ports, being
 * a thread that never waits on one. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "stress.h"

#define ECHO_BUF 65536
#define READ_MAX 65536
#define POLL_MS 2
#define BEHAVE_PER_10K 6 /* chance per loop, per peer, of each of reset, half-close, silence */

struct peer {
	struct conn *c;
	int fd;
	bool silent, shut, rx_bad;
	uint8_t *ebuf;
	size_t elen;
	uint64_t rx_off, tx_off;
};

struct peers {
	struct peer *p;
	struct pollfd *pfd;
	unsigned n, cap;
	uint8_t *tmp;
};

void peer_hand_over(struct run *run, struct conn *c)
{
	pthread_mutex_lock(&run->inbox_mu);
	c->next_new = run->inbox;
	run->inbox = c;
	pthread_mutex_unlock(&run->inbox_mu);
}

static int peers_add(struct peers *ps, struct conn *c)
{
	if (ps->n == ps->cap) {
		unsigned cap = ps->cap ? ps->cap * 2 : 64;
		struct peer *p = realloc(ps->p, cap * sizeof(*p));
		if (!p)
			return -1;
		ps->p = p;
		struct pollfd *f = realloc(ps->pfd, cap * sizeof(*f));
		if (!f)
			return -1;
		ps->pfd = f;
		ps->cap = cap;
	}
	struct peer *p = &ps->p[ps->n];
	*p = (struct peer){ .c = c, .fd = c->peer_fd };
	if (c->echo && !(p->ebuf = malloc(ECHO_BUF)))
		return -1;
	ps->n++;
	return 0;
}

static void take_inbox(struct tctx *t, struct peers *ps)
{
	pthread_mutex_lock(&t->run->inbox_mu);
	struct conn *c = t->run->inbox;
	t->run->inbox = NULL;
	pthread_mutex_unlock(&t->run->inbox_mu);
	while (c) {
		struct conn *next = c->next_new;
		if (peers_add(ps, c) < 0) {
			atomic_store(&c->peer_closed, 1);
			close(c->peer_fd);
		}
		c = next;
	}
}

/* The peer is done: closed for good, with a reset if asked. */
static void peer_drop(struct peers *ps, unsigned i, bool reset)
{
	struct peer *p = &ps->p[i];
	atomic_store(&p->c->peer_closed, 1);
	if (reset) {
		struct linger l = { 1, 0 };
		setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(p->fd);
	free(p->ebuf);
	ps->p[i] = ps->p[--ps->n];
}

static void peer_read(struct tctx *t, struct peers *ps, unsigned i)
{
	struct peer *p = &ps->p[i];
	size_t room = p->ebuf ? ECHO_BUF - p->elen : READ_MAX;
	if (!room)
		return;
	ssize_t n = recv(p->fd, ps->tmp, room, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* the port's side closed (or reset): so does the peer */
		peer_drop(ps, i, false);
		return;
	}
	long bad = p->rx_bad ? -1 : pattern_check(ps->tmp, (size_t)n, p->c->tx_salt, p->rx_off);
	if (bad >= 0) {
		err_log(t->run, t, E_DATA, "peer received bytes out of order, lost or duplicated", CPORT_OP_SEND,
			p->c->fd, 0, (int64_t)(p->rx_off + (uint64_t)bad));
		p->rx_bad = true;
	}
	p->rx_off += (uint64_t)n;
	if (p->ebuf) {
		memcpy(p->ebuf + p->elen, ps->tmp, (size_t)n);
		p->elen += (size_t)n;
	}
}

static void peer_write(struct tctx *t, struct peers *ps, unsigned i)
{
	struct peer *p = &ps->p[i];
	const uint8_t *out = p->ebuf;
	size_t len = p->elen;
	if (!p->ebuf) {
		len = 1 + rnd_below(&t->rng, REC_BUF);
		pattern_fill(ps->tmp, len, p->c->rx_salt, p->tx_off);
		out = ps->tmp;
	}
	if (!len)
		return;
	ssize_t n = send(p->fd, out, len, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		peer_drop(ps, i, false);
		return;
	}
	p->tx_off += (uint64_t)n;
	if (p->ebuf) {
		memmove(p->ebuf, p->ebuf + n, p->elen - (size_t)n);
		p->elen -= (size_t)n;
	}
}

/* Now and then: reset, half-close (the port's side must then see all that
 * was sent, then the end), or stop reading and writing for good. */
static void peer_behave(struct tctx *t, struct peers *ps, unsigned i)
{
	struct peer *p = &ps->p[i];
	unsigned r = rnd_below(&t->rng, 10000);
	if (r < BEHAVE_PER_10K) {
		t->cnt.stat[S_PEER_RESET]++;
		peer_drop(ps, i, true);
	} else if (r < 2 * BEHAVE_PER_10K && !p->shut) {
		t->cnt.stat[S_PEER_SHUT]++;
		p->shut = true;
		atomic_store(&p->c->peer_shut_off, p->tx_off);
		atomic_store(&p->c->peer_shut, 1);
		shutdown(p->fd, SHUT_WR);
	} else if (r < 3 * BEHAVE_PER_10K && !p->silent) {
		t->cnt.stat[S_PEER_SILENT]++;
		p->silent = true;
	}
}

/* Drop the peers whose port side is over; let the others act. */
static void peers_sweep(struct tctx *t, struct peers *ps, bool running)
{
	for (unsigned i = ps->n; i-- > 0;) {
		if (atomic_load(&ps->p[i].c->ended))
			peer_drop(ps, i, false);
		else if (running)
			peer_behave(t, ps, i);
	}
}

static void peers_poll(struct tctx *t, struct peers *ps)
{
	for (unsigned i = 0; i < ps->n; i++) {
		struct peer *p = &ps->p[i];
		short ev = 0;
		if (!p->ebuf || p->elen < ECHO_BUF)
			ev |= POLLIN;
		if (!p->shut && (!p->ebuf || p->elen))
			ev |= POLLOUT;
		ps->pfd[i] = (struct pollfd){ .fd = p->silent ? -1 : p->fd, .events = ev };
	}
	if (poll(ps->pfd, ps->n, POLL_MS) <= 0)
		return;
	for (unsigned i = ps->n; i-- > 0;) { /* backwards: a drop moves the last peer to i */
		short re = ps->pfd[i].revents;
		if (re & POLLOUT)
			peer_write(t, ps, i);
		if (i < ps->n && ps->p[i].fd == ps->pfd[i].fd && (re & (POLLIN | POLLHUP | POLLERR)))
			peer_read(t, ps, i);
	}
}

void *peer_main(void *arg)
{
	struct tctx *t = arg;
	struct run *run = t->run;
	struct peers ps = { .tmp = malloc(READ_MAX) };
	bool quiet = false;
	while (ps.tmp && atomic_load(&run->phase) != PH_DONE) {
		bool running = atomic_load(&run->phase) == PH_RUN;
		take_inbox(t, &ps);
		peers_sweep(t, &ps, running);
		if (running)
			peers_poll(t, &ps);
		else /* every peer silent: only a cancel can end a receive now */
			nanosleep(&(struct timespec){ 0, POLL_MS * 1000000L }, NULL);
		if (running && chance(&t->rng, 20))
			post_random(t, &run->ports[rnd_below(&t->rng, run->nports)]);
		if (!running && !quiet) {
			quiet = true;
			atomic_fetch_add(&run->quiesced, 1);
		}
	}
	take_inbox(t, &ps);
	while (ps.n)
		peer_drop(&ps, ps.n - 1, false);
	if (!quiet)
		atomic_fetch_add(&run->quiesced, 1);
	free(ps.p);
	free(ps.pfd);
	free(ps.tmp);
	return NULL;
}
