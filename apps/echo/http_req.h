/* http_req.h - the request head of an HTTP/1.x request, parsed from a buffer: a pure function, bounded, for --metrics (and a fuzzer). */
#ifndef ECHO_HTTP_REQ_H
#define ECHO_HTTP_REQ_H

#include <stddef.h>

#define HTTP_METHOD_MAX 16    /* longer: 501 */
#define HTTP_TARGET_MAX 2048  /* longer: 414 */
#define HTTP_HEADERS_MAX 64   /* more fields: 431 */
#define HTTP_FIELD_NAME_MAX 64 /* longer: 431 */

/* What http_req_parse found; pointers are into the caller's buffer. */
struct http_req {
	const char *method;
	size_t method_len;
	const char *target; /* origin-form: starts with '/' */
	size_t target_len;
	int minor;          /* HTTP/1.minor */
	size_t head_len;    /* bytes up to and including the empty line */
};

/* Parse buf[0..len) as the head of one request (request line, fields,
 * empty line; CRLF or a bare LF ends a line).
 * Returns head_len (> 0) when the head is complete and well formed, 0 when
 * the bytes so far are a valid beginning and more are needed (the caller
 * answers 431, or 414 if still in the target, once len reaches its limit:
 * see http_req_too_long), or minus an HTTP status to answer with:
 * -400 malformed (or HTTP/1.1 without Host), -413 a body (Content-Length
 * above 0 or Transfer-Encoding: none is taken), -414 a target longer than
 * HTTP_TARGET_MAX, -431 too many or too long fields, -501 a method longer
 * than HTTP_METHOD_MAX, -505 not HTTP/1.x.
 * Reads nothing past buf + len; keeps no state between calls (call it
 * again on the whole buffer when more arrives); no allocation. */
long http_req_parse(const char *buf, size_t len, struct http_req *req);

/* The status for a head still incomplete at the caller's limit: 414 if
 * it ends inside the request target, else 431. */
int http_req_too_long(const char *buf, size_t len);

#endif
