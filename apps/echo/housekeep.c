/* housekeep.c - a loop's periodic work: stop and drain, idle timeouts, paused accepts, spare fd. */
#include "housekeep.h"

#include "clock.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "metrics_server.h"
#include "loop.h"
#include "loop_core.h"
#include "options.h"
#include "reserve_fd.h"
#include "sock.h"
#include "udp.h"
#include "watchdog.h"

#include <malloc.h>
#include <string.h>

#define FORCE_EXIT_MS 2000 /* after closing everything, how long ops may linger */
#define IDLE_SCAN_MIN_MS TICK_MS
#define IDLE_SCAN_MAX_MS 1000
#define TRIM_PERIOD_MS 1000 /* at most this often, freed heap goes back to the system */

static void rearm_parked(struct loop *lp, uint64_t now, int all, struct counters *ctr)
{
	for (unsigned i = 0; i < lp->nlisteners; i++)
		listener_rearm_parked(&lp->listeners[i], now, all, ctr);
}

static void begin_stop(struct loop *lp, uint64_t now)
{
	lp->drain_deadline_ms = now + lp->cfg->drain_ms;
	atomic_store(&lp->core.stopping, 1);
	for (unsigned i = 0; i < lp->nlisteners; i++)
		sock_close(&lp->listeners[i].sk);
	for (unsigned i = 0; i < lp->nudps; i++)
		sock_close(&lp->udps[i].sk);
	if (lp->metrics)
		metrics_server_stop(lp->metrics);
}

static void housekeep_stopping(struct loop *lp, uint64_t now, struct counters *ctr)
{
	rearm_parked(lp, now, 1, ctr);
	if (atomic_load(&lp->core.pending) == 0) {
		loop_core_finish(&lp->core);
		return;
	}
	if (atomic_load(&lp->stop_now) && lp->drain_deadline_ms > now)
		lp->drain_deadline_ms = now;
	if (now < lp->drain_deadline_ms)
		return;
	conns_kill(&lp->conns, KILL_DRAIN, 0); /* again each tick: a cancel can lose a race */
	if (now >= lp->drain_deadline_ms + FORCE_EXIT_MS) {
		/* cport_destroy cancels whatever is left */
		log_msg(LOG_WARNING, "%ld operations did not finish; exiting anyway",
			(long)atomic_load(&lp->core.pending));
		loop_core_finish(&lp->core);
	}
}

/* After a crowd is gone (thousands of connections, or chunks copied out of
 * the pool for clients that never read), malloc keeps the freed memory;
 * hand it back so the server's footprint returns to its baseline. The
 * port's receive pool likewise: the buffers a burst used and that stayed
 * free for a period since go back (cport_trim), the hot ones stay. */
static void heap_trim(struct loop *lp, uint64_t now)
{
	if (now < lp->next_trim_ms)
		return;
	lp->next_trim_ms = now + TRIM_PERIOD_MS;
	if (conns_take_trim(&lp->conns))
		malloc_trim(0);
	int r = cport_trim(lp->core.port);
	if (r < 0 && !lp->trim_failed)
		log_msg(LOG_WARNING, "cannot give the receive pool's free memory back: %s (not said again)",
			strerror(-r));
	lp->trim_failed |= r < 0;
}

/* Each scan walks every connection: not every tick, but a quarter of the
 * timeout apart (within bounds); a connection closes at most that late. */
static unsigned long scan_period(unsigned long timeout)
{
	unsigned long scan = timeout / 4;

	return scan < IDLE_SCAN_MIN_MS ? IDLE_SCAN_MIN_MS : scan > IDLE_SCAN_MAX_MS ? IDLE_SCAN_MAX_MS : scan;
}

static void idle_scan(struct loop *lp, uint64_t now)
{
	unsigned long idle = lp->cfg->idle_ms;

	if (!idle || now < lp->next_idle_ms)
		return;
	lp->next_idle_ms = now + scan_period(idle);
	if (now > idle)
		conns_kill(&lp->conns, KILL_IDLE, now - idle);
}

/* --proxy-protocol: a header not whole this long after the accept closes
 * its connection (a client that sends nothing, or a byte at a time). */
static void proxy_scan(struct loop *lp, uint64_t now)
{
	unsigned long timeout = lp->cfg->proxy_timeout_ms;

	if (!lp->cfg->proxy_protocol || now < lp->next_proxy_ms)
		return;
	lp->next_proxy_ms = now + scan_period(timeout);
	conns_kill(&lp->conns, KILL_PROXY, timeout);
}

static void housekeep_running(struct loop *lp, uint64_t now, struct counters *ctr)
{
	rearm_parked(lp, now, 0, ctr);
	reserve_fd_refill(lp->reserve);
	heap_trim(lp, now);
	idle_scan(lp, now);
	proxy_scan(lp, now);
}

void housekeep(struct loop *lp, struct counters *ctr)
{
	uint64_t now;

	/* A flag, not the clock, after each batch: the wake-ups that set it
	 * come every TICK_MS (loop_wake), and a busy loop reads no clock. */
	if (!atomic_load_explicit(&lp->hk_due, memory_order_relaxed) || pthread_mutex_trylock(&lp->hk_lock) != 0)
		return;
	atomic_store(&lp->hk_due, 0);
	now = now_ms();
	atomic_store_explicit(&lp->alive_ms, now, memory_order_relaxed);
	if (lp->watchdog)
		watchdog_tick(lp->watchdog, now);
	if (lp->metrics)
		metrics_server_tick(lp->metrics, now);
	if (atomic_load(&lp->stop_requested) && !atomic_load(&lp->core.stopping))
		begin_stop(lp, now);
	if (atomic_load(&lp->core.stopping))
		housekeep_stopping(lp, now, ctr);
	else
		housekeep_running(lp, now, ctr);
	pthread_mutex_unlock(&lp->hk_lock);
}

void housekeep_soon(struct loop *lp)
{
	atomic_store(&lp->hk_due, 1);
}
