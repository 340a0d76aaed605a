/* backend_choice.c - how a port picks its backend: auto falls back to epoll
 * when io_uring is forbidden (a real seccomp filter in a child process),
 * CPORT_BACKEND overrides auto, and a forced backend is honoured. */
#include "cport_test.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

TEST_SUITE(backend_choice);

/* A child reports failure as one line on a pipe, then exits non-zero. */
struct child_report {
	int fd;
};

static int child_fail(struct child_report *r, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);

	va_end(ap);
	if (n > 0 && write(r->fd, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1) < 0)
		return 2;
	return 1;
}

/* Make io_uring_setup fail with EPERM for this process from now on. */
static int forbid_io_uring(struct child_report *r)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

	if (!ctx)
		return child_fail(r, "seccomp_init failed");
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(io_uring_setup), 0);

	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		return child_fail(r, "installing the seccomp filter: %s", strerror(-rc));
	/* The filter is in force. */
	if (syscall(__NR_io_uring_setup, 4, NULL) != -1 || errno != EPERM)
		return child_fail(r, "io_uring_setup is not forbidden (errno %d)", errno);
	return 0;
}

/* A recv/send round trip through port over a fresh loopback pair. */
static int child_round_trip(struct child_report *r, cport_t *port)
{
	int a, b;

	if (test_tcp_pair_try(&a, &b) < 0)
		return child_fail(r, "no loopback TCP pair");
	struct cport_op sop, rop;
	struct cport_completion cs[2];
	char in[6] = {0};
	struct iovec siov = {"echo!", 6}, riov = {in, sizeof(in)};
	int rc = 0;

	cport_op_init(&sop);
	cport_op_init(&rop);
	if (cport_attach(port, a, 1) || cport_attach(port, b, 2))
		rc = child_fail(r, "attach failed");
	else if (cport_recv(port, b, &rop, &riov, 1) || cport_send(port, a, &sop, &siov, 1))
		rc = child_fail(r, "starting recv/send failed");
	else if (test_wait_n(port, cs, 2, TEST_WAIT_MS) != 2)
		rc = child_fail(r, "round trip: no completions");
	else if (memcmp(in, "echo!", 6) != 0)
		rc = child_fail(r, "round trip: wrong bytes");
	close(a);
	close(b);
	return rc;
}

static int child_auto_falls_back(struct child_report *r)
{
	cport_t *port = NULL;
	int rc = forbid_io_uring(r);

	if (rc)
		return rc;
	rc = cport_create(NULL, &port);
	if (rc < 0)
		return child_fail(r, "auto cport_create failed: %s", strerror(-rc));
	if (strcmp(cport_backend_name(port), "epoll") != 0)
		rc = child_fail(r, "auto picked %s, want epoll", cport_backend_name(port));
	else
		rc = child_round_trip(r, port);
	cport_destroy(port);
	return rc;
}

static int child_forced_uring_fails(struct child_report *r)
{
	struct cport_options o;
	cport_t *port = NULL;
	int rc = forbid_io_uring(r);

	if (rc)
		return rc;
	cport_options_init(&o);
	o.backend = CPORT_BACKEND_URING;
	rc = cport_create(&o, &port);
	if (rc == 0) {
		cport_destroy(port);
		return child_fail(r, "forced io_uring was created under the filter");
	}
	if (rc != -EPERM && rc != -ENOSYS)
		return child_fail(r, "forced io_uring gave %d (%s), want -EPERM or -ENOSYS", rc,
				  strerror(-rc));
	if (port)
		return child_fail(r, "failed create set *out");
	return 0;
}

static int child_env_uring_does_not_fall_back(struct child_report *r)
{
	cport_t *port = NULL;
	int rc = forbid_io_uring(r);

	if (rc)
		return rc;
	setenv("CPORT_BACKEND", "io_uring", 1);
	rc = cport_create(NULL, &port);
	if (rc == 0) {
		int fail = child_fail(r, "auto with CPORT_BACKEND=io_uring gave a %s port",
				      cport_backend_name(port));
		cport_destroy(port);
		return fail;
	}
	if (rc != -EPERM && rc != -ENOSYS && rc != -EOPNOTSUPP)
		return child_fail(r, "auto with CPORT_BACKEND=io_uring gave %d (%s)", rc,
				  strerror(-rc));
	return 0;
}

