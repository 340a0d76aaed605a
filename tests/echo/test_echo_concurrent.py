"""200 concurrent clients each echo 1 MiB of random bytes, sent in random
chunk sizes, and every byte comes back in order."""
import random
import selectors
import socket
import time

from echoserver import IO_TIMEOUT

CLIENTS = 200
SIZE = 1 << 20


class Client:
    def __init__(self, sock, data, rng):
        self.sock = sock
        self.data = memoryview(data)
        self.rng = rng
        self.sent = 0
        self.got = 0
        self.eof = False

    def on_write(self):
        n = self.rng.randrange(1, 65537)
        try:
            self.sent += self.sock.send(self.data[self.sent : self.sent + n])
        except BlockingIOError:
            return
        if self.sent == len(self.data):
            self.sock.shutdown(socket.SHUT_WR)

    def on_read(self):
        try:
            b = self.sock.recv(self.rng.randrange(1, 262145))
        except BlockingIOError:
            return
        if not b:
            assert self.got == len(self.data), f"EOF after {self.got} bytes"
            self.eof = True
            return
        want = self.data[self.got : self.got + len(b)]
        assert want == b, f"byte mismatch at offset {self.got}"
        self.got += len(b)


def run_clients(srv, nclients, size, seed):
    rng = random.Random(seed)
    sel = selectors.DefaultSelector()
    clients = []
    for i in range(nclients):
        s = srv.connect()
        s.setblocking(False)
        c = Client(s, rng.randbytes(size), random.Random(seed * 1000 + i))
        clients.append(c)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    live = nclients
    deadline = time.monotonic() + 6 * IO_TIMEOUT
    try:
        while live:
            assert time.monotonic() < deadline, "clients did not finish in time"
            for key, ev in sel.select(1.0):
                c = key.data
                if ev & selectors.EVENT_WRITE and c.sent < len(c.data):
                    c.on_write()
                    if c.sent == len(c.data):
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                if ev & selectors.EVENT_READ:
                    c.on_read()
                    if c.eof:
                        sel.unregister(c.sock)
                        c.sock.close()
                        live -= 1
    finally:
        for c in clients:
            c.sock.close()
        sel.close()
    return sum(c.got for c in clients)


def test_200_clients_each_echo_1_mib_byte_exact(launch):
    srv = launch()
    assert run_clients(srv, CLIENTS, SIZE, seed=5150) == CLIENTS * SIZE
    c = srv.wait_counters(lambda c: c["connections_open"] == 0)
    assert c["tcp_bytes_in"] == CLIENTS * SIZE
    assert c["tcp_bytes_out"] == CLIENTS * SIZE
    assert c["connections_total"] == CLIENTS


def test_per_thread_model_echoes_200_clients_byte_exact(launch):
    srv = launch("--model", "per-thread", "--threads", "2")
    assert run_clients(srv, CLIENTS, SIZE // 4, seed=15) == CLIENTS * (SIZE // 4)
