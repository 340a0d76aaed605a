/* udp_echo.c - reference UDP echo server: one thread, one socket, blocking
 * recvfrom/sendto. The baseline of make bench's UDP cells.
 * usage: ref-udp [PORT [ADDR]]   (IPv4; PORT 0 picks one; the ready line names it)
 * SIGTERM or SIGINT: exit 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536 /* the largest IPv4 UDP payload is 65507 */
#define MAX_SEND_ERRORS_SHOWN 10

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

int main(int argc, char **argv)
{
	int port = 5150;
	if (argc > 3 || (argc > 1 && parse_port(argv[1], &port) != 0)) {
		fprintf(stderr, "usage: ref-udp [PORT [ADDR]]   (PORT 0..65535, ADDR IPv4, default 127.0.0.1)\n");
		return 2;
	}
	if (catch_signals() != 0)
		return 1;
	int fd = open_socket(argc > 2 ? argv[2] : "127.0.0.1", port);
	if (fd < 0)
		return 1;
	sock_fd = fd;
	int rc = serve(fd);
	sock_fd = -1;
	if (close(fd) != 0) {
		perror("ref-udp: close");
		rc = -1;
	}
	return rc == 0 ? 0 : 1;
}
