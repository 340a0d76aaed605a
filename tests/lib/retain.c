/* retain.c - a retained port survives cport_destroy as memory: a wait or a
 * post that arrives after the destroy gets -ESHUTDOWN, and the last release
 * frees it (ASan checks both). */
#include "cport_test.h"

#include <errno.h>

TEST_SUITE(retain);

Test(retain, a_wait_and_a_post_on_a_destroyed_retained_port_return_eshutdown, .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	struct cport_completion c;

	cr_assert_eq(cport_retain(port), 0);
	cr_assert_eq(cport_destroy(port), 0);
	cr_assert_eq(cport_wait(port, &c, 1, 0), -ESHUTDOWN);
	cr_assert_eq(cport_wait(port, &c, 1, -1), -ESHUTDOWN);
	cr_assert_eq(cport_post(port, 1, NULL, 0), -ESHUTDOWN);
	cport_release(port);
}

Test(retain, a_release_before_the_destroy_leaves_the_port_working, .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);
	struct cport_completion c;

	cr_assert_eq(cport_retain(port), 0);
	cport_release(port);
	cr_assert_eq(cport_post(port, 7, NULL, 0), 0);
	cr_assert_eq(cport_wait(port, &c, 1, TEST_WAIT_MS), 1);
	cr_assert_eq(c.key, 7);
	cr_assert_eq(cport_destroy(port), 0);
}

Test(retain, retain_of_null_is_einval, .timeout = TEST_TIMEOUT)
{
	cr_assert_eq(cport_retain(NULL), -EINVAL);
	cport_release(NULL);
}
