"""--max-connections and --idle-timeout."""
import os
import select
import socket
import time

from echoserver import IO_TIMEOUT, assert_an_idle_connection_is_closed, closed_by_peer, echo_once

# cport-echo's default large pool buffer size: the largest chunk it reads at
# once, and (cport-echo(1)) the most it holds read but not yet written back
# for a client that does not read.
CHUNK = 65536


def test_connections_over_the_limit_are_closed_at_once_and_counted(launch):
    srv = launch("--max-connections", "2")
    a, b = srv.connect(), srv.connect()
    try:
        assert echo_once(a, b"a") == b"a"
        assert echo_once(b, b"b") == b"b"
        with srv.connect() as c:
            assert closed_by_peer(c)
        cnt = srv.counters()
        assert cnt["connections_refused"] == 1
        assert cnt["connections_open"] == 2
        assert echo_once(a, b"still") == b"still"
        a.close()
        srv.wait_counters(lambda c: c["connections_open"] == 1)
        with srv.connect() as d:
            assert echo_once(d, b"room again") == b"room again"
    finally:
        a.close()
        b.close()


def test_idle_connections_are_closed_after_the_idle_timeout(launch):
    assert_an_idle_connection_is_closed(launch("--idle-timeout", "0.5"))


def test_a_connection_that_keeps_talking_is_not_idle(launch):
    srv = launch("--idle-timeout", "2")
    with srv.connect() as busy:
        # Talk for longer than the idle timeout, never pausing near it.
        end = time.monotonic() + 3
        while time.monotonic() < end:
            assert echo_once(busy, b".") == b"."
        assert srv.counters()["connections_idle_closed"] == 0


def test_a_never_reading_client_is_idle_once_stuck(launch):
    """It stops being read when its send side is full; then no progress is
    made, so the idle timeout closes it and frees its buffer."""
    srv = launch("--idle-timeout", "0.5")
    with srv.connect() as hog:
        hog.setblocking(False)
        sent = 0
        block = b"\0" * 65536
        deadline = time.monotonic() + IO_TIMEOUT
        # Push until the server closes the connection: whenever the send side
        # is full, wait for room (the server read more) or for the close.
        try:
            while time.monotonic() < deadline:
                try:
                    sent += hog.send(block)
                except BlockingIOError:
                    select.select([], [hog], [], max(0.0, deadline - time.monotonic()))
        except (ConnectionResetError, BrokenPipeError):
            pass
        assert sent > 0
        hog.setblocking(True)
        c = srv.wait_counters(lambda c: c["connections_total"] == 1 and c["connections_open"] == 0)
        assert c["connections_idle_closed"] == 1, sorted(c.items())
        bytes_in, bytes_out = c["tcp_bytes_in"], c["tcp_bytes_out"]
        print(f"never-reader: sent {sent}, server read {bytes_in}, wrote back {bytes_out}")
        # The server echoed until the client's receive side was full and then
        # stopped reading: it never read more than one chunk ahead of what it
        # had written back, and what the client sent after that stayed unread
        # until the idle timeout closed the connection.
        assert bytes_out > 0, sorted(c.items())
        assert 0 <= bytes_in - bytes_out <= CHUNK, (bytes_in, bytes_out)
        assert bytes_in < sent, (bytes_in, sent)
    with srv.connect() as s:
        assert echo_once(s, b"ok") == b"ok"


def test_clients_that_never_read_do_not_starve_the_others(launch):
    """More never-readers than the receive pool has buffers: each stops
    being read once stuck, their chunks leave the pool, and a well-behaved
    client still gets every byte back."""
    srv = launch("--pool-buffers", "8")
    hogs = []
    try:
        for _ in range(24):
            h = socket.socket()
            h.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            h.connect(("127.0.0.1", srv.port))
            h.setblocking(False)
            deadline = time.monotonic() + IO_TIMEOUT
            try:
                while time.monotonic() < deadline:
                    h.send(b"\\xff" * 65536)
            except BlockingIOError:
                pass  # this one is stuck now: the server stopped reading it
            hogs.append(h)
        with srv.connect() as s:
            data = os.urandom(1 << 20)
            assert echo_once(s, data) == data
        srv.wait_counters(lambda c: c["connections_open"] == 24)
    finally:
        for h in hogs:
            h.close()
