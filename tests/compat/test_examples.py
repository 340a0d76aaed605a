"""The classic IOCP programs in examples/win32 on both backends: the echo
servers serve 100 concurrent clients byte-exact (cport-bench checks every
byte), survive resets, and stop their workers when the port handle is
closed; the ConnectEx client verifies its echoes against both servers."""
import os
import socket
import struct
import subprocess

import pytest

from conftest import BUILD, SLOW, Program, bench, env_for

SERVERS = ["iocp_echo", "acceptex_echo"]


def example(name):
    return os.path.join(BUILD, "examples", "win32", name)


def resets(port, count=50):
    """Connections that send a little and then reset."""
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
        s.sendall(b"x" * 1000)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


@pytest.mark.parametrize("server", SERVERS)
def test_an_example_server_echoes_survives_resets_and_stops_its_workers(server, backend):
    prog = Program([example(server), "0"], backend)
    try:
        bench(prog.port, connections=100, size=512)
        resets(prog.port)
        bench(prog.port, connections=100, size=4096, seconds=1)
        out = prog.stop()
    finally:
        prog.kill()
    assert "workers stopped" in out
    workers = [line for line in out.splitlines() if "workers stopped" in line][0]
    stopped, total = workers.split(" of ")[0].split()[-1], workers.split(" of ")[1].split()[0]
    assert stopped == total, out


@pytest.mark.parametrize("server", SERVERS)
def test_the_connectex_client_verifies_every_echo(server, backend):
    prog = Program([example(server), "0"], backend)
    try:
        # 50 connections x 3000 echoes (a quarter under sanitizers, which
        # check the same code paths at four times the cost).
        r = subprocess.run([example("connectex_client"), "127.0.0.1", str(prog.port), "50", str(3000 // SLOW), "20"],
                           capture_output=True, text=True, env=env_for(backend), timeout=120 * SLOW)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "50 of 50 connections verified" in r.stdout
        prog.stop()
    finally:
        prog.kill()


def test_the_connectex_client_talks_to_cport_echo(backend):
    echo = subprocess.Popen([os.path.join(BUILD, "cport-echo"), "--backend", "epoll", "--port", "0", "--bind", "127.0.0.1"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = None
        for line in echo.stdout:
            if "listening on" in line:
                port = int(line.split("listening on ")[1].split()[0].rsplit(":", 1)[1])
                break
        assert port, "cport-echo did not get ready"
        r = subprocess.run([example("connectex_client"), "localhost", str(port), "20", str(1000 // SLOW), "50"],
                           capture_output=True, text=True, env=env_for(backend), timeout=120 * SLOW)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        echo.kill()
        echo.communicate()
