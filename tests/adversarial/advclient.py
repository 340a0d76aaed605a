"""Echo clients for the adversarial suite: well-behaved verifying ones and
hostile ones, many at a time on one epoll loop.

A verifying client sends a random payload and checks that every byte comes
back, in order, before EOF; anything else is recorded as a failure with the
client's state. Also a command-line worker (python3 advclient.py MODE JSON):
the suite runs well-behaved clients, connection holders and the clients of
the network-fault case in their own processes (another CPU, another fd
table, another network namespace) and reads one JSON line of results.

Standard library only.
"""
import errno
import json
import os
import random
import select
import socket
import struct
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h; not in the socket module
EPOLLIN, EPOLLOUT = select.EPOLLIN, select.EPOLLOUT
EPOLLBAD = select.EPOLLERR | select.EPOLLHUP
RECV_MAX = 1 << 18
WRITES_PER_EVENT = 16
MAX_FAILURES_KEPT = 20


class Loop:
    """One epoll; objects registered per fd get on_event(events)."""

    def __init__(self):
        self.ep = select.epoll()
        self.objs = {}
        self.gone = set()  # fds removed while dispatching this batch

    def add(self, obj, fd, mask):
        self.objs[fd] = obj
        self.ep.register(fd, mask)

    def modify(self, fd, mask):
        self.ep.modify(fd, mask)

    def remove(self, fd):
        if self.objs.pop(fd, None) is not None:
            self.ep.unregister(fd)
            self.gone.add(fd)

    def poll(self, timeout):
        """Dispatch one batch. An event of a batch is not delivered to a new
        object that reused the fd of one removed earlier in that batch (level
        triggering reports the new one's own events next time)."""
        self.gone.clear()
        for fd, ev in self.ep.poll(timeout, 4096):
            obj = self.objs.get(fd)
            if obj is not None and fd not in self.gone:
                obj.on_event(ev)

    def close(self):
        self.ep.close()


class Sources:
    """Source addresses spread over 127.S.x.y, so that tens of thousands of
    connections (and their TIME_WAITs) never run out of ephemeral ports.
    None for servers off loopback."""

    def __init__(self, server_host, subnet=None):
        self.on = server_host.startswith("127.")
        self.subnet = subnet if subnet is not None else random.randrange(16, 250)
        self.i = random.randrange(0, 60000)

    def bind(self, s):
        if not self.on:
            return
        self.i = (self.i + 1) % 64516
        a, b = divmod(self.i, 254)
        s.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((f"127.{self.subnet}.{a % 254 + 1}.{b + 1}", 0))


def tcp_socket(addr, sources):
    fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setblocking(False)
    if sources is not None and fam == socket.AF_INET:
        sources.bind(s)
    return s


class Stats:
    def __init__(self):
        self.done = 0
        self.failed = 0
        self.bytes = 0
        self.failures = []

    def fail(self, msg):
        self.failed += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append(msg)

    def as_dict(self):
        return {"done": self.done, "failed": self.failed, "bytes": self.bytes, "failures": self.failures}


