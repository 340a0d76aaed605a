/* worker.c - one client thread: its own port, its share of the connections,
 * connecting at the asked rate, dispatching completions, giving up the stuck. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "bench.h"

#define KEY_TICK 0               /* completion key of the open-loop pacer's wake-ups */
#define MAX_CONNECTING 256       /* connects in flight per thread: spares the listen backlog */
#define HOUSEKEEP_NS (20 * 1000000ull)
#define WAIT_MS 20
#define START_BATCH 64           /* connections started per loop once all are up */
#define BATCH 128
#define POOL_BUFFERS 1024
#define POOL_SMALL 16384u
#define POOL_LARGE 65536u
#define PACER_MIN_NS 100000ull   /* 100 us: a timer sleep is not free (tens of us in a VM) */
#define PACER_MAX_NS 1000000ull  /* 1 ms */

bool in_window(const struct worker *w, uint64_t t)
{
	uint64_t m = atomic_load_explicit(&w->run->t_measure, memory_order_relaxed);
	return m && t >= m && t <= atomic_load_explicit(&w->run->t_end, memory_order_relaxed);
}

void conn_count(struct worker *w, enum counter k)
{
	w->st.counters[k]++;
	if (counter_is_fatal(k, w->run->cfg->udp))
		atomic_fetch_add_explicit(&w->live_errors, 1, memory_order_relaxed);
}

/* Sequentially consistent: the main thread reads the port pointer only after
 * every connection is resolved. */
static void conn_resolved(struct worker *w)
{
	atomic_fetch_add(&w->run->resolved, 1);
}

/* Close through the port: the close completion ends the connection; nothing
 * for its fd follows. */
void conn_close(struct worker *w, struct conn *c)
{
	if (c->state == CONN_CLOSING || c->state == CONN_CLOSED)
		return;
	if (c->state == CONN_CONNECTING) {
		w->connecting--;
		conn_resolved(w);
	}
	c->state = CONN_CLOSING;
	if (cport_close(w->port, c->fd, &c->op_close) < 0) {
		close(c->fd);
		c->state = CONN_CLOSED;
	}
}

/* Open loop: message m of this worker goes to connection m % n, so message
 * seq of connection idx was meant to leave at t_start + (seq*n + idx) / rate. */
uint64_t intended_time(const struct worker *w, const struct conn *c, uint64_t seq)
{
	double rate = w->run->cfg->rate / w->run->cfg->threads;
	double m = (double)seq * w->n + c->idx;
	return atomic_load_explicit(&w->run->t_start, memory_order_relaxed) + (uint64_t)(m * 1e9 / rate);
}

static void conn_pump(struct worker *w, struct conn *c, uint64_t now)
{
	if (w->run->cfg->udp)
		udp_pump(w, c, now);
	else
		tcp_pump(w, c, now);
}

/* Nothing is sent until every connection is up: a server still accepting
 * must not also be serving, or its accept queue overflows and the handshakes
 * left in it wait for retransmission timers. Then the connections start a
 * batch per loop, so that echoes are read while the rest start. */
static void start_traffic(struct worker *w, uint64_t now)
{
	unsigned stop = w->next_start + START_BATCH < w->n ? w->next_start + START_BATCH : w->n;
	w->traffic = true;
	for (; w->next_start < stop; w->next_start++)
		if (w->conns[w->next_start].state == CONN_OPEN)
			conn_pump(w, &w->conns[w->next_start], now);
}

static void schedule_open_loop(struct worker *w, uint64_t now)
{
	uint64_t t0 = atomic_load_explicit(&w->run->t_start, memory_order_relaxed);
	if (!t0 || now < t0 || w->stopping || w->n == 0)
		return;
	double rate = w->run->cfg->rate / w->run->cfg->threads;
	uint64_t due = (uint64_t)((double)(now - t0) / 1e9 * rate) + 1;
	for (; w->next_m < due; w->next_m++) {
		struct conn *c = &w->conns[w->next_m % w->n];
		c->limit++;
		if (c->state == CONN_OPEN)
			conn_pump(w, c, now);
	}
}

static int start_tcp_connect(struct worker *w, struct conn *c, uint64_t now)
{
	const struct config *cfg = w->run->cfg;
	int fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int rc = cport_attach(w->port, fd, (uintptr_t)c);
	if (rc == 0)
		rc = cport_connect(w->port, fd, &c->op_tx, (const struct sockaddr *)&cfg->addr, cfg->addrlen);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	c->fd = fd;
	c->state = CONN_CONNECTING;
	c->t_started = now;
	w->connecting++;
	return 0;
}

static void report_setup_error(struct worker *w, const char *what, int err)
{
	static atomic_int said;
	if (atomic_exchange(&said, 1) == 0)
		fprintf(stderr, "cport-bench: %s: %s\n", what, strerror(-err));
	(void)w;
}

