/* sockets.c - stress-ledger's connections: TCP loopback pairs through a
 * per-thread listener on an ephemeral port, and AF_UNIX socketpairs. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stress.h"

#define ACCEPT_WAIT_MS 2000
#define SMALL_BUF 4096

/* Each thread has its own listener, so the connection it accepts is the one it made. */
int listener_open(struct tctx *t)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	t->listen_len = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&t->listen_addr, &t->listen_len) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	t->listen_fd = fd;
	return 0;
}

static int tcp_pair(struct tctx *t, int sv[2])
{
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		return -errno;
	if (connect(c, (struct sockaddr *)&t->listen_addr, t->listen_len) < 0) {
		int e = -errno;
		close(c);
		return e;
	}
	struct pollfd p = { .fd = t->listen_fd, .events = POLLIN };
	int s = poll(&p, 1, ACCEPT_WAIT_MS) == 1 ? accept4(t->listen_fd, NULL, NULL, SOCK_CLOEXEC) : -1;
	if (s < 0) {
		int e = errno ? -errno : -ETIMEDOUT;
		close(c);
		return e;
	}
	sv[0] = c;
	sv[1] = s;
	return 0;
}

/* sv[0] goes to the port, sv[1] to the peer thread (made non-blocking). */
int pair_open(struct tctx *t, bool tcp, int sv[2])
{
	int r = tcp ? tcp_pair(t, sv) : (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ? -errno : 0);
	if (r < 0)
		return r;
	if (tcp && chance(&t->rng, 50)) { /* either end may be the port's */
		int x = sv[0];
		sv[0] = sv[1];
		sv[1] = x;
	}
	int fl = fcntl(sv[1], F_GETFL);
	if (fl < 0 || fcntl(sv[1], F_SETFL, fl | O_NONBLOCK) < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	return 0;
}

/* Small socket buffers make partial sends and sends that wait. */
void set_small_buffers(int fd)
{
	int v = SMALL_BUF;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}
