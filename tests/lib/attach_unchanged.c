/* attach_unchanged.c - an attach that fails leaves the fd as it was. */
#include "cport_test.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

TEST_SUITE(attach_unchanged);

Test(attach_unchanged, attaching_an_fd_twice_fails_without_making_it_non_blocking, .timeout = TEST_TIMEOUT)
{
	int a, b;

	test_tcp_pair(&a, &b);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, a, 1), 0);
	int fl = fcntl(a, F_GETFL);
	cr_assert(fl & O_NONBLOCK, "attach made the fd non-blocking");
	/* The program put it back to blocking; a second attach is refused... */
	cr_assert_eq(fcntl(a, F_SETFL, fl & ~O_NONBLOCK), 0);
	cr_assert_eq(cport_attach(port, a, 2), -EEXIST);
	/* ...and changes nothing. */
	cr_assert_not(fcntl(a, F_GETFL) & O_NONBLOCK, "a refused attach changed the fd's flags");
	cport_destroy(port);
	close(a);
	close(b);
}
