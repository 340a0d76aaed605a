/* report.c - the run's figures: a human summary, JSON, and the HdrHistogram text. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define MIB (1024.0 * 1024.0)

const char *const counter_name[C_NCOUNTERS] = {
	[C_CORRUPT] = "corrupt",
	[C_LOST] = "lost",
	[C_REORDERED] = "reordered",
	[C_CROSSTALK] = "crosstalk",
	[C_CONNECT_FAILED] = "connect_failed",
	[C_CONNECT_TIMEOUT] = "connect_timeout",
	[C_RESET] = "reset",
	[C_EOF] = "eof",
	[C_TIMEOUT] = "timeout",
	[C_IO_ERROR] = "io_error",
	[C_DUPLICATE] = "duplicate",
	[C_LATE] = "late",
};

bool counter_is_mismatch(enum counter c, bool udp)
{
	if (udp)
		return c == C_CORRUPT || c == C_CROSSTALK;
	return c == C_CORRUPT || c == C_LOST || c == C_REORDERED || c == C_CROSSTALK;
}

bool counter_is_fatal(enum counter c, bool udp)
{
	if (counter_is_mismatch(c, udp))
		return true;
	return c >= C_CONNECT_FAILED && c <= C_IO_ERROR;
}

int summary_exit_status(const struct config *cfg, const struct summary *s)
{
	bool mismatch = false, conn_error = false;
	for (int k = 0; k < C_NCOUNTERS; k++) {
		if (!s->total.counters[k])
			continue;
		if (counter_is_mismatch(k, cfg->udp))
			mismatch = true;
		else if (counter_is_fatal(k, cfg->udp))
			conn_error = true;
	}
	if (mismatch)
		return 1;
	if (conn_error || s->total.connected == 0 || (s->echoed_all == 0 && cfg->mode != MODE_STREAM))
		return 3; /* nothing echoed verifies nothing */
	return 0;
}

static const char *mode_name(const struct config *cfg)
{
	static const char *const names[] = {[MODE_CLOSED] = "closed", [MODE_OPEN] = "open", [MODE_STREAM] = "stream"};
	return names[cfg->mode];
}

static const char *fmt_ns(char *buf, size_t n, double ns)
{
	if (ns < 1e3)
		snprintf(buf, n, "%.0f ns", ns);
	else if (ns < 1e6)
		snprintf(buf, n, "%.1f us", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, n, "%.2f ms", ns / 1e6);
	else
		snprintf(buf, n, "%.2f s", ns / 1e9);
	return buf;
}

static double per_s(const struct summary *s, double v)
{
	return s->window_s > 0 ? v / s->window_s : 0;
}

static void human_latency(const struct summary *s)
{
	const struct hist *h = &s->total.hist;
	char a[32], b[32], c[32], d[32], e[32], f[32], g[32];
	if (h->count == 0) {
		printf("latency:     none measured\n");
		return;
	}
	printf("latency:     p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s, stddev %s)\n",
	       fmt_ns(a, sizeof(a), (double)hist_percentile(h, 50)), fmt_ns(b, sizeof(b), (double)hist_percentile(h, 90)),
	       fmt_ns(c, sizeof(c), (double)hist_percentile(h, 99)), fmt_ns(d, sizeof(d), (double)hist_percentile(h, 99.9)),
	       fmt_ns(e, sizeof(e), (double)h->max), fmt_ns(f, sizeof(f), hist_mean(h)), fmt_ns(g, sizeof(g), hist_stddev(h)));
}

static void human_errors(const struct config *cfg, const struct summary *s)
{
	int shown = 0;
	printf("errors:     ");
	for (int k = 0; k < C_NCOUNTERS; k++) {
		if (!s->total.counters[k])
			continue;
		printf(" %s %llu%s", counter_name[k], (unsigned long long)s->total.counters[k],
		       counter_is_fatal(k, cfg->udp) ? "" : " (measured, not fatal)");
		shown++;
	}
	printf("%s\n", shown ? "" : " none");
}

