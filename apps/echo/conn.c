/* conn.c - TCP connections: the pooled echo (the spliced one is conn_splice.c),
 * one op in flight; their slab; the pool buffers they hold; the PROXY header. */
#include "conn.h"
#include "conn_priv.h"

#include "clock.h"
#include "counters.h"
#include "log.h"
#include "proxy_conn.h"
#include "proxy_hdr.h"
#include "slab.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define LIB_POOL_BUFFERS 1024 /* cport_options.pool_buffers 0 means this */
/* A connection's fd: sends that go out at once skip the port, and with
 * --recv-ahead pooled receives read ahead (io_uring: one capped multishot
 * receive per connection, not one receive per message; docs/performance.md). */
#define CONN_MODES(cn) (conn_cs(cn)->modes)
/* Chunks waiting to be sent hold pool buffers. Past this share of the pool
 * held, a chunk is copied out so clients that never read cannot starve
 * everybody else's receives. */
#define POOL_PRESSURE_NUM 3
#define POOL_PRESSURE_DEN 4
/* A chunk copied out takes at least this much: glibc keeps a thread's
 * frees of up to 1032 bytes in that thread's cache (tcache), out of
 * malloc_trim's reach, so a burst of small copies would stay resident. */
#define COPY_MIN_BYTES 1040

/* A connection's last completion is kept to this grain (32 bits of it
 * last 13 years); --idle-timeout closes it at most this much later. */
#define STAMP_MS 100

/* A connection's fd key is its address with KEY_CONN set; and each byte
 * of its record is a byte of every idle connection's memory, which the
 * issue bounds at 256 a connection (docs/performance.md, "Idle memory"). */
_Static_assert(_Alignof(struct conn) > KEY_CONN, "KEY_CONN must be a bit every connection's address leaves clear");
_Static_assert(sizeof(struct conn) <= 184, "struct conn outgrew its idle-memory budget");

/* The chunk being echoed, NULL if none. */
static char *conn_chunk(const struct conn *cn)
{
	return cn->spliced != SPLICE_ON && cn->iov.iov_base ? (char *)cn->iov.iov_base - cn->off : NULL;
}

static uint32_t stamp_now(void)
{
	return (uint32_t)(batch_ms() / STAMP_MS);
}

void conns_init(struct conns *cs, struct loop_core *core, struct conn_limit *limit,
		unsigned pool_buffers, unsigned large_buffers)
{
	cs->core = core;
	cs->limit = limit;
	/* bufs_held counts buffers of both sizes, so the share is of both. */
	cs->pool_pressure = ((pool_buffers ? pool_buffers : LIB_POOL_BUFFERS) + large_buffers) * POOL_PRESSURE_NUM /
			    POOL_PRESSURE_DEN;
	cs->splice_min = SIZE_MAX;
	cs->modes = CPORT_SKIP_ON_SUCCESS;
	pthread_mutex_init(&cs->lock, NULL);
	slab_init(&cs->slab, sizeof(struct conn));
}

void conns_port_ready(struct conns *cs)
{
	/* Read once here, not per message: every echoed chunk is checked. */
	cs->splice_min = cs->limit->max_pipes ? cport_buf_size(cs->core->port) : SIZE_MAX;
}

static struct conn *conn_alloc(struct conns *cs)
{
	pthread_mutex_lock(&cs->lock);
	struct conn *cn = slab_alloc(&cs->slab);
	pthread_mutex_unlock(&cs->lock);
	return cn;
}

static void conn_release(struct conns *cs, struct conn *cn)
{
	pthread_mutex_lock(&cs->lock);
	slab_free(cn);
	pthread_mutex_unlock(&cs->lock);
}

/* Whether conns_kill may cancel its fd: only while it is attached and not closing. */
static void conn_list(struct conn *cn, uint8_t listed)
{
	struct conns *cs = conn_cs(cn);

	pthread_mutex_lock(&cs->lock);
	cn->listed = listed;
	pthread_mutex_unlock(&cs->lock);
}

static uint32_t life_now(void)
{
	return (uint32_t)(coarse_ms() / LIFE_UNIT_MS);
}

