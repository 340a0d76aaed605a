#!/usr/bin/env python3
"""churn.py - connection churn: connect, one message echoed and checked, reset; again.

usage: bench/churn.py PORT [--duration SEC] [--size BYTES] [--server-pid PID] [--json FILE]

One connection at a time, for DURATION seconds: connect to 127.0.0.1:PORT, send
SIZE bytes, read them back and compare, then close with a reset (SO_LINGER 0),
so that neither side keeps the connection in TIME_WAIT and the ports do not run
out. Prints connections a second and, with --server-pid, the server's CPU per
connection (utime+stime of all its threads from /proc, over the measured run):
what accepting, serving and closing one connection costs the server, the cost
a multishot accept would cut (docs/performance.md, "Tried on the floor").
Exits 1 if an echo differs or a connection fails.
"""
import argparse
import json
import os
import socket
import struct
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of every thread of pid, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def one(port, payload):
    """One connection's life; raises on any failure or a wrong echo."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(len(payload) - len(got))
            if not chunk:
                raise ConnectionError("closed before the echo")
            got += chunk
        if got != payload:
            raise ValueError("the echo differs from what was sent")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        s.close()


def churn(port, duration, size=64, server_pid=None):
    """(connections a second, server CPU us per connection or None)."""
    payload = os.urandom(size)
    one(port, payload)  # the server is up and answers
    cpu0 = cpu_seconds(server_pid) if server_pid else None
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < duration:
        one(port, payload)
        n += 1
    elapsed = time.monotonic() - t0
    cpu = (cpu_seconds(server_pid) - cpu0) * 1e6 / n if server_pid else None
    return n / elapsed, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("port", type=int)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--server-pid", type=int)
    ap.add_argument("--json", help="write the figures there too")
    a = ap.parse_args()
    try:
        rate, cpu = churn(a.port, a.duration, a.size, a.server_pid)
    except (OSError, ValueError) as e:
        sys.exit(f"churn: {e}")
    print(f"connections/s {rate:.0f}" + (f"  server CPU per connection {cpu:.1f} us" if cpu is not None else ""))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"conns_per_s": rate, "cpu_us_per_conn": cpu}, f)


if __name__ == "__main__":
    main()
