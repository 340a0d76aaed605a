/* strbuf.c - a growing text buffer for responses built once per request (not the echo's hot path). */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SB_MIN 4096
#define SB_MAX (16u << 20) /* no response of ours comes near it */

static int sb_reserve(struct strbuf *sb, size_t more)
{
	size_t want = sb->len + more + 1, cap = sb->cap ? sb->cap : SB_MIN;
	char *p;

	if (sb->failed || want > SB_MAX) {
		sb->failed = 1;
		return -1;
	}
	if (want <= sb->cap)
		return 0;
	while (cap < want)
		cap *= 2;
	p = realloc(sb->p, cap);
	if (!p) {
		sb->failed = 1;
		return -1;
	}
	sb->p = p;
	sb->cap = cap;
	return 0;
}

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || sb_reserve(sb, (size_t)n) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(sb->p + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void sb_put(struct strbuf *sb, const char *s, size_t n)
{
	if (sb_reserve(sb, n) != 0)
		return;
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

void sb_free(struct strbuf *sb)
{
	free(sb->p);
	memset(sb, 0, sizeof(*sb));
}
