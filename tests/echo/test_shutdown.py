"""SIGTERM and SIGINT: stop accepting, let connections finish, exit 0."""
import os
import signal
import socket
import threading
import time

import pytest

from echoserver import IO_TIMEOUT, closed_by_peer, echo_once, recv_exactly


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_0_and_prints_counters(launch, sig):
    srv = launch()
    with srv.connect() as s:
        assert echo_once(s, b"ping") == b"ping"
    assert srv.stop(sig) == 0
    c = srv.final_counters()
    assert c["connections_total"] == 1
    assert c["tcp_bytes_in"] == 4


@pytest.mark.parametrize("model", ["shared", "per-thread"])
def test_sigterm_with_open_connections_exits_0_after_the_drain_timeout(launch, model):
    srv = launch("--drain-timeout", "0.5", "--model", model, "--threads", "2")
    socks = [srv.connect() for _ in range(20)]
    try:
        for s in socks:
            assert echo_once(s, b"x" * 100) == b"x" * 100
        assert srv.stop() == 0
        for s in socks:
            assert closed_by_peer(s)
    finally:
        for s in socks:
            s.close()
    assert srv.final_counters()["connections_drain_closed"] == 20


def test_drain_lets_a_connection_finish_its_transfer(launch):
    """After SIGTERM a client mid-transfer sends the rest and gets it all back."""
    srv = launch("--drain-timeout", str(IO_TIMEOUT))
    data = os.urandom(4 << 20)
    with srv.connect() as s:
        half = len(data) // 2
        assert echo_once(s, data[:half]) == data[:half]
        srv.proc.send_signal(signal.SIGTERM)
        # The listener goes away: new connections are refused (bounded wait).
        deadline = time.monotonic() + IO_TIMEOUT
        extra_echoes = 0
        while True:
            try:
                with socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT) as extra:
                    # Accepted before the stop took effect: served like any
                    # other; or still in the backlog when the listener closed.
                    extra.sendall(b"z")
                    got = extra.recv(1)
                    assert got in (b"z", b"")
                    extra_echoes += len(got)
            except ConnectionResetError:
                pass
            except ConnectionRefusedError:
                break
            assert time.monotonic() < deadline, "still accepting after SIGTERM"
        assert echo_once(s, data[half:]) == data[half:]
        s.shutdown(socket.SHUT_WR)
        assert closed_by_peer(s)
    # The last connection closed: the server leaves without waiting out the drain.
    assert srv.stop(timeout=IO_TIMEOUT) == 0
    c = srv.final_counters()
    assert c["connections_drain_closed"] == 0
    assert c["tcp_bytes_out"] == len(data) + extra_echoes


def test_a_second_signal_closes_everything_at_once(launch):
    srv = launch("--drain-timeout", "3600")
    with srv.connect() as s:
        assert echo_once(s, b"hold") == b"hold"
        start = len(srv.lines)
        srv.proc.send_signal(signal.SIGTERM)
        i, _ = srv.wait_line("draining 1 connections", start)
        assert i is not None, srv.text()
        assert srv.stop(signal.SIGINT) == 0
        assert closed_by_peer(s)


def test_sigterm_during_heavy_traffic_exits_0(launch):
    """Clients still pushing data when the drain times out are cut off cleanly."""
    srv = launch("--drain-timeout", "0.2")
    stop = threading.Event()
    errors = []

    def pusher():
        try:
            with srv.connect() as s:
                while not stop.is_set():
                    s.sendall(os.urandom(65536))
                    recv_exactly(s, 65536)
        except (ConnectionError, AssertionError, OSError):
            pass  # the server closed us: expected
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=pusher) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        srv.wait_counters(lambda c: c["connections_total"] == 8 and c["tcp_bytes_out"] > 0)
        assert srv.stop() == 0
    finally:
        stop.set()
        for t in threads:
            t.join(IO_TIMEOUT)
    assert not errors, errors
