/* metrics_server.c - --metrics: GET /metrics over HTTP/1.1, served from a loop's completion port beside the echo.
 *
 * A connection: receive until the request head is complete (http_req.c
 * judges every byte as it comes), send one response, half-close and read
 * what the client still sends until it closes (so that our close does not
 * turn into a reset that destroys the response on its way), close. Every
 * phase has a deadline that the loop's housekeeping enforces: a slow or
 * silent client costs one of a few slots for a bounded time, and nothing
 * of the echo's. */
#include "metrics_server.h"

#include "clock.h"
#include "http_req.h"
#include "log.h"
#include "strbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MCONN_MAX 8               /* scrapes at once; more get 503 */
#define MREQ_MAX 8192             /* request head bytes; more: 431 (or 414) */
#define MREQ_TIMEOUT_MS 5000      /* the whole head within this: else 408 */
#define MSEND_TIMEOUT_MS 5000     /* the response taken within this: else closed */
#define MLINGER_MS 1000           /* after the response, waiting for the client's close */
#define METRICS_PATH "/metrics"

enum mc_state { MC_RECV, MC_SEND, MC_LINGER, MC_CLOSING };
enum mc_kill { MK_NONE, MK_TIMEOUT, MK_STOP };

struct mconn {
	struct req r;
	struct metrics_server *ms;
	struct mconn *next, **pprev; /* ms->conns, from start to free (ms->lock) */
	int fd;
	uint8_t state;       /* enum mc_state */
	uint8_t listed;      /* open, not closing: the tick may cancel its fd (ms->lock) */
	uint8_t last_send;   /* close right after this response (a 408) */
	_Atomic uint8_t kill; /* enum mc_kill: act at the next completion */
	_Atomic uint64_t deadline_ms;
	size_t len;          /* of in[] */
	struct strbuf out;   /* the response */
	size_t out_off;
	struct iovec iov;
	char in[MREQ_MAX];
};

static const char *reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

static void count_code(struct metrics_server *ms, int code)
{
	int i = metrics_code_index(code);

	if (i >= 0)
		atomic_fetch_add_explicit(&ms->http[i], 1, memory_order_relaxed);
}

/* Whether the tick may cancel its fd: while it is open and not closing. */
static void mc_list(struct mconn *mc, int on)
{
	pthread_mutex_lock(&mc->ms->lock);
	mc->listed = (uint8_t)on;
	pthread_mutex_unlock(&mc->ms->lock);
}

/* A connection's slot and its reference on the loop, given back. */
static void slot_give_back(struct metrics_server *ms)
{
	pthread_mutex_lock(&ms->lock);
	ms->nconns--;
	pthread_mutex_unlock(&ms->lock);
	loop_core_unref(ms->sk.core);
}

/* On ms->conns from its start to its free, listed or not. */
static void mc_link(struct mconn *mc)
{
	struct metrics_server *ms = mc->ms;

	pthread_mutex_lock(&ms->lock);
	mc->next = ms->conns;
	mc->pprev = &ms->conns;
	if (ms->conns)
		ms->conns->pprev = &mc->next;
	ms->conns = mc;
	pthread_mutex_unlock(&ms->lock);
}

static void mc_unlink(struct mconn *mc)
{
	pthread_mutex_lock(&mc->ms->lock);
	*mc->pprev = mc->next;
	if (mc->next)
		mc->next->pprev = mc->pprev;
	pthread_mutex_unlock(&mc->ms->lock);
}

static void mc_free(struct mconn *mc)
{
	struct metrics_server *ms = mc->ms;

	mc_unlink(mc);
	sb_free(&mc->out);
	free(mc);
	slot_give_back(ms);
}

static void mc_close(struct mconn *mc)
{
	int r;

	mc_list(mc, 0);
	mc->state = MC_CLOSING;
	r = cport_close(mc->ms->sk.core->port, mc->fd, &mc->r.op);
	if (r < 0) {
		log_limited(LK_METRICS, LOG_ERR, "metrics: cannot close fd %d: %s", mc->fd, strerror(-r));
		close(mc->fd);
		mc_free(mc);
	}
}

