"""Echo clients for test_haproxy.py, run inside the test's client namespace
(ip netns exec NS python3 netns_clients.py HOST PORT N TIMEOUT).

N connections echo random chunks through the balancer, each verifying every
byte, until "stop" arrives on stdin. Prints "connected K" once K of them
made their first round trip (so the host serving each has logged it: the
test kills a host only then), then at the end one JSON line: per connection its local
port (the source port the balancer puts in the PROXY header, which the
server logs), the bytes verified and the error that ended it, if any.
"""
import json
import random
import socket
import sys
import threading
import time

PACE_S = 0.05  # between two round trips of one connection: 300 of them stay light on a shared machine


def recv_exactly(s, n):
    chunks, got = [], 0
    while got < n:
        b = s.recv(n - got)
        if not b:
            raise ConnectionError(f"end of stream after {got} of {n} bytes")
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def run(rec, s, stop, seed, first):
    rnd = random.Random(seed)
    try:
        while not stop.is_set():
            data = rnd.randbytes(rnd.randint(1, 4096))
            s.sendall(data)
            if recv_exactly(s, len(data)) != data:
                rec["error"] = "mismatch"
                return
            rec["bytes"] += len(data)
            first.release()
            stop.wait(PACE_S)
    except OSError as e:
        rec["error"] = f"{type(e).__name__}: {e}"
    finally:
        first.release()  # a connection that failed counts as done too (its record says how)
        s.close()


def main():
    host, port, n, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    stop = threading.Event()
    first = threading.Semaphore(0)  # released at each round trip; the first one per connection is counted
    recs, threads = [], []
    for i in range(n):
        rec = {"port": None, "bytes": 0, "error": None}
        recs.append(rec)
        try:
            s = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            rec["error"] = f"connect: {e}"
            continue
        rec["port"] = s.getsockname()[1]
        t = threading.Thread(target=run, args=(rec, s, stop, i, first), daemon=True)
        t.start()
        threads.append(t)
    deadline = time.monotonic() + timeout
    while not all(r["bytes"] or r["error"] for r in recs) and time.monotonic() < deadline:
        first.acquire(timeout=0.1)
    print(f"connected {sum(1 for r in recs if r['bytes'] and not r['error'])}", flush=True)
    deadline = time.monotonic() + 10 * timeout
    for line in sys.stdin:  # the test's "stop" (or its end: stdin closed)
        if line.strip() == "stop" or time.monotonic() > deadline:
            break
    stop.set()
    for t in threads:
        t.join(timeout + 5)
    print(json.dumps(recs), flush=True)


if __name__ == "__main__":
    main()
