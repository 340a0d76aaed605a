/* echo_epoll.c - reference echo server: one thread, plain epoll, non-blocking sockets.
 * usage: ref-epoll [PORT [ADDR]]   (PORT 0 picks one; the ready line names it) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define MAX_EVENTS 256

/* Reads go into one shared buffer; only an echo the socket would not take
 * whole is copied aside, and the connection stops reading until it is sent. */
struct conn {
	int fd;
	char *pending;
	size_t len, off;
};

static char buf[BUF_SIZE];

static int listen_on(const char *addr, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4096))
		return -1;
	socklen_t len = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	fprintf(stderr, "ref-epoll: listening on %s:%d\n", addr, ntohs(sa.sin_port));
	return fd;
}

static void watch(int ep, struct conn *c, int op, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};
	epoll_ctl(ep, op, c->fd, &ev);
}

static void drop(struct conn *c)
{
	close(c->fd); /* also removes it from the epoll set */
	free(c->pending);
	free(c);
}

static void accept_all(int ep, int lfd)
{
	int fd, one = 1;
	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		watch(ep, c, EPOLL_CTL_ADD, EPOLLIN);
	}
}

/* Send data[0..len); keep what the socket would not take. 0 ok, -1 error. */
static int echo(int ep, struct conn *c, const char *data, size_t len)
{
	ssize_t n = write(c->fd, data, len);
	if (n < 0 && errno != EAGAIN)
		return -1;
	size_t sent = n > 0 ? (size_t)n : 0;
	if (sent == len)
		return 0;
	c->pending = malloc(len - sent);
	if (!c->pending)
		return -1;
	memcpy(c->pending, data + sent, len - sent);
	c->len = len - sent;
	c->off = 0;
	watch(ep, c, EPOLL_CTL_MOD, EPOLLOUT);
	return 0;
}

/* Writable again: send the rest, then go back to reading. */
static int resume(int ep, struct conn *c)
{
	ssize_t n = write(c->fd, c->pending + c->off, c->len - c->off);
	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	c->off += (size_t)n;
	if (c->off < c->len)
		return 0;
	free(c->pending);
	c->pending = NULL;
	watch(ep, c, EPOLL_CTL_MOD, EPOLLIN);
	return 0;
}

static void serve(int ep, struct conn *c, uint32_t events)
{
	int rc = 0;
	if (c->pending) {
		rc = resume(ep, c);
	} else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = read(c->fd, buf, BUF_SIZE);
		if (n > 0)
			rc = echo(ep, c, buf, (size_t)n);
		else if (n == 0 || errno != EAGAIN)
			rc = -1;
	}
	if (rc < 0)
		drop(c);
}

int main(int argc, char **argv)
{
	int lfd = listen_on(argc > 2 ? argv[2] : "127.0.0.1", argc > 1 ? atoi(argv[1]) : 5150);
	int ep = epoll_create1(0);
	if (lfd < 0 || ep < 0) {
		perror("ref-epoll");
		return 1;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}, evs[MAX_EVENTS];
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr)
				serve(ep, evs[i].data.ptr, evs[i].events);
			else
				accept_all(ep, lfd);
		}
	}
}