static void human_cpu(const struct config *cfg, const struct summary *s)
{
	printf("client CPU:  %.0f%% of one CPU", 100 * per_s(s, s->client_cpu_s));
	if (cfg->server_pid && s->server_after.ok && s->server_before.ok) {
		double cpu = s->server_after.cpu_s - s->server_before.cpu_s;
		char a[32];
		double user = s->server_after.user_s - s->server_before.user_s;
		printf("; server (pid %d): %.0f%% of one CPU (%.0f%% of it in user space), %s per message, RSS %.1f MiB",
		       cfg->server_pid, 100 * per_s(s, cpu), cpu > 0 ? 100 * user / cpu : 0,
		       fmt_ns(a, sizeof(a), s->total.msgs ? cpu * 1e9 / (double)s->total.msgs : 0),
		       (double)s->server_after.rss_kib / 1024);
	}
	printf("\n");
}

void report_human(const struct config *cfg, const struct summary *s)
{
	printf("cport-bench %s: %s %s loop, %s, %u connections, %zu B messages", cport_version(),
	       cfg->udp ? "udp" : "tcp", mode_name(cfg), cfg->addr_text, cfg->conns, cfg->size);
	if (cfg->mode == MODE_CLOSED)
		printf(", pipeline %u", cfg->pipeline);
	if (cfg->mode == MODE_OPEN)
		printf(", %.0f msgs/s offered", cfg->rate);
	printf(", %u thread%s, backend %s\n", cfg->threads, cfg->threads == 1 ? "" : "s", s->backend);
	printf("connections: %u of %u connected\n", s->total.connected, cfg->conns);
	printf("throughput:  %.0f msgs/s  %.2f MiB/s  (%llu messages, %llu bytes in %.2f s)\n",
	       per_s(s, (double)s->total.msgs), per_s(s, (double)s->total.bytes) / MIB,
	       (unsigned long long)s->total.msgs, (unsigned long long)s->total.bytes, s->window_s);
	if (cfg->mode != MODE_STREAM)
		human_latency(s);
	if (cfg->mode == MODE_OPEN && s->total.late.count) {
		char a[32], b[32], c[32];
		const struct hist *l = &s->total.late;
		printf("send late:   p50 %s  p99 %s  max %s  (the client's own lateness, included above)\n",
		       fmt_ns(a, sizeof(a), (double)hist_percentile(l, 50)), fmt_ns(b, sizeof(b), (double)hist_percentile(l, 99)),
		       fmt_ns(c, sizeof(c), (double)l->max));
	}
	human_errors(cfg, s);
	human_cpu(cfg, s);
	static const char *const verdicts[] = {
		[0] = "OK: every byte echoed verified", [1] = "FAIL: the echo did not match what was sent",
		[3] = "FAIL: connection errors, or nothing echoed"};
	printf("result:      %s\n", verdicts[s->exit_status == 1 || s->exit_status == 3 ? s->exit_status : 0]);
}

static void json_latency(FILE *f, const struct hist *h)
{
	if (h->count == 0) {
		fprintf(f, "  \"latency_us\": null,\n");
		return;
	}
	fprintf(f,
		"  \"latency_us\": {\"count\": %llu, \"min\": %.3f, \"mean\": %.3f, \"stddev\": %.3f, \"p50\": %.3f, "
		"\"p90\": %.3f, \"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f},\n",
		(unsigned long long)h->count, (double)h->min / 1e3, hist_mean(h) / 1e3, hist_stddev(h) / 1e3,
		(double)hist_percentile(h, 50) / 1e3, (double)hist_percentile(h, 90) / 1e3,
		(double)hist_percentile(h, 99) / 1e3, (double)hist_percentile(h, 99.9) / 1e3, (double)h->max / 1e3);
}

