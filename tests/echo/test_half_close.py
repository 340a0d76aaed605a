"""Half-close: after the client's shutdown(SHUT_WR) every byte already
received is echoed, then the server closes."""
import os
import socket
import threading

import pytest

from echoserver import IO_TIMEOUT


def read_to_eof(sock):
    chunks = []
    while True:
        b = sock.recv(1 << 20)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


@pytest.mark.parametrize("size", [1, 5, 100_000, 8 << 20])
def test_everything_sent_before_shut_wr_comes_back_then_eof(launch, size):
    srv = launch()
    data = os.urandom(size)
    with srv.connect() as s:
        # Send everything, then half-close, before reading a byte: the
        # server stops reading while we do not read (backpressure), so the
        # sender runs beside the reader.
        def sender():
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=sender)
        t.start()
        back = read_to_eof(s)
        t.join(IO_TIMEOUT)
    assert not t.is_alive()
    assert len(back) == len(data)
    assert back == data


def test_shut_wr_with_nothing_sent_is_an_immediate_eof(launch):
    srv = launch()
    with srv.connect() as s:
        s.shutdown(socket.SHUT_WR)
        assert read_to_eof(s) == b""
