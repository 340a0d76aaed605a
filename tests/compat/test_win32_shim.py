"""A classic Win32 IOCP echo server, built against cport's Win32 shim,
serves echo on both backends, in both accept styles, and ends on SIGTERM."""
import os
import random
import re
import signal
import socket
import subprocess
import threading

import pytest

BUILD = os.environ.get("CPORT_BUILD", "build")
PROG = os.path.join(BUILD, "tests", "iocp_echo")
READY = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")


def start(backend, *args):
    env = dict(os.environ, CPORT_BACKEND=backend)
    proc = subprocess.Popen([PROG, *args], stderr=subprocess.PIPE, env=env)
    line = proc.stderr.readline()
    m = READY.search(line)
    assert m, f"no ready line, got {line!r}"
    return proc, int(m.group(1))


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    proc.stderr.close()
    return rc


def echo_exactly(port, payload):
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        got = bytearray()

        def reader():
            while len(got) < len(payload):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got.extend(chunk)

        t = threading.Thread(target=reader)
        t.start()
        view = memoryview(payload)
        while view:
            n = random.randint(1, 20000)
            s.sendall(view[:n])
            view = view[n:]
        t.join(timeout=20)
        assert bytes(got) == payload
        s.shutdown(socket.SHUT_WR)
        assert s.recv(1) == b"", "server did not close after end of stream"


@pytest.mark.parametrize("backend", ["io_uring", "epoll"])
@pytest.mark.parametrize("style", ["WSAAccept", "AcceptEx"])
def test_classic_iocp_program_echoes_every_byte(backend, style):
    args = ["--acceptex"] if style == "AcceptEx" else []
    proc, port = start(backend, *args)
    try:
        payloads = [random.randbytes(random.randint(1, 300_000)) for _ in range(8)]
        threads = [threading.Thread(target=echo_exactly, args=(port, p)) for p in payloads]
        errors = []

        def run(p):
            try:
                echo_exactly(port, p)
            except Exception as e:  # collected and re-raised below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(p,)) for p in payloads]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
    finally:
        assert stop(proc) == 0


@pytest.mark.parametrize("backend", ["io_uring", "epoll"])
def test_a_reset_connection_closes_only_itself(backend):
    proc, port = start(backend, "--acceptex")
    try:
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"x" * 1000)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        echo_exactly(port, b"still here" * 1000)
    finally:
        assert stop(proc) == 0
