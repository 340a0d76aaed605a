"""Spliced echo (--splice-pipes): a connection that sends big messages is
echoed through a pipe of its own with splice(2); every byte still comes back
once, in order; pipes are limited and given back; and a connection that gets
none is echoed through the pool as before."""
import os
import resource
import socket
import threading
import time

from echoserver import IO_TIMEOUT, closed_by_peer, echo_once

BIG = 65536  # past the default pool buffer (16 KiB): the connection goes to a pipe


def pipe_fds(pid):
    """How many pipe descriptors the server has open."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:"):
                n += 1
        except FileNotFoundError:
            pass
    return n


def wait_pipe_fds(pid, want):
    deadline = time.monotonic() + IO_TIMEOUT
    while pipe_fds(pid) != want:
        assert time.monotonic() < deadline, f"{pipe_fds(pid)} pipe descriptors, not {want}"
        time.sleep(0.02)


def big_echoes(srv, rounds=5, size=BIG):
    with srv.connect() as s:
        for i in range(rounds):
            data = os.urandom(size)
            assert echo_once(s, data) == data, f"message {i} came back different"


def test_big_messages_go_through_a_pipe_and_come_back_byte_for_byte(launch):
    srv = launch("--tcp-only")
    base = pipe_fds(srv.proc.pid)
    sizes = [BIG, 100, BIG * 3 + 7, 1, 1 << 20, 5000]
    with srv.connect() as s:
        for size in sizes:
            data = os.urandom(size)
            assert echo_once(s, data) == data
        # The connection holds its pipe (two descriptors) while it lives.
        assert pipe_fds(srv.proc.pid) == base + 2
        # A send is counted once the server sees it complete, which can be
        # after the client has its echo: wait for the count to catch up.
        c = srv.wait_counters(lambda c: c["tcp_bytes_out"] >= sum(sizes))
        assert c["connections_spliced"] == 1
        assert c["tcp_bytes_in"] == c["tcp_bytes_out"] == sum(sizes)
    wait_pipe_fds(srv.proc.pid, base)
    c = srv.wait_counters(lambda c: c["connections_open"] == 0)
    assert c["errors_splice_pipe"] == 0 and c["errors_connection_other"] == 0


def test_small_messages_stay_on_the_pool(launch):
    srv = launch("--tcp-only")
    with srv.connect() as s:
        for _ in range(50):
            data = os.urandom(1000)
            assert echo_once(s, data) == data
        assert srv.counters()["connections_spliced"] == 0


def test_splice_pipes_0_turns_it_off(launch):
    srv = launch("--tcp-only", "--splice-pipes", "0")
    base = pipe_fds(srv.proc.pid)
    big_echoes(srv)
    c = srv.counters()
    assert c["connections_spliced"] == 0 and c["errors_splice_pipe"] == 0
    assert pipe_fds(srv.proc.pid) == base


def test_only_n_connections_have_a_pipe_and_one_freed_goes_to_the_next(launch):
    srv = launch("--tcp-only", "--splice-pipes", "1")
    with srv.connect() as first, srv.connect() as second:
        for s in (first, second, first, second):
            data = os.urandom(BIG)
            assert echo_once(s, data) == data
        # The client has its echo before the server has seen the send
        # complete, and only then does the server ask for a pipe for that
        # connection: were the first closed before, the second would
        # rightly get the pipe it frees. A small echo on the second comes
        # back only once the server is done with its big one.
        assert echo_once(second, b"x") == b"x"
        assert srv.counters()["connections_spliced"] == 1
    srv.wait_counters(lambda c: c["connections_open"] == 0)
    big_echoes(srv, rounds=2)
    assert srv.counters()["connections_spliced"] == 2


def test_with_no_descriptor_for_a_pipe_the_echo_goes_on_without_one(launch):
    srv = launch("--tcp-only")
    pid = srv.proc.pid
    with srv.connect() as s:
        # One descriptor left after the connection's own: a pipe needs two.
        assert echo_once(s, b"x") == b"x"
        used = len(os.listdir(f"/proc/{pid}/fd"))
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (used + 1, hard))
        try:
            for _ in range(3):
                data = os.urandom(BIG)
                assert echo_once(s, data) == data
            c = srv.counters()
            assert c["errors_splice_pipe"] == 1, "one try, then the connection stays on the pool"
            assert c["connections_spliced"] == 0
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    assert "no pipe for connection" in srv.text()


def test_a_client_that_does_not_read_is_held_back_and_gets_everything_once_it_reads(launch):
    """At most a pipeful is read and not sent back: a client that sends
    without reading fills the sockets' buffers (some 20 MiB on loopback) and
    is stopped, not dropped; then it reads, and every byte comes back in
    order. Another client is served meanwhile."""
    srv = launch("--tcp-only")
    data = os.urandom(64 << 20)
    with srv.connect() as s:
        assert echo_once(s, os.urandom(BIG)) is not None  # now spliced
        s.setblocking(False)
        sent, stalled_since = 0, None
        deadline = time.monotonic() + IO_TIMEOUT
        while sent < len(data) and time.monotonic() < deadline:
            try:
                sent += s.send(data[sent:sent + BIG])
                stalled_since = None
            except BlockingIOError:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 0.5:
                    break
                time.sleep(0.01)
        assert sent < len(data), "the server took 64 MiB from a client that reads nothing"
        big_echoes(srv, rounds=2)  # others are served meanwhile
        s.settimeout(IO_TIMEOUT)
        back = bytearray()
        rest = [sent]

        def sender():
            s.sendall(data[rest[0]:])

        t = threading.Thread(target=sender)
        t.start()
        while len(back) < len(data):
            chunk = s.recv(1 << 20)
            assert chunk, f"EOF after {len(back)} bytes"
            back += chunk
        t.join(IO_TIMEOUT)
        assert bytes(back) == data


def test_a_spliced_connection_gone_idle_is_closed_and_its_pipe_with_it(launch):
    srv = launch("--tcp-only", "--idle-timeout", "1")
    base = pipe_fds(srv.proc.pid)
    with srv.connect() as s:
        data = os.urandom(BIG)
        assert echo_once(s, data) == data
        assert pipe_fds(srv.proc.pid) == base + 2
        assert closed_by_peer(s)
    c = srv.wait_counters(lambda c: c["connections_open"] == 0)
    assert c["connections_idle_closed"] == 1 and c["connections_spliced"] == 1
    wait_pipe_fds(srv.proc.pid, base)


def test_a_spliced_connection_waiting_to_send_is_closed_by_the_drain(launch):
    srv = launch("--tcp-only", "--drain-timeout", "0.5")
    s = srv.connect()
    try:
        assert echo_once(s, os.urandom(BIG)) is not None
        s.setblocking(False)
        try:
            while True:  # fill everything: the server's send waits on us
                s.send(b"\0" * BIG)
        except BlockingIOError:
            pass
        assert srv.stop() == 0
        assert srv.final_counters()["connections_drain_closed"] == 1
    finally:
        s.close()


def test_half_close_after_big_messages_echoes_all_then_closes(launch):
    srv = launch("--tcp-only")
    data = os.urandom(3 * BIG + 123)
    with srv.connect() as s:
        assert echo_once(s, os.urandom(BIG)) is not None
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        back = bytearray()
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            back += chunk
        assert bytes(back) == data
