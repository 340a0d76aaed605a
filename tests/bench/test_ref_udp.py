"""bench/ref/udp_echo.c (build/bench/ref-udp): the UDP baseline of make bench."""
import signal
import socket
import subprocess

import pytest

from conftest import READY_TIMEOUT, Server, binary


@pytest.fixture
def ref_udp():
    srv = Server([binary("bench/ref-udp"), "0"])
    yield srv
    srv.stop()


def ask(port, payload):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(READY_TIMEOUT)
        s.sendto(payload, ("127.0.0.1", port))
        data, peer = s.recvfrom(70000)
    return data, peer


def test_ready_line_names_the_port(ref_udp):
    assert ref_udp.port > 0
    assert ref_udp.lines[0] == f"ref-udp: listening on 127.0.0.1:{ref_udp.port}"


@pytest.mark.parametrize("size", [1, 64, 65507])
def test_echoes_a_datagram_whole(ref_udp, size):
    payload = bytes(i % 251 for i in range(size))
    data, peer = ask(ref_udp.port, payload)
    assert data == payload and peer == ("127.0.0.1", ref_udp.port)


def test_sigterm_exits_zero(ref_udp):
    assert ask(ref_udp.port, b"before")[0] == b"before"
    ref_udp.proc.send_signal(signal.SIGTERM)
    assert ref_udp.proc.wait(READY_TIMEOUT) == 0


def test_sigterm_at_once_after_ready_exits_zero():
    for _ in range(5):
        srv = Server([binary("bench/ref-udp"), "0"])
        try:
            srv.proc.send_signal(signal.SIGTERM)
            assert srv.proc.wait(READY_TIMEOUT) == 0
        finally:
            srv.stop()


def test_cport_bench_through_it_loses_nothing(ref_udp, bench):
    r = bench(ref_udp.port, "--udp", "-c", "4", "--backend", "epoll", duration="0.3")
    assert r.code == 0, r
    assert r.json["messages"] > 0 and r.counter("lost") == 0, r


@pytest.mark.parametrize("args", [["x"], ["70000"], ["0", "not-an-address"], ["0", "127.0.0.1", "extra"]])
def test_bad_arguments_fail(args):
    p = subprocess.run([binary("bench/ref-udp"), *args], capture_output=True, text=True, timeout=READY_TIMEOUT)
    assert p.returncode != 0 and p.stderr
