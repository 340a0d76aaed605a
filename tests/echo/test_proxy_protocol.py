"""--proxy-protocol: a PROXY v1 or v2 header first on each TCP connection,
however it is split; the bytes after it echoed exactly; a bad, truncated,
oversized, late or missing header closes that connection only, counted by
reason; a connection closed before any byte (a health check) is quiet."""
import re
import socket
import struct

import pytest

from echoserver import closed_by_peer, echo_once, recv_exactly
from test_metrics import launch_metrics, scrape

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
REASONS = ["truncated", "missing", "malformed", "oversized", "timeout"]


def v2_tcp4(src, sport, dst, dport, tlvs=b""):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport) + tlvs
    return V2_SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def v2_tcp6(src, sport, dst, dport):
    body = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
    body += struct.pack("!HH", sport, dport)
    return V2_SIG + bytes([0x21, 0x21]) + struct.pack("!H", len(body)) + body


V2_LOCAL = V2_SIG + bytes([0x20, 0x00, 0, 0])


def proxy_server(launch, *extra):
    return launch_metrics(launch, "--proxy-protocol", "-v", *extra)


def wait_counts(srv, **want):
    """Until every proxy_* counter named matches (the server counts as it closes)."""
    return srv.wait_counters(lambda c: all(c["proxy_" + k] == v for k, v in want.items()))


@pytest.mark.parametrize("header", [
    v2_tcp4("192.0.2.10", 40000, "198.51.100.1", 7, tlvs=b"\x04\x00\x03abc"),
    v2_tcp6("2001:db8::10", 40001, "2001:db8::1", 7),
    b"PROXY TCP4 192.0.2.10 198.51.100.1 40000 7\r\n",
    b"PROXY TCP6 2001:db8::10 2001:db8::1 40001 7\r\n",
], ids=["v2-tcp4-tlv", "v2-tcp6", "v1-tcp4", "v1-tcp6"])
def test_a_header_split_at_every_byte_then_data_in_the_same_read_is_echoed_exactly(launch, header):
    srv = proxy_server(launch)
    client = "192.0.2.10:40000" if b"192.0.2.10" in header or b"\xc0\x00\x02\x0a" in header \
        else "[2001:db8::10]:40001"
    for cut in range(1, len(header)):
        with srv.connect() as s:
            s.sendall(header[:cut])
            s.sendall(header[cut:] + b"first bytes")  # header's end and data: one segment
            assert recv_exactly(s, 11) == b"first bytes"
            data = bytes(range(256)) * 300
            assert echo_once(s, data) == data
    # A send is counted when its completion is handled, which may be after the client read it.
    want = (len(header) - 1) * (11 + 76800)
    srv.wait_counters(lambda c: c["proxy_headers_proxied"] == len(header) - 1
                      and c["tcp_bytes_in"] == c["tcp_bytes_out"] == want)
    # -v names the real client, and the balancer it came through.
    _, m = srv.wait_line(re.compile(r"connection fd \d+ from " + re.escape(client) + r" via 127\.0\.0\.1:\d+ "))
    assert m is not None, srv.text()


def test_a_local_header_keeps_the_connection_and_is_counted_apart(launch):
    srv = proxy_server(launch)
    with srv.connect() as s:
        s.sendall(V2_LOCAL + b"ping")
        assert recv_exactly(s, 4) == b"ping"
    with srv.connect() as s:
        s.sendall(b"PROXY UNKNOWN\r\n")
        assert echo_once(s, b"pong") == b"pong"
    wait_counts(srv, headers_local=2, headers_proxied=0)


def bad_connection(srv, data, shut=False):
    """Send data (then maybe end our side); the server must close on us."""
    s = srv.connect()
    try:
        if data:
            s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        assert closed_by_peer(s), "the server kept a connection with a bad header"
    finally:
        s.close()


def test_each_bad_header_closes_its_connection_only_and_is_counted_by_reason(launch):
    srv = proxy_server(launch, "--proxy-header-timeout", "0.3")
    with srv.connect() as good:
        good.sendall(v2_tcp4("192.0.2.1", 1000, "192.0.2.2", 7))
        assert echo_once(good, b"before") == b"before"
        bad_connection(srv, b"PROXY TCP4 192.0.2.1", shut=True)          # truncated
        bad_connection(srv, b"GET / HTTP/1.1\r\n\r\n")                    # missing
        bad_connection(srv, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n")   # malformed
        bad_connection(srv, V2_SIG + b"\x31\x11\x00\x0c")                # malformed: v3
        bad_connection(srv, V2_SIG + b"\x21\x11\xff\xff")                # oversized
        bad_connection(srv, b"PROXY UNKNOWN " + b"x" * 100)              # oversized v1
        bad_connection(srv, b"PROXY TCP4 ")                               # timeout
        bad_connection(srv, b"")                                          # timeout: silent
        for _ in range(20):                                               # health checks
            socket.create_connection(srv.addrs[0]).close()
        c = wait_counts(srv, errors_truncated=1, errors_missing=1, errors_malformed=2, errors_oversized=2,
                        errors_timeout=2, closed_before_header=20)
        assert echo_once(good, b"after") == b"after"  # undisturbed throughout
    assert c["errors_connection_other"] == 0
    m = scrape(srv)
    for reason, n in zip(REASONS, [1, 1, 2, 2, 2]):
        assert m[f'cport_echo_proxy_header_errors_total{{reason="{reason}"}}'] == n
    assert m["cport_echo_proxy_closed_before_header_total"] == 20
    assert m['cport_echo_proxy_headers_total{command="proxy"}'] == 1
    # Health checks are quiet: no line for them at -v (debug only).
    assert "closed before the PROXY header" not in srv.text()


def test_without_the_option_a_header_is_echoed_like_any_data(launch):
    srv = launch()
    hdr = b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n"
    with srv.connect() as s:
        assert echo_once(s, hdr) == hdr
    assert srv.counters()["proxy_headers_proxied"] == 0
