"""The Win32 shim's tests: the build under test, both backends, and
programs started with a bounded wait for their ready line."""
import os
import re
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(REPO, os.environ.get("CPORT_BUILD", "build"))
BACKENDS = ["io_uring", "epoll"]
# Sanitizer builds run slower: bounds are scaled, nothing is timed.
SLOW = 4 if "san" in os.path.basename(BUILD) else 1
READY = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def env_for(backend):
    env = dict(os.environ, CPORT_BACKEND=backend)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    return env


def skip_or_fail_unavailable(backend, output):
    """A program that could not create a port on io_uring: skip, unless
    io_uring works here (CPORT_URING_EXPECTED=1), then fail."""
    if backend == "io_uring" and os.environ.get("CPORT_URING_EXPECTED") != "1":
        pytest.skip("io_uring is not available here: " + output.strip().splitlines()[-1])
    pytest.fail(f"backend {backend} unavailable:\n{output}")


class Program:
    """A server started with its stdin a pipe (closing it stops the server)
    and its stdout read up to the ready line."""

    def __init__(self, args, backend):
        self.args = args
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env_for(backend), text=True)
        self.lines = []
        self.port = None
        for line in self.proc.stdout:
            self.lines.append(line)
            m = READY.search(line)
            if m:
                self.port = int(m.group(1))
                return
        self.proc.wait(10 * SLOW)
        if self.proc.returncode == 77 or "CreateIoCompletionPort failed" in "".join(self.lines):
            skip_or_fail_unavailable(backend, "".join(self.lines))
        pytest.fail(f"{args} did not get ready:\n{''.join(self.lines)}")

    def stop(self):
        """Close stdin; the program must exit 0 by itself. Returns its output."""
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30 * SLOW)  # it prints a line or two: the pipe cannot fill
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"{self.args} did not stop:\n{''.join(self.lines)}{self.proc.stdout.read()}")
        out = self.proc.stdout.read()
        text = "".join(self.lines) + out
        assert self.proc.returncode == 0, f"{self.args} exited {self.proc.returncode}:\n{text}"
        return text

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f and not f.closed:
                f.close()


def bench(port, connections=100, size=512, seconds=2):
    """cport-bench (the neutral epoll client) verifies every echoed byte
    (for a second under sanitizers: the same checks, fewer rounds)."""
    seconds = seconds if SLOW == 1 else 1
    args = [os.path.join(BUILD, "cport-bench"), "--backend", "epoll", "-p", str(port), "-c", str(connections),
            "-s", str(size), "-d", str(seconds), "--warmup", "0", "--timeout", str(10 * SLOW)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode == 0 and "OK: every byte echoed verified" in r.stdout + r.stderr, \
        f"{args} exited {r.returncode}:\n{r.stdout}{r.stderr}"
