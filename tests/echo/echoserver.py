"""Start the built cport-echo, read its ready line, talk to it, stop it.

Every wait here is for an event (a line on stderr, a byte, an exit) with a
bounded timeout; nothing sleeps to let something happen.
"""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("CPORT_BUILD", "build")
BINARY = os.path.join(REPO, BUILD, "cport-echo") if not os.path.isabs(BUILD) else os.path.join(BUILD, "cport-echo")

READY_RE = re.compile(r"^(?:<\d>)?cport-echo: listening on (\S+):(\d+) \(backend (\S+), (\d+) threads\)$")
METRICS_RE = re.compile(r"^(?:<\d>)?cport-echo: metrics on http://(\S+):(\d+)/metrics$")
COUNTERS_RE = re.compile(r"^(?:<\d>)?cport-echo: counters: (.*)$")

# Sanitizer builds are several times slower: every bound is scaled, none is a
# timing assertion (they only stop a hung test).
SLOW = 4 if "san" in BUILD else 1
START_TIMEOUT = 15 * SLOW
STOP_TIMEOUT = 20 * SLOW
IO_TIMEOUT = 20 * SLOW


class Server:
    """A running cport-echo whose stderr is collected line by line."""

    def __init__(self, args, env=None, preexec_fn=None, prefix=(), stdin=subprocess.DEVNULL):
        """prefix: a program that runs cport-echo (systemd-socket-activate ...);
        stdin: what it gets as standard input (--inetd: a socket)."""
        self.args = list(prefix) + [BINARY] + list(args)
        if not os.path.exists(BINARY):
            pytest.fail(f"{BINARY} is not built (make {BUILD}/cport-echo)")
        full_env = dict(os.environ)
        full_env.pop("JOURNAL_STREAM", None)
        full_env.update(env or {})
        # The leak checker's report must fail a test, not pass unseen.
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.proc = subprocess.Popen(
            self.args,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            preexec_fn=preexec_fn,
        )
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.addrs = []  # (host, port) of every ready line
        self.backend = None
        self.threads = None

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_line(self, regex, start=0, timeout=IO_TIMEOUT):
        """The index and match of the first line from `start` on matching regex."""
        rx = re.compile(regex) if isinstance(regex, str) else regex
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return i, m
                    i += 1
                if self.eof:
                    return None, None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, None
                self.cond.wait(left)

    def wait_ready(self, nlines=1):
        """Wait for nlines ready lines; skip if io_uring cannot run here."""
        start = 0
        for _ in range(nlines):
            i, m = self.wait_line(READY_RE, start, START_TIMEOUT)
            if m is None:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
                self.reader.join(STOP_TIMEOUT)
                text = "\n".join(self.lines)
                if "cannot create a completion port (backend io_uring)" in text:
                    if os.environ.get("CPORT_URING_EXPECTED") == "1":
                        pytest.fail("io_uring works on this machine, yet cport could not use it: " + "io_uring is not available here: " + text.strip().splitlines()[-1])
                    pytest.skip("io_uring is not available here: " + text.strip().splitlines()[-1])
                pytest.fail(f"cport-echo did not get ready (exit {self.proc.returncode}):\n{text}")
            host = m.group(1)
            if host.startswith("[") and host.endswith("]"):
                host = host[1:-1]
            self.addrs.append((host, int(m.group(2))))
            self.backend = m.group(3)
            self.threads = int(m.group(4))
            start = i + 1
        return self

    @property
    def port(self):
        return self.addrs[0][1]

    @property
    def host(self):
        return self.addrs[0][0]

    def text(self):
        with self.cond:
            return "\n".join(self.lines)

    def counters(self, timeout=IO_TIMEOUT):
        """Ask for the counters (SIGUSR1) and return the new line as a dict."""
        with self.cond:
            start = len(self.lines)
        self.proc.send_signal(signal.SIGUSR1)
        _, m = self.wait_line(COUNTERS_RE, start, timeout)
        assert m is not None, "no counters line after SIGUSR1:\n" + self.text()
        return parse_counters(m.group(1))

    def wait_counters(self, pred, timeout=IO_TIMEOUT):
        """Ask for the counters until pred(counters) holds; return them."""
        deadline = time.monotonic() + timeout
        while True:
            c = self.counters()
            if pred(c):
                return c
            assert time.monotonic() < deadline, f"counters never matched: {c}"
            # A fresh sample costs a signal round trip; pace it a little.
            time.sleep(0.05)

    def final_counters(self):
        """The counters line printed at exit."""
        idx = None
        with self.cond:
            for i, line in enumerate(self.lines):
                if COUNTERS_RE.search(line):
                    idx = i
        assert idx is not None, "no counters line at exit:\n" + self.text()
        return parse_counters(COUNTERS_RE.search(self.lines[idx]).group(1))

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Send sig, wait for the exit; return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
            pytest.fail(f"cport-echo did not exit within {timeout} s of {sig!r}:\n" + self.text())
        self.reader.join(STOP_TIMEOUT)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
        self.reader.join(STOP_TIMEOUT)

    def connect(self, addr=None, timeout=IO_TIMEOUT):
        host, port = addr or self.addrs[0]
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((host, port))
        return s


