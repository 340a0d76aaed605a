/* udp_echo.c - reference UDP echo server: one thread, one socket, blocking
 * recvfrom/sendto. The baseline of make bench's UDP cells.
 * usage: ref-udp [PORT [ADDR [mmsg]]]   (IPv4; PORT 0 picks one; the ready line names it)
 * With "mmsg" it is the floor of a batching server instead: one blocking
 * recvmmsg(2) takes every datagram queued (up to BATCH, MSG_WAITFORONE) and
 * one sendmmsg(2) answers them all, two system calls a batch where the
 * baseline makes two a datagram (docs/performance.md, "The floors").
 * SIGTERM or SIGINT: exit 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536 /* the largest IPv4 UDP payload is 65507 */
#define MAX_SEND_ERRORS_SHOWN 10
#define BATCH 64 /* datagrams a recvmmsg may take, in mmsg mode */

static volatile sig_atomic_t stopping;
static int sock_fd = -1;

/* Set the flag, and shut the socket's receive side so that a recvfrom entered
 * after the flag was last read returns at once instead of blocking: no race
 * between the check and the call. An unconnected UDP socket reports ENOTCONN
 * but is shut all the same. */
static void on_signal(int sig)
{
	(void)sig;
	int saved = errno;
	stopping = 1;
	if (sock_fd >= 0 && shutdown(sock_fd, SHUT_RD) != 0 && errno != ENOTCONN)
		_exit(2);
	errno = saved;
}

static int parse_port(const char *s, int *port)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static int open_socket(const char *addr, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "ref-udp: not an IPv4 address: %s\n", addr);
		return -1;
	}
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("ref-udp: socket");
		return -1;
	}
	socklen_t len = sizeof(sa);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("ref-udp: bind");
	} else if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		perror("ref-udp: getsockname");
	} else {
		fprintf(stderr, "ref-udp: listening on %s:%d\n", addr, ntohs(sa.sin_port));
		return fd;
	}
	if (close(fd) != 0)
		perror("ref-udp: close");
	return -1;
}

static int catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: a blocked recvfrom returns EINTR */
	if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0) {
		perror("ref-udp: sigaction");
		return -1;
	}
	return 0;
}

/* Echo every datagram to its sender until a signal. 0 on a clean stop. */
static int serve(int fd)
{
	static char buf[BUF_SIZE];
	unsigned long send_errors = 0;
	while (!stopping) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &plen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("ref-udp: recvfrom");
			return -1;
		}
		if (stopping)
			break; /* the shutdown's wake-up, or a datagram that came with the signal */
		if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&peer, plen) < 0 && errno != EINTR) {
			/* A full queue or an unreachable peer loses one datagram, as UDP may. */
			if (++send_errors <= MAX_SEND_ERRORS_SHOWN)
				perror("ref-udp: sendto");
		}
	}
	return 0;
}

/* One batch's datagrams, their senders and their headers (mmsg mode). */
struct batch {
	char buf[BATCH][BUF_SIZE];
	struct sockaddr_in peer[BATCH];
	struct iovec iov[BATCH];
	struct mmsghdr msg[BATCH];
};

static void batch_init(struct batch *b)
{
	for (int i = 0; i < BATCH; i++) {
		b->iov[i] = (struct iovec){.iov_base = b->buf[i], .iov_len = BUF_SIZE};
		b->msg[i].msg_hdr = (struct msghdr){.msg_name = &b->peer[i], .msg_namelen = sizeof(b->peer[i]),
						    .msg_iov = &b->iov[i], .msg_iovlen = 1};
	}
}

/* Ready the n entries a batch used for the next receive: the calls changed
 * only their lengths (recvmmsg the name's, batch_send the buffer's). */
static void batch_reset(struct batch *b, int n)
{
	for (int i = 0; i < n; i++) {
		b->iov[i].iov_len = BUF_SIZE;
		b->msg[i].msg_hdr.msg_namelen = sizeof(b->peer[i]);
	}
}

/* Send the n replies of a batch, each to its sender, with as few calls as
 * sendmmsg takes. A reply it refuses is lost, as UDP may, and the rest go on. */
static void batch_send(int fd, struct batch *b, int n, unsigned long *errors)
{
	for (int i = 0; i < n; i++)
		b->iov[i].iov_len = b->msg[i].msg_len;
	int done = 0;
	while (done < n && !stopping) {
		int r = sendmmsg(fd, b->msg + done, (unsigned)(n - done), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && ++*errors <= MAX_SEND_ERRORS_SHOWN)
			perror("ref-udp: sendmmsg");
		done += r > 0 ? r : 1; /* a refused reply is skipped */
	}
}

/* The batching floor: as serve(), a batch at a time. */
static int serve_mmsg(int fd)
{
	static struct batch b;
	unsigned long send_errors = 0;
	batch_init(&b);
	while (!stopping) {
		int n = recvmmsg(fd, b.msg, BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("ref-udp: recvmmsg");
			return -1;
		}
		if (stopping)
			break; /* the shutdown's wake-up, or datagrams that came with the signal */
		batch_send(fd, &b, n, &send_errors);
		batch_reset(&b, n);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int port = 5150;
	bool mmsg = argc > 3 && strcmp(argv[3], "mmsg") == 0;
	if (argc > 4 || (argc > 3 && !mmsg) || (argc > 1 && parse_port(argv[1], &port) != 0)) {
		fprintf(stderr, "usage: ref-udp [PORT [ADDR [mmsg]]]   (PORT 0..65535, ADDR IPv4, default 127.0.0.1)\n");
		return 2;
	}
	if (catch_signals() != 0)
		return 1;
	int fd = open_socket(argc > 2 ? argv[2] : "127.0.0.1", port);
	if (fd < 0)
		return 1;
	sock_fd = fd;
	int rc = mmsg ? serve_mmsg(fd) : serve(fd);
	sock_fd = -1;
	if (close(fd) != 0) {
		perror("ref-udp: close");
		rc = -1;
	}
	return rc == 0 ? 0 : 1;
}
