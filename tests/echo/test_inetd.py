"""--inetd: the socket to serve is standard input (inetd.conf's "wait" mode)."""
import os
import re
import socket

from echoserver import IO_TIMEOUT, Server, assert_server_side_has_nodelay, echo_once, start_args


def inetd_server(backend, sock, *extra):
    return Server(start_args(backend, "--inetd", *extra, bind=False), stdin=sock.fileno())


def test_inetd_serves_the_listening_socket_on_stdin(servers, backend):
    with socket.socket() as lsn:
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(16)
        port = lsn.getsockname()[1]
        srv = inetd_server(backend, lsn)
    servers.append(srv.wait_ready())
    assert srv.addrs == [("127.0.0.1", port)]
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
            data = os.urandom(30_000)
            assert echo_once(s, data) == data


def test_inetd_connections_send_at_once_though_the_listener_given_did_not(servers, backend):
    """The listener inetd hands over was made without TCP_NODELAY; cport-echo
    sets it there, so each connection accepted from it has it too."""
    with socket.socket() as lsn:
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(16)
        assert lsn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        port = lsn.getsockname()[1]
        srv = inetd_server(backend, lsn)
    servers.append(srv.wait_ready())
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as c:
        assert echo_once(c, b"small") == b"small"
        assert_server_side_has_nodelay(srv, c)


def test_inetd_serves_the_datagram_socket_on_stdin(servers, backend):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as dg:
        dg.bind(("127.0.0.1", 0))
        port = dg.getsockname()[1]
        srv = inetd_server(backend, dg)
    servers.append(srv.wait_ready())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(IO_TIMEOUT)
        u.sendto(b"inetd dgram", ("127.0.0.1", port))
        assert u.recvfrom(100) == (b"inetd dgram", ("127.0.0.1", port))


def test_inetd_refuses_a_connected_socket_nowait_mode(backend):
    with socket.socket() as lsn:
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(1)
        with socket.create_connection(lsn.getsockname(), timeout=IO_TIMEOUT) as c:
            conn, _ = lsn.accept()
            with conn:
                srv = inetd_server(backend, conn)
                assert srv.proc.wait(IO_TIMEOUT) == 1
    srv.reader.join(IO_TIMEOUT)
    assert "a stream socket that is not listening" in srv.text()


def test_inetd_refuses_what_is_not_a_socket(backend, tmp_path):
    f = tmp_path / "file"
    f.write_bytes(b"")
    with open(f, "rb") as fh:
        srv = Server(start_args(backend, "--inetd", bind=False), stdin=fh.fileno())
        assert srv.proc.wait(IO_TIMEOUT) == 1
    srv.reader.join(IO_TIMEOUT)
    assert re.search(r"inherited fd \d+ \(standard input\): not a socket", srv.text())


def test_inetd_with_listen_options_is_a_usage_error(backend):
    srv = Server(start_args(backend, "--inetd"))
    assert srv.proc.wait(IO_TIMEOUT) == 2
    srv.reader.join(IO_TIMEOUT)
    assert "--inetd serves standard input" in srv.text()
