/* log.c - cport-echo's log lines: levels, rate limits, journald prefixes. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048 /* the counters line, every value at 20 digits */
#define RATE_INTERVAL_S 5 /* a kind may print RATE_BURST lines per interval */
#define RATE_BURST 5

struct rate {
	time_t window; /* start of the current interval */
	unsigned printed;
	unsigned long held; /* lines held back since the last one printed */
};

static int log_level = LOG_NOTICE;
static int log_journal; /* stderr is journald's stream: prefix "<N>" */
static pthread_mutex_t rate_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rate rates[LK_COUNT];

/* JOURNAL_STREAM is "DEV:INODE" of the stream journald gave us; it only
 * counts if stderr is still that stream (not redirected since). */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(int level)
{
	log_level = level;
	log_journal = stderr_is_journal();
}

int log_enabled(int prio)
{
	return prio <= log_level;
}

static void log_write(int prio, const char *suffix, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t n = 0, cap = sizeof(line) - 1; /* room for the newline */
	int r;

	if (log_journal) {
		r = snprintf(line, cap, "<%d>", prio);
		n = r > 0 ? (size_t)r : 0;
	}
	r = snprintf(line + n, cap - n, "cport-echo: ");
	n += r > 0 ? (size_t)r : 0;
	r = vsnprintf(line + n, cap - n, fmt, ap);
	n = r > 0 && (size_t)r < cap - n ? n + (size_t)r : cap - 1;
	if (suffix && n < cap - 1) {
		r = snprintf(line + n, cap - n, "%s", suffix);
		n = r > 0 && (size_t)r < cap - n ? n + (size_t)r : cap - 1;
	}
	line[n++] = '\n';
	/* One write per line so lines from threads never interleave; a log line
	 * that cannot be written has nowhere else to go. */
	while (write(STDERR_FILENO, line, n) < 0 && errno == EINTR)
		;
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(prio))
		return;
	va_start(ap, fmt);
	log_write(prio, NULL, fmt, ap);
	va_end(ap);
}

void log_always(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(prio, NULL, fmt, ap);
	va_end(ap);
}

void log_limited(enum log_kind kind, int prio, const char *fmt, ...)
{
	struct rate *rt = &rates[kind];
	char suffix[64] = "";
	unsigned long held;
	struct timespec ts;
	va_list ap;

	if (!log_enabled(prio))
		return;
	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
		ts.tv_sec = 0;
	pthread_mutex_lock(&rate_lock);
	if (ts.tv_sec - rt->window >= RATE_INTERVAL_S) {
		rt->window = ts.tv_sec;
		rt->printed = 0;
	}
	if (rt->printed >= RATE_BURST) {
		rt->held++;
		pthread_mutex_unlock(&rate_lock);
		return;
	}
	rt->printed++;
	held = rt->held;
	rt->held = 0;
	pthread_mutex_unlock(&rate_lock);
	if (held)
		snprintf(suffix, sizeof(suffix), " (%lu similar lines suppressed)", held);
	va_start(ap, fmt);
	log_write(prio, held ? suffix : NULL, fmt, ap);
	va_end(ap);
}
