"""bench/ref/udp_echo.c (build/bench/ref-udp): the UDP baseline of make bench,
and with "mmsg" the floor of a batching server (recvmmsg/sendmmsg)."""
import signal
import socket
import subprocess
import time

import pytest

from conftest import READY_TIMEOUT, Server, binary


@pytest.fixture(params=["plain", "mmsg"])
def ref_udp(request):
    mode = ["127.0.0.1", "mmsg"] if request.param == "mmsg" else []
    srv = Server([binary("bench/ref-udp"), "0", *mode])
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


def stopped(proc):
    """Stop proc and return once it is stopped (state T in /proc), within READY_TIMEOUT."""
    proc.send_signal(signal.SIGSTOP)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        with open(f"/proc/{proc.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        time.sleep(0.01)
    raise AssertionError("the server did not stop")


def test_a_burst_queued_while_stopped_is_answered_once_each_to_its_sender(ref_udp):
    """The datagrams of 16 senders, queued while the server is stopped, are
    taken together when it goes on (in batches, in mmsg mode): each is
    answered once, to the socket that sent it. A last datagram from each
    socket, sent after its three answers came, is the next it gets back:
    a duplicate would come before it."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(16)]
    try:
        stopped(ref_udp.proc)
        for i, s in enumerate(socks):
            s.settimeout(READY_TIMEOUT)
            for j in range(3):
                s.sendto(b"%d/%d" % (i, j), ("127.0.0.1", ref_udp.port))
        ref_udp.proc.send_signal(signal.SIGCONT)
        for i, s in enumerate(socks):
            assert sorted(s.recvfrom(100)[0] for _ in range(3)) == [b"%d/%d" % (i, j) for j in range(3)]
            s.sendto(b"%d/end" % i, ("127.0.0.1", ref_udp.port))
            assert s.recvfrom(100)[0] == b"%d/end" % i
    finally:
        ref_udp.proc.send_signal(signal.SIGCONT)
        for s in socks:
            s.close()


@pytest.mark.parametrize("mode", [[], ["127.0.0.1", "mmsg"]], ids=["plain", "mmsg"])
def test_sigterm_at_once_after_ready_exits_zero(mode):
    for _ in range(5):
        srv = Server([binary("bench/ref-udp"), "0", *mode])
        try:
            srv.proc.send_signal(signal.SIGTERM)
            assert srv.proc.wait(READY_TIMEOUT) == 0
        finally:
            srv.stop()


def test_cport_bench_through_it_loses_nothing(ref_udp, bench):
    r = bench(ref_udp.port, "--udp", "-c", "4", "--backend", "epoll", duration="0.3")
    assert r.code == 0, r
    assert r.json["messages"] > 0 and r.counter("lost") == 0, r


@pytest.mark.parametrize("args", [["x"], ["70000"], ["0", "not-an-address"], ["0", "127.0.0.1", "extra"],
                                  ["0", "127.0.0.1", "mmsg", "extra"]])
def test_bad_arguments_fail(args):
    p = subprocess.run([binary("bench/ref-udp"), *args], capture_output=True, text=True, timeout=READY_TIMEOUT)
    assert p.returncode != 0 and p.stderr
