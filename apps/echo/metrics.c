/* metrics.c - the counters as Prometheus text (exposition format 0.0.4): numbers in, text out. */
#include "metrics.h"

#include "cport.h"
#include "strbuf.h"

#include <inttypes.h>

#define NS "cport_echo_"

/* One sample of a family: a counter of ours, with its label (or none). */
struct sample {
	enum counter c;
	const char *label; /* `name="value"`, or NULL */
};

/* A family: its name, type, help and its n samples. */
struct family {
	const char *name, *type, *help;
	struct sample s[10];
	unsigned n;
};

static const struct family families[] = {
	{NS "connections_accepted_total", "counter", "TCP connections accepted and served.",
	 {{C_CONN_TOTAL, NULL}}, 1},
	{NS "connections_refused_total", "counter", "TCP connections closed as soon as accepted, by reason.",
	 {{C_CONN_REFUSED, "reason=\"max_connections\""}, {C_CONN_SHED, "reason=\"no_descriptors\""}}, 2},
	{NS "connections_closed_by_server_total", "counter", "TCP connections the server closed, by reason.",
	 {{C_CONN_IDLE_CLOSED, "reason=\"idle_timeout\""}, {C_CONN_DRAIN_CLOSED, "reason=\"drain_timeout\""}}, 2},
	{NS "spliced_connections_total", "counter",
	 "TCP connections echoed through a pipe with splice(2) once they sent big messages (--splice-pipes).",
	 {{C_CONN_SPLICED, NULL}}, 1},
	{NS "received_bytes_total", "counter", "Bytes received, by protocol.",
	 {{C_TCP_BYTES_IN, "protocol=\"tcp\""}, {C_UDP_BYTES_IN, "protocol=\"udp\""}}, 2},
	{NS "sent_bytes_total", "counter", "Bytes echoed back, by protocol.",
	 {{C_TCP_BYTES_OUT, "protocol=\"tcp\""}, {C_UDP_BYTES_OUT, "protocol=\"udp\""}}, 2},
	{NS "received_messages_total", "counter",
	 "Messages received: TCP receives that brought data, UDP datagrams.",
	 {{C_TCP_MSGS_IN, "protocol=\"tcp\""}, {C_UDP_DGRAMS_IN, "protocol=\"udp\""}}, 2},
	{NS "sent_messages_total", "counter", "Messages sent: TCP sends completed, UDP datagrams.",
	 {{C_TCP_MSGS_OUT, "protocol=\"tcp\""}, {C_UDP_DGRAMS_OUT, "protocol=\"udp\""}}, 2},
	{NS "udp_received_datagrams_total", "counter", "UDP datagrams received.", {{C_UDP_DGRAMS_IN, NULL}}, 1},
	{NS "udp_sent_datagrams_total", "counter", "UDP datagrams echoed back.", {{C_UDP_DGRAMS_OUT, NULL}}, 1},
	{NS "udp_dropped_datagrams_total", "counter", "UDP datagrams not answered, by reason.",
	 {{C_UDP_DROP_PRIVPORT, "reason=\"privileged_source_port\""},
	  {C_UDP_DROP_BROADCAST, "reason=\"broadcast\""},
	  {C_UDP_DROP_TRUNC, "reason=\"truncated\""}},
	 3},
	{NS "errors_total", "counter", "Errors, by kind.",
	 {{C_ERR_ACCEPT_NOFD, "kind=\"accept_no_descriptors\""},
	  {C_ERR_ACCEPT_NOMEM, "kind=\"accept_no_memory\""},
	  {C_ERR_ACCEPT_ABORTED, "kind=\"accept_aborted\""},
	  {C_ERR_ACCEPT_OTHER, "kind=\"accept_other\""},
	  {C_ERR_CONN_RESET, "kind=\"connection_reset\""},
	  {C_ERR_CONN_OTHER, "kind=\"connection_other\""},
	  {C_ERR_CONN_SETUP, "kind=\"connection_setup\""},
	  {C_ERR_UDP_RECV, "kind=\"udp_receive\""},
	  {C_ERR_UDP_SEND, "kind=\"udp_send\""},
	  {C_ERR_SPLICE_PIPE, "kind=\"splice_pipe\""}},
	 10},
	{NS "proxy_headers_total", "counter", "PROXY protocol headers accepted (--proxy-protocol), by command.",
	 {{C_PROXY_PROXIED, "command=\"proxy\""}, {C_PROXY_LOCAL, "command=\"local\""}}, 2},
	{NS "proxy_closed_before_header_total", "counter",
	 "TCP connections closed before sending a byte of the PROXY header (a balancer's health checks).",
	 {{C_PROXY_EMPTY, NULL}}, 1},
	{NS "proxy_header_errors_total", "counter", "TCP connections closed for their PROXY header, by reason.",
	 {{C_PROXY_ERR_TRUNC, "reason=\"truncated\""},
	  {C_PROXY_ERR_MISSING, "reason=\"missing\""},
	  {C_PROXY_ERR_MALFORMED, "reason=\"malformed\""},
	  {C_PROXY_ERR_OVERSIZED, "reason=\"oversized\""},
	  {C_PROXY_ERR_TIMEOUT, "reason=\"timeout\""}},
	 5},
};

