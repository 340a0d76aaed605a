"""Fixtures for cport-bench's tests: the binaries, echo servers (faulty or not), a runner."""
import functools
import json
import os
import subprocess
import sys
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("CPORT_BUILD", "build"))
HERE = os.path.dirname(os.path.abspath(__file__))
READY_TIMEOUT = 10
RUN_TIMEOUT = 30


def binary(name):
    path = os.path.join(BUILD, name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built (make test-bench builds it)")
    return path


class Server:
    """A server process whose first 'listening on ADDR:PORT' line on stderr gives its port."""

    def __init__(self, argv):
        self.port, self.lines = None, []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(READY_TIMEOUT) or self.port is None:
            self.stop()
            raise RuntimeError("server did not start: " + " | ".join(self.lines))

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())
            if self.port is None and "listening on " in line:
                self.port = int(line.split("listening on ", 1)[1].split()[0].rsplit(":", 1)[1])
                self.ready.set()
        self.ready.set()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(READY_TIMEOUT)


@pytest.fixture
def start_server():
    """start_server(kind, *args): 'faulty' runs faulty_echo.py with args, 'epoll' the C reference."""
    started = []

    def start(kind="faulty", *args):
        if kind == "epoll":
            argv = [binary("bench/ref-epoll"), "0"]
        else:
            argv = [sys.executable, os.path.join(HERE, "faulty_echo.py"), *args]
        s = Server(argv)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


class Result:
    def __init__(self, proc, data):
        self.code, self.out, self.err, self.json = proc.returncode, proc.stdout, proc.stderr, data

    def counter(self, name):
        return self.json["errors"][name]

    def __repr__(self):
        return f"exit {self.code}\n{self.out}\n{self.err}"


@pytest.fixture
def bench(tmp_path):
    """bench(port, *args): run cport-bench briefly, return its exit status, output and JSON."""
    exe = binary("cport-bench")

    def run(port, *args, duration="0.5", warmup="0", timeout=RUN_TIMEOUT):
        jpath = tmp_path / "out.json"
        if jpath.exists():
            jpath.unlink()
        argv = [exe, "--port", str(port), "-d", duration, "--warmup", warmup, "--json", str(jpath), *args]
        if "--host" not in args:
            argv += ["--host", "127.0.0.1"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        data = json.loads(jpath.read_text()) if jpath.exists() else None
        return Result(p, data)

    return run


@functools.lru_cache(maxsize=None)
def io_uring_works():
    """Whether this kernel lets a port run on io_uring (cport-bench says so when it cannot)."""
    s = Server([binary("bench/ref-epoll"), "0"])
    try:
        p = subprocess.run([binary("cport-bench"), "--port", str(s.port), "-d", "0.05", "--warmup", "0",
                            "--backend", "io_uring"], capture_output=True, text=True, timeout=RUN_TIMEOUT)
        return "cannot create a port" not in p.stderr
    finally:
        s.stop()


@pytest.fixture(params=["io_uring", "epoll"])
def backend(request):
    if request.param == "io_uring" and not io_uring_works():
        if os.environ.get("CPORT_URING_EXPECTED") == "1":
            pytest.fail("io_uring works on this machine, yet cport-bench could not use it")
        pytest.skip("io_uring is not usable on this kernel")
    return request.param