/* A JSON string: quotes and control characters escaped. */
static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_params(FILE *f, const struct config *cfg, const struct summary *s)
{
	fprintf(f, "  \"params\": {\"host\": ");
	json_string(f, cfg->host);
	fprintf(f, ", \"port\": %u, \"address\": \"%s\", \"family\": \"%s\", ", cfg->port, cfg->addr_text, cfg->addr.ss_family == AF_INET6 ? "ipv6" : "ipv4");
	fprintf(f, "\"proto\": \"%s\", \"mode\": \"%s\", \"connections\": %u, \"size\": %zu, \"pipeline\": %u, ",
		cfg->udp ? "udp" : "tcp", mode_name(cfg), cfg->conns, cfg->size, cfg->pipeline);
	if (cfg->mode == MODE_OPEN)
		fprintf(f, "\"rate\": %.3f, ", cfg->rate);
	else
		fprintf(f, "\"rate\": null, ");
	fprintf(f, "\"duration_s\": %.3f, \"warmup_s\": %.3f, \"connect_rate\": %.3f, \"threads\": %u, ",
		cfg->duration, cfg->warmup, cfg->connect_rate, cfg->threads);
	fprintf(f, "\"backend\": \"%s\", \"timeout_s\": %.3f, \"pool\": %s},\n", s->backend, cfg->timeout,
		cfg->own_buffers ? "false" : "true");
}

static void json_server(FILE *f, const struct config *cfg, const struct summary *s)
{
	if (!cfg->server_pid || !s->server_before.ok || !s->server_after.ok) {
		fprintf(f, "  \"server\": null,\n");
		return;
	}
	double cpu = s->server_after.cpu_s - s->server_before.cpu_s;
	double user = s->server_after.user_s - s->server_before.user_s;
	fprintf(f,
		"  \"server\": {\"pid\": %d, \"cpu_s\": %.3f, \"cpu_share\": %.4f, \"cpu_us_per_msg\": %.4f, "
		"\"user_share_of_cpu\": %.4f, \"rss_kib\": %llu},\n",
		cfg->server_pid, cpu, per_s(s, cpu), s->total.msgs ? cpu * 1e6 / (double)s->total.msgs : 0,
		cpu > 0 ? user / cpu : 0, (unsigned long long)s->server_after.rss_kib);
}

int report_json(const struct config *cfg, const struct summary *s, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "{\n  \"tool\": \"cport-bench\",\n  \"version\": \"%s\",\n", cport_version());
	json_params(f, cfg, s);
	fprintf(f, "  \"connections\": {\"requested\": %u, \"connected\": %u},\n", cfg->conns, s->total.connected);
	fprintf(f, "  \"window_s\": %.6f,\n  \"messages\": %llu,\n  \"bytes\": %llu,\n", s->window_s,
		(unsigned long long)s->total.msgs, (unsigned long long)s->total.bytes);
	fprintf(f, "  \"msgs_per_s\": %.3f,\n  \"mib_per_s\": %.6f,\n", per_s(s, (double)s->total.msgs),
		per_s(s, (double)s->total.bytes) / MIB);
	json_latency(f, &s->total.hist);
	if (cfg->mode == MODE_OPEN && s->total.late.count)
		fprintf(f, "  \"send_lateness_us\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f},\n",
			(double)hist_percentile(&s->total.late, 50) / 1e3, (double)hist_percentile(&s->total.late, 99) / 1e3,
			(double)s->total.late.max / 1e3);
	else
		fprintf(f, "  \"send_lateness_us\": null,\n");
	fprintf(f, "  \"errors\": {");
	for (int k = 0; k < C_NCOUNTERS; k++)
		fprintf(f, "%s\"%s\": %llu", k ? ", " : "", counter_name[k], (unsigned long long)s->total.counters[k]);
	fprintf(f, "},\n");
	fprintf(f, "  \"client\": {\"cpu_s\": %.3f, \"cpu_share\": %.4f},\n", s->client_cpu_s, per_s(s, s->client_cpu_s));
	json_server(f, cfg, s);
	fprintf(f, "  \"ok\": %s,\n  \"exit_status\": %d\n}\n", s->exit_status ? "false" : "true", s->exit_status);
	return fclose(f) == 0 ? 0 : -1;
}

int report_hgrm(const struct summary *s, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int rc = hist_write_hgrm(&s->total.hist, f);
	return fclose(f) == 0 && rc == 0 ? 0 : -1;
}