class Echo:
    """Connect, send payload (writes of at most `chunk` bytes, while reading),
    verify every byte back in order; then close, or with half_close: shut
    down writing once all is sent and require all bytes back, then EOF."""

    __slots__ = ("loop", "s", "fd", "payload", "mv", "chunk", "half_close", "sent", "got",
                 "connected", "shut", "stats", "on_end", "mask", "tag")

    def __init__(self, loop, addr, payload, stats, on_end=None, chunk=1 << 16, half_close=False,
                 sources=None, tag=""):
        self.loop, self.payload, self.stats, self.on_end = loop, payload, stats, on_end
        self.mv = memoryview(payload)
        self.chunk, self.half_close, self.tag = chunk, half_close, tag
        self.sent = self.got = 0
        self.shut = False
        self.s = tcp_socket(addr, sources)
        self.fd = self.s.fileno()
        err = self.s.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS):
            self.s.close()
            self.fd = -1
            stats.fail(f"{tag} connect: {os.strerror(err)}")
            if on_end:
                on_end(self)
            return
        self.connected = err == 0
        self.mask = EPOLLIN | EPOLLOUT
        loop.add(self, self.fd, self.mask)

    def state(self):
        return f"{self.tag} sent {self.sent}/{len(self.payload)} got {self.got} half_close={self.half_close}"

    def end(self, failure=None):
        self.loop.remove(self.fd)
        self.s.close()
        if failure:
            self.stats.fail(f"{failure}: {self.state()}")
        else:
            self.stats.done += 1
            self.stats.bytes += len(self.payload)
        if self.on_end:
            self.on_end(self)

    def on_event(self, ev):
        if not self.connected:
            err = self.s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return self.end(f"connect: {os.strerror(err)}")
            self.connected = True
        if ev & EPOLLOUT and self.mask & EPOLLOUT:
            if not self.send():
                return
        if ev & (EPOLLIN | EPOLLBAD):
            self.recv()

    def send(self):
        n_total = len(self.payload)
        try:
            # A few writes per event, so that tiny writes do not starve the others.
            for _ in range(WRITES_PER_EVENT):
                if self.sent == n_total:
                    break
                self.sent += self.s.send(self.mv[self.sent:self.sent + self.chunk])
        except BlockingIOError:
            return True
        except OSError as e:
            self.end(f"send: {e.strerror}")
            return False
        if self.sent < n_total:
            return True
        if self.half_close and not self.shut:
            self.s.shutdown(socket.SHUT_WR)
            self.shut = True
        self.mask = EPOLLIN
        self.loop.modify(self.fd, self.mask)
        return True

    def recv(self):
        n_total = len(self.payload)
        while True:
            try:
                data = self.s.recv(RECV_MAX)
            except BlockingIOError:
                return
            except OSError as e:
                return self.end(f"recv: {e.strerror}")
            n = len(data)
            if n == 0:
                if self.half_close and self.got == n_total:
                    return self.end()
                return self.end("EOF before every byte came back")
            if self.got + n > self.sent:
                return self.end(f"{self.got + n - self.sent} bytes more than were sent")
            if data != self.mv[self.got:self.got + n]:
                return self.end(f"bytes {self.got}..{self.got + n} differ from what was sent")
            self.got += n
            if self.got == n_total and not self.half_close:
                return self.end()


def run_until(loop, done, deadline, what, stuck=None):
    """Poll until done() or the deadline; at the deadline fail with stuck()."""
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            detail = stuck() if stuck else ""
            raise AssertionError(f"{what}: not finished in time {detail}")
        loop.poll(min(left, 0.5))


def run_clients(make, count, concurrency, timeout, what="clients"):
    """Run `count` clients made by make(loop, stats, on_end, i), at most
    `concurrency` at once; each calls on_end(itself) when finished. Returns
    Stats; fails if they are not all finished by the timeout."""
    loop = Loop()
    stats = Stats()
    active = set()
    started = [0]

    def start_next(c=None):
        if c is not None:
            active.discard(c)
        while started[0] < count and len(active) < concurrency:
            i = started[0]
            started[0] += 1
            c2 = make(loop, stats, start_next, i)
            if c2.fd >= 0:
                active.add(c2)

    start_next()
    try:
        run_until(loop, lambda: started[0] == count and not active, time.monotonic() + timeout, what,
                  lambda: f"{len(active)} in flight, e.g. {[c.state() for c in list(active)[:5]]}")
    finally:
        for c in list(active):
            loop.remove(c.fd)
            c.s.close()
        loop.close()
    return stats


def run_echoes(addr, jobs, concurrency, timeout, sources=None):
    """Run Echo clients from a list of dicts (payload, chunk, half_close,
    tag), at most `concurrency` at once. Returns Stats."""
    jobs = list(jobs)
    return run_clients(lambda loop, stats, on_end, i: Echo(loop, addr, stats=stats, on_end=on_end, sources=sources,
                                                          **jobs[i]),
                       len(jobs), concurrency, timeout, "echo clients")


