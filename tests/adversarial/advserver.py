"""Start cport-echo for the adversarial suite and watch its resources.

The server's stderr is read line by line in a thread (the ready line, the
counters printed on SIGUSR1); its memory, descriptors and CPU time are read
from /proc. Every wait is for an event with a bounded timeout, except where
only /proc can tell (a descriptor count going down): there we poll /proc at a
short interval, bounded too.
"""
import os
import re
import resource
import signal
import subprocess
import threading
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("CPORT_BUILD", "build")
BINARY = os.path.join(BUILD if os.path.isabs(BUILD) else os.path.join(REPO, BUILD), "cport-echo")
SANITIZED = "san" in os.path.basename(BUILD.rstrip("/"))

# Counts are multiplied by SCALE (never below each case's floor): a sanitizer
# build is several times slower and may run with CPORT_ADV_SCALE=0.2. Time
# bounds are multiplied by SLOW; they only stop a hung test, never assert speed.
SCALE = float(os.environ.get("CPORT_ADV_SCALE", "0.2" if SANITIZED else "1"))
SLOW = 4 if SANITIZED else 1
START_TIMEOUT = 15 * SLOW
STOP_TIMEOUT = 30 * SLOW
SETTLE_TIMEOUT = 20 * SLOW
THREADS = 4  # fixed, so that RSS figures do not depend on the CPU count
# Under ASan, freed memory sits in its quarantine (256 MiB by default) rather
# than going back: RSS cannot come back down, so every RSS tolerance grows by
# that much there. Leaks are then LeakSanitizer's to find, at exit (stop()).
QUARANTINE_KB = 256 * 1024 if SANITIZED else 0

READY_RE = re.compile(r"cport-echo: listening on (\S+):(\d+) \(backend (\S+), (\d+) threads\)")
COUNTERS_RE = re.compile(r"cport-echo: counters: (.*)$")
SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|runtime error:")

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")

# cport-echo's receive pool per port: the library's 1024 buffers of 16 KiB
# (cport.h) and cport-echo's 64 large ones of 64 KiB (--pool-large-buffers),
# in one fixed region whose pages are touched on first use and then stay
# resident.
SMALL_BUFFERS, SMALL_BUF = 1024, 16384
LARGE_BUFFERS, LARGE_BUF = 64, 65536
POOL_BYTES = SMALL_BUFFERS * SMALL_BUF + LARGE_BUFFERS * LARGE_BUF
# What the large buffers can hold beyond one small buffer's worth each: a
# never-reader in a large buffer pins up to that much more.
LARGE_EXTRA = LARGE_BUFFERS * (LARGE_BUF - SMALL_BUF)


def scaled(n, floor):
    """n scaled for this build, never below floor."""
    return max(floor, int(n * SCALE))


def nofile_limit(n):
    """A preexec_fn that sets RLIMIT_NOFILE to n (soft and hard), like
    `prlimit --nofile=n`."""

    def _set():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

    return _set


