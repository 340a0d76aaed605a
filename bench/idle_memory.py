#!/usr/bin/python3
"""idle_memory.py - a server's memory per idle connection, as seen from outside.

usage: bench/idle_memory.py [-n CONNS] [--echo none|one-by-one|burst] [--settle S] -- COMMAND {port}

Starts COMMAND (with {port} replaced by a free port on 127.0.0.1), reads its
whole RSS from /proc (its receive pool and everything else; in a sanitizer
build, less AddressSanitizer's shadow memory), opens CONNS
connections from three client processes (the descriptor cap is 20,000 a
process), and reads RSS again. Then every connection echoes once: one at a
time (64 B each), or all at once (1 KiB each, every byte checked), and after
SETTLE seconds of quiet RSS is read a third time. Prints both figures per
connection. A burst writes hundreds of receive buffers at once; a server
that keeps them once it is quiet shows it in the third figure.
"""
import argparse
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time

PROCS = 3


# AddressSanitizer's shadow memory on x86_64 (LowShadow to HighShadow): a
# byte for every 8 the program touches. The shadow of a pool buffer given
# back with madvise(2) stays resident, so in a sanitizer build the RSS would
# count what the sanitizer keeps, not what the server does.
ASAN_SHADOW = (0x7fff8000, 0x10007fff8000)


def rss_kb(pid):
    """The server's resident memory, kB: VmRSS, less AddressSanitizer's shadow
    when the server is a sanitizer build (it maps libasan)."""
    with open(f"/proc/{pid}/status") as f:
        rss = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), None)
    if rss is None:
        raise RuntimeError("no VmRSS")
    return rss - asan_shadow_kb(pid)


def asan_shadow_kb(pid):
    """Resident kB of the mappings inside ASan's shadow range, if the process
    maps libasan; 0 otherwise."""
    with open(f"/proc/{pid}/smaps") as f:
        smaps = f.read().splitlines()
    if not any("/libasan.so" in line for line in smaps):
        return 0
    shadow, inside = 0, False
    for line in smaps:
        head = line.split(maxsplit=1)[0]
        if "-" in head and not head.endswith(":"):
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = ASAN_SHADOW[0] <= lo and hi <= ASAN_SHADOW[1]
        elif inside and head == "Rss:":
            shadow += int(line.split()[1])
    return shadow


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def recv_exact(s, n):
    got = b""
    while len(got) < n:
        part = s.recv(n - len(got))
        if not part:
            raise RuntimeError("connection closed early")
        got += part
    return got


def echo_all(socks, echo, seed):
    if echo == "one-by-one":
        for i, s in enumerate(socks):
            msg = bytes((seed + i + k) & 0xFF for k in range(64))
            s.sendall(msg)
            if recv_exact(s, len(msg)) != msg:
                raise RuntimeError("echo differs")
    elif echo == "burst":
        msgs = [bytes((seed * 7 + i + k) & 0xFF for k in range(1024)) for i in range(len(socks))]
        for s, m in zip(socks, msgs):
            s.sendall(m)
        for s, m in zip(socks, msgs):
            if recv_exact(s, len(m)) != m:
                raise RuntimeError("echo differs")


def holder(port, count, echo, seed, q, go, done):
    """One client process: its connections held, then echoed once; what
    went wrong goes to q as a message, not a traceback."""
    socks = []
    try:
        socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(count)]
        q.put(None)
        go.wait()
        echo_all(socks, echo, seed)
        q.put(None)
    except (OSError, RuntimeError) as e:
        q.put(str(e) or type(e).__name__)
        return
    done.wait()
    for s in socks:
        s.close()


def gather(q, procs):
    """Each client process's word: None, or why it failed (exits 1)."""
    for _ in procs:
        err = q.get(timeout=120)
        if err:
            print(f"idle_memory: {err}", file=sys.stderr)
            for p in procs:
                p.kill()
            sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=15000)
    ap.add_argument("--echo", choices=("none", "one-by-one", "burst"), default="burst")
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no server command")
    port = free_port()
    srv = subprocess.Popen([w.replace("{port}", str(port)) for w in cmd], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        wait_listening(port)
        time.sleep(a.settle)
        r0 = rss_kb(srv.pid)
        q, go, done = mp.Queue(), mp.Event(), mp.Event()
        each = a.n // PROCS
        n = each * PROCS
        ps = [mp.Process(target=holder, args=(port, each, a.echo, i, q, go, done)) for i in range(PROCS)]
        for p in ps:
            p.start()
        gather(q, ps)
        r1 = rss_kb(srv.pid)
        go.set()
        gather(q, ps)
        time.sleep(a.settle)
        r2 = rss_kb(srv.pid)
        done.set()
        for p in ps:
            p.join(30)
        print(f"{' '.join(cmd)}: {n} connections, echo {a.echo}: RSS {r0} kB before, {r1} kB held "
              f"({(r1 - r0) * 1024 / n:.0f} B a connection), {r2} kB {a.settle:g} s after the echo "
              f"({(r2 - r0) * 1024 / n:.0f} B a connection)")
    finally:
        srv.terminate()
        srv.wait(10)


if __name__ == "__main__":
    sys.exit(main())
