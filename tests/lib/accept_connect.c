/* accept_connect.c - accept and connect as completions: accept yields a new
 * fd, connect yields 0 or -errno. */
#include "cport_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(accept_connect);

#define KEY_LISTEN 10
#define KEY_CLIENT 20
#define ACCEPTS 4

Test(accept_connect, an_accept_completes_with_a_new_nonblocking_cloexec_fd_and_the_peer_address,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage laddr, peer, caddr;
	socklen_t llen, plen = sizeof(peer), clen = sizeof(caddr);
	int lfd = test_tcp_listener(AF_INET, 0, &laddr, &llen);
	cport_t *port = test_port_new(NULL);
	struct cport_op op;
	struct cport_completion c;

	cr_assert_eq(cport_attach(port, lfd, KEY_LISTEN), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_accept(port, lfd, &op, (struct sockaddr *)&peer, &plen), 0);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_eq(connect(cfd, (struct sockaddr *)&laddr, llen), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.key, KEY_LISTEN);
	cr_assert_eq(c.kind, CPORT_OP_ACCEPT);
	cr_assert_geq(c.result, 0, "accept gave %lld", (long long)c.result);
	int nfd = (int)c.result;

	cr_assert(fcntl(nfd, F_GETFL) & O_NONBLOCK, "accepted fd is blocking");
	cr_assert(fcntl(nfd, F_GETFD) & FD_CLOEXEC, "accepted fd lacks close-on-exec");
	cr_assert_eq(getsockname(cfd, (struct sockaddr *)&caddr, &clen), 0);
	cr_assert_eq(plen, sizeof(struct sockaddr_in), "addrlen %u", (unsigned)plen);
	cr_assert_eq(peer.ss_family, AF_INET);
	cr_assert_eq(((struct sockaddr_in *)&peer)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	cr_assert_eq(test_addr_port(&peer), test_addr_port(&caddr));

	/* The new fd is a working connection. */
	char in[5];
	cr_assert_eq(test_write_all(cfd, "hello", 5), 0);
	cr_assert_eq(test_read_exact(nfd, in, 5, TEST_WAIT_MS), 0);
	cr_assert_eq(memcmp(in, "hello", 5), 0);

	cport_destroy(port);
	close(nfd);
	close(cfd);
	close(lfd);
}

Test(accept_connect, an_accept_without_an_address_buffer_still_returns_the_fd,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage laddr;
	socklen_t llen;
	int lfd = test_tcp_listener(AF_INET, 0, &laddr, &llen);
	cport_t *port = test_port_new(NULL);
	struct cport_op op;
	struct cport_completion c;

	cr_assert_eq(cport_attach(port, lfd, KEY_LISTEN), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_accept(port, lfd, &op, NULL, NULL), 0);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_eq(connect(cfd, (struct sockaddr *)&laddr, llen), 0);
	test_wait_one(port, &c);
	cr_assert_geq(c.result, 0, "accept gave %lld", (long long)c.result);

	cport_destroy(port);
	close((int)c.result);
	close(cfd);
	close(lfd);
}

Test(accept_connect, a_connect_completes_with_zero_and_the_connection_carries_data,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage laddr;
	socklen_t llen;
	int lfd = test_tcp_listener(AF_INET, 0, &laddr, &llen);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cport_t *port = test_port_new(NULL);
	struct cport_op op;
	struct cport_completion c;

	cr_assert_eq(cport_attach(port, cfd, KEY_CLIENT), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_connect(port, cfd, &op, (struct sockaddr *)&laddr, llen), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.key, KEY_CLIENT);
	cr_assert_eq(c.kind, CPORT_OP_CONNECT);
	cr_assert_eq(c.result, 0, "connect gave %lld", (long long)c.result);
	int sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	cr_assert_geq(sfd, 0);
	char out[] = "over the connection", in[sizeof(out)];
	struct iovec iov = {out, sizeof(out)};

	cr_assert_eq(cport_send(port, cfd, &op, &iov, 1), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, (int64_t)sizeof(out));
	cr_assert_eq(test_read_exact(sfd, in, sizeof(in), TEST_WAIT_MS), 0);
	cr_assert_str_eq(in, out);

	cport_destroy(port);
	close(sfd);
	close(cfd);
	close(lfd);
}

Test(accept_connect, an_accept_and_a_connect_on_one_port_complete_each_other,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage laddr;
	socklen_t llen;
	int lfd = test_tcp_listener(AF_INET, 0, &laddr, &llen);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cport_t *port = test_port_new(NULL);
	struct cport_op aop, cop;
	struct cport_completion c[2];

	cr_assert_eq(cport_attach(port, lfd, KEY_LISTEN), 0);
	cr_assert_eq(cport_attach(port, cfd, KEY_CLIENT), 0);
	cport_op_init(&aop);
	cport_op_init(&cop);
	cr_assert_eq(cport_accept(port, lfd, &aop, NULL, NULL), 0);
	cr_assert_eq(cport_connect(port, cfd, &cop, (struct sockaddr *)&laddr, llen), 0);
	cr_assert_eq(test_wait_n(port, c, 2, TEST_WAIT_MS), 2);
	int nfd = -1;

	for (int i = 0; i < 2; i++) {
		if (c[i].op == &aop) {
			cr_assert_eq(c[i].key, KEY_LISTEN);
			cr_assert_geq(c[i].result, 0, "accept gave %lld", (long long)c[i].result);
			nfd = (int)c[i].result;
		} else {
			cr_assert_eq(c[i].op, &cop);
			cr_assert_eq(c[i].key, KEY_CLIENT);
			cr_assert_eq(c[i].result, 0, "connect gave %lld", (long long)c[i].result);
		}
	}
	cr_assert_geq(nfd, 0, "no accept completion");

	cport_destroy(port);
	close(nfd);
	close(cfd);
	close(lfd);
}

Test(accept_connect, a_connect_to_a_port_nobody_listens_on_completes_with_econnrefused,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage addr;
	socklen_t len;
	int refuser = test_tcp_refuser(&addr, &len); /* holds the port, never listens */
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cport_t *port = test_port_new(NULL);
	struct cport_op op;
	struct cport_completion c;

	cr_assert_eq(cport_attach(port, cfd, KEY_CLIENT), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_connect(port, cfd, &op, (struct sockaddr *)&addr, len), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.kind, CPORT_OP_CONNECT);
	cr_assert_eq(c.result, -ECONNREFUSED, "connect gave %lld", (long long)c.result);

	cport_destroy(port);
	close(cfd);
	close(refuser);
}

Test(accept_connect, several_accepts_in_flight_each_take_exactly_one_connection,
     .timeout = TEST_TIMEOUT)
{
	struct sockaddr_storage laddr;
	socklen_t llen;
	int lfd = test_tcp_listener(AF_INET, 0, &laddr, &llen);
	cport_t *port = test_port_new(NULL);
	struct cport_op ops[ACCEPTS];
	struct cport_completion c[ACCEPTS];
	int clients[ACCEPTS];
	bool seen[ACCEPTS] = {false};

	cr_assert_eq(cport_attach(port, lfd, KEY_LISTEN), 0);
	for (int i = 0; i < ACCEPTS; i++) {
		cport_op_init(&ops[i]);
		cr_assert_eq(cport_accept(port, lfd, &ops[i], NULL, NULL), 0);
	}
	for (int i = 0; i < ACCEPTS; i++) {
		clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_eq(connect(clients[i], (struct sockaddr *)&laddr, llen), 0);
	}
	cr_assert_eq(test_wait_n(port, c, ACCEPTS, TEST_WAIT_MS), ACCEPTS);
	for (int i = 0; i < ACCEPTS; i++) {
		int idx = 0;

		while (idx < ACCEPTS && c[i].op != &ops[idx])
			idx++;
		cr_assert_lt(idx, ACCEPTS, "completion for an unknown op");
		cr_assert_not(seen[idx], "accept op %d completed twice", idx);
		seen[idx] = true;
		cr_assert_geq(c[i].result, 0, "accept gave %lld", (long long)c[i].result);
		for (int j = 0; j < i; j++)
			cr_assert_neq(c[j].result, c[i].result, "two accepts returned one fd");
	}
	test_expect_idle(port, 50);

	cport_destroy(port);
	for (int i = 0; i < ACCEPTS; i++) {
		close((int)c[i].result);
		close(clients[i]);
	}
	close(lfd);
}
