"""Counters: printed on SIGUSR1 and at exit, and they add up."""
import os
import socket

from echoserver import COUNTERS_RE, closed_by_peer, echo_once

NAMES = [
    "connections_open", "connections_total", "connections_refused", "connections_shed",
    "connections_idle_closed", "connections_drain_closed", "connections_spliced", "tcp_bytes_in", "tcp_bytes_out",
    "tcp_messages_in", "tcp_messages_out",
    "udp_datagrams_in", "udp_datagrams_out", "udp_bytes_in", "udp_bytes_out",
    "udp_drops_privileged_port", "udp_drops_broadcast", "udp_drops_truncated",
    "errors_accept_no_fd", "errors_accept_no_memory", "errors_accept_aborted",
    "errors_accept_other", "errors_connection_reset", "errors_connection_other",
    "errors_connection_setup", "errors_splice_pipe", "errors_udp_recv", "errors_udp_send",
    "proxy_headers_proxied", "proxy_headers_local", "proxy_closed_before_header", "proxy_errors_truncated",
    "proxy_errors_missing", "proxy_errors_malformed", "proxy_errors_oversized", "proxy_errors_timeout",
]


def test_sigusr1_prints_every_counter_and_the_server_goes_on(launch):
    srv = launch()
    c = srv.counters()
    assert list(c) == NAMES
    assert all(v == 0 for v in c.values())
    with srv.connect() as s:
        assert echo_once(s, b"still here") == b"still here"


def test_counters_add_up_tcp_and_udp_traffic(launch):
    srv = launch()
    sizes = [1, 1000, 123_456]
    for n in sizes:
        with srv.connect() as s:
            data = os.urandom(n)
            assert echo_once(s, data) == data
            s.shutdown(socket.SHUT_WR)
            assert closed_by_peer(s)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(10)
        for n in (0, 10, 500):
            u.sendto(b"u" * n, ("127.0.0.1", srv.port))
            assert u.recvfrom(1000)[0] == b"u" * n
    c = srv.wait_counters(lambda c: c["connections_open"] == 0 and c["udp_datagrams_out"] == 3)
    assert c["connections_total"] == 3
    assert c["tcp_bytes_in"] == c["tcp_bytes_out"] == sum(sizes)
    assert c["udp_datagrams_in"] == 3
    assert c["udp_bytes_in"] == c["udp_bytes_out"] == 510
    assert c["errors_connection_other"] == 0
    assert srv.stop() == 0
    assert srv.final_counters() == c
    assert COUNTERS_RE.match(srv.lines[-1])