class Reset:
    """A client that resets its connection (SO_LINGER 0, close) at one of
    several points: right after connect() (at_once), once connected (empty
    payload), after sending payload and reading `read` bytes of it back, or
    (read < 0) at the first send that would block, the server's send to it
    left pending. What it reads must match what it sent."""

    __slots__ = ("loop", "s", "fd", "stats", "on_end", "payload", "mv", "sent", "got", "read", "connected", "tag")

    def __init__(self, loop, addr, payload, read, stats, on_end, sources=None, tag="", at_once=False,
                 small_buffers=False):
        self.loop, self.stats, self.on_end, self.tag = loop, stats, on_end, tag
        self.payload, self.mv, self.read = payload, memoryview(payload), read
        self.sent = self.got = 0
        self.s = tcp_socket(addr, sources)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if small_buffers:  # the window fills at once: the server's send is left pending
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        self.fd = self.s.fileno()
        err = self.s.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS):
            self.s.close()
            self.fd = -1
            stats.fail(f"{tag} connect: {os.strerror(err)}")
            on_end(self)
            return
        self.connected = err == 0
        if at_once:  # before the handshake is seen through, maybe before the accept
            self.s.close()
            self.fd = -1
            stats.done += 1
            on_end(self)
            return
        loop.add(self, self.fd, EPOLLIN | EPOLLOUT)

    def state(self):
        return f"{self.tag} sent {self.sent}/{len(self.payload)} read {self.got}/{self.read}"

    def reset(self, failure=None):
        self.loop.remove(self.fd)
        self.s.close()  # SO_LINGER 0: RST
        if failure:
            self.stats.fail(f"{failure}: {self.state()}")
        else:
            self.stats.done += 1
        self.on_end(self)

    def on_event(self, ev):
        if not self.connected:
            err = self.s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return self.reset(f"connect: {os.strerror(err)}")
            self.connected = True
        try:
            if ev & EPOLLOUT and self.sent < len(self.payload):
                self.sent += self.s.send(self.mv[self.sent:])
                if self.read < 0 and self.sent < len(self.payload):
                    self.s.send(self.mv[self.sent:])  # reset at the first EAGAIN
            if ev & (EPOLLIN | EPOLLBAD) and self.read >= 0:
                data = self.s.recv(RECV_MAX)
                if not data:
                    return self.reset("EOF from the server before the reset")
                if data != self.mv[self.got:self.got + len(data)]:
                    return self.reset(f"bytes {self.got}.. differ from what was sent")
                self.got += len(data)
        except BlockingIOError:
            if self.read < 0:
                return self.reset()
        except OSError as e:
            return self.reset(f"{e.strerror}")
        if self.sent == len(self.payload) and self.got >= self.read:
            self.reset()
        elif self.sent == len(self.payload):
            self.loop.modify(self.fd, EPOLLIN)


class Pusher:
    """A client that only writes: up to `limit` bytes from `block`, never
    reading a byte back. Optional small socket buffers and MSS make the
    server's send to it block sooner. `progress` is the monotonic time of its last
    successful write."""

    __slots__ = ("loop", "s", "fd", "block", "limit", "sent", "connected", "progress", "failure", "full")

    def __init__(self, loop, addr, block, limit, sources=None, rcvbuf=None, sndbuf=None, mss=None):
        self.loop, self.block, self.limit = loop, block, limit
        self.sent = 0
        self.failure = None
        self.full = False  # saw EAGAIN since the last write that went through
        self.s = tcp_socket(addr, sources)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sndbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        if mss:  # a small MSS keeps the server's send buffer from autotuning up
            self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        self.fd = self.s.fileno()
        self.progress = time.monotonic()
        err = self.s.connect_ex(addr)
        self.connected = err == 0
        if err not in (0, errno.EINPROGRESS):
            self.failure = f"connect: {os.strerror(err)}"
            return
        loop.add(self, self.fd, EPOLLOUT)

    def on_event(self, ev):
        if not self.connected:
            err = self.s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.failure = f"connect: {os.strerror(err)}"
                return self.loop.remove(self.fd)
            self.connected = True
        if ev & EPOLLBAD:
            self.failure = "error or hang-up while pushing"
            return self.loop.remove(self.fd)
        try:
            for _ in range(WRITES_PER_EVENT):
                n = min(self.limit - self.sent, len(self.block))
                if n == 0:
                    return self.loop.remove(self.fd)
                self.sent += self.s.send(self.block[:n])
                self.progress = time.monotonic()
                self.full = False
        except BlockingIOError:
            self.full = True
        except OSError as e:
            self.failure = e.strerror
            self.loop.remove(self.fd)

    def close(self):
        self.loop.remove(self.fd)
        self.s.close()