static void conn_free(struct conn *cn, struct counters *ctr)
{
	struct conns *cs = conn_cs(cn);

	counter_lifetime(ctr, (uint32_t)(life_now() - cn->born));
	log_msg(LOG_DEBUG, "connection fd %d closed", cn->fd);
	atomic_fetch_sub(&cs->limit->open, 1);
	conn_release(cs, cn);
	if (!atomic_load_explicit(&cs->trim_wanted, memory_order_relaxed))
		atomic_store_explicit(&cs->trim_wanted, 1, memory_order_relaxed);
	loop_core_unref(cs->core);
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

static void conn_release_buf(struct conn *cn)
{
	struct conns *cs = conn_cs(cn);
	char *chunk = conn_chunk(cn);

	if (!chunk)
		return;
	if (cn->buf_own) {
		free(chunk);
		atomic_fetch_sub_explicit(&cs->own_bufs, 1, memory_order_relaxed);
		atomic_store_explicit(&cs->trim_wanted, 1, memory_order_relaxed);
	} else {
		cport_buf_release(cs->core->port, chunk);
		atomic_fetch_sub_explicit(&cs->bufs_held, 1, memory_order_relaxed);
	}
	cn->iov = (struct iovec){NULL, 0};
	cn->off = 0;
	cn->buf_own = 0;
}

void conn_close(struct conn *cn, struct counters *ctr)
{
	int why = atomic_load(&cn->kill), r;

	conn_release_buf(cn);
	conn_splice_end(cn);
	if (why == KILL_IDLE)
		counter_add(ctr, C_CONN_IDLE_CLOSED, 1);
	else if (why == KILL_DRAIN)
		counter_add(ctr, C_CONN_DRAIN_CLOSED, 1);
	else if (why == KILL_PROXY)
		proxy_conn_failed(cn->fd, PF_TIMEOUT, ctr);
	conn_list(cn, 0);
	cn->state = CS_CLOSING;
	r = cport_close(conn_cs(cn)->core->port, cn->fd, &cn->op);
	if (r < 0) {
		log_limited(LK_CONN, LOG_ERR, "cannot close connection fd %d: %s", cn->fd, strerror(-r));
		close(cn->fd);
		conn_free(cn, ctr);
	}
}

/* A failed op closes this connection only. */
void conn_fail(struct conn *cn, int err, struct counters *ctr)
{
	if (err == ECANCELED && atomic_load(&cn->kill)) {
		/* we cancelled it: counted as an idle or drain close */
	} else if (err_is_peer(err)) {
		counter_add(ctr, C_ERR_CONN_RESET, 1);
		log_msg(LOG_DEBUG, "connection fd %d: %s", cn->fd, strerror(err));
	} else {
		counter_add(ctr, C_ERR_CONN_OTHER, 1);
		log_limited(LK_CONN, LOG_WARNING, "connection fd %d: %s", cn->fd, strerror(err));
	}
	conn_close(cn, ctr);
}

/* A kill (idle, drain) takes effect between two ops, when no op of this
 * connection is in flight. 1 if it did: the connection is closing. */
int conn_close_if_killed(struct conn *cn, struct counters *ctr)
{
	if (!atomic_load(&cn->kill))
		return 0;
	conn_close(cn, ctr);
	return 1;
}

static void conn_recv(struct conn *cn, struct counters *ctr)
{
	int r;

	if (conn_close_if_killed(cn, ctr))
		return;
	cn->state = CS_RECV;
	r = cport_recv_pooled(conn_cs(cn)->core->port, cn->fd, &cn->op);
	if (r < 0)
		conn_fail(cn, -r, ctr);
}

static void conn_sent(struct conn *cn, int64_t res, struct counters *ctr);

static void conn_send(struct conn *cn, struct counters *ctr)
{
	int r;

	if (conn_close_if_killed(cn, ctr))
		return;
	cn->state = CS_SEND;
	r = cport_send(conn_cs(cn)->core->port, cn->fd, &cn->op, &cn->iov, 1);
	if (r == 1)
		conn_sent(cn, cport_op_result(&cn->op), ctr); /* out at once: no completion follows */
	else if (r < 0)
		conn_fail(cn, -r, ctr);
}

/* Most of the pool waits in sends (clients that do not read): move this
 * chunk to memory of its own and give the pool buffer back at once. Not a
 * chunk bigger than a small pool buffer: it is in a large one, and when
 * those run out receives take small ones, so holding it starves nobody. */
static void conn_unpool_if_pressed(struct conn *cn)
{
	struct conns *cs = conn_cs(cn);
	size_t len = cn->iov.iov_len;
	void *own;

	if (atomic_load_explicit(&cs->bufs_held, memory_order_relaxed) < cs->pool_pressure ||
	    len > cport_buf_size(cs->core->port))
		return;
	own = malloc(len > COPY_MIN_BYTES ? len : COPY_MIN_BYTES);
	if (!own)
		return; /* keep the pool buffer: slower, not wrong */
	memcpy(own, cn->iov.iov_base, len);
	conn_release_buf(cn);
	cn->iov = (struct iovec){own, len};
	cn->buf_own = 1;
	atomic_fetch_add_explicit(&cs->own_bufs, 1, memory_order_relaxed);
}

/* The spliced echo reads the socket itself: only once the port holds no
 * bytes read ahead of it and reads no more (-EBUSY: not yet; the pooled
 * echo goes on, and the next big chunk asks again). */
static int conn_stop_reading_ahead(struct conn *cn)
{
	return cport_set_completion_modes(conn_cs(cn)->core->port, cn->fd, CPORT_SKIP_ON_SUCCESS) == 0;
}

static void conn_sent(struct conn *cn, int64_t res, struct counters *ctr)
{
	if (res <= 0) {
		conn_fail(cn, res < 0 ? (int)-res : EIO, ctr);
		return;
	}
	counter_add(ctr, C_TCP_BYTES_OUT, (uint64_t)res);
	counter_add(ctr, C_TCP_MSGS_OUT, 1);
	cn->off += (uint32_t)res;
	cn->iov.iov_base = (char *)cn->iov.iov_base + res;
	cn->iov.iov_len -= (size_t)res;
	if (cn->iov.iov_len) {
		conn_send(cn, ctr); /* a partial send: the rest */
		return;
	}
	/* All out: only now read more (backpressure). */
	size_t chunk = cn->off;
	conn_release_buf(cn);
	if (chunk >= conn_cs(cn)->splice_min && conn_stop_reading_ahead(cn)) {
		if (conn_splice_begin(cn, ctr)) {
			conn_splice_go(cn, CS_POLL_IN, ctr);
			return;
		}
		(void)cport_set_completion_modes(conn_cs(cn)->core->port, cn->fd, CONN_MODES(cn)); /* no pipe */
	}
	conn_recv(cn, ctr);
}

static void conn_received(struct conn *cn, const struct cport_completion *c, struct counters *ctr)
{
	int64_t res = c->result;

	if (c->flags & CPORT_CF_BUFFER) {
		cn->iov = (struct iovec){c->buf, res > 0 ? (size_t)res : 0};
		cn->off = 0;
		atomic_fetch_add_explicit(&conn_cs(cn)->bufs_held, 1, memory_order_relaxed);
	}
	if (res == 0) {
		conn_close(cn, ctr); /* end of stream: everything read was echoed */
		return;
	}
	if (res < 0 || !cn->iov.iov_base) {
		conn_fail(cn, res < 0 ? (int)-res : EIO, ctr);
		return;
	}
	counter_add(ctr, C_TCP_BYTES_IN, (uint64_t)res);
	counter_add(ctr, C_TCP_MSGS_IN, 1);
	conn_unpool_if_pressed(cn);
	conn_send(cn, ctr);
}

/* ---- --proxy-protocol: the header, gathered before the echo starts ----
 * It is received straight into a buffer of its own (a chunk the connection
 * owns, as under pool pressure) rather than into pool buffers: a header
 * split over reads needs its bytes kept together, and a balancer's health
 * checks must not hold pool buffers. Reads stop at PROXY_HDR_MAX, so what
 * follows the header in the buffer is the client's first data: echoed from
 * there, then the pooled echo goes on. iov is the free room, off the bytes
 * gathered (conn_chunk is the buffer's start throughout). */

static void conn_proxy_refuse(struct conn *cn, enum proxy_fail why, struct counters *ctr)
{
	proxy_conn_failed(cn->fd, why, ctr);
	conn_close(cn, ctr);
}

/* The header phase's receive ended with res <= 0. */
static void conn_proxy_ended(struct conn *cn, int64_t res, struct counters *ctr)
{
	int err = res < 0 ? (int)-res : 0;

	if (err && !err_is_peer(err)) /* ours (a kill's cancel) or odd: as any receive */
		conn_fail(cn, err, ctr);
	else
		conn_proxy_refuse(cn, cn->off ? PF_TRUNCATED : PF_EMPTY, ctr);
}

/* The header is hlen of the have bytes gathered: echo the rest, if any. */
static void conn_proxy_done(struct conn *cn, size_t hlen, size_t have, struct counters *ctr)
{
	char *buf = conn_chunk(cn);

	atomic_store(&cn->hdr_wait, 0);
	(void)cport_set_completion_modes(conn_cs(cn)->core->port, cn->fd, CONN_MODES(cn));
	if (have == hlen) {
		conn_release_buf(cn);
		conn_recv(cn, ctr);
		return;
	}
	cn->off = (uint32_t)hlen;
	cn->iov = (struct iovec){buf + hlen, have - hlen};
	counter_add(ctr, C_TCP_BYTES_IN, have - hlen);
	counter_add(ctr, C_TCP_MSGS_IN, 1);
	conn_send(cn, ctr);
}

/* res more bytes came (or the receive ended). 1: receive more. */
static int conn_proxy_take(struct conn *cn, int64_t res, struct counters *ctr)
{
	char *buf = conn_chunk(cn);
	size_t have = cn->off;
	struct proxy_hdr h;
	long r;

	if (res <= 0) {
		conn_proxy_ended(cn, res, ctr);
		return 0;
	}
	have += (size_t)res;
	r = proxy_hdr_parse(buf, have, &h);
	if (r == 0 && have < PROXY_HDR_MAX) {
		cn->off = (uint32_t)have;
		cn->iov = (struct iovec){buf + have, PROXY_HDR_MAX - have};
		return 1;
	}
	if (r <= 0) { /* a full buffer that still needs more cannot happen: defensive */
		conn_proxy_refuse(cn, r ? proxy_fail_of(r) : PF_OVERSIZED, ctr);
		return 0;
	}
	proxy_conn_header(cn->fd, &h, ctr);
	conn_proxy_done(cn, (size_t)r, have, ctr);
	return 0;
}

static void conn_proxy_recv(struct conn *cn, struct counters *ctr)
{
	cport_t *port = conn_cs(cn)->core->port;
	int r;

	do {
		if (conn_close_if_killed(cn, ctr))
			return;
		cn->state = CS_PROXY;
		r = cport_recv(port, cn->fd, &cn->op, &cn->iov, 1);
		if (r < 0) {
			conn_fail(cn, -r, ctr);
			return;
		}
	} while (r == 1 && conn_proxy_take(cn, cport_op_result(&cn->op), ctr));
}

static void conn_proxy_start(struct conn *cn, struct counters *ctr)
{
	char *buf = malloc(PROXY_HDR_MAX);

	if (!buf) {
		counter_add(ctr, C_ERR_CONN_SETUP, 1);
		log_limited(LK_CONN_SETUP, LOG_ERR, "cannot start a connection: %s", strerror(ENOMEM));
		conn_close(cn, ctr);
		return;
	}
	cn->iov = (struct iovec){buf, PROXY_HDR_MAX};
	cn->off = 0;
	cn->buf_own = 1;
	atomic_fetch_add_explicit(&conn_cs(cn)->own_bufs, 1, memory_order_relaxed);
	atomic_store(&cn->hdr_wait, 1);
	conn_proxy_recv(cn, ctr);
}

void conn_done(const struct cport_completion *c, struct counters *ctr)
{
	struct conn *cn = cport_container_of(c->op, struct conn, op);

	atomic_store_explicit(&cn->last_stamp, stamp_now(), memory_order_relaxed);
	if (cn->state == CS_CLOSING)
		conn_free(cn, ctr);
	else if (cn->state == CS_SEND)
		conn_sent(cn, c->result, ctr);
	else if (cn->state == CS_POLL_IN || cn->state == CS_POLL_OUT)
		conn_polled(cn, c->result, ctr);
	else if (cn->state == CS_PROXY) {
		if (conn_proxy_take(cn, c->result, ctr))
			conn_proxy_recv(cn, ctr);
	} else
		conn_received(cn, c, ctr);
}

/* Count fd in, unless the loop is stopping or --max-connections is
 * reached: then close it (refused: counted before the peer can see it). */
static int conn_admit(struct conns *cs, int fd, struct counters *ctr)
{
	unsigned long max = cs->limit->max;

	if (atomic_load(&cs->core->stopping)) {
		close(fd);
		return 0;
	}
	if (atomic_fetch_add(&cs->limit->open, 1) >= max && max) {
		atomic_fetch_sub(&cs->limit->open, 1);
		counter_add(ctr, C_CONN_REFUSED, 1);
		close(fd);
		log_limited(LK_MAX_CONN, LOG_INFO, "connection refused: %lu open (--max-connections)", max);
		return 0;
	}
	return 1;
}

void conn_start(struct conns *cs, int fd, struct counters *ctr)
{
	struct conn *cn;
	int r;

	if (!conn_admit(cs, fd, ctr))
		return;
	cn = conn_alloc(cs);
	if (!cn) {
		r = -ENOMEM;
		goto fail;
	}
	/* TCP_NODELAY came from the listener (bind.c). */
	cn->fd = fd;
	cn->spliced = SPLICE_NOT_YET;
	atomic_init(&cn->kill, KILL_NONE);
	atomic_init(&cn->hdr_wait, 0);
	atomic_init(&cn->last_stamp, stamp_now());
	cn->born = life_now();
	r = cport_attach(cs->core->port, fd, (uintptr_t)cn | KEY_CONN);
	if (r < 0)
		goto fail;
	/* A send that goes out at once then skips the queue and the wait. With
	 * epoll: 1,723 -> 1,367 instructions per message at 100 x 64 B, the same
	 * system calls. With io_uring the library tries it at once only when the
	 * thread has no batch for the send to ride in (docs/performance.md).
	 * The pooled echo reads ahead (not while a PROXY header is read into
	 * a buffer of its own: conn_proxy_done). */
	(void)cport_set_completion_modes(cs->core->port, fd, cs->proxy ? CPORT_SKIP_ON_SUCCESS : cs->modes);
	loop_core_ref(cs->core);
	conn_list(cn, 1);
	counter_add(ctr, C_CONN_TOTAL, 1);
	log_msg(LOG_DEBUG, "connection fd %d open", fd);
	if (cs->proxy)
		conn_proxy_start(cn, ctr);
	else
		conn_recv(cn, ctr);
	return;
fail:
	if (cn)
		conn_release(cs, cn);
	close(fd);
	atomic_fetch_sub(&cs->limit->open, 1);
	counter_add(ctr, C_ERR_CONN_SETUP, 1);
	log_limited(LK_CONN_SETUP, LOG_ERR, "cannot start a connection: %s", strerror(-r));
}

struct kill {
	struct conns *cs;
	enum kill_reason why;
	uint64_t cutoff;
};

/* A stamp is rounded down: the last completion may have come up to
 * STAMP_MS after it, so only a stamp that much older than the cutoff counts. */
static int kill_due(const struct conn *cn, const struct kill *k)
{
	uint64_t last = atomic_load_explicit(&cn->last_stamp, memory_order_relaxed);

	if (k->why == KILL_DRAIN)
		return 1;
	if (k->why == KILL_PROXY) /* born wraps: its difference does not */
		return atomic_load(&cn->hdr_wait) &&
		       (uint64_t)(uint32_t)(life_now() - cn->born) * LIFE_UNIT_MS >= k->cutoff;
	return (last + 1) * STAMP_MS <= k->cutoff;
}

/* Called with cs->lock held: while listed, the conn's fd is still ours. */
static void conn_kill(void *obj, void *arg)
{
	struct conn *cn = obj;
	const struct kill *k = arg;
	uint8_t none = KILL_NONE;

	/* Not listed: a slot not yet (or no longer) a connection, whose stamp
	 * its starter may be writing without the lock. */
	if (!cn->listed || !kill_due(cn, k))
		return;
	atomic_compare_exchange_strong(&cn->kill, &none, (uint8_t)k->why);
	cport_cancel_fd(k->cs->core->port, cn->fd);
}

void conns_kill(struct conns *cs, enum kill_reason why, uint64_t cutoff)
{
	struct kill k = {cs, why, cutoff};

	pthread_mutex_lock(&cs->lock);
	slab_each(&cs->slab, conn_kill, &k);
	pthread_mutex_unlock(&cs->lock);
}

int conns_take_trim(struct conns *cs)
{
	if (!atomic_load_explicit(&cs->trim_wanted, memory_order_relaxed) ||
	    atomic_load_explicit(&cs->own_bufs, memory_order_relaxed))
		return 0;
	atomic_store_explicit(&cs->trim_wanted, 0, memory_order_relaxed);
	pthread_mutex_lock(&cs->lock);
	slab_trim(&cs->slab);
	pthread_mutex_unlock(&cs->lock);
	return 1;
}

/* What a connection the port gave up on still holds: its fd, unless it
 * was closing through the port (which closes it), and a chunk of its own. */
static void conn_drop(void *obj, void *arg)
{
	struct conn *cn = obj;

	(void)arg;
	if (cn->listed)
		close(cn->fd);
	if (cn->buf_own)
		free(conn_chunk(cn));
	conn_splice_end(cn);
}

void conns_free(struct conns *cs)
{
	slab_each(&cs->slab, conn_drop, NULL);
	slab_fini(&cs->slab);
	pthread_mutex_destroy(&cs->lock);
}
