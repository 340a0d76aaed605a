"""Out of descriptors: cport-echo run with RLIMIT_NOFILE 256 (as under
`prlimit --nofile=256`) while clients hold more connections than that and
reconnect whenever they are shed. The server neither dies nor spins (its CPU
time while stuck at the limit stays low), connections it already has keep
echoing, and once the hogs go it serves new clients again."""
import random
import time

from .advclient import Held, Hog, Loop, Sources, random_jobs, run_echoes, run_until
from .advserver import SETTLE_TIMEOUT, SLOW, nofile_limit, scaled, warm_up

NOFILE = 256
HOGS = 400  # more connections than the server has descriptors
STUCK_WINDOW = 2.0  # seconds of CPU time measured while stuck at the limit
CPU_BOUND = 0.20  # of one CPU, over that window
HELD = 8  # well-behaved connections opened before the limit is reached
RSS_SLACK_KB = 2048


def test_at_the_descriptor_limit_the_server_neither_dies_nor_spins(start_server):
    srv = start_server(preexec_fn=nofile_limit(NOFILE))
    warm_up(srv, 100)
    base = srv.baseline()
    loop = Loop()
    sources = Sources(srv.addr[0])
    rng = random.Random()
    counter = [0, 0]
    held = [Held(loop, srv.addr, sources, counter) for _ in range(HELD)]
    run_until(loop, lambda: counter[1] == HELD, time.monotonic() + 10 * SLOW, "connecting the held clients")

    def echo_round():
        for h in held:
            h.echo(rng.randbytes(rng.randint(1, 32768)))
        run_until(loop, lambda: counter[0] == 0, time.monotonic() + 10 * SLOW, "echo on held connections")
        failures = [h.failure for h in held if h.failure]
        assert not failures, failures

    echo_round()
    hogs = [Hog(loop, srv.addr, sources) for _ in range(HOGS)]
    try:
        # Stuck: wait until the server has run out (counted by it), then
        # measure its CPU time over a window while the hogs keep pushing.
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while srv.counters()["errors_accept_no_fd"] == 0:
            assert time.monotonic() < deadline, "the server never reported running out of descriptors"
            loop.poll(0.05)
        fds_stuck = srv.nfds()
        cpu0, t0 = srv.cpu_seconds(), time.monotonic()
        while (left := t0 + STUCK_WINDOW - time.monotonic()) > 0:
            loop.poll(left)
        cpu = (srv.cpu_seconds() - cpu0) / (time.monotonic() - t0)
        srv.assert_alive()
        echo_round()  # connections it already had are still served
        reconnects = sum(h.reconnects for h in hogs)
        c = srv.counters()
        print(f"\n[{srv.backend}] at EMFILE: {fds_stuck} descriptors open (limit {NOFILE}), CPU {cpu * 100:.1f}% of one "
              f"CPU over {STUCK_WINDOW:.0f} s (bound {CPU_BOUND * 100:.0f}%); hogs reconnected {reconnects} times; "
              f"accept EMFILE {c['errors_accept_no_fd']}, shed {c['connections_shed']}")
        assert fds_stuck >= NOFILE - 8, "the server was not at its limit"
        assert cpu < CPU_BOUND
    finally:
        for h in hogs:
            h.stopped = True
            h.close()
    # Responsive again: new clients, verified, while the held ones still echo.
    stats = run_echoes(srv.addr, random_jobs(rng, scaled(200, 50), 64 * 1024), concurrency=16, timeout=30 * SLOW,
                       sources=sources)
    assert stats.failed == 0, stats.failures
    echo_round()
    for h in held:
        loop.remove(h.fd)
        h.s.close()
    loop.close()
    srv.settle(base, RSS_SLACK_KB, "descriptor exhaustion")
