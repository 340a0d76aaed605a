/* echo_uv.c - reference echo server on libuv: one loop, a buffer per read,
 * written back and returned to a free list when the write completes (so the
 * allocator does not grow and trim the heap on every message).
 * usage: ref-uv [PORT [ADDR]]   (PORT 0 picks one; the ready line names it) */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#define READ_SIZE 65536
#define BACKLOG 4096
#define MAX_QUEUED (1 << 20) /* stop reading while this much waits to be written */

#define FREE_MAX 64 /* buffers kept for reuse */

struct echo_write {
	uv_write_t req;
	uv_buf_t buf;
};

static char *free_bufs[FREE_MAX];
static int nfree;

static void put_buf(char *b)
{
	if (nfree < FREE_MAX)
		free_bufs[nfree++] = b;
	else
		free(b);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	buf->base = nfree ? free_bufs[--nfree] : malloc(READ_SIZE);
	buf->len = buf->base ? READ_SIZE : 0;
}

static void on_close(uv_handle_t *h)
{
	free(h);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
	struct echo_write *w = (struct echo_write *)req;
	uv_stream_t *s = req->handle;
	put_buf(w->buf.base);
	free(w);
	if (status < 0) {
		if (!uv_is_closing((uv_handle_t *)s))
			uv_close((uv_handle_t *)s, on_close);
		return;
	}
	if (uv_stream_get_write_queue_size(s) < MAX_QUEUED && !uv_is_closing((uv_handle_t *)s))
		uv_read_start(s, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	if (n <= 0) {
		if (buf->base)
			put_buf(buf->base);
		if (n < 0 && !uv_is_closing((uv_handle_t *)s))
			uv_close((uv_handle_t *)s, on_close);
		return;
	}
	struct echo_write *w = malloc(sizeof(*w));
	if (!w) {
		put_buf(buf->base);
		uv_close((uv_handle_t *)s, on_close);
		return;
	}
	w->buf = uv_buf_init(buf->base, (unsigned)n);
	uv_write(&w->req, s, &w->buf, 1, on_written);
	if (uv_stream_get_write_queue_size(s) >= MAX_QUEUED)
		uv_read_stop(s);
}

static void on_connection(uv_stream_t *server, int status)
{
	if (status < 0)
		return;
	uv_tcp_t *c = malloc(sizeof(*c));
	if (!c)
		return;
	uv_tcp_init(server->loop, c);
	if (uv_accept(server, (uv_stream_t *)c) == 0) {
		uv_tcp_nodelay(c, 1);
		uv_read_start((uv_stream_t *)c, on_alloc, on_read);
	} else {
		uv_close((uv_handle_t *)c, on_close);
	}
}

int main(int argc, char **argv)
{
	const char *host = argc > 2 ? argv[2] : "127.0.0.1";
	uv_loop_t *loop = uv_default_loop();
	uv_tcp_t server;
	struct sockaddr_in addr;
	uv_tcp_init(loop, &server);
	uv_ip4_addr(host, argc > 1 ? atoi(argv[1]) : 5150, &addr);
	int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&server, BACKLOG, on_connection);
	if (rc) {
		fprintf(stderr, "ref-uv: %s\n", uv_strerror(rc));
		return 1;
	}
	int len = sizeof(addr);
	uv_tcp_getsockname(&server, (struct sockaddr *)&addr, &len);
	fprintf(stderr, "ref-uv: listening on %s:%d\n", host, ntohs(addr.sin_port));
	return uv_run(loop, UV_RUN_DEFAULT);
}
