"""Echo round trips: Python sockets and socat as peers, IPv4 and IPv6,
the default and repeatable addresses, both threading models."""
import os
import random
import shutil
import socket
import subprocess

import pytest

from echoserver import IO_TIMEOUT, assert_server_side_has_nodelay, closed_by_peer, echo_once, have_ipv6


def test_echo_round_trip_with_python_sockets(launch):
    srv = launch()
    with srv.connect() as s:
        for size in (1, 100, 4096, 65536, 1 << 20):
            data = os.urandom(size)
            assert echo_once(s, data) == data


@pytest.mark.parametrize("size", ["512", "65536"])
def test_pool_buffer_size_changes_the_chunk_not_the_bytes(launch, size):
    srv = launch("--pool-buffer-size", size, "--pool-buffers", "64")
    with srv.connect() as s:
        for n in (1, 511, 513, 200_000):
            data = os.urandom(n)
            assert echo_once(s, data) == data


def test_echo_round_trip_with_socat(launch):
    if not shutil.which("socat"):
        pytest.fail("socat is not installed (make deps-test)")
    srv = launch()
    data = os.urandom(300_000)
    # socat half-closes when its stdin ends; the server echoes the rest and
    # closes, which ends socat (-t bounds that wait, it is not a delay).
    out = subprocess.run(
        ["socat", "-t", str(IO_TIMEOUT), "-", f"TCP:127.0.0.1:{srv.port}"],
        input=data,
        capture_output=True,
        timeout=IO_TIMEOUT,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == data


def test_echo_over_ipv6_loopback(launch):
    if not have_ipv6():
        pytest.skip("no IPv6 on loopback here")
    srv = launch("--port", "0", "--bind", "::1", bind=False)
    assert srv.host == "::1"
    with srv.connect() as s:
        data = os.urandom(70_000)
        assert echo_once(s, data) == data


def test_default_addresses_are_ipv4_and_ipv6_wildcards(launch):
    ready = 2 if have_ipv6() else 1
    srv = launch("--port", "0", bind=False, ready_lines=ready)
    hosts = [h for h, _ in srv.addrs]
    assert hosts[0] == "0.0.0.0"
    if ready == 2:
        assert hosts[1] == "::"
        assert srv.addrs[0][1] == srv.addrs[1][1], "both families share the port"
    targets = [("127.0.0.1", srv.port)] + ([("::1", srv.port)] if ready == 2 else [])
    for addr in targets:
        with srv.connect(addr) as s:
            assert echo_once(s, b"hello " + addr[0].encode()) == b"hello " + addr[0].encode()


def test_listen_is_repeatable(launch):
    args = ["--listen", "127.0.0.1:0", "--listen", "127.0.0.2:0"]
    srv = launch(*args, bind=False, ready_lines=2)
    assert [h for h, _ in srv.addrs] == ["127.0.0.1", "127.0.0.2"]
    for addr in srv.addrs:
        with srv.connect(addr) as s:
            assert echo_once(s, b"x" * 1000) == b"x" * 1000


@pytest.mark.parametrize("model", ["shared", "per-thread"])
def test_both_threading_models_echo_many_clients(launch, model):
    srv = launch("--model", model, "--threads", "3")
    assert srv.threads == 3
    rng = random.Random(7)
    socks = [srv.connect() for _ in range(30)]
    try:
        for s in socks:
            data = rng.randbytes(rng.randrange(1, 200_000))
            assert echo_once(s, data) == data
    finally:
        for s in socks:
            s.close()


def test_server_closes_at_end_of_stream(launch):
    srv = launch()
    with srv.connect() as s:
        assert echo_once(s, b"bye") == b"bye"
        s.shutdown(socket.SHUT_WR)
        assert closed_by_peer(s)


@pytest.mark.parametrize("large", ["default", "0"])
def test_a_big_message_is_read_in_large_chunks_unless_they_are_turned_off(launch, large):
    """After a receive fills a 16 KiB pool buffer, the next takes a large one
    (64 KiB): 4 MiB echoed costs about 64 receives, not 256 or more. (With
    no pipes: a spliced echo takes no pool buffers; test_splice.py.)"""
    srv = launch("--splice-pipes", "0", *([] if large == "default" else ["--pool-large-buffers", large]))
    data = os.urandom(4 << 20)
    with srv.connect() as s:
        assert echo_once(s, data) == data
    receives = srv.counters()["tcp_messages_in"]
    if large == "default":
        assert receives <= len(data) // 16384 // 2, receives
    else:
        assert receives >= len(data) // 16384, receives


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_every_connection_sends_at_once_without_nagle(launch, host):
    """Small echoes are not held back for an ACK: the server's side of each
    connection has TCP_NODELAY (set once on the listener, which its
    connections inherit)."""
    if host == "::1" and not have_ipv6():
        pytest.skip("no IPv6 on loopback")
    srv = launch("--port", "0", "--bind", host, bind=False)
    for _ in range(3):
        with socket.create_connection((host, srv.port), timeout=IO_TIMEOUT) as c:
            assert echo_once(c, b"small") == b"small"
            assert_server_side_has_nodelay(srv, c)
