/* hist.h - log-linear latency histogram: <= 1% relative error, 1 us to 60 s, mergeable. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>
#include <stdio.h>

/* Values are nanoseconds. Below 2^HIST_SUB_BITS ns every value has its own
 * bucket; above, each power of two is cut into 2^HIST_SUB_BITS equal buckets,
 * so a bucket is at most 1/128 of its value wide and its midpoint is within
 * 0.4% of anything recorded in it. */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_BITS 36 /* 2^36 ns = 68.7 s: values above are clamped and counted */
#define HIST_MAX_VALUE ((UINT64_C(1) << HIST_MAX_BITS) - 1)
#define HIST_BUCKETS ((HIST_MAX_BITS - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	uint64_t clamped; /* values above HIST_MAX_VALUE, recorded as it */
	double sum;
	double sumsq;
	uint64_t bucket[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t ns);
/* Add every count of src into dst. */
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at percentile p (0..100): the smallest recorded value v such that
 * at least p% of the values are <= v, within the bucket error. 0 if empty. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);
double hist_stddev(const struct hist *h);
/* Write the HdrHistogram percentile-distribution text (values in ms). */
int hist_write_hgrm(const struct hist *h, FILE *f);

#endif