static void mc_deadline(struct mconn *mc, uint64_t ms_from_now)
{
	atomic_store_explicit(&mc->deadline_ms, now_ms() + ms_from_now, memory_order_relaxed);
}

/* Receive into in[] after what is there (MC_RECV), or over it (MC_LINGER:
 * only to see the client's close). */
static void mc_recv(struct mconn *mc)
{
	size_t at = mc->state == MC_RECV ? mc->len : 0;
	int r;

	mc->iov = (struct iovec){mc->in + at, sizeof(mc->in) - at};
	r = cport_recv(mc->ms->sk.core->port, mc->fd, &mc->r.op, &mc->iov, 1);
	if (r < 0)
		mc_close(mc);
}

static void mc_send(struct mconn *mc)
{
	int r;

	mc->iov = (struct iovec){mc->out.p + mc->out_off, mc->out.len - mc->out_off};
	r = cport_send(mc->ms->sk.core->port, mc->fd, &mc->r.op, &mc->iov, 1);
	if (r < 0)
		mc_close(mc);
}

/* The whole response in out: status line, fields, the body (not for HEAD). */
static void build_response(struct strbuf *out, int code, const char *extra, const char *type,
			   const struct strbuf *body, int head_only)
{
	sb_printf(out,
		  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n"
		  "Cache-Control: no-store\r\n\r\n",
		  code, reason(code), type, body->len, extra);
	if (!head_only && body->len)
		sb_put(out, body->p, body->len);
}

static void mc_respond(struct mconn *mc, int code, const struct strbuf *body, int head_only)
{
	const char *type = code == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8";
	const char *extra = code == 405 ? "Allow: GET, HEAD\r\n" : "";
	struct strbuf err = {0};

	if (!body) {
		sb_printf(&err, "%d %s\n", code, reason(code));
		body = &err;
	}
	build_response(&mc->out, code, extra, type, body, head_only);
	sb_free(&err);
	if (mc->out.failed) {
		log_limited(LK_METRICS, LOG_ERR, "metrics: out of memory for a response");
		mc_close(mc);
		return;
	}
	count_code(mc->ms, code);
	mc->state = MC_SEND;
	mc->out_off = 0;
	mc_deadline(mc, MSEND_TIMEOUT_MS);
	mc_send(mc);
}

static void mc_respond_error(struct mconn *mc, int code)
{
	mc_respond(mc, code, NULL, 0);
}

static int method_is(const struct http_req *q, const char *m)
{
	return q->method_len == strlen(m) && !memcmp(q->method, m, q->method_len);
}

/* /metrics, with or without a query string (Prometheus may add one). */
static int path_is_metrics(const struct http_req *q)
{
	size_t n = sizeof(METRICS_PATH) - 1;

	return q->target_len >= n && !memcmp(q->target, METRICS_PATH, n) &&
	       (q->target_len == n || q->target[n] == '?');
}

static void mc_route(struct mconn *mc, const struct http_req *q)
{
	struct metrics_server *ms = mc->ms;
	struct metrics_snapshot snap;
	struct strbuf body = {0};

	if (!path_is_metrics(q)) {
		mc_respond_error(mc, 404);
		return;
	}
	if (!method_is(q, "GET") && !method_is(q, "HEAD")) {
		mc_respond_error(mc, 405);
		return;
	}
	memset(&snap, 0, sizeof(snap));
	ms->src.snapshot(ms->src.ctx, &snap);
	metrics_server_codes(ms, snap.http);
	metrics_render(&body, &snap);
	if (body.failed) {
		sb_free(&body);
		mc_respond_error(mc, 503);
		return;
	}
	mc_respond(mc, 200, &body, method_is(q, "HEAD"));
	sb_free(&body);
}