def push_until_stalled(loop, pushers, quiet, timeout):
    """Let the pushers write until each has written its limit or is blocked
    on a full window, and no write at all has gone through for `quiet`
    seconds (the server has stopped reading them); bounded by timeout."""
    deadline = time.monotonic() + timeout
    while True:
        loop.poll(quiet / 4)
        now = time.monotonic()
        last = max(p.progress for p in pushers)
        if all(p.full or p.sent == p.limit or p.failure for p in pushers) and now - last >= quiet:
            return
        if now > deadline:
            raise AssertionError(f"pushers still writing after {timeout} s: "
                                 f"{sum(p.sent for p in pushers)} bytes so far")


class Drip:
    """A slow client (slowloris): drip(byte) sends one byte; every byte
    must come back in order. Records when the server closed on it (EOF or
    reset) and how many bytes it had got back by then."""

    __slots__ = ("loop", "s", "fd", "connected", "sent", "got", "closed", "failure", "counter")

    def __init__(self, loop, addr, sources, counter):
        self.loop, self.counter = loop, counter
        self.sent = bytearray()
        self.got = 0
        self.closed = None  # "eof" or "reset" once the server has closed
        self.failure = None
        self.s = tcp_socket(addr, sources)
        self.fd = self.s.fileno()
        err = self.s.connect_ex(addr)
        self.connected = err == 0
        if err not in (0, errno.EINPROGRESS):
            self.failure = f"connect: {os.strerror(err)}"
            counter[0] += 1
            return
        if self.connected:
            counter[0] += 1
        loop.add(self, self.fd, EPOLLIN | (0 if self.connected else EPOLLOUT))

    def drip(self, byte):
        try:
            self.s.send(byte)
            self.sent += byte
        except OSError as e:
            self.failure = self.failure or f"send: {e.strerror}"

    def on_event(self, ev):
        if not self.connected:
            self.counter[0] += 1
            err = self.s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.failure = f"connect: {os.strerror(err)}"
                return self.loop.remove(self.fd)
            self.connected = True
            return self.loop.modify(self.fd, EPOLLIN)
        try:
            data = self.s.recv(RECV_MAX)
        except BlockingIOError:
            return
        except OSError:
            data = None
        if not data:
            self.closed = "eof" if data == b"" else "reset"
            self.counter[1] += 1
            return self.loop.remove(self.fd)
        if data != self.sent[self.got:self.got + len(data)]:
            self.failure = self.failure or f"bytes {self.got}.. differ"
        self.got += len(data)

    def close(self):
        self.loop.remove(self.fd)
        self.s.close()


class Hog:
    """Holds a connection open, sending nothing; when the server closes it
    (e.g. shed at EMFILE), connects again at once - unless stopped."""

    __slots__ = ("loop", "addr", "sources", "s", "fd", "connected", "reconnects", "stopped")

    def __init__(self, loop, addr, sources):
        self.loop, self.addr, self.sources = loop, addr, sources
        self.reconnects = 0
        self.stopped = False
        self.connect()

    def connect(self):
        self.s = tcp_socket(self.addr, self.sources)
        self.fd = self.s.fileno()
        err = self.s.connect_ex(self.addr)
        self.connected = err == 0
        self.loop.add(self, self.fd, EPOLLIN | EPOLLOUT)

    def on_event(self, ev):
        if not self.connected and not ev & EPOLLBAD:
            self.connected = True
            self.loop.modify(self.fd, EPOLLIN)
            return
        try:
            if self.s.recv(RECV_MAX):
                return  # nothing was sent: cannot happen with an echo server
        except BlockingIOError:
            return
        except OSError:
            pass
        self.close()  # closed or refused: again
        if not self.stopped:
            self.reconnects += 1
            self.connect()

    def close(self):
        self.loop.remove(self.fd)
        self.s.close()


