"""--user: bind as root (a port below 1024), then serve as an unprivileged user."""
import os
import socket

import pytest

from echoserver import IO_TIMEOUT, Server, echo_once, start_args

ECHO_PORT = 7  # RFC 862's: binding it needs root, which --user then gives up
# Every case here binds it: one worker runs them all (pytest-xdist).
pytestmark = pytest.mark.xdist_group("port-7")


def ids(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1:]
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def port_free(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to bind port 7 and change user (run as root)")


@needs_root
def test_user_nobody_serves_port_7_as_nobody(launch):
    if not port_free(ECHO_PORT):
        pytest.skip("port 7 on 127.0.0.1 is taken here")
    srv = launch("--listen", f"127.0.0.1:{ECHO_PORT}", "--user", "nobody", bind=False)
    assert srv.addrs == [("127.0.0.1", ECHO_PORT)]
    with srv.connect() as s:
        assert echo_once(s, b"as nobody") == b"as nobody"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(IO_TIMEOUT)
        u.sendto(b"udp as nobody", ("127.0.0.1", ECHO_PORT))
        assert u.recvfrom(100)[0] == b"udp as nobody"
    # Every thread is nobody: real, effective, saved and filesystem ids.
    for tid in os.listdir(f"/proc/{srv.proc.pid}/task"):
        st = f"{srv.proc.pid}/task/{tid}"
        assert ids(st, "Uid") == ["65534"] * 4
        assert ids(st, "Gid") == ["65534"] * 4
        assert ids(st, "Groups") == ["65534"]
        assert ids(st, "CapEff") == ["0000000000000000"]


@needs_root
@pytest.mark.parametrize("user, message", [
    ("root", "uid 0 drops nothing"),
    ("no-such-user-here", "no such user"),
])
def test_user_that_drops_nothing_or_does_not_exist_is_refused(backend, user, message):
    srv = Server(start_args(backend, "--user", user))
    assert srv.proc.wait(IO_TIMEOUT) == 1
    srv.reader.join(IO_TIMEOUT)
    assert message in srv.text()


def test_user_without_root_is_a_clear_failure(backend):
    if os.geteuid() == 0:
        # Not root: setresgid and initgroups are refused. Become nobody first.
        def preexec():
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
    else:
        preexec = None
    srv = Server(start_args(backend, "--user", "daemon"), preexec_fn=preexec)
    assert srv.proc.wait(IO_TIMEOUT) == 1
    srv.reader.join(IO_TIMEOUT)
    assert "--user daemon: initgroups: Operation not permitted" in srv.text()
