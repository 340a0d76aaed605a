/* strbuf.h - a growing text buffer for responses built once per request (not the echo's hot path). */
#ifndef ECHO_STRBUF_H
#define ECHO_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *p;
	size_t len, cap;
	int failed; /* out of memory: the text is cut short */
};

/* Append printf-style; on failure sets failed and appends nothing more. */
void sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append n bytes. */
void sb_put(struct strbuf *sb, const char *s, size_t n);

void sb_free(struct strbuf *sb);

#endif
