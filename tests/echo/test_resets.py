"""1,000 clients reset their connections mid-stream (SO_LINGER 0) while
well-behaved clients echo alongside; the server closes only those, keeps
echoing byte-exact, and holds no connection afterwards."""
import os
import random
import socket
import struct
import threading

from echoserver import IO_TIMEOUT, echo_once

RESETS = 1000
RESET_THREADS = 10
GOOD_THREADS = 4


def reset_client(srv, rng):
    s = srv.connect()
    try:
        s.sendall(rng.randbytes(rng.randrange(1, 64 * 1024)))
        if rng.random() < 0.5:
            s.recv(rng.randrange(1, 4096))  # some echo under way
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        s.close()  # RST: unread echo and unsent data are thrown away


def test_1000_mid_stream_resets_leave_the_server_echoing(launch):
    srv = launch()
    errors = []
    stop = threading.Event()
    good_bytes = [0] * GOOD_THREADS
    good_conns = [0] * GOOD_THREADS

    def resetter(k):
        rng = random.Random(k)
        try:
            for _ in range(RESETS // RESET_THREADS):
                reset_client(srv, rng)
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    def good(k):
        rng = random.Random(100 + k)
        try:
            while not stop.is_set():
                with srv.connect() as s:
                    good_conns[k] += 1
                    data = rng.randbytes(rng.randrange(1, 256 * 1024))
                    assert echo_once(s, data) == data
                    good_bytes[k] += len(data)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    goods = [threading.Thread(target=good, args=(k,)) for k in range(GOOD_THREADS)]
    resetters = [threading.Thread(target=resetter, args=(k,)) for k in range(RESET_THREADS)]
    for t in goods + resetters:
        t.start()
    for t in resetters:
        t.join(10 * IO_TIMEOUT)
    stop.set()
    for t in goods:
        t.join(10 * IO_TIMEOUT)
    assert not any(t.is_alive() for t in goods + resetters), "clients hung"
    assert not errors, errors[:3]
    assert all(good_bytes), "every well-behaved client echoed something"

    # Every reset connection was accepted (Linux hands out reset ones too),
    # closed and freed; the server still echoes.
    total = RESETS + sum(good_conns)
    srv.wait_counters(lambda c: c["connections_total"] == total and c["connections_open"] == 0)
    with srv.connect() as s:
        data = os.urandom(1 << 20)
        assert echo_once(s, data) == data
