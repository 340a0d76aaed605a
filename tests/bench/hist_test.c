/* hist_test.c - the bench histogram against exact percentiles of known samples. */
#include "hist.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSAMPLES 200000
#define MIN_NS 1000.0          /* 1 us */
#define MAX_NS 60000000000.0   /* 60 s */
#define MAX_REL_ERR 0.01

static int passed, failed;

static void check(int ok, const char *what)
{
	if (ok) {
		passed++;
	} else {
		failed++;
		printf("FAIL: %s\n", what);
	}
}

/* xorshift64*: a fixed seed keeps the samples the same on every run. */
static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The exact percentile with the histogram's rank rule. */
static uint64_t exact(const uint64_t *sorted, size_t n, double p)
{
	size_t r = p <= 0 ? 1 : (size_t)ceil(p / 100.0 * (double)n);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return sorted[r - 1];
}

static const double levels[] = {0, 1, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 99.999, 100};

static void test_percentiles_match_exact(const char *name, uint64_t *v, size_t n)
{
	static struct hist h;
	hist_init(&h);
	for (size_t i = 0; i < n; i++)
		hist_record(&h, v[i]);
	qsort(v, n, sizeof(*v), cmp_u64);
	double worst = 0;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		double e = (double)exact(v, n, levels[i]);
		double got = (double)hist_percentile(&h, levels[i]);
		double err = fabs(got - e) / e;
		if (err > worst)
			worst = err;
		if (err > MAX_REL_ERR)
			printf("  %s p%g: exact %.0f got %.0f (%.3f%%)\n", name, levels[i], e, got, err * 100);
	}
	char what[128];
	snprintf(what, sizeof(what), "%s: every percentile within 1%% (worst %.3f%%)", name, worst * 100);
	check(worst <= MAX_REL_ERR, what);
	printf("%s: worst relative error %.4f%%\n", name, worst * 100);
	check(h.min == v[0] && h.max == v[n - 1], "min and max are exact");
}

static void fill_log_uniform(uint64_t *v, size_t n, double lo, double hi)
{
	for (size_t i = 0; i < n; i++) {
		double u = (double)(rng() >> 11) / 9007199254740992.0;
		v[i] = (uint64_t)(lo * pow(hi / lo, u));
	}
}

static void test_merge_equals_single(void)
{
	static struct hist all, a, b;
	hist_init(&all);
	hist_init(&a);
	hist_init(&b);
	for (int i = 0; i < NSAMPLES; i++) {
		uint64_t x = MIN_NS + rng() % 50000000;
		hist_record(&all, x);
		hist_record(i % 3 ? &a : &b, x);
	}
	hist_merge(&a, &b);
	check(memcmp(a.bucket, all.bucket, sizeof(a.bucket)) == 0, "merged buckets equal one histogram");
	check(a.count == all.count && a.min == all.min && a.max == all.max, "merged count/min/max equal");
	check(hist_percentile(&a, 99) == hist_percentile(&all, 99), "merged p99 equals one histogram");
}

static void test_edges(void)
{
	static struct hist h;
	hist_init(&h);
	check(hist_percentile(&h, 50) == 0 && h.count == 0, "an empty histogram reports 0");
	hist_record(&h, 1000);
	check(hist_percentile(&h, 50) == 1000, "a single 1 us value is reported exactly");
	hist_record(&h, 60000000000ull);
	check(hist_percentile(&h, 100) == 60000000000ull, "60 s is the max, exactly");
	hist_record(&h, UINT64_C(1) << 40);
	check(h.clamped == 1 && h.max == HIST_MAX_VALUE, "values past the range are clamped and counted");
	hist_record(&h, 0);
	check(h.min == 0, "zero is recorded");
}

static void test_hgrm_format(void)
{
	static struct hist h;
	hist_init(&h);
	for (int i = 1; i <= 10000; i++)
		hist_record(&h, (uint64_t)i * 1000);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	hist_write_hgrm(&h, f);
	fclose(f);
	static const char header[] = "       Value     Percentile TotalCount 1/(1-Percentile)\n\n";
	check(strncmp(buf, header, sizeof(header) - 1) == 0,
	      "hgrm starts with HdrHistogram's header");
	check(strstr(buf, "10.000 1.000000000000      10000\n") != NULL, "hgrm ends at percentile 1 with the max");
	check(strstr(buf, "#[Max     =       10.000, Total count    =        10000]") != NULL, "hgrm footer");
	check(strstr(buf, " 0.500000000000 ") != NULL && strstr(buf, " 0.990625000000 ") != NULL,
	      "hgrm reports HdrHistogram's percentile ticks");
	free(buf);
}

int main(void)
{
	static uint64_t v[NSAMPLES];
	fill_log_uniform(v, NSAMPLES, MIN_NS, MAX_NS);
	test_percentiles_match_exact("log-uniform 1us..60s", v, NSAMPLES);
	fill_log_uniform(v, NSAMPLES, 20000, 200000);
	test_percentiles_match_exact("loopback-like 20..200us", v, NSAMPLES);
	for (int i = 0; i < NSAMPLES; i++)
		v[i] = i < NSAMPLES - 100 ? 30000 + rng() % 1000 : 5000000000ull + rng() % 1000000000ull;
	test_percentiles_match_exact("bimodal with a 5 s tail", v, NSAMPLES);
	test_merge_equals_single();
	test_edges();
	test_hgrm_format();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
