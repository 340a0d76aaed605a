/* app.c - a program as a user of libcport-dev writes it, built with `pkg-config --cflags --libs cport` against
 * the installed package (tests/package/run.sh): a send and a receive over a socket pair through the port. */
#include <cport.h>

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 5000
#define KEY_A 1
#define KEY_B 2

static int fail(const char *what, long err)
{
	fprintf(stderr, "app: %s: %ld\n", what, err);
	return 1;
}

/* Wait until both ops have completed: the send's 4 bytes, the receive's 4. */
static int collect(cport_t *port, const struct cport_op *send_op, const struct cport_op *recv_op)
{
	int sent = 0, got = 0;

	for (int round = 0; round < 2 && !(sent && got); round++) {
		struct cport_completion cq[2];
		int n = cport_wait(port, cq, 2, WAIT_MS);

		if (n <= 0)
			return fail("cport_wait", n);
		for (int i = 0; i < n; i++) {
			if (cq[i].op == send_op && cq[i].key == KEY_A && cq[i].result == 4)
				sent = 1;
			else if (cq[i].op == recv_op && cq[i].key == KEY_B && cq[i].result == 4)
				got = 1;
			else
				return fail("unexpected completion, result", (long)cq[i].result);
		}
	}
	return sent && got ? 0 : fail("missing completion", 0);
}

int main(void)
{
	struct cport_op send_op, recv_op;
	char out[] = "ping", in[8] = {0};
	struct iovec siov = {out, 4}, riov = {in, sizeof(in)};
	cport_t *port;
	int sv[2], rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return fail("socketpair", -1);
	if ((rc = cport_create(NULL, &port)) != 0)
		return fail("cport_create", rc);
	if ((rc = cport_attach(port, sv[0], KEY_A)) != 0 || (rc = cport_attach(port, sv[1], KEY_B)) != 0)
		return fail("cport_attach", rc);
	cport_op_init(&send_op);
	cport_op_init(&recv_op);
	if ((rc = cport_recv(port, sv[1], &recv_op, &riov, 1)) != 0)
		return fail("cport_recv", rc);
	if ((rc = cport_send(port, sv[0], &send_op, &siov, 1)) != 0)
		return fail("cport_send", rc);
	if (collect(port, &send_op, &recv_op) != 0 || memcmp(in, "ping", 4) != 0)
		return 1;
	printf("app: libcport %s, backend %s: echo over a socket pair ok\n", cport_version(), cport_backend_name(port));
	if ((rc = cport_close(port, sv[0], NULL)) != 0 || (rc = cport_close(port, sv[1], NULL)) != 0)
		return fail("cport_close", rc);
	if ((rc = cport_destroy(port)) != 0)
		return fail("cport_destroy", rc);
	return 0;
}