/* Run fn in a forked child without CPORT_BACKEND set; assert it passed. */
static void run_in_child(int (*fn)(struct child_report *))
{
	int pfd[2];
	char msg[256] = {0};
	int status;

	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	pid_t pid = fork();

	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct child_report r = {pfd[1]};

		close(pfd[0]);
		unsetenv("CPORT_BACKEND");
		_exit(fn(&r));
	}
	close(pfd[1]);
	ssize_t n = test_read_some(pfd[0], msg, sizeof(msg) - 1, TEST_WAIT_MS);

	close(pfd[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child died: signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	cr_assert_eq(WEXITSTATUS(status), 0, "child: %s", n > 0 ? msg : "(no message)");
}

Test(backend_choice, auto_picks_epoll_and_still_works_when_seccomp_forbids_io_uring_setup,
     .timeout = TEST_TIMEOUT)
{
	run_in_child(child_auto_falls_back);
}

Test(backend_choice, forcing_io_uring_when_seccomp_forbids_it_fails_with_an_error_not_a_crash,
     .timeout = TEST_TIMEOUT)
{
	run_in_child(child_forced_uring_fails);
}

Test(backend_choice, cport_backend_io_uring_where_io_uring_is_forbidden_fails_instead_of_falling_back,
     .timeout = TEST_TIMEOUT)
{
	run_in_child(child_env_uring_does_not_fall_back);
}

/* Set CPORT_BACKEND for the rest of this test process. */
static void set_env_backend(const char *value)
{
	cr_assert_eq(setenv("CPORT_BACKEND", value, 1), 0);
}

Test(backend_choice, cport_backend_epoll_in_the_environment_makes_auto_pick_epoll,
     .timeout = TEST_TIMEOUT)
{
	cport_t *port = NULL;

	set_env_backend("epoll");
	cr_assert_eq(cport_create(NULL, &port), 0);
	cr_assert_str_eq(cport_backend_name(port), "epoll");
	cport_destroy(port);
}

Test(backend_choice, cport_backend_io_uring_in_the_environment_makes_auto_pick_io_uring,
     .timeout = TEST_TIMEOUT)
{
	struct cport_options o;
	cport_t *port = NULL;

	cport_options_init(&o);
	o.backend = CPORT_BACKEND_URING;
	int rc = cport_create(&o, &port);

	if (rc < 0)
		test_uring_create_failed(rc);
	cr_assert_eq(rc, 0, "cport_create(io_uring): %s", strerror(-rc));
	cport_destroy(port);
	set_env_backend("io_uring");
	cr_assert_eq(cport_create(NULL, &port), 0);
	cr_assert_str_eq(cport_backend_name(port), "io_uring");
	cport_destroy(port);
}

Test(backend_choice, auto_picks_io_uring_wherever_a_raw_ring_with_what_cport_needs_works,
     .timeout = TEST_TIMEOUT)
{
	char why[160];
	cport_t *port = NULL;

	if (!test_uring_works_here(why, sizeof(why)))
		cr_skip_test("io_uring cannot run here (%s)", why);
	cr_assert_eq(unsetenv("CPORT_BACKEND"), 0);
	int rc = cport_create(NULL, &port);

	cr_assert_eq(rc, 0, "auto cport_create: %s", strerror(-rc));
	cr_assert_str_eq(cport_backend_name(port), "io_uring",
			 "auto fell back to %s where io_uring works", cport_backend_name(port));
	cport_destroy(port);
}

Test(backend_choice, a_forced_backend_is_used_whatever_the_environment_says,
     .timeout = TEST_TIMEOUT)
{
	set_env_backend(test_backend() == CPORT_BACKEND_EPOLL ? "io_uring" : "epoll");
	cport_t *port = test_port_new(NULL);

	cr_assert_str_eq(cport_backend_name(port), test_backend_label());
	cport_destroy(port);
}

Test(backend_choice, the_port_reports_the_backend_under_test_by_name, .timeout = TEST_TIMEOUT)
{
	cport_t *port = test_port_new(NULL);

	cr_assert_str_eq(cport_backend_name(port), test_backend_label());
	cr_assert_str_eq(cport_version(), CPORT_VERSION_STRING);
	cport_destroy(port);
}

Test(backend_choice, an_unknown_cport_backend_name_fails_with_einval, .timeout = TEST_TIMEOUT)
{
	cport_t *port = NULL;

	set_env_backend("kqueue");
	cr_assert_eq(cport_create(NULL, &port), -EINVAL);
	cr_assert_null(port);
}