class Server:
    """A running cport-echo; `wrap` runs it through another command (ip netns
    exec ...) which must exec it, so the pid is the server's."""

    def __init__(self, backend, *extra, bind="127.0.0.1", wrap=(), preexec_fn=None):
        if not os.path.exists(BINARY):
            pytest.fail(f"{BINARY} is not built (make {BUILD}/cport-echo)")
        self.backend = backend
        self.args = list(wrap) + [BINARY, "--backend", backend, "--threads", str(THREADS)]
        if bind:
            self.args += ["--bind", bind, "--port", "0"]
        self.args += list(extra)
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        # A leak or UB report must fail the test: we read stderr at exit.
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            preexec_fn=preexec_fn,
        )
        self.pid = self.proc.pid
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.addr = None
        self._wait_ready()

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_line(self, rx, start=0, timeout=SETTLE_TIMEOUT):
        """(index, match) of the first line from start on matching rx."""
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return i, m
                    i += 1
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    return None, None
                self.cond.wait(left)

    def _wait_ready(self):
        _, m = self.wait_line(READY_RE, 0, START_TIMEOUT)
        if m is None:
            self.kill()
            text = self.text()
            if "cannot create a completion port (backend io_uring)" in text:
                if os.environ.get("CPORT_URING_EXPECTED") == "1":
                    pytest.fail("io_uring works on this machine, yet cport could not use it: " + "io_uring is not available here: " + text.strip().splitlines()[-1])
                pytest.skip("io_uring is not available here: " + text.strip().splitlines()[-1])
            pytest.fail(f"cport-echo did not get ready ({self.args}, exit {self.proc.returncode}):\n{text}")
        assert m.group(3) == self.backend, f"asked for {self.backend}, got {m.group(3)}"
        self.addr = (m.group(1), int(m.group(2)))

    def text(self):
        with self.cond:
            return "\n".join(self.lines)

    # ---- health and resources ------------------------------------------

    def alive(self):
        return self.proc.poll() is None

    def assert_alive(self):
        assert self.alive(), f"cport-echo died (exit {self.proc.returncode}):\n{self.text()[-4000:]}"

    def rss_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def nfds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def cpu_seconds(self):
        """utime + stime so far, all threads."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def counters(self, timeout=SETTLE_TIMEOUT):
        """SIGUSR1, then the counters line it prints, as a dict."""
        with self.cond:
            start = len(self.lines)
        self.proc.send_signal(signal.SIGUSR1)
        _, m = self.wait_line(COUNTERS_RE, start, timeout)
        assert m is not None, "no counters line after SIGUSR1:\n" + self.text()[-4000:]
        return dict((k, int(v)) for k, _, v in (kv.partition("=") for kv in m.group(1).split()))

    def pool_kb(self):
        """Resident kB of the receive pool: the mapping the library names
        [anon:cport-pool] (one per port; on a kernel that cannot name it, the
        anonymous read-write mapping of exactly POOL_BYTES). It is a fixed
        region that fills as it is used and never grows; the leak checks
        below leave it out. Fails unless exactly one is found (the figures
        would be wrong), except under a sanitizer, whose own mappings can
        look like an unnamed pool."""
        for _ in range(5):  # smaps read while mappings change can miss one: read again
            found = self._pool_rss()
            if SANITIZED or len(found) == 1:
                return sum(found)
        with open(f"/proc/{self.pid}/maps") as f:
            maps = f.read()
        raise AssertionError(f"expected one receive-pool mapping, found {len(found)}:\n{maps}")

    def _pool_rss(self):
        named, unnamed = [], []
        pick = None
        with open(f"/proc/{self.pid}/smaps") as f:
            for line in f:
                head = line.split(" ", 1)[0]
                if "-" in head and line[0] in "0123456789abcdef":
                    lo, hi = head.split("-")
                    fields = line.split()
                    pick = None
                    if fields[-1] == "[anon:cport-pool]":
                        pick = named
                    elif fields[1] == "rw-p" and len(fields) == 5 and int(hi, 16) - int(lo, 16) == POOL_BYTES:
                        pick = unnamed
                elif line.startswith("Rss:") and pick is not None:
                    pick.append(int(line.split()[1]))
        return named or unnamed

    def mem_kb(self):
        """(RSS outside the receive pool, the pool's resident part), kB."""
        pool = self.pool_kb()
        return self.rss_kb() - pool, pool

    def wait_no_connections(self, timeout=SETTLE_TIMEOUT):
        """Until the server counts no open connection (each one counted
        closed after its close completed)."""
        deadline = time.monotonic() + timeout
        while True:
            c = self.counters()
            if c["connections_open"] == 0:
                return c
            assert time.monotonic() < deadline, f"connections still open: {c}"
            time.sleep(0.02)  # the next SIGUSR1 sample

    def baseline(self):
        """(RSS outside the pool in kB, descriptors), taken once the server
        has no connection left."""
        self.assert_alive()
        self.wait_no_connections()
        return self.mem_kb()[0], self.nfds()

    def settle(self, base, rss_slack_kb, what, timeout=SETTLE_TIMEOUT):
        """Wait until the descriptor count is back to base's and RSS outside
        the pool is within rss_slack_kb of base's; fail with the figures if
        not in time. The server gets no event we could wait on for its
        closes, so /proc is polled (every 20 ms, bounded)."""
        base_rss, base_fds = base
        rss_slack_kb += QUARANTINE_KB
        deadline = time.monotonic() + timeout
        while True:
            self.assert_alive()
            fds = self.nfds()
            rss, pool = self.mem_kb()
            if fds <= base_fds and rss <= base_rss + rss_slack_kb:
                return rss, fds
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what}: server did not return to its baseline: descriptors {fds} (baseline {base_fds}), "
                    f"RSS outside the pool {rss} kB (baseline {base_rss} kB, tolerance +{rss_slack_kb} kB; "
                    f"pool {pool} kB); counters {self.counters()}"
                )
            time.sleep(0.02)

    # ---- stopping -------------------------------------------------------

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(STOP_TIMEOUT)
        self.reader.join(STOP_TIMEOUT)

    def stop(self):
        """SIGTERM; it must drain, exit 0 and print no sanitizer report."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"cport-echo did not exit within {STOP_TIMEOUT} s of SIGTERM:\n{self.text()[-4000:]}")
        self.reader.join(STOP_TIMEOUT)
        text = self.text()
        assert rc == 0, f"cport-echo exited {rc}:\n{text[-6000:]}"
        assert not SANITIZER_RE.search(text), f"sanitizer report:\n{text[-12000:]}"
        return rc


# ---- client processes -------------------------------------------------------

CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "advclient.py")


class ClientProcess:
    """advclient.py MODE ARGS in its own process (optionally through `wrap`,
    e.g. ip netns exec NS); talks JSON lines over its stdin/stdout."""

    def __init__(self, mode, args, wrap=()):
        import json
        import sys

        self._json = json
        self.mode = mode
        self.proc = subprocess.Popen(
            list(wrap) + [sys.executable, CLIENT, mode, json.dumps(args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.buf = b""

    def read(self, timeout):
        """The next JSON line, waiting at most timeout seconds for it."""
        import selectors

        deadline = time.monotonic() + timeout
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            while b"\n" not in self.buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.kill()
                    raise AssertionError(f"client process {self.mode}: nothing within {timeout} s")
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    self.proc.wait(STOP_TIMEOUT)
                    err = self.proc.stderr.read().decode(errors="replace")
                    raise AssertionError(f"client process {self.mode} exited {self.proc.returncode}:\n{err[-4000:]}")
                self.buf += chunk
        finally:
            sel.close()
        line, self.buf = self.buf.split(b"\n", 1)
        return self._json.loads(line)

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def finish(self, timeout):
        """Close its stdin (stop) and return its last report."""
        self.proc.stdin.close()
        msg = self.read(timeout)
        self.proc.wait(timeout)
        return msg

    def wait(self, timeout):
        """Wait for it to exit by itself; it must exit 0."""
        self.proc.stdin.close()
        rc = self.proc.wait(timeout)
        assert rc == 0, f"client process {self.mode} exited {rc}: {self.proc.stderr.read().decode(errors='replace')}"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)


class WellBehaved:
    """Verifying clients in another process, running for as long as the
    `with` block; on leaving, every one of them must have finished whole.

        with WellBehaved(addr, parallel=8) as wb:
            ...hostile clients...
        wb.result  # {"done", "failed", "bytes", "failures"}
    """

    def __init__(self, addr, parallel=8, max_size=256 * 1024, wrap=(), spread=True, min_done=1):
        self.args = {"addr": list(addr), "parallel": parallel, "max_size": max_size, "spread": spread,
                     "timeout": 600, "seed": int.from_bytes(os.urandom(4), "little")}
        self.wrap = wrap
        self.min_done = min_done
        self.result = None

    def __enter__(self):
        self.cp = ClientProcess("wellbehaved", self.args, self.wrap)
        msg = self.cp.read(START_TIMEOUT)  # a first echo came back whole
        assert msg.get("running"), msg
        return self

    def __exit__(self, et, ev, tb):
        if et is not None:
            self.cp.kill()
            return False
        msg = self.cp.finish(SETTLE_TIMEOUT * 3)
        self.result = msg["result"]
        r = self.result
        assert r["failed"] == 0, f"well-behaved clients failed ({r['failed']} of {r['done'] + r['failed']}): {r['failures']}"
        assert r["done"] >= self.min_done, f"only {r['done']} well-behaved clients finished: {r}"
        return False


def warm_up(srv, count=300):
    """Random echoes (some half-closing) before a baseline is taken, so that
    the baseline already has what the server allocates on first use (thread
    arenas, the library's tables)."""
    from . import advclient

    import random

    rng = random.Random(1)
    stats = advclient.run_echoes(srv.addr, advclient.random_jobs(rng, count, 16 * 1024), concurrency=32,
                                 timeout=60 * SLOW, sources=advclient.Sources(srv.addr[0]))
    assert stats.failed == 0, stats.failures
    srv.assert_alive()
