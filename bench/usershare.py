#!/usr/bin/env python3
"""usershare.py - `make bench-usershare`: the share of a server's CPU time spent
in user space, and where, under load.

/proc/PID/stat splits CPU time into user and system by sampling at the clock
tick, which on this kind of machine gives even a server that runs 46 user-space
instructions per message 10-17 % "user". Here the server is sampled instead:
`perf record -e cpu-clock` (a software timer, no hardware counters needed) at
FREQ Hz for DUR seconds while cport-bench --backend epoll (the neutral client,
pinned to CPU 1) drives CONNS connections x SIZE B through it (pinned to CPU
0). Each sample is in the kernel or in user space; the user share is the
fraction of samples outside the kernel, and the top user-space symbols say
where they go. Servers run one after the other, ROUNDS times, interleaved; the
median share is printed per server with every round.

usage: bench/usershare.py [--build DIR] [--conns N] [--size B] [--duration S]
                          [--rounds N] [--top N] [NAME='COMMAND {port}' ...]
(without servers: ref-epoll and cport-echo's default and epoll backend)
"""
import argparse
import collections
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FREQ = 4999
FIRST_PORT = 22000


def default_servers(build):
    echo = os.path.join(build, "cport-echo")
    return [("ref-epoll", os.path.join(build, "bench", "ref-epoll") + " {port}"),
            ("cport-default", f"{echo} --bind 127.0.0.1 --port {{port}} -q --tcp-only"),
            ("cport-epoll", f"{echo} --bind 127.0.0.1 --port {{port}} -q --tcp-only --backend epoll")]


def perf_samples(data):
    """(kernel samples, user samples, Counter of user-space symbols) from a perf.data."""
    out = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym,dso"], capture_output=True, text=True,
                         timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"perf script failed: {out.stderr[-300:]}")
    kernel = user = 0
    syms = collections.Counter()
    for line in out.stdout.splitlines():
        f = line.split()
        if not f:
            continue
        dso = f[-1]
        if dso in ("([kernel.kallsyms])", "([unknown])") and f[0].startswith("ffff"):
            kernel += 1
            continue
        user += 1
        name = " ".join(f[1:-1]) or "?"
        syms[f"{name} {dso}"] += 1
    return kernel, user, syms


def one_run(build, cmd, port, conns, size, dur, tmp):
    server = subprocess.Popen(["taskset", "-c", "0"] + cmd.format(port=port).split(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data = os.path.join(tmp, "perf.data")
    try:
        time.sleep(0.4)
        client = subprocess.Popen(["taskset", "-c", "1", os.path.join(build, "cport-bench"), "--backend", "epoll",
                                   "-p", str(port), "-c", str(conns), "-s", str(size), "-d", str(dur + 1.5)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # connected and warm
        rec = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(FREQ), "-p", str(server.pid),
                              "-o", data, "--", "sleep", str(dur)], capture_output=True, text=True, timeout=dur + 60)
        _, err = client.communicate(timeout=dur + 60)
        if client.returncode != 0:
            raise RuntimeError(f"cport-bench exited {client.returncode}: {err[-300:]!r}")
        if rec.returncode != 0:
            raise RuntimeError(f"perf record failed: {rec.stderr[-300:]}")
    finally:
        server.terminate()
        server.wait(timeout=20)
    return perf_samples(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("servers", nargs="*")
    a = ap.parse_args()
    servers = [s.split("=", 1) for s in a.servers] or default_servers(a.build)
    shares = {n: [] for n, _ in servers}
    syms = {n: collections.Counter() for n, _ in servers}
    samples = collections.Counter()
    port = FIRST_PORT
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(a.rounds):
            for name, cmd in servers:
                port += 1
                try:
                    k, u, s = one_run(a.build, cmd, port, a.conns, a.size, a.duration, tmp)
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                    print(f"{name}: {e}", file=sys.stderr)
                    continue
                if k + u:
                    shares[name].append(100.0 * u / (k + u))
                syms[name].update(s)
                samples[name] += k + u
    print(f"# user-space share of server CPU, {a.conns} x {a.size} B, perf cpu-clock at {FREQ} Hz, "
          f"{a.duration:g} s x {a.rounds} rounds; load {open('/proc/loadavg').read().strip()}")
    for name, _ in servers:
        v = shares[name]
        if not v:
            print(f"{name:16s} no figure")
            continue
        rounds = " ".join(f"{x:.1f}" for x in v)
        print(f"{name:16s} median {statistics.median(v):5.1f} %   rounds {rounds}   ({samples[name]} samples)")
        total = sum(syms[name].values())
        for sym, n in syms[name].most_common(a.top):
            print(f"    {100.0 * n / max(samples[name], 1):5.2f} %  {sym}")
        if total == 0:
            print("    (no user-space samples)")


if __name__ == "__main__":
    main()