/* More of the head: answer once it is complete, or wrong, or too long. */
static void mc_received(struct mconn *mc, size_t n)
{
	struct http_req q;
	long r;

	mc->len += n;
	r = http_req_parse(mc->in, mc->len, &q);
	if (r > 0)
		mc_route(mc, &q);
	else if (r < 0)
		mc_respond_error(mc, (int)-r);
	else if (mc->len == sizeof(mc->in))
		mc_respond_error(mc, http_req_too_long(mc->in, mc->len));
	else
		mc_recv(mc);
}

/* The response is out: half-close, and wait (bounded) for the client's
 * close, discarding anything it still sends. */
static void mc_linger(struct mconn *mc)
{
	if (mc->last_send || shutdown(mc->fd, SHUT_WR) != 0) {
		mc_close(mc);
		return;
	}
	mc->state = MC_LINGER;
	mc_deadline(mc, MLINGER_MS);
	mc_recv(mc);
}

static void mc_sent(struct mconn *mc, int64_t res)
{
	if (res <= 0) {
		mc_close(mc);
		return;
	}
	mc->out_off += (size_t)res;
	if (mc->out_off < mc->out.len)
		mc_send(mc);
	else
		mc_linger(mc);
}

/* A deadline passed (or the loop stops): a client still sending its
 * request gets a 408, anything else is closed. */
static int mc_killed(struct mconn *mc)
{
	struct metrics_server *ms = mc->ms;
	int why = atomic_load(&mc->kill);

	if (why == MK_NONE)
		return 0;
	if (why == MK_TIMEOUT && mc->state == MC_RECV) {
		pthread_mutex_lock(&ms->lock); /* the tick sets kill under it */
		mc_deadline(mc, MSEND_TIMEOUT_MS);
		atomic_store(&mc->kill, MK_NONE);
		pthread_mutex_unlock(&ms->lock);
		mc->last_send = 1;
		mc_respond_error(mc, 408);
		return 1;
	}
	mc_close(mc);
	return 1;
}

static void mc_done(struct req *r, const struct cport_completion *c, struct counters *ctr)
{
	struct mconn *mc = cport_container_of(r, struct mconn, r);
	int64_t res = c->result;

	(void)ctr; /* the echo's counters: not ours */
	if (mc->state == MC_CLOSING) {
		mc_free(mc);
		return;
	}
	if (mc_killed(mc))
		return;
	if (mc->state == MC_SEND)
		mc_sent(mc, res);
	else if (res <= 0)
		mc_close(mc); /* closed or failed before the head was whole, or lingering over */
	else if (mc->state == MC_LINGER)
		mc_recv(mc);
	else
		mc_received(mc, (size_t)res);
}

/* Over the limit, or stopping: a 503 that fits any socket buffer, sent
 * without waiting, then close. */
static void refuse(struct metrics_server *ms, int fd)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
				   "Connection: close\r\nRetry-After: 1\r\n\r\n";

	if (send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_msg(LOG_DEBUG, "metrics: 503: %s", strerror(errno));
	close(fd);
	count_code(ms, 503);
}

/* A slot for a new connection, or 0 (full or stopping). */
static int take_slot(struct metrics_server *ms)
{
	int ok;

	pthread_mutex_lock(&ms->lock);
	ok = ms->nconns < MCONN_MAX && !atomic_load(&ms->stopping);
	if (ok)
		ms->nconns++;
	pthread_mutex_unlock(&ms->lock);
	return ok;
}

static void mc_start(struct metrics_server *ms, int fd)
{
	struct mconn *mc;
	int r;

	if (!take_slot(ms)) {
		refuse(ms, fd);
		return;
	}
	loop_core_ref(ms->sk.core);
	mc = calloc(1, sizeof(*mc));
	if (!mc) {
		r = -ENOMEM;
	} else {
		mc->r.done = mc_done;
		mc->ms = ms;
		mc->fd = fd;
		mc_link(mc);
		r = cport_attach(ms->sk.core->port, fd, (uintptr_t)mc);
	}
	if (r < 0) {
		log_limited(LK_METRICS, LOG_ERR, "metrics: cannot start a connection: %s", strerror(-r));
		close(fd);
		if (mc)
			mc_free(mc);
		else
			slot_give_back(ms);
		return;
	}
	mc_deadline(mc, MREQ_TIMEOUT_MS);
	mc_list(mc, 1);
	mc_recv(mc);
}