static void start_one(struct worker *w, struct conn *c, uint64_t now)
{
	int rc;
	if (w->run->cfg->udp) {
		rc = udp_open(w, c, now);
		if (rc == 0) {
			w->st.connected++;
			conn_resolved(w);
			udp_pump(w, c, now);
			return;
		}
	} else {
		rc = start_tcp_connect(w, c, now);
		if (rc == 0)
			return;
	}
	report_setup_error(w, "cannot open a connection", rc);
	conn_count(w, C_CONNECT_FAILED);
	c->state = CONN_CLOSED;
	conn_resolved(w);
}

static void start_connects(struct worker *w, uint64_t now)
{
	const struct config *cfg = w->run->cfg;
	unsigned allowed = w->n;
	if (cfg->connect_rate > 0) {
		double per_thread = cfg->connect_rate / cfg->threads;
		double may = (double)(now - w->t_begin) / 1e9 * per_thread + 1;
		if (may < allowed)
			allowed = (unsigned)may;
	}
	while (w->next_connect < allowed && w->connecting < MAX_CONNECTING && !w->stopping)
		start_one(w, &w->conns[w->next_connect++], now);
}

static void on_connected(struct worker *w, struct conn *c, int64_t res, uint64_t now)
{
	if (res < 0) {
		conn_count(w, C_CONNECT_FAILED);
		conn_close(w, c);
		return;
	}
	w->connecting--;
	conn_resolved(w);
	w->st.connected++;
	c->state = CONN_OPEN;
	c->t_progress = now;
	tcp_opened(w, c, now);
}

static void dispatch(struct worker *w, const struct cport_completion *cp, uint64_t now)
{
	if (cp->key == KEY_TICK) {
		atomic_store_explicit(&w->tick_pending, 0, memory_order_relaxed);
		if (cp->result > 0 && cport_recv(w->port, w->tick_fd[0], &w->tick_op, &w->tick_iov, 1) < 0)
			report_setup_error(w, "cannot re-arm the pacer's wake-up", -EIO);
		return;
	}
	struct conn *c = (struct conn *)cp->key;
	bool udp = w->run->cfg->udp;
	if (cp->op == &c->op_close) {
		c->state = CONN_CLOSED;
		return;
	}
	if (c->state != CONN_OPEN && c->state != CONN_CONNECTING) {
		if (cp->flags & CPORT_CF_BUFFER)
			cport_buf_release(w->port, cp->buf);
		return; /* a cancelled op of a closing connection */
	}
	if (cp->op == &c->op_tx && c->state == CONN_CONNECTING)
		on_connected(w, c, cp->result, now);
	else if (cp->op == &c->op_tx)
		udp ? udp_sent(w, c, cp->result, now) : tcp_sent(w, c, cp->result, now);
	else if (cp->op == &c->op_rx)
		udp ? udp_received(w, c, cp, now) : tcp_received(w, c, cp, now);
}

static void housekeep(struct worker *w, uint64_t now)
{
	const struct config *cfg = w->run->cfg;
	uint64_t timeout = (uint64_t)(cfg->timeout * 1e9);
	w->last_housekeep = now;
	for (unsigned i = 0; i < w->n; i++) {
		struct conn *c = &w->conns[i];
		if (c->state == CONN_CONNECTING && now - c->t_started > timeout) {
			conn_count(w, C_CONNECT_TIMEOUT);
			conn_close(w, c);
		} else if (c->state == CONN_OPEN) {
			cfg->udp ? udp_housekeep(w, c, now) : tcp_housekeep(w, c, now);
		}
	}
}

/* After the window: no new messages. The worker is done once every
 * connection's last message is back, or the drain time is over; the port's
 * destruction then cancels what is left and the fds are closed plainly
 * (closing ten thousand connections one by one through the port would be
 * slow, and the echoes still due would wait behind it). */
static void wind_down(struct worker *w, uint64_t now)
{
	const struct config *cfg = w->run->cfg;
	uint64_t end = atomic_load_explicit(&w->run->t_end, memory_order_relaxed);
	bool over = atomic_load_explicit(&w->run->abort, memory_order_relaxed) || (end && now >= end);
	if (!over)
		return;
	w->stopping = true;
	bool drained = !end || now >= end + (uint64_t)(cfg->timeout * 1e9);
	unsigned busy = 0;
	for (unsigned i = 0; i < w->n; i++) {
		struct conn *c = &w->conns[i];
		bool open = c->state == CONN_OPEN;
		bool idle = !open || (cfg->udp ? udp_idle(c) : tcp_idle(c));
		if (c->state == CONN_CONNECTING || c->state == CONN_CLOSING || !idle)
			busy++;
		if (drained && open && !idle && !cfg->udp)
			conn_count(w, C_TIMEOUT); /* UDP counted its datagrams lost already */
	}
	w->done = busy == 0 || drained;
}