def random_jobs(rng, count, max_size, half_close_every=4):
    """Echo jobs with random payloads: sizes spread over 1 .. max_size bytes
    (mostly small), random write sizes, every Nth one half-closing."""
    for i in range(count):
        if rng.random() < 0.7:
            size = rng.randint(1, min(max_size, 2048))
        else:
            size = rng.randint(1, max_size)
        yield {
            "payload": rng.randbytes(size),
            "chunk": rng.choice((1, 7, 512, 1460, 4096, 65536, 1 << 20)) if size < 4096 else rng.choice((4096, 65536, 1 << 20)),
            "half_close": half_close_every > 0 and i % half_close_every == 0,
            "tag": f"job{i}",
        }


# ---- the worker processes --------------------------------------------------


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def worker_wellbehaved(a):
    """Keep a['parallel'] verifying clients busy until stdin reaches EOF;
    then finish those in flight and report. Prints {"running": true} after
    the first client came back whole."""
    addr = tuple(a["addr"])
    rng = random.Random(a.get("seed"))
    sources = Sources(addr[0]) if a.get("spread", True) else None
    loop = Loop()
    stats = Stats()
    stop = [False]
    announced = [False]
    active = set()
    jobs = random_jobs(rng, 1 << 62, a.get("max_size", 256 * 1024))

    def start_next(c=None):
        if c is not None:
            active.discard(c)
        if stats.done and not announced[0]:
            announced[0] = True
            emit({"running": True})
        while not stop[0] and len(active) < a["parallel"]:
            c2 = Echo(loop, addr, stats=stats, on_end=start_next, sources=sources, **next(jobs))
            if c2.fd >= 0:
                active.add(c2)

    class Stdin:
        def on_event(self, ev):
            if not os.read(0, 4096):
                stop[0] = True
                loop.remove(0)

    os.set_blocking(0, False)
    loop.add(Stdin(), 0, EPOLLIN)
    start_next()
    deadline = time.monotonic() + a["timeout"]
    try:
        run_until(loop, lambda: stop[0] and not active, deadline, "well-behaved clients",
                  lambda: f"{len(active)} in flight, e.g. {[c.state() for c in list(active)[:5]]}")
    except AssertionError as e:
        stats.fail(str(e))
    emit({"result": stats.as_dict()})


def worker_batch(a):
    """A fixed number of echo jobs, random ones or (exact_size) payloads of
    one size, every other one half-closing; report when all are done."""
    addr = tuple(a["addr"])
    rng = random.Random(a.get("seed"))
    sources = Sources(addr[0]) if a.get("spread", True) else None
    if a.get("exact_size"):
        jobs = [{"payload": rng.randbytes(a["exact_size"]), "chunk": 65536, "half_close": i % 2 == 0,
                 "tag": f"job{i}"} for i in range(a["count"])]
    else:
        jobs = random_jobs(rng, a["count"], a["max_size"], a.get("half_close_every", 4))
    try:
        stats = run_echoes(addr, jobs, a["concurrency"], a["timeout"], sources)
    except AssertionError as e:
        stats = Stats()
        stats.fail(str(e))
    emit({"result": stats.as_dict()})