static void accept_done(struct req *r, const struct cport_completion *c, struct counters *ctr);

/* Start (or restart) the accept; it retires once the socket is closing.
 * A failure parks it until the next tick: no busy loop on EMFILE. */
static void accept_submit(struct metrics_server *ms)
{
	int r;

	if (!sock_op_begin(&ms->sk))
		return;
	r = cport_accept(ms->sk.core->port, ms->sk.fd, &ms->accept_req.op, NULL, NULL);
	sock_op_end(&ms->sk);
	if (r < 0) {
		log_limited(LK_METRICS, LOG_ERR, "metrics: cannot start an accept: %s", strerror(-r));
		ms->accept_parked = 1;
	}
}

static void accept_done(struct req *r, const struct cport_completion *c, struct counters *ctr)
{
	struct metrics_server *ms = cport_container_of(r, struct metrics_server, accept_req);

	(void)ctr;
	if (c->result >= 0) {
		mc_start(ms, (int)c->result);
	} else if (c->result != -ECANCELED && c->result != -ECONNABORTED) {
		log_limited(LK_METRICS, LOG_WARNING, "metrics: accept: %s", strerror((int)-c->result));
		ms->accept_parked = 1; /* the tick retries it */
		return;
	}
	accept_submit(ms);
}

void metrics_server_init(struct metrics_server *ms, struct loop_core *core, struct metrics_source src)
{
	memset(ms, 0, sizeof(*ms));
	sock_init(&ms->sk, core);
	ms->accept_req.done = accept_done;
	ms->src = src;
	pthread_mutex_init(&ms->lock, NULL);
}

int metrics_server_setup(struct metrics_server *ms)
{
	struct loop_core *lc = ms->sk.core;
	int r = sock_attach(&ms->sk);

	if (r < 0)
		return r;
	loop_core_ref(lc); /* the accept's, in flight or parked, until it retires */
	r = cport_accept(lc->port, ms->sk.fd, &ms->accept_req.op, NULL, NULL);
	if (r < 0) {
		loop_core_unref(lc);
		log_msg(LOG_ERR, "metrics: cannot start accepting: %s", strerror(-r));
	}
	return r;
}

void metrics_server_tick(struct metrics_server *ms, uint64_t now)
{
	int stopping = atomic_load(&ms->stopping);

	if (atomic_exchange(&ms->accept_parked, 0))
		accept_submit(ms);
	pthread_mutex_lock(&ms->lock);
	for (struct mconn *mc = ms->conns; mc; mc = mc->next) {
		uint8_t none = MK_NONE;

		if (!mc->listed)
			continue;
		if (!stopping && atomic_load_explicit(&mc->deadline_ms, memory_order_relaxed) > now)
			continue;
		atomic_compare_exchange_strong(&mc->kill, &none, stopping ? MK_STOP : MK_TIMEOUT);
		/* Again each tick while listed: a cancel can lose a race with
		 * the next submission. */
		cport_cancel_fd(ms->sk.core->port, mc->fd);
	}
	pthread_mutex_unlock(&ms->lock);
}

void metrics_server_stop(struct metrics_server *ms)
{
	atomic_store(&ms->stopping, 1);
	sock_close(&ms->sk);
}

void metrics_server_codes(struct metrics_server *ms, uint64_t out[METRICS_NCODES])
{
	for (int i = 0; i < METRICS_NCODES; i++)
		out[i] = atomic_load_explicit(&ms->http[i], memory_order_relaxed);
}

void metrics_server_free(struct metrics_server *ms)
{
	struct mconn *mc;

	/* Connections the port gave up on (a forced exit). */
	while ((mc = ms->conns)) {
		ms->conns = mc->next;
		if (mc->listed) /* else the port closed it */
			close(mc->fd);
		sb_free(&mc->out);
		free(mc);
	}
	sock_free(&ms->sk);
	pthread_mutex_destroy(&ms->lock);
}
