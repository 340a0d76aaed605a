"""The fairness test's machinery: the scale of a run, cport-echo started on an
ephemeral port, and one round of cport-bench read back from its JSON report.

The scale comes from the environment so that `make stress` can ask for
10,000 connections with the same test (CPORT_FAIR_*; see Scale). Every wait
is for an event (a line, an exit) with a bounded timeout.
"""
import json
import os
import queue
import re
import resource
import signal
import subprocess
import threading
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("CPORT_BUILD", "build")
BUILD_DIR = BUILD if os.path.isabs(BUILD) else os.path.join(REPO, BUILD)
BUILD_NAME = os.path.basename(BUILD_DIR.rstrip("/"))
SANITIZED = "san" in BUILD_NAME
# ASan and UBSan cost the echo path little: half the connections still show a
# starved one. TSan costs much more.
DEFAULT_SCALE = 0.25 if "tsan" in BUILD_NAME else 0.5 if SANITIZED else 1

# Sanitizer builds are several times slower. These bounds only stop a hung
# run; the fairness bound itself is the test's and is not scaled.
SLOW = 4 if SANITIZED else 1
START_TIMEOUT = 15 * SLOW
STOP_TIMEOUT = 30 * SLOW
# Descriptors each process needs beyond one per connection (ports, rings,
# eventfds, listeners, the server's reserve descriptor, stdio).
FD_SPARE = 256
MESSAGE_SIZE = 64

READY_RE = re.compile(r"cport-echo: listening on (\S+):(\d+) \(backend (\S+), (\d+) threads\)")
SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|runtime error:")
NO_URING = "cannot create a completion port (backend io_uring)"


def _setting(name, default):
    value = os.environ.get(name, "").strip()
    return value if value else str(default)


def _count_or_default(text):
    """An int, or None for "default": leave the choice to cport-echo."""
    return None if text == "default" else int(text)