class Held:
    """A connection kept open; echo(payload) runs one verified round trip.
    counter[0]: echoes in flight; counter[1]: connects finished either way."""

    __slots__ = ("loop", "s", "fd", "connected", "payload", "mv", "sent", "got", "busy", "failure", "counter")

    def __init__(self, loop, addr, sources, counter):
        self.loop, self.counter = loop, counter
        self.s = tcp_socket(addr, sources)
        self.fd = self.s.fileno()
        self.connected = False
        self.failure = None
        self.busy = False
        err = self.s.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS):
            self.failure = f"connect: {os.strerror(err)}"
            counter[1] += 1
            return
        loop.add(self, self.fd, EPOLLOUT)

    def usable(self):
        return self.connected and not self.failure

    def echo(self, payload):
        self.payload, self.mv = payload, memoryview(payload)
        self.sent = self.got = 0
        self.busy = True
        self.counter[0] += 1
        self.loop.modify(self.fd, EPOLLIN | EPOLLOUT)

    def finish(self, failure=None):
        if self.busy:
            self.busy = False
            self.counter[0] -= 1
        if failure:
            self.failure = self.failure or failure
            self.loop.remove(self.fd)
        else:
            self.loop.modify(self.fd, EPOLLIN)  # an EOF or reset while idle shows up

    def on_event(self, ev):
        if not self.connected:
            err = self.s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            self.counter[1] += 1
            if err:
                self.failure = f"connect: {os.strerror(err)}"
                self.loop.remove(self.fd)
                return
            self.connected = True
            self.loop.modify(self.fd, EPOLLIN)
            return
        if not self.busy:
            return self.finish("server sent data or closed while the connection was idle")
        try:
            if ev & EPOLLOUT and self.sent < len(self.payload):
                self.sent += self.s.send(self.mv[self.sent:])
                if self.sent == len(self.payload):
                    self.loop.modify(self.fd, EPOLLIN)
            if ev & (EPOLLIN | EPOLLBAD):
                data = self.s.recv(RECV_MAX)
                if not data:
                    return self.finish(f"EOF after {self.got} of {len(self.payload)} bytes")
                if data != self.mv[self.got:self.got + len(data)]:
                    return self.finish(f"bytes {self.got}.. differ")
                self.got += len(data)
                if self.got == len(self.payload):
                    self.finish()
        except BlockingIOError:
            pass
        except OSError as e:
            self.finish(f"{e.strerror}")


def stuck_report(busy):
    """What the echoes still in flight are waiting for."""
    unsent = sum(1 for c in busy if c.sent < len(c.payload))
    partial = sum(1 for c in busy if 0 < c.got)
    return (f"{len(busy)} echoes unfinished: {unsent} not all sent, {partial} partly back, "
            f"{len(busy) - unsent - partial} all sent and nothing back; e.g. local ports "
            f"{[c.s.getsockname()[1] for c in busy[:5]]}")


def worker_hold(a):
    """Open a['count'] connections and keep them; then commands on stdin:
    'echo' runs one verified round trip on every connection, 'close' closes
    them all, 'open' opens them again, EOF exits. Each step is reported as
    one JSON line."""
    addr = tuple(a["addr"])
    rng = random.Random(a.get("seed"))
    sources = Sources(addr[0], a.get("subnet"))
    loop = Loop()
    counter = [0, 0]
    wave = a.get("wave", 500)  # handshakes in flight at most: not a SYN flood

    def open_all():
        counter[1] = 0
        conns = []
        deadline = time.monotonic() + a["timeout"]
        for _ in range(a["count"]):
            conns.append(Held(loop, addr, sources, counter))
            if len(conns) - counter[1] >= wave:
                run_until(loop, lambda: len(conns) - counter[1] < wave // 2, deadline, "connecting")
        run_until(loop, lambda: counter[1] == len(conns), deadline, "connecting")
        failures = [c.failure for c in conns if c.failure]
        emit({"held": len(conns) - len(failures), "failures": failures[:MAX_FAILURES_KEPT]})
        return conns

    conns = open_all()
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "echo":
            size = a.get("size", 512)
            for c in conns:
                if c.usable():
                    c.echo(rng.randbytes(rng.randint(1, size)))
            try:
                run_until(loop, lambda: counter[0] == 0, time.monotonic() + a["timeout"], "echo round",
                          lambda: stuck_report([c for c in conns if c.busy]))
            except AssertionError as e:
                emit({"echoed": 0, "failures": [str(e)]})
                continue
            failures = [c.failure for c in conns if c.failure]
            emit({"echoed": sum(1 for c in conns if c.usable()), "failures": failures[:MAX_FAILURES_KEPT],
                  "nfailed": len(failures)})
        elif cmd == "close":
            for c in conns:
                loop.remove(c.fd)
                c.s.close()
            emit({"closed": len(conns)})
            conns = []
        elif cmd == "open":
            conns = open_all()


WORKERS = {"wellbehaved": worker_wellbehaved, "batch": worker_batch, "hold": worker_hold}

if __name__ == "__main__":
    WORKERS[sys.argv[1]](json.loads(sys.argv[2]))