static void family_head(struct strbuf *sb, const char *name, const char *type, const char *help)
{
	sb_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_family(struct strbuf *sb, const struct family *f, const uint64_t *c)
{
	family_head(sb, f->name, f->type, f->help);
	for (unsigned i = 0; i < f->n; i++) {
		if (f->s[i].label)
			sb_printf(sb, "%s{%s} %" PRIu64 "\n", f->name, f->s[i].label, c[f->s[i].c]);
		else
			sb_printf(sb, "%s %" PRIu64 "\n", f->name, c[f->s[i].c]);
	}
}

/* Buckets are cumulative in the exposition; ours are not. */
static void render_lifetimes(struct strbuf *sb, const struct life_hist *h)
{
	static const uint64_t bounds[LIFE_NBOUNDS] = LIFE_BOUNDS;
	const char *name = NS "connection_lifetime_seconds";
	uint64_t cum = 0;

	family_head(sb, name, "histogram", "How long closed TCP connections were open.");
	for (int b = 0; b < LIFE_NBOUNDS; b++) {
		cum += h->bucket[b];
		sb_printf(sb, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
			  (double)bounds[b] * LIFE_UNIT_MS / 1000.0, cum);
	}
	cum += h->bucket[LIFE_NBOUNDS];
	sb_printf(sb, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	sb_printf(sb, "%s_sum %.3f\n", name, (double)h->sum * LIFE_UNIT_MS / 1000.0);
	sb_printf(sb, "%s_count %" PRIu64 "\n", name, cum);
}

static void render_http(struct strbuf *sb, const uint64_t *http)
{
	static const int codes[METRICS_NCODES] = METRICS_CODES;

	family_head(sb, NS "metrics_responses_total", "counter",
		    "Responses of the metrics server, by status code.");
	for (int i = 0; i < METRICS_NCODES; i++)
		sb_printf(sb, NS "metrics_responses_total{code=\"%d\"} %" PRIu64 "\n", codes[i], http[i]);
}

int metrics_code_index(int code)
{
	static const int codes[METRICS_NCODES] = METRICS_CODES;

	for (int i = 0; i < METRICS_NCODES; i++)
		if (codes[i] == code)
			return i;
	return -1;
}

void metrics_render(struct strbuf *sb, const struct metrics_snapshot *s)
{
	family_head(sb, NS "info", "gauge", "The server: version, backend and worker threads as labels.");
	sb_printf(sb, NS "info{version=\"%s\",backend=\"%s\",threads=\"%u\"} 1\n", CPORT_VERSION_STRING,
		  s->backend ? s->backend : "none", s->threads);
	family_head(sb, NS "connections_open", "gauge", "TCP connections open now.");
	sb_printf(sb, NS "connections_open %" PRIu64 "\n", s->open);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		render_family(sb, &families[i], s->c);
	render_lifetimes(sb, &s->life);
	render_http(sb, s->http);
}
