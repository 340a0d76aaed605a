#!/usr/bin/env python3
"""interleave.py - a quick A/B of echo servers' CPU per message, interleaved.

usage: bench/interleave.py ROUNDS CONNS SIZE [udp|churn] -- NAME='COMMAND {port}' ...

Each round runs every server in turn (A B C, A B C, ...), pinned to
SERVER_CPUS (environment, default CPU 0), against build/cport-bench
--backend epoll (the neutral client) pinned to CPU 1, for DUR seconds
(environment, default 2) after 0.5 s of warm-up, and reads the server's CPU per message from the client's JSON. With "churn" the
client is bench/churn.py instead (CONNS is ignored: one connection at a
time, each a connect, one message and a reset), and the figures are the
server's CPU per connection and connections a second. The first server
is the reference: for each server it prints the minimum and the median over
the rounds, each as a ratio to the reference's, every round, and msgs/s.
The minimum is the figure least disturbed by other work on a shared host;
quote both. "paired" is the median over the rounds of the server's figure
divided by the reference's in the same round: when the host changes speed
between rounds (it does here), each round's ratio still compares like with
like, where the ratio of two medians may mix a fast round with a slow one.
"client" is the client's own CPU per message (median, and every round): a
gauge of the host's speed in each run. When a server's slow rounds are
the client's slow rounds too, the host was slow, not the server (the
client's figure moves a little with the server as well, so it is a gauge,
not a correction).
`make bench` is the full, recorded measurement; this is for trying one
change against another.
"""
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "build", "cport-bench")
FIRST_PORT = 21000
# The server's CPUs (taskset list; environment SERVER_CPUS, default "0"). "0,1"
# lets a server's threads run on both CPUs, the client's included: a way to see
# how a port shares its work between two running threads, not the issue's
# set-up, where the server has a CPU of its own.
SERVER_CPUS = os.environ.get("SERVER_CPUS", "0")


def client_args(kind, port, conns, size, dur, pid, jf):
    if kind == "churn":
        return ["/usr/bin/python3", os.path.join(ROOT, "bench", "churn.py"), str(port), "--duration", str(dur),
                "--size", str(size), "--server-pid", str(pid), "--json", jf]
    return [BENCH, "--backend", "epoll", "-p", str(port), "-c", str(conns), "-s", str(size), "-d", str(dur),
            "--warmup", "0.5", "--server-pid", str(pid), "--json", jf] + (["--udp"] if kind == "udp" else [])


@contextlib.contextmanager
def serving(cmd, port):
    """The server cmd on port, pinned to SERVER_CPUS, given 0.4 s to listen;
    ended (SIGTERM) when the block is left."""
    server = subprocess.Popen(["taskset", "-c", SERVER_CPUS] + cmd.format(port=port).split(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.4)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=20)


def run_one(cmd, port, conns, size, kind, dur, jf):
    with serving(cmd, port) as server:
        args = ["taskset", "-c", "1"] + client_args(kind, port, conns, size, dur, server.pid, jf)
        b = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    if b.returncode != 0:
        raise RuntimeError(f"the client exited {b.returncode}: {b.stderr[-300:]!r}")
    with open(jf) as f:
        j = json.load(f)
    if kind == "churn":
        return j["cpu_us_per_conn"], j["conns_per_s"], None
    return j["server"]["cpu_us_per_msg"], j["msgs_per_s"], client_us_per_msg(j)


def client_us_per_msg(j):
    """The client's CPU-microseconds per message, from cport-bench's JSON; None without messages."""
    msgs = j.get("messages") or 0
    return 1e6 * j["client"]["cpu_s"] / msgs if msgs and "cpu_s" in j.get("client", {}) else None


def paired_ratio(server, ref):
    """The median of server/ref over the rounds both ran; nan if none did."""
    ratios = [server[r] / ref[r] for r in server if r in ref and ref[r] > 0]
    return statistics.median(ratios) if ratios else float("nan")


def main():
    sep = sys.argv.index("--")
    rounds, conns, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    opts = sys.argv[4:sep]
    kind = "udp" if "udp" in opts else "churn" if "churn" in opts else "tcp"
    servers = [a.split("=", 1) for a in sys.argv[sep + 1:]]
    dur = float(os.environ.get("DUR", "2"))
    rate = {n: [] for n, _ in servers}
    by_round = {n: {} for n, _ in servers}  # CPU per message (or connection), by round
    client = {n: [] for n, _ in servers}  # the client's CPU per message, by run
    port = FIRST_PORT
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(rounds):
            for name, cmd in servers:
                port += 1
                try:
                    c, r, cl = run_one(cmd, port, conns, size, kind, dur, os.path.join(tmp, "b.json"))
                except (RuntimeError, OSError, KeyError, ValueError) as e:
                    print(f"{name}: {e}")
                    continue
                by_round[name][rnd] = c
                rate[name].append(r)
                if cl is not None:
                    client[name].append(cl)
    ref = servers[0][0]
    if not by_round[ref]:
        sys.exit("the reference server gave no figure")
    ref_cpu = list(by_round[ref].values())
    ref_min, ref_med = min(ref_cpu), statistics.median(ref_cpu)
    print("load", open("/proc/loadavg").read().strip(), "server CPUs", SERVER_CPUS)
    for name, _ in servers:
        v = list(by_round[name].values())
        if not v:
            continue
        mn, md = min(v), statistics.median(v)
        rounds_s = " ".join(f"{x:.2f}" for x in v)
        paired = paired_ratio(by_round[name], by_round[ref])
        cl = client[name]
        client_s = f"  client {statistics.median(cl):.2f} ({' '.join(f'{x:.2f}' for x in cl)})" if cl else ""
        print(f"{name:24s} min {mn:7.2f} x{mn / ref_min:5.2f} | med {md:7.2f} x{md / ref_med:5.2f}"
              f" | paired x{paired:5.2f}  rounds {rounds_s}  msgs/s {statistics.median(rate[name]):.0f}{client_s}")


if __name__ == "__main__":
    main()