def parse_counters(text):
    out = {}
    for kv in text.split():
        k, _, v = kv.partition("=")
        out[k] = int(v)
    return out


def start_args(backend, *extra, bind=True):
    """--backend BACKEND [--port 0 --bind 127.0.0.1] EXTRA..."""
    args = ["--backend", backend]
    if bind:
        args += ["--port", "0", "--bind", "127.0.0.1"]
    return args + list(extra)


def recv_exactly(sock, n):
    chunks = []
    got = 0
    while got < n:
        b = sock.recv(min(n - got, 1 << 20))
        if not b:
            raise AssertionError(f"EOF after {got} of {n} bytes")
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def echo_once(sock, data):
    """Send data and read it back (the peer reads while we send)."""
    err = []

    def sender():
        try:
            sock.sendall(data)
        except OSError as e:  # pragma: no cover - reported below
            err.append(e)

    t = threading.Thread(target=sender)
    t.start()
    back = recv_exactly(sock, len(data))
    t.join(IO_TIMEOUT)
    assert not err, err
    return back


def closed_by_peer(sock, timeout=IO_TIMEOUT):
    """Wait (bounded) until the peer ends the connection: EOF or reset."""
    sock.settimeout(timeout)
    try:
        while True:
            b = sock.recv(65536)
            if not b:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def assert_an_idle_connection_is_closed(srv):
    """One connection echoes once, then stays silent: the server (started
    with --idle-timeout) closes it, and counts it as closed for idleness."""
    with srv.connect() as idle:
        assert echo_once(idle, b"then silence") == b"then silence"
        assert closed_by_peer(idle)
    c = srv.wait_counters(lambda c: c["connections_total"] == 1 and c["connections_open"] == 0)
    assert c["connections_idle_closed"] == 1


def server_side_of(pid, client):
    """The server's own socket for the connection client has to it, copied
    into this process (pidfd_getfd(2): Linux 5.6+, with the right to ptrace
    the server). It is found by its inode in /proc/net/tcp[6]: the one whose
    remote port is client's local port. None where that is not allowed."""
    import ctypes
    lport = client.getsockname()[1]
    inodes = set()
    for name in ("tcp", "tcp6"):
        with open(f"/proc/net/{name}") as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if int(cols[2].rsplit(":", 1)[1], 16) == lport:
                    inodes.add(cols[9])
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            pidfd = os.pidfd_open(pid)
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                got = libc.syscall(438, pidfd, int(fd), 0)  # SYS_pidfd_getfd, 438 on every architecture
            finally:
                os.close(pidfd)
            return socket.socket(fileno=got) if got >= 0 else None
    raise AssertionError(f"no socket of pid {pid} is the peer of port {lport}")


def assert_server_side_has_nodelay(srv, client):
    """The server's side of client's connection has TCP_NODELAY (skips where
    the server's socket cannot be reached)."""
    theirs = server_side_of(srv.proc.pid, client)
    if theirs is None:
        pytest.skip("pidfd_getfd(2) is not allowed here")
    with theirs:
        assert theirs.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False
