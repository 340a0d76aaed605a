"""Half-close: a client that sends N bytes and then shuts down its sending
side gets all N bytes back, then EOF - whatever N, however it writes, and
even if it reads nothing until it has shut down."""
import random
import time

from .advclient import EPOLLOUT, Echo, Loop, Sources, Stats, run_echoes, run_until
from .advserver import SLOW, WellBehaved, scaled, warm_up

# Slack for RSS after the case: malloc keeps some freed memory.
RSS_SLACK_KB = 2048


def test_half_closed_connections_get_every_byte_back_then_eof(start_server):
    srv = start_server()
    warm_up(srv)
    base = srv.baseline()
    rng = random.Random()
    sizes = [0, 1, 2, 1460, 16383, 16384, 16385, 65536, 1 << 20, 8 << 20]
    jobs = [{"payload": rng.randbytes(n), "chunk": c, "half_close": True, "tag": f"N={n} chunk={c}"}
            for n in sizes for c in (1 << 16, 1 << 20)]
    for i in range(scaled(400, 80)):
        n = rng.randint(0, 256 * 1024)
        chunk = rng.choice((1, 100, 4096, 65536)) if n < 8192 else rng.choice((1000, 4096, 65536))
        jobs.append({"payload": rng.randbytes(n), "chunk": chunk, "half_close": True, "tag": f"random{i} chunk={chunk}"})
    rng.shuffle(jobs)
    with WellBehaved(srv.addr, parallel=8):
        stats = run_echoes(srv.addr, jobs, concurrency=64, timeout=120 * SLOW, sources=Sources(srv.addr[0]))
    assert stats.failed == 0, stats.failures
    assert stats.done == len(jobs)
    srv.assert_alive()
    srv.settle(base, RSS_SLACK_KB, "half-close")


def test_a_client_that_reads_only_after_shutting_down_gets_everything(start_server):
    """Send N (small enough to sit in the socket buffers), SHUT_WR, and only
    then start reading: the server must not lose what it could not yet write
    back, nor close before it is all out."""
    srv = start_server()
    warm_up(srv)
    base = srv.baseline()
    rng = random.Random()
    loop = Loop()
    stats = Stats()
    clients = []
    with WellBehaved(srv.addr, parallel=4):
        for i in range(scaled(200, 50)):
            n = rng.choice((0, 1, 1000, 16384, 65536, 200000))
            c = Echo(loop, srv.addr, rng.randbytes(n), stats, half_close=True, tag=f"late{i} N={n}",
                     sources=Sources(srv.addr[0]))
            clients.append(c)
        # Not reading: only writable events until it has sent all and shut
        # down; then Echo asks for readable events only, reads all, then EOF.
        for c in clients:
            loop.modify(c.fd, EPOLLOUT)
        run_until(loop, lambda: stats.done + stats.failed == len(clients), time.monotonic() + 60 * SLOW,
                  "late readers", lambda: [c.state() for c in clients if c.fd in loop.objs][:5])
    assert stats.failed == 0, stats.failures
    srv.assert_alive()
    srv.settle(base, RSS_SLACK_KB, "late readers")
