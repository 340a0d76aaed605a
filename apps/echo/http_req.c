/* http_req.c - the request head of an HTTP/1.x request, parsed from a buffer: a pure function, bounded, for --metrics (and a fuzzer).
 *
 * Every step either consumes what it expects, runs out of input (MORE:
 * the bytes so far may still become a valid head) or finds a byte that
 * cannot belong there (an error at once: garbage is refused on its first
 * wrong byte, not after the limit or the timeout). */
#include "http_req.h"

#include <string.h>
#include <strings.h>

enum { MORE = 0 };

struct cur {
	const unsigned char *p, *end;
};

/* RFC 9110 tchar: the bytes of a method or a field name. */
static int is_tchar(unsigned c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", (int)c));
}

/* A token of 1..max tchars, ended by (not including) stop. */
static long take_token(struct cur *c, unsigned char stop, size_t max, long too_long)
{
	const unsigned char *start = c->p;

	while (c->p < c->end && is_tchar(*c->p)) {
		if ((size_t)(c->p - start) >= max)
			return too_long;
		c->p++;
	}
	if (c->p == c->end)
		return MORE;
	if (c->p == start || *c->p != stop)
		return -400;
	c->p++;
	return 1;
}

/* The request target: origin-form, visible ASCII, ended by a space. */
static long take_target(struct cur *c)
{
	const unsigned char *start = c->p;

	if (c->p < c->end && *c->p != '/')
		return -400;
	while (c->p < c->end && *c->p > 0x20 && *c->p < 0x7f) {
		if ((size_t)(c->p - start) >= HTTP_TARGET_MAX)
			return -414;
		c->p++;
	}
	if (c->p == c->end)
		return MORE;
	if (*c->p != ' ')
		return -400;
	c->p++;
	return 1;
}

/* The end of a line: CRLF, or a bare LF. */
static long take_eol(struct cur *c)
{
	if (c->p < c->end && *c->p == '\r')
		c->p++;
	if (c->p == c->end)
		return MORE;
	if (*c->p != '\n')
		return -400;
	c->p++;
	return 1;
}

/* "HTTP/1.x": any other version is 505 once its digits are there. */
static long take_version(struct cur *c, int *minor)
{
	static const char want[] = "HTTP/";

	for (size_t i = 0; i < sizeof(want) - 1; i++, c->p++) {
		if (c->p == c->end)
			return MORE;
		if (*c->p != (unsigned char)want[i])
			return -400;
	}
	if (c->end - c->p < 3)
		return MORE;
	if (c->p[0] < '0' || c->p[0] > '9' || c->p[1] != '.' || c->p[2] < '0' || c->p[2] > '9')
		return -400;
	if (c->p[0] != '1')
		return -505;
	*minor = c->p[2] - '0';
	c->p += 3;
	return take_eol(c);
}

static long take_request_line(struct cur *c, struct http_req *req)
{
	long r;

	req->method = (const char *)c->p;
	if ((r = take_token(c, ' ', HTTP_METHOD_MAX, -501)) <= 0)
		return r;
	req->method_len = (size_t)((const char *)c->p - req->method - 1);
	req->target = (const char *)c->p;
	if ((r = take_target(c)) <= 0)
		return r;
	req->target_len = (size_t)((const char *)c->p - req->target - 1);
	return take_version(c, &req->minor);
}

/* What the fields said that matters here. */
struct fields {
	int host;
	int body;
	int have_len;
	unsigned long long len;
};

/* Content-Length: digits only; repeated, it must say the same. */
static long field_length(struct fields *f, const unsigned char *v, size_t n)
{
	unsigned long long len = 0;

	if (n == 0 || n > 18)
		return -400;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -400;
		len = len * 10 + (v[i] - '0');
	}
	if (f->have_len && f->len != len)
		return -400;
	f->have_len = 1;
	f->len = len;
	if (len > 0)
		f->body = 1;
	return 1;
}

static long field_seen(struct fields *f, const unsigned char *name, size_t nlen, const unsigned char *v,
		       size_t vlen)
{
	if (nlen == 4 && !strncasecmp((const char *)name, "host", 4))
		f->host++;
	else if (nlen == 17 && !strncasecmp((const char *)name, "transfer-encoding", 17))
		f->body = 1;
	else if (nlen == 14 && !strncasecmp((const char *)name, "content-length", 14))
		return field_length(f, v, vlen);
	return 1;
}

/* One "name: value" line; the value without its surrounding blanks. */
static long take_field(struct cur *c, struct fields *f)
{
	const unsigned char *name = c->p, *v, *vend;
	size_t nlen;
	long r;

	if ((r = take_token(c, ':', HTTP_FIELD_NAME_MAX, -431)) <= 0)
		return r; /* a line starting with a blank (obsolete folding) is 400 */
	nlen = (size_t)(c->p - name - 1);
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
	v = c->p;
	while (c->p < c->end && (*c->p >= 0x20 || *c->p == '\t') && *c->p != 0x7f)
		c->p++;
	vend = c->p;
	while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
		vend--;
	if ((r = take_eol(c)) <= 0)
		return r;
	return field_seen(f, name, nlen, v, (size_t)(vend - v));
}

/* An empty line ends the head: 1 if this is it. */
static int at_empty_line(const struct cur *c)
{
	return (c->p < c->end && *c->p == '\n') ||
	       (c->end - c->p >= 2 && c->p[0] == '\r' && c->p[1] == '\n');
}

static long take_fields(struct cur *c, struct fields *f)
{
	for (unsigned n = 0;; n++) {
		long r;

		if (c->p == c->end || (c->p[0] == '\r' && c->end - c->p < 2))
			return MORE;
		if (at_empty_line(c))
			return take_eol(c);
		if (n == HTTP_HEADERS_MAX)
			return -431;
		if ((r = take_field(c, f)) <= 0)
			return r;
	}
}

long http_req_parse(const char *buf, size_t len, struct http_req *req)
{
	struct cur c = {(const unsigned char *)buf, (const unsigned char *)buf + len};
	struct fields f = {0};
	long r;

	memset(req, 0, sizeof(*req));
	if ((r = take_request_line(&c, req)) <= 0)
		return r;
	if ((r = take_fields(&c, &f)) <= 0)
		return r;
	if (f.body)
		return -413;
	if ((req->minor >= 1 && f.host != 1) || f.host > 1)
		return -400;
	req->head_len = (size_t)((const char *)c.p - buf);
	return (long)req->head_len;
}

int http_req_too_long(const char *buf, size_t len)
{
	const char *sp = memchr(buf, ' ', len);

	/* In the target: after the method's space, before the next one. */
	if (sp && !memchr(sp + 1, ' ', len - (size_t)(sp + 1 - buf)) && !memchr(buf, '\n', len))
		return 414;
	return 431;
}
