"""systemd: socket activation through the real systemd-socket-activate, and
readiness (READY=1, STOPPING=1, WATCHDOG=1) on a NOTIFY_SOCKET."""
import os
import shutil
import socket

import pytest

from echoserver import IO_TIMEOUT, READY_RE, Server, echo_once, start_args

ACTIVATE = shutil.which("systemd-socket-activate")
needs_activate = pytest.mark.skipif(ACTIVATE is None, reason="systemd-socket-activate is not installed (Debian's systemd)")
BIND_TRIES = 5  # a free port found may be taken before systemd-socket-activate binds it


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def activated(servers, backend, kind, *extra, host="127.0.0.1"):
    """cport-echo under systemd-socket-activate on a free port of host (""
    for [::], dual-stack, as the shipped .socket unit has it); it is started
    (exec'd) by the first connection or datagram, which the caller sends.
    Returns (server, port)."""
    flags = ["--datagram"] if kind == socket.SOCK_DGRAM else []
    for _ in range(BIND_TRIES):
        port = free_port(kind)
        prefix = [ACTIVATE, *flags, "-l", f"{host}:{port}" if host else str(port), "--fdname=echo",
                  "-E", "ASAN_OPTIONS=" + os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")]
        srv = Server(start_args(backend, *extra, bind=False), prefix=prefix)
        _, m = srv.wait_line(r"^Listening on \S+:(\d+) as 3\.$")
        if m is not None:
            servers.append(srv)
            return srv, port
        srv.kill()
    pytest.fail("systemd-socket-activate could not listen:\n" + srv.text())


@needs_activate
def test_systemd_socket_activate_hands_over_a_tcp_socket_and_echo_works(servers, backend):
    srv, port = activated(servers, backend, socket.SOCK_STREAM, "--verbose")
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        assert echo_once(s, b"activated") == b"activated"
        srv.wait_ready()
        assert srv.addrs == [("127.0.0.1", port)]
        assert srv.backend == backend
        data = os.urandom(100_000)
        assert echo_once(s, data) == data
    assert f"inherited fd 3 (echo): tcp 127.0.0.1:{port}" in srv.text()


@needs_activate
def test_systemd_socket_activate_hands_over_a_udp_socket_and_echo_works(servers, backend):
    srv, port = activated(servers, backend, socket.SOCK_DGRAM)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(IO_TIMEOUT)
        u.sendto(b"first datagram", ("127.0.0.1", port))
        assert u.recvfrom(100) == (b"first datagram", ("127.0.0.1", port))
        srv.wait_ready()
        for n in (0, 1, 1400, 60000):
            u.sendto(b"d" * n, ("127.0.0.1", port))
            assert u.recvfrom(65536)[0] == b"d" * n
    assert srv.addrs == [("127.0.0.1", port)]


@needs_activate
def test_a_dual_stack_activated_socket_answers_ipv4_and_ipv6_from_the_address_used(servers, backend):
    """The .socket unit's ListenDatagram=7 with BindIPv6Only=both: one [::]
    socket; an IPv4 client must get its answer from the IPv4 address."""
    if not __import__("echoserver").have_ipv6():
        pytest.skip("no IPv6 loopback here")
    srv, port = activated(servers, backend, socket.SOCK_DGRAM, host="")
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(fam, socket.SOCK_DGRAM) as u:
            u.settimeout(IO_TIMEOUT)
            u.sendto(b"dual stack", (host, port))
            data, src = u.recvfrom(100)
            assert (data, src[:2]) == (b"dual stack", (host, port))
    srv.wait_ready()
    assert srv.addrs == [("::", port)]


@needs_activate
def test_activated_server_refuses_listen_options_of_its_own(backend):
    """--listen next to inherited sockets would be silently ignored: refused."""
    port = free_port(socket.SOCK_STREAM)
    srv = Server(start_args(backend, "--listen", "127.0.0.1:0", bind=False),
                 prefix=[ACTIVATE, "-l", f"127.0.0.1:{port}"])
    _, m = srv.wait_line(r"^Listening on")
    assert m is not None, srv.text()
    # The connection starts the server. It may refuse and exit, and reset
    # the connection with its listener, before this client has seen the
    # handshake complete: a reset is as good a start as any.
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT):
            assert srv.proc.wait(IO_TIMEOUT) == 1
    except ConnectionResetError:
        assert srv.proc.wait(IO_TIMEOUT) == 1
    srv.reader.join(IO_TIMEOUT)
    assert "leave out --listen, --bind and --port" in srv.text()


class Notifications:
    """A unix datagram socket given as NOTIFY_SOCKET, as systemd's would be."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(IO_TIMEOUT)
        self.path = path

    def next(self):
        """The next message as a dict of its assignments."""
        msg = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in msg.split("\n") if line)

    def next_with(self, key):
        """Messages until one carries key (WATCHDOG=1 may come in between)."""
        for _ in range(1000):
            m = self.next()
            if key in m:
                return m
        raise AssertionError(f"no {key} message")


def test_notify_socket_gets_ready_then_stopping(launch, tmp_path):
    note = Notifications(str(tmp_path / "notify"))
    srv = launch(env={"NOTIFY_SOCKET": note.path})
    ready = note.next()
    assert ready["READY"] == "1"
    assert ready["STATUS"].startswith("serving echo:")
    with srv.connect() as s:
        assert echo_once(s, b"ready") == b"ready"
    assert srv.stop() == 0
    stopping = note.next()
    assert stopping == {"STOPPING": "1", "STATUS": "draining"}


def test_notify_socket_gets_watchdog_pings_when_watchdog_usec_is_set(launch, tmp_path):
    note = Notifications(str(tmp_path / "notify"))
    srv = launch(env={"NOTIFY_SOCKET": note.path, "WATCHDOG_USEC": "200000"})
    # The loops keep house (and may ping) from their start, READY=1 comes
    # from the main thread once they all are: either may come first.
    assert note.next_with("READY")["READY"] == "1"
    for _ in range(3):
        assert note.next() == {"WATCHDOG": "1"}
    assert srv.stop() == 0
    assert note.next_with("STOPPING")["STOPPING"] == "1"


def test_no_watchdog_pings_without_watchdog_usec(launch, tmp_path):
    note = Notifications(str(tmp_path / "notify"))
    srv = launch(env={"NOTIFY_SOCKET": note.path})
    assert note.next()["READY"] == "1"
    assert srv.stop() == 0
    assert "STOPPING" in note.next()  # the very next message: no WATCHDOG=1 before it


@needs_activate
def test_activated_socket_is_shared_by_every_thread_of_the_per_thread_model(servers, backend):
    srv, port = activated(servers, backend, socket.SOCK_STREAM, "--model", "per-thread", "--threads", "3")
    conns = [socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) for _ in range(9)]
    try:
        for i, s in enumerate(conns):
            assert echo_once(s, b"t%d" % i) == b"t%d" % i
        srv.wait_ready()  # one line per address, whatever the threads
        assert srv.addrs == [("127.0.0.1", port)] and srv.threads == 3
    finally:
        for s in conns:
            s.close()


def test_only_cport_echo_links_libsystemd_not_the_library():
    import subprocess
    from echoserver import BINARY

    lib = os.path.join(os.path.dirname(BINARY), "libcport.so")
    if not os.path.exists(lib):
        pytest.skip(f"{lib} is not built")

    def needed(path):
        out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, timeout=IO_TIMEOUT)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert "libsystemd" not in needed(lib)
    assert "libsystemd.so" in needed(BINARY)
