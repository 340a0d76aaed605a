"""UDP echo under abuse: datagrams from privileged source ports (reflection
attacks aim a server's replies at such ports) are dropped and counted, while
datagrams of every size, 0 and 65,507 bytes included, are echoed exactly to
well-behaved senders, with TCP clients served alongside."""
import os
import random
import select
import socket
import time

import pytest

from .advserver import SETTLE_TIMEOUT, SLOW, WellBehaved, scaled, warm_up

MAX_V4_DATAGRAM = 65507  # 65,535 - 20 (IPv4 header) - 8 (UDP header)
RSS_SLACK_KB = 2048


def privileged_socket():
    """A UDP socket bound to a free port below 1024 (we run as root)."""
    if os.geteuid() != 0:
        pytest.skip("binding a source port below 1024 needs root")
    for port in range(1023, 600, -1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
            return s
        except OSError:
            s.close()
    pytest.fail("no free UDP port below 1024")


def udp_echo(sock, server, payload, timeout):
    """Send one datagram; the reply must be the same bytes, from the server's
    address (the one it was sent to)."""
    sock.sendto(payload, server)
    ready, _, _ = select.select([sock], [], [], timeout)
    assert ready, f"no reply to a {len(payload)}-byte datagram within {timeout} s"
    data, src = sock.recvfrom(MAX_V4_DATAGRAM + 1)
    assert src == server, f"reply from {src}, sent to {server}"
    assert data == payload, f"reply of {len(data)} bytes differs from the {len(payload)} sent"


def test_udp_drops_privileged_sources_and_echoes_every_size(start_server):
    srv = start_server()
    warm_up(srv, 100)
    base = srv.baseline()
    rng = random.Random()
    timeout = 10 * SLOW
    before = srv.counters()
    good = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    good.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    good.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    bad = privileged_socket()
    rounds = scaled(1000, 200)
    sent_bad = 0
    with WellBehaved(srv.addr, parallel=4):
        udp_echo(good, srv.addr, b"", timeout)
        udp_echo(good, srv.addr, rng.randbytes(MAX_V4_DATAGRAM), timeout)
        for _ in range(rounds):
            # Hostile datagrams between the good ones, from port < 1024.
            for _ in range(2):
                bad.sendto(rng.randbytes(rng.randint(0, 1400)), srv.addr)
                sent_bad += 1
            size = rng.choice((0, 1, 2, 512, 1472, 1473, 8192, 65000, MAX_V4_DATAGRAM, rng.randint(0, MAX_V4_DATAGRAM)))
            udp_echo(good, srv.addr, rng.randbytes(size), timeout)
        # Every hostile datagram counted as dropped and every other one as
        # answered (the server's own counts, waited for: a send is counted
        # when it completes, maybe after its reply was read here), and not
        # one hostile datagram answered.
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            c = srv.counters()
            dropped = c["udp_drops_privileged_port"] - before["udp_drops_privileged_port"]
            dgrams_in = c["udp_datagrams_in"] - before["udp_datagrams_in"]
            dgrams_out = c["udp_datagrams_out"] - before["udp_datagrams_out"]
            if dropped >= sent_bad and dgrams_out >= dgrams_in - dropped:
                break
            assert time.monotonic() < deadline, f"{dropped} of {sent_bad} privileged-port datagrams counted dropped: {c}"
            time.sleep(0.02)  # the next SIGUSR1 sample
        assert dropped == sent_bad, c
        bad.setblocking(False)
        with pytest.raises(BlockingIOError):
            bad.recvfrom(65536)
    assert dgrams_out == dgrams_in - sent_bad == rounds + 2, c
    good.close()
    bad.close()
    srv.assert_alive()
    srv.settle(base, RSS_SLACK_KB, "udp")
