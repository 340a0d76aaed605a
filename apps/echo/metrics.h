/* metrics.h - the counters as Prometheus text (exposition format 0.0.4): numbers in, text out. */
#ifndef ECHO_METRICS_H
#define ECHO_METRICS_H

#include "counters.h"

struct strbuf;

/* The status codes the metrics server answers with, and how often. */
#define METRICS_CODES {200, 400, 404, 405, 408, 413, 414, 431, 501, 503, 505}
#define METRICS_NCODES 11

/* Everything a scrape shows, read at once. */
struct metrics_snapshot {
	uint64_t c[C_COUNT]; /* summed over the worker threads */
	uint64_t open;       /* TCP connections open now */
	struct life_hist life;
	const char *backend;
	unsigned threads;
	uint64_t http[METRICS_NCODES]; /* the metrics server's responses, per METRICS_CODES */
};

/* Append the whole exposition to sb. */
void metrics_render(struct strbuf *sb, const struct metrics_snapshot *s);

/* The index of code in METRICS_CODES, or -1. */
int metrics_code_index(int code);

#endif
