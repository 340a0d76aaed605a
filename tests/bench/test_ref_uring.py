"""bench/ref/echo_uring.c (build/bench/ref-uring): the io_uring floor of make bench.

It has to echo every byte, in every mode, or the floor it shows is not an echo
server's."""
import platform
import re
import socket
import time

import pytest

from conftest import READY_TIMEOUT, Server, binary, io_uring_works

MODES = ["oneshot", "multishot", "oneshot,shared", "multishot,shared",
         # The options measured on the floor (docs/performance.md, "Tried on the floor").
         "oneshot,sqpoll", "oneshot,regring", "oneshot,direct", "multishot,direct", "oneshot,zc",
         "oneshot,accept1",
         # 64 KiB buffers, a few at a time in the ring: the floor for 64 KiB messages.
         "oneshot,big", "multishot,big",
         # A multishot receive into the connection's own buffers, given one by one.
         "provide", "provide,shared",
         # A multishot receive the kernel ends after 16 KiB (Linux 6.17), armed
         # again once the echoes are out.
         "capped", "capped,shared", "cap4k"]


def kernel_caps_multishot():
    """Linux 6.17 took sqe->optlen as a multishot receive's total cap."""
    m = re.match(r"(\d+)\.(\d+)", platform.release())
    return m is not None and (int(m.group(1)), int(m.group(2))) >= (6, 17)


@pytest.fixture(params=MODES)
def ref_uring(request):
    if not io_uring_works():
        pytest.skip("io_uring is not usable on this kernel")
    if request.param.startswith("cap") and not kernel_caps_multishot():
        pytest.skip("this kernel has no cap on a multishot receive (Linux 6.17)")
    srv = Server([binary("bench/ref-uring"), "0", "127.0.0.1", request.param])
    srv.mode = request.param
    yield srv
    srv.stop()


def test_ready_line_names_the_port_and_the_receives(ref_uring):
    kind = ref_uring.mode.split(",")[0]
    assert ref_uring.lines[0].startswith(f"ref-uring: listening on 127.0.0.1:{ref_uring.port} ({kind} receives")


@pytest.mark.parametrize("conns,size", [(1, 64), (100, 4096), (10, 100000)])
def test_cport_bench_verifies_every_byte(ref_uring, bench, conns, size):
    r = bench(ref_uring.port, "-c", str(conns), "-s", str(size), "--backend", "epoll", duration="0.3")
    assert r.code == 0, r
    assert r.json["messages"] > 0 and r.json["ok"], r


def test_peers_that_leave_are_let_go_and_others_still_served(ref_uring):
    for _ in range(50):
        with socket.create_connection(("127.0.0.1", ref_uring.port), timeout=READY_TIMEOUT) as s:
            s.sendall(b"x" * 100)
    with socket.create_connection(("127.0.0.1", ref_uring.port), timeout=READY_TIMEOUT) as s:
        s.sendall(b"still here")
        got = b""
        while len(got) < 10:
            chunk = s.recv(100)
            assert chunk, "closed early"
            got += chunk
        assert got == b"still here"
    assert ref_uring.proc.poll() is None


@pytest.mark.parametrize("mode", ["provide", "capped", "cap4k"])
def test_bounded_modes_keep_a_peer_that_does_not_read_and_echo_it_all_once_it_does(mode):
    """A multishot receive with its bound (the connection's own buffers, or
    the kernel's cap with read-ahead packed into the last queued buffer): a
    peer that sends and does not read is held back, not dropped (the
    unbounded multishot mode drops a peer 8 buffers ahead); once it reads,
    every byte comes back once, in order."""
    if not io_uring_works():
        pytest.skip("io_uring is not usable on this kernel")
    if mode.startswith("cap") and not kernel_caps_multishot():
        pytest.skip("this kernel has no cap on a multishot receive (Linux 6.17)")
    srv = Server([binary("bench/ref-uring"), "0", "127.0.0.1", mode])
    pattern = bytes(i % 251 for i in range(1 << 20))
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=READY_TIMEOUT) as s:
            s.setblocking(False)
            sent, blocked_since = 0, None
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    off = sent % len(pattern)
                    sent += s.send(pattern[off:off + 65536])
                    blocked_since = None
                except BlockingIOError:
                    blocked_since = blocked_since or time.monotonic()
                    if time.monotonic() - blocked_since > 0.5:
                        break
                    time.sleep(0.01)
            assert blocked_since, "the server never held the peer back"
            assert sent > 16 * 16384, "held back before 16 buffers' worth: not a test of the bound"
            s.settimeout(READY_TIMEOUT)
            got = bytearray()
            while len(got) < sent:
                chunk = s.recv(1 << 20)
                assert chunk, f"closed after {len(got)} of {sent} bytes"
                got += chunk
            want = (pattern * (sent // len(pattern) + 1))[:sent]
            assert bytes(got) == want
        assert srv.proc.poll() is None
    finally:
        srv.stop()


@pytest.fixture(params=["plain", "batch"])
def ref_udp_uring(request):
    """The UDP floor, replying to each datagram at once or ("batch") to a wait's
    datagrams together by one sendmmsg."""
    if not io_uring_works():
        pytest.skip("io_uring is not usable on this kernel")
    srv = Server([binary("bench/ref-udp-uring"), "0", "127.0.0.1"] + (["batch"] if request.param == "batch" else []))
    yield srv
    srv.stop()


@pytest.mark.parametrize("size", [1, 64, 65507])
def test_udp_floor_echoes_a_datagram_whole_to_its_sender(ref_udp_uring, size):
    payload = bytes(i % 251 for i in range(size))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(READY_TIMEOUT)
        s.sendto(payload, ("127.0.0.1", ref_udp_uring.port))
        data, peer = s.recvfrom(70000)
    assert data == payload and peer == ("127.0.0.1", ref_udp_uring.port)


def test_udp_floor_under_cport_bench_loses_nothing(ref_udp_uring, bench):
    r = bench(ref_udp_uring.port, "--udp", "-c", "100", "--backend", "epoll", duration="0.3")
    assert r.code == 0, r
    assert r.json["messages"] > 0 and r.counter("lost") == 0, r


@pytest.mark.parametrize("mode", ["pktinfo", "pktinfo,batch"])
def test_udp_floor_with_pktinfo_answers_from_the_address_it_was_sent_to(mode):
    """On a wildcard address, "pktinfo" makes the reply leave from the address
    the datagram came to (127.0.0.2 here), as cport-echo's do."""
    if not io_uring_works():
        pytest.skip("io_uring is not usable on this kernel")
    srv = Server([binary("bench/ref-udp-uring"), "0", "0.0.0.0", mode])
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.settimeout(READY_TIMEOUT)
            s.sendto(b"to the second address", ("127.0.0.2", srv.port))
            data, peer = s.recvfrom(100)
        assert data == b"to the second address" and peer == ("127.0.0.2", srv.port)
    finally:
        srv.stop()
