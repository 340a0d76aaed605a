/* hist.c - log-linear latency histogram and its HdrHistogram-format output. */
#include "hist.h"

#include <math.h>
#include <string.h>

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static unsigned bucket_of(uint64_t v)
{
	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - HIST_SUB_BITS;
	return shift * HIST_SUB + (unsigned)(v >> shift);
}

static uint64_t bucket_low(unsigned i)
{
	if (i < 2 * HIST_SUB)
		return i;
	unsigned shift = i / HIST_SUB - 1;
	return (uint64_t)(i - shift * HIST_SUB) << shift;
}

static uint64_t bucket_width(unsigned i)
{
	return i < 2 * HIST_SUB ? 1 : UINT64_C(1) << (i / HIST_SUB - 1);
}

void hist_record(struct hist *h, uint64_t ns)
{
	if (ns > HIST_MAX_VALUE) {
		ns = HIST_MAX_VALUE;
		h->clamped++;
	}
	h->bucket[bucket_of(ns)]++;
	h->count++;
	h->sum += (double)ns;
	h->sumsq += (double)ns * (double)ns;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	dst->clamped += src->clamped;
	dst->sum += src->sum;
	dst->sumsq += src->sumsq;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* The bucket's midpoint, kept inside the exact range seen. */
static uint64_t bucket_value(const struct hist *h, unsigned i)
{
	uint64_t v = bucket_low(i) + (bucket_width(i) - 1) / 2;
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

/* Index of the bucket holding the value of rank r (1-based); *cum gets the
 * count of values up to and including that bucket. */
static unsigned bucket_at_rank(const struct hist *h, uint64_t r, uint64_t *cum)
{
	uint64_t c = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		c += h->bucket[i];
		if (c >= r) {
			*cum = c;
			return i;
		}
	}
	*cum = c;
	return HIST_BUCKETS - 1;
}

static uint64_t rank_of(const struct hist *h, double p)
{
	if (p <= 0)
		return 1;
	if (p >= 100)
		return h->count;
	uint64_t r = (uint64_t)ceil(p / 100.0 * (double)h->count);
	return r < 1 ? 1 : r;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	if (h->count == 0)
		return 0;
	if (p >= 100)
		return h->max;
	uint64_t cum;
	return bucket_value(h, bucket_at_rank(h, rank_of(h, p), &cum));
}

double hist_mean(const struct hist *h)
{
	return h->count ? h->sum / (double)h->count : 0;
}

double hist_stddev(const struct hist *h)
{
	if (h->count == 0)
		return 0;
	double m = hist_mean(h);
	double var = h->sumsq / (double)h->count - m * m;
	return var > 0 ? sqrt(var) : 0;
}

#define NS_PER_MS 1e6
#define HGRM_TICKS_PER_HALF 5 /* HdrHistogram's default reporting density */

/* The next reporting level after p, as HdrHistogram's percentile iterator
 * steps: five ticks per halving of the distance to 100%. */
static double next_level(double p)
{
	double halvings = floor(log2(100.0 / (100.0 - p)));
	return p + 100.0 / (HGRM_TICKS_PER_HALF * pow(2.0, halvings + 1));
}

int hist_write_hgrm(const struct hist *h, FILE *f)
{
	fprintf(f, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");
	if (h->count > 0) {
		for (double p = 0; p < 100.0; p = next_level(p)) {
			uint64_t cum;
			unsigned i = bucket_at_rank(h, rank_of(h, p), &cum);
			if (cum >= h->count)
				break;
			fprintf(f, "%12.3f %2.12f %10llu %14.2f\n", (double)bucket_value(h, i) / NS_PER_MS,
				p / 100.0, (unsigned long long)cum, 1.0 / (1.0 - p / 100.0));
		}
		fprintf(f, "%12.3f %2.12f %10llu\n", (double)h->max / NS_PER_MS, 1.0,
			(unsigned long long)h->count);
	}
	fprintf(f, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", hist_mean(h) / NS_PER_MS,
		hist_stddev(h) / NS_PER_MS);
	fprintf(f, "#[Max     = %12.3f, Total count    = %12llu]\n", (double)(h->count ? h->max : 0) / NS_PER_MS,
		(unsigned long long)h->count);
	fprintf(f, "#[Buckets = %12d, SubBuckets     = %12d]\n", HIST_MAX_BITS - HIST_SUB_BITS + 1, (int)HIST_SUB);
	return ferror(f) ? -1 : 0;
}
