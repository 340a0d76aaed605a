"""UDP echo (RFC 862): datagrams back to the sender, from the address they
were sent to; reflection guards drop privileged and broadcast sources."""
import os
import signal
import socket
import time

import pytest

from echoserver import IO_TIMEOUT, have_ipv6

PRIVILEGED_PORTS = range(1000, 1024)


def udp_client(fam=socket.AF_INET, host="127.0.0.1", port=0):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(IO_TIMEOUT)
    s.bind((host, port))
    return s


def privileged_client():
    for port in PRIVILEGED_PORTS:
        try:
            return udp_client(port=port)
        except PermissionError:
            pytest.skip("binding a port below 1024 needs root (or CAP_NET_BIND_SERVICE)")
        except OSError:
            continue
    pytest.skip("no free port in 1000..1023")


@pytest.mark.parametrize("size", [0, 1, 1472, 9000, 65507])
def test_datagram_comes_back_whole(launch, size):
    srv = launch()
    data = os.urandom(size)
    with udp_client() as c:
        c.sendto(data, ("127.0.0.1", srv.port))
        back, peer = c.recvfrom(65536)
    assert back == data
    assert peer == ("127.0.0.1", srv.port)


def test_many_datagrams_each_echoed_once(launch):
    srv = launch()
    with udp_client() as c:
        sent = set()
        for i in range(200):
            payload = b"%05d" % i
            c.sendto(payload, ("127.0.0.1", srv.port))
            sent.add(payload)
            # one in flight at a time: loopback UDP may drop under a burst
            back, _ = c.recvfrom(100)
            assert back == payload
    c = srv.wait_counters(lambda c: c["udp_datagrams_out"] == 200)
    assert c["udp_datagrams_in"] == 200
    assert c["udp_bytes_in"] == c["udp_bytes_out"] == 1000


def test_reply_leaves_from_the_address_the_datagram_was_sent_to(launch):
    """Served on the wildcard, a datagram to 127.0.0.2 is answered from
    127.0.0.2 (IP_PKTINFO), not from the route's preferred 127.0.0.1."""
    srv = launch("--listen", "0.0.0.0:0", "--udp-only", bind=False)
    with udp_client() as c:
        for dst in ("127.0.0.2", "127.0.0.1", "127.1.2.3"):
            c.sendto(b"where from?", (dst, srv.port))
            back, peer = c.recvfrom(100)
            assert back == b"where from?"
            assert peer == (dst, srv.port)


def test_ipv6_reply_leaves_from_the_address_it_was_sent_to(launch):
    if not have_ipv6():
        pytest.skip("no IPv6 on loopback here")
    srv = launch("--listen", "[::]:0", "--udp-only", bind=False)
    with udp_client(socket.AF_INET6, "::1") as c:
        c.sendto(b"six", ("::1", srv.port))
        back, peer = c.recvfrom(100)
        assert back == b"six"
        assert peer[:2] == ("::1", srv.port)


def test_ipv6_reply_from_a_server_bound_to_one_address(launch):
    """Bound to one address, the server asks for no IPV6_PKTINFO (every
    datagram was sent to that address): replies still leave from it, and
    the source guard still reads the sender's port."""
    if not have_ipv6():
        pytest.skip("no IPv6 on loopback here")
    srv = launch("--listen", "[::1]:0", "--udp-only", bind=False)
    with udp_client(socket.AF_INET6, "::1") as c:
        for size in (0, 6, 65527):
            data = os.urandom(size)
            c.sendto(data, ("::1", srv.port))
            back, peer = c.recvfrom(65536)
            assert back == data
            assert peer[:2] == ("::1", srv.port)
    c = srv.wait_counters(lambda c: c["udp_datagrams_out"] == 3)
    assert c["udp_datagrams_in"] == 3


