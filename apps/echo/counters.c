/* counters.c - summing and printing cport-echo's counters. */
#include "counters.h"

#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const counter_names[C_COUNT] = {
	[C_CONN_TOTAL] = "connections_total",
	[C_CONN_REFUSED] = "connections_refused",
	[C_CONN_SHED] = "connections_shed",
	[C_CONN_IDLE_CLOSED] = "connections_idle_closed",
	[C_CONN_DRAIN_CLOSED] = "connections_drain_closed",
	[C_CONN_SPLICED] = "connections_spliced",
	[C_TCP_BYTES_IN] = "tcp_bytes_in",
	[C_TCP_BYTES_OUT] = "tcp_bytes_out",
	[C_TCP_MSGS_IN] = "tcp_messages_in",
	[C_TCP_MSGS_OUT] = "tcp_messages_out",
	[C_UDP_DGRAMS_IN] = "udp_datagrams_in",
	[C_UDP_DGRAMS_OUT] = "udp_datagrams_out",
	[C_UDP_BYTES_IN] = "udp_bytes_in",
	[C_UDP_BYTES_OUT] = "udp_bytes_out",
	[C_UDP_DROP_PRIVPORT] = "udp_drops_privileged_port",
	[C_UDP_DROP_BROADCAST] = "udp_drops_broadcast",
	[C_UDP_DROP_TRUNC] = "udp_drops_truncated",
	[C_ERR_ACCEPT_NOFD] = "errors_accept_no_fd",
	[C_ERR_ACCEPT_NOMEM] = "errors_accept_no_memory",
	[C_ERR_ACCEPT_ABORTED] = "errors_accept_aborted",
	[C_ERR_ACCEPT_OTHER] = "errors_accept_other",
	[C_ERR_CONN_RESET] = "errors_connection_reset",
	[C_ERR_CONN_OTHER] = "errors_connection_other",
	[C_ERR_CONN_SETUP] = "errors_connection_setup",
	[C_ERR_SPLICE_PIPE] = "errors_splice_pipe",
	[C_ERR_UDP_RECV] = "errors_udp_recv",
	[C_ERR_UDP_SEND] = "errors_udp_send",
	[C_PROXY_PROXIED] = "proxy_headers_proxied",
	[C_PROXY_LOCAL] = "proxy_headers_local",
	[C_PROXY_EMPTY] = "proxy_closed_before_header",
	[C_PROXY_ERR_TRUNC] = "proxy_errors_truncated",
	[C_PROXY_ERR_MISSING] = "proxy_errors_missing",
	[C_PROXY_ERR_MALFORMED] = "proxy_errors_malformed",
	[C_PROXY_ERR_OVERSIZED] = "proxy_errors_oversized",
	[C_PROXY_ERR_TIMEOUT] = "proxy_errors_timeout",
};

void counters_sum(struct counters *const *sets, unsigned n, uint64_t out[C_COUNT])
{
	for (int i = 0; i < C_COUNT; i++)
		out[i] = 0;
	for (unsigned s = 0; s < n; s++)
		for (int i = 0; i < C_COUNT; i++)
			out[i] += atomic_load_explicit(&sets[s]->v[i], memory_order_relaxed);
}

void counter_lifetime(struct counters *c, uint64_t units)
{
	static const uint64_t bounds[LIFE_NBOUNDS] = LIFE_BOUNDS;
	unsigned b = 0;

	while (b < LIFE_NBOUNDS && units > bounds[b])
		b++;
	atomic_fetch_add_explicit(&c->life[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->life_sum, units, memory_order_relaxed);
}

void counters_sum_life(struct counters *const *sets, unsigned n, struct life_hist *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned s = 0; s < n; s++) {
		for (int b = 0; b <= LIFE_NBOUNDS; b++)
			out->bucket[b] += atomic_load_explicit(&sets[s]->life[b], memory_order_relaxed);
		out->sum += atomic_load_explicit(&sets[s]->life_sum, memory_order_relaxed);
	}
}

void counters_print(const uint64_t sum[C_COUNT], uint64_t open_now)
{
	char line[2048];
	size_t n = 0;
	int r;

	r = snprintf(line, sizeof(line), "counters: connections_open=%" PRIu64, open_now);
	n = r > 0 ? (size_t)r : 0;
	for (int i = 0; i < C_COUNT && n < sizeof(line); i++) {
		r = snprintf(line + n, sizeof(line) - n, " %s=%" PRIu64, counter_names[i], sum[i]);
		n += r > 0 ? (size_t)r : 0;
	}
	log_always(LOG_NOTICE, "%s", line);
}
