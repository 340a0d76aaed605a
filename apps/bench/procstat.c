/* procstat.c - CPU time and resident memory of a process, from /proc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

#define STAT_UTIME_FIELD 14 /* proc(5): utime, then stime, in clock ticks */

/* The fields after the command name, which may itself hold spaces and ')'. */
static int read_stat_times(int pid, double *cpu_s, double *user_s)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long ut = 0, st = 0;
	int field = 2;
	char *save;
	for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		field++;
		if (field == STAT_UTIME_FIELD)
			ut = strtoull(tok, NULL, 10);
		else if (field == STAT_UTIME_FIELD + 1) {
			st = strtoull(tok, NULL, 10);
			break;
		}
	}
	*cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	*user_s = (double)ut / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

static int read_rss_kib(int pid, uint64_t *kib)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int rc = -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;
		if (sscanf(line, "VmRSS: %llu kB", &v) == 1) {
			*kib = v;
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

struct proc_sample proc_sample(int pid)
{
	struct proc_sample s = {0};
	s.ok = pid > 0 && read_stat_times(pid, &s.cpu_s, &s.user_s) == 0 && read_rss_kib(pid, &s.rss_kib) == 0;
	return s;
}

double self_cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