def test_privileged_source_port_is_dropped_and_counted(launch):
    srv = launch()
    with privileged_client() as bad, udp_client() as good:
        bad.sendto(b"reflect me", ("127.0.0.1", srv.port))
        srv.wait_counters(lambda c: c["udp_drops_privileged_port"] == 1)
        good.sendto(b"fine", ("127.0.0.1", srv.port))
        assert good.recvfrom(100)[0] == b"fine"
        bad.setblocking(False)
        with pytest.raises(BlockingIOError):
            bad.recvfrom(100)  # the server decided: nothing was sent back
    # counted when the send completes, which may be just after it arrived
    c = srv.wait_counters(lambda c: c["udp_datagrams_out"] == 1)
    assert c["udp_datagrams_in"] == 2
    assert c["udp_drops_privileged_port"] == 1


def test_privileged_source_guard_is_configurable(launch):
    srv = launch("--udp-min-source-port", "0")
    with privileged_client() as c:
        c.sendto(b"trusted", ("127.0.0.1", srv.port))
        assert c.recvfrom(100)[0] == b"trusted"
    assert srv.counters()["udp_drops_privileged_port"] == 0


def test_tcp_only_serves_no_udp(launch):
    srv = launch("--tcp-only")
    with udp_client() as c:
        c.connect(("127.0.0.1", srv.port))
        c.send(b"anyone?")
        with pytest.raises(ConnectionRefusedError):
            c.recv(100)  # ICMP port unreachable: nothing listens


def test_udp_only_serves_no_tcp(launch):
    srv = launch("--udp-only")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT)
    with udp_client() as c:
        c.sendto(b"udp", ("127.0.0.1", srv.port))
        assert c.recvfrom(10)[0] == b"udp"


@pytest.mark.parametrize("model", ["shared", "per-thread"])
def test_udp_and_tcp_share_the_port(launch, model):
    srv = launch("--model", model, "--threads", "2")
    with udp_client() as u, srv.connect() as t:
        u.sendto(b"dgram", ("127.0.0.1", srv.port))
        t.sendall(b"stream")
        assert u.recvfrom(10)[0] == b"dgram"
        assert t.recv(10) == b"stream"


BURST = 48
SILENCE = 0.3  # seconds the clients wait to see that no second reply comes


def burst(srv, dests):
    """One datagram from each of len(dests) clients, all queued while the server
    is stopped, so that it wakes to a burst: the receives that find datagrams
    waiting, and the replies of one wake-up, in one go. [(client, payload, dest)]"""
    sent = []
    os.kill(srv.proc.pid, signal.SIGSTOP)
    try:
        for i, dst in enumerate(dests):
            c = udp_client()
            payload = b"datagram %03d " % i + os.urandom(40)
            c.sendto(payload, (dst, srv.port))
            sent.append((c, payload, dst))
    finally:
        os.kill(srv.proc.pid, signal.SIGCONT)
    return sent


def assert_each_answered_once(srv, sent):
    for c, payload, dst in sent:
        back, peer = c.recvfrom(200)
        assert back == payload
        assert peer == (dst, srv.port), "the reply must leave from the address the datagram was sent to"
    time.sleep(SILENCE)  # time for a second reply to arrive, if one were sent
    for c, _, _ in sent:
        c.setblocking(False)
        with pytest.raises(BlockingIOError):
            c.recvfrom(200)
        c.close()


def test_a_burst_is_answered_once_each(launch):
    srv = launch("--udp-only")
    assert_each_answered_once(srv, burst(srv, ["127.0.0.1"] * BURST))
    c = srv.wait_counters(lambda c: c["udp_datagrams_out"] == BURST)
    assert c["udp_datagrams_in"] == BURST
    assert c["errors_udp_send"] == 0


def test_a_burst_to_many_addresses_is_answered_from_each(launch):
    srv = launch("--listen", "0.0.0.0:0", "--udp-only", bind=False)
    dests = ["127.0.0.1", "127.0.0.2", "127.1.2.3"] * (BURST // 3)
    assert_each_answered_once(srv, burst(srv, dests))
    srv.wait_counters(lambda c: c["udp_datagrams_out"] == len(dests))