class Scale:
    """How big a run is. At CI scale (the defaults): 2,000 connections and a
    receive pool of one buffer per 32 connections per port, so that they
    compete for buffers the way 10,000 connections compete for the default
    1,024; 4 server threads; 6 rounds of 1 s. CPORT_FAIR_SCALE multiplies the
    connections (DEFAULT_SCALE); CPORT_FAIR_CONNECTIONS, _POOL,
    _THREADS ("default": cport-echo's own), _ROUNDS, _DURATION and _WARMUP
    set each figure outright."""

    def __init__(self):
        factor = float(_setting("CPORT_FAIR_SCALE", DEFAULT_SCALE))
        self.connections = int(_setting("CPORT_FAIR_CONNECTIONS", max(100, int(2000 * factor))))
        self.pool = _count_or_default(_setting("CPORT_FAIR_POOL", max(4, self.connections // 32)))
        self.threads = _count_or_default(_setting("CPORT_FAIR_THREADS", 4))
        self.rounds = int(_setting("CPORT_FAIR_ROUNDS", 6))
        self.duration = float(_setting("CPORT_FAIR_DURATION", 1))
        self.warmup = float(_setting("CPORT_FAIR_WARMUP", 0.5))

    def describe(self):
        pool = "default pool" if self.pool is None else f"pool {self.pool}"
        threads = "default threads" if self.threads is None else f"{self.threads} threads"
        return (f"{self.connections} connections, {pool}, {threads}, "
                f"{self.rounds} x ({self.warmup:g} s warm-up + {self.duration:g} s)")


def nofile_for(connections):
    """The RLIMIT_NOFILE (soft, hard) cport-echo gets for this many
    connections; skips when the hard limit cannot hold them. (cport-bench
    raises its own soft limit.)"""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = connections + FD_SPARE
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"the open-files hard limit ({hard}) is below the {need} descriptors "
                    f"cport-echo and cport-bench each need for {connections} connections")
    return max(soft, need), hard


class EchoServer:
    """cport-echo serving TCP on 127.0.0.1 at a port it picks. Its stderr
    lines go onto a queue from a reader thread, so the pipe never fills."""

    def __init__(self, backend, model, scale):
        binary = os.path.join(BUILD_DIR, "cport-echo")
        if not os.path.exists(binary):
            pytest.fail(f"{binary} is not built (make {BUILD}/cport-echo)")
        self.args = [binary, "--backend", backend, "--model", model, "--bind", "127.0.0.1", "--port", "0",
                     "--tcp-only", "--quiet"]
        if scale.threads is not None:
            self.args += ["--threads", str(scale.threads)]
        if scale.pool is not None:
            self.args += ["--pool-buffers", str(scale.pool)]
        nofile = nofile_for(scale.connections)
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        # A leak or UB report must fail the test: stderr is checked at exit.
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.proc = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile))
        self.seen = []
        self._lines = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        self.port, self.threads = self._ready(backend)

    def _pump(self):
        for raw in self.proc.stderr:
            self._lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self._lines.put(None)

    def _next_line(self, deadline):
        """The next stderr line; None at EOF or once the deadline passed."""
        try:
            line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None
        if line is not None:
            self.seen.append(line)
        return line

    def _ready(self, backend):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            line = self._next_line(deadline)
            if line is None:
                break
            m = READY_RE.search(line)
            if m:
                assert m.group(3) == backend, f"asked for backend {backend}, got {m.group(3)}"
                return int(m.group(2)), int(m.group(4))
        self.kill()
        text = self.text()
        if NO_URING in text:
            if os.environ.get("CPORT_URING_EXPECTED") == "1":
                pytest.fail("io_uring works on this machine, yet cport could not use it: " + "io_uring is not available here: " + text.strip().splitlines()[-1])
            pytest.skip("io_uring is not available here: " + text.strip().splitlines()[-1])
        pytest.fail(f"cport-echo did not get ready ({self.args}, exit {self.proc.returncode}):\n{text}")

    def text(self):
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.seen.append(line)
        return "\n".join(self.seen)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(STOP_TIMEOUT)
        self._reader.join(STOP_TIMEOUT)

    def stop(self):
        """SIGTERM: it must drain, exit 0 and print no sanitizer report."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        hung = self.proc.poll() is None
        self.kill()
        text = self.text()
        if hung:
            how = f"did not exit within {STOP_TIMEOUT} s of SIGTERM"
        elif self.proc.returncode != 0:
            how = f"exited {self.proc.returncode}"
        elif SANITIZER_RE.search(text):
            how = "printed a sanitizer report"
        else:
            return
        raise AssertionError(f"cport-echo {how}:\n{text[-12000:]}")


class Round:
    """One cport-bench run's figures, from its JSON report."""

    def __init__(self, report, exit_status):
        self.exit_status = exit_status
        self.requested = report["connections"]["requested"]
        self.connected = report["connections"]["connected"]
        self.messages = report["messages"]
        self.msgs_per_s = report["msgs_per_s"]
        self.errors = {k: v for k, v in report["errors"].items() if v}
        latency = report["latency_us"] or {}
        self.latency_max_ms = (latency.get("max") or 0) / 1000

    def problems(self, bound_s):
        """What breaks the bound or the run, as text; empty when fair."""
        out = []
        if self.connected != self.requested:
            out.append(f"{self.requested - self.connected} of {self.requested} connections never connected")
        if self.errors:
            out.append(f"errors {self.errors}")
        if self.latency_max_ms > bound_s * 1000:
            out.append(f"an echo took {self.latency_max_ms:.0f} ms")
        if self.messages < self.connected:
            out.append(f"only {self.messages} messages for {self.connected} connections")
        if self.exit_status != 0 and not out:
            out.append(f"cport-bench exited {self.exit_status}")
        return out

    def brief(self):
        errs = " ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "no errors"
        return f"{self.connected}/{self.requested} connected, {self.msgs_per_s:.0f} msgs/s, " \
               f"latency max {self.latency_max_ms:.0f} ms, {errs}"


def bench_round(port, scale, bound_s, json_path):
    """One closed-loop cport-bench run of scale.connections connections, each
    given up (and counted a timeout) after bound_s without progress."""
    binary = os.path.join(BUILD_DIR, "cport-bench")
    if not os.path.exists(binary):
        pytest.fail(f"{binary} is not built (make {BUILD}/cport-bench)")
    args = [binary, "--host", "127.0.0.1", "--port", str(port), "--connections", str(scale.connections),
            "--size", str(MESSAGE_SIZE), "--duration", str(scale.duration), "--warmup", str(scale.warmup),
            "--timeout", f"{bound_s:g}", "--json", str(json_path)]
    # Connecting (each connect bounded by bound_s, all by a slack), the run,
    # the last echoes, closing: this only stops a hung client.
    wall = (scale.warmup + scale.duration + bound_s + scale.connections / 500 + 30) * SLOW
    if os.path.exists(json_path):
        os.unlink(json_path)
    try:
        done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=wall)
    except subprocess.TimeoutExpired:
        pytest.fail(f"cport-bench did not finish within {wall:.0f} s: {args}")
    if done.returncode == 2 or not os.path.exists(json_path):
        pytest.fail(f"cport-bench could not run (exit {done.returncode}): {args}\n"
                    f"{done.stdout.decode(errors='replace')}{done.stderr.decode(errors='replace')}")
    with open(json_path) as f:
        return Round(json.load(f), done.returncode)