static int create_port(struct worker *w)
{
	const struct config *cfg = w->run->cfg;
	struct cport_options o;
	cport_options_init(&o);
	o.backend = cfg->backend;
	o.flags = CPORT_SINGLE_THREAD; /* nobody else touches this port */
	o.pool_buffers = POOL_BUFFERS;
	o.pool_buffer_size = cfg->size >= POOL_LARGE ? POOL_LARGE : POOL_SMALL;
	o.queue_depth = w->n * 2 + 64 < 4096 ? w->n * 2 + 64 : 4096;
	int rc = cport_create(&o, &w->port);
	if (rc < 0 || cfg->mode != MODE_OPEN)
		return rc;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, w->tick_fd) < 0)
		return -errno;
	w->tick_iov = (struct iovec){w->tick_buf, sizeof(w->tick_buf)};
	rc = cport_attach(w->port, w->tick_fd[0], KEY_TICK);
	if (rc == 0)
		rc = cport_recv(w->port, w->tick_fd[0], &w->tick_op, &w->tick_iov, 1);
	return rc;
}

static void publish(struct worker *w)
{
	atomic_store_explicit(&w->live_conns, w->st.connected, memory_order_relaxed);
}

static void run_loop(struct worker *w)
{
	struct cport_completion comp[BATCH];
	w->t_begin = now_ns();
	while (!w->done) {
		uint64_t now = now_ns();
		if (w->next_connect < w->n)
			start_connects(w, now);
		if (w->next_start < w->n && atomic_load_explicit(&w->run->t_start, memory_order_relaxed))
			start_traffic(w, now);
		if (w->run->cfg->mode == MODE_OPEN)
			schedule_open_loop(w, now);
		if (now - w->last_housekeep >= HOUSEKEEP_NS) {
			housekeep(w, now);
			wind_down(w, now);
			publish(w);
		}
		if (w->stopping && w->next_connect < w->n) {
			for (; w->next_connect < w->n; w->next_connect++)
				conn_resolved(w); /* never started: the run is over */
			continue;
		}
		int n = cport_wait(w->port, comp, BATCH, WAIT_MS);
		if (n < 0 && n != -EINTR) {
			report_setup_error(w, "cport_wait", n);
			atomic_store(&w->run->abort, 1);
			break;
		}
		now = now_ns();
		for (int i = 0; i < n; i++)
			dispatch(w, &comp[i], now);
	}
}

void *worker_main(void *arg)
{
	struct worker *w = arg;
	int rc = create_port(w);
	if (rc < 0) {
		w->setup_error = rc;
		atomic_fetch_add(&w->run->resolved, w->n);
		return NULL;
	}
	snprintf(w->backend, sizeof(w->backend), "%s", cport_backend_name(w->port));
	run_loop(w);
	publish(w);
	cport_destroy(w->port);
	if (w->run->cfg->mode == MODE_OPEN) {
		close(w->tick_fd[0]);
		close(w->tick_fd[1]);
	}
	for (unsigned i = 0; i < w->n; i++) {
		enum conn_state st = w->conns[i].state;
		if (st == CONN_CONNECTING || st == CONN_OPEN)
			close(w->conns[i].fd); /* a closing one was closed by the destroy */
	}
	return NULL;
}

/* Open loop: wake each idle worker once a message interval, but not more
 * often than every PACER_MIN_NS. A busy worker sends what is due between
 * completions; an idle one may send up to an interval late, and that
 * lateness is measured and reported (send_lateness), and counts in the
 * latency, which runs from the intended send time. */
void *pacer_main(void *arg)
{
	struct run *run = arg;
	const struct config *cfg = run->cfg;
	prctl(PR_SET_TIMERSLACK, 1UL);
	uint64_t interval = (uint64_t)(1e9 * cfg->threads / cfg->rate);
	if (interval < PACER_MIN_NS)
		interval = PACER_MIN_NS;
	if (interval > PACER_MAX_NS)
		interval = PACER_MAX_NS;
	uint64_t end = atomic_load(&run->t_end);
	for (uint64_t t = atomic_load(&run->t_start); t < end && !atomic_load(&run->abort); t += interval) {
		struct timespec ts = {(time_t)(t / BENCH_NS), (long)(t % BENCH_NS)};
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		for (unsigned i = 0; i < cfg->threads; i++) {
			struct worker *w = &run->workers[i];
			if (atomic_exchange_explicit(&w->tick_pending, 1, memory_order_relaxed) == 0 &&
			    send(w->tick_fd[1], "t", 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				atomic_store_explicit(&w->tick_pending, 0, memory_order_relaxed);
		}
	}
	return NULL;
}
