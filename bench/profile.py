#!/usr/bin/env python3
"""profile.py - `make bench-profile`: user-space instructions and system calls per echoed message.

For each server (ref-epoll, cport-echo --threads 1 on each backend and threading
model, and cport-echo as shipped) two runs under each of two tools:

  callgrind  valgrind --tool=callgrind on the server: its user-space
             instructions (Ir), every thread, the whole run;
  strace     strace -c -f -o FILE on the server: its system calls by name.

One run is idle (start, ready, SIGTERM: the startup and shutdown cost), the
other carries a fixed load: cport-bench --backend epoll, CONNS connections x
SIZE B, closed loop, DURATION s, no warmup, so that every message the client
counts was echoed inside the run. The figure per message is (loaded - idle) /
messages echoed. Writes bench/results/DATE-profile.md and .json; the tools'
own files go to DATE-profile-raw/.

usage: bench/profile.py [--build DIR] [--out DIR] [--only NAME,...] [--duration SEC]
"""
import argparse
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SERVER_CPU, CLIENT_CPU = "0", "1"
BASELINE = "ref-epoll"
CONNS, SIZE = 100, 64
READY_TIMEOUT = 120.0
EXIT_TIMEOUT = 60.0
POKE_EVERY = 0.5
TOP = 6


def servers(build):
    """(name, argv builder taking the port). cport-echo gets --drain-timeout 1: on
    SIGTERM it gives open connections that long (the client has closed them all by then)."""
    echo = os.path.join(build, "cport-echo")
    base = ["--bind", "127.0.0.1", "-q", "--drain-timeout", "1"]
    out = [(BASELINE, lambda p: [os.path.join(build, "bench", "ref-epoll"), str(p)])]
    for be in ("io_uring", "epoll"):
        for model in ("shared", "per-thread"):
            out.append((f"cport-{be}-{model}",
                        lambda p, be=be, model=model: [echo, "--port", str(p), *base, "--backend", be,
                                                       "--model", model, "--threads", "1", "--tcp-only"]))
    out.append(("cport-default", lambda p: [echo, "--port", str(p), *base]))
    return out


def free_port():
    """A port nothing listens on now. The server is given it rather than port 0 so
    that it can be reached before it prints its ready line (see poke)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poke(port):
    """Open and close a connection. Under valgrind 3.19 a server thread blocked in
    io_uring_enter keeps valgrind's big lock, so no other thread runs (the main
    thread cannot print the ready line or take SIGTERM) until a completion wakes
    it: a connection is one. Refused (nothing listening yet) is fine."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    except OSError:
        pass


def parse_callgrind(path):
    """Total Ir from a callgrind output file ('totals:' or, failing that, 'summary:')."""
    found = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"(totals|summary):\s+(\d+)", line)
            if m:
                found[m.group(1)] = int(m.group(2))
    return found.get("totals", found.get("summary"))


def parse_strace(path):
    """{syscall: calls} from strace -c's table ('total' left out)."""
    calls = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 5 or not parts[0][0].isdigit() or parts[-1] == "total":
                continue
            try:
                calls[parts[-1]] = int(parts[3])
            except ValueError:
                pass
    return calls


def per_message(loaded, idle, messages):
    """(loaded - idle) / messages, for a number or a {name: count} dict."""
    if not messages:
        return None
    if isinstance(loaded, dict):
        return {k: (loaded.get(k, 0) - idle.get(k, 0)) / messages for k in set(loaded) | set(idle)}
    return (loaded - idle) / messages


def top_calls(per_msg, n=TOP):
    return sorted(((k, v) for k, v in per_msg.items() if v > 0), key=lambda kv: -kv[1])[:n]


class Traced:
    """One server under a tool, its stderr watched for the ready line."""

    def __init__(self, tool, name, argv, port, raw, tag):
        self.port, self.lines, self.ready = port, [], threading.Event()
        self.out = os.path.join(raw, tag + (".callgrind" if tool == "callgrind" else ".strace"))
        if tool == "callgrind":
            pre = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.out}",
                   f"--log-file={self.out}.log"]
        else:
            pre = ["strace", "-c", "-f", "-o", self.out]
        self.tool, self.name = tool, name
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, *pre, *argv], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())
            if "listening on " in line:
                self.ready.set()
        self.ready.set()

    def wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.ready.wait(POKE_EVERY):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} under {self.tool} did not start: " + " | ".join(self.lines[-3:]))
            poke(self.port)
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} under {self.tool} exited: " + " | ".join(self.lines[-3:]))

    def server_pid(self):
        """valgrind runs in the server's process; strace starts the server as its child."""
        if self.tool == "callgrind":
            return self.proc.pid
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                    kids = f.read().split()
                if kids:
                    return int(kids[0])
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"no traced child of strace ({self.proc.pid})")

    def stop(self):
        """SIGTERM to the server, poking it until it has gone; the tool then writes its file.
        Returns the seconds it took, or raises if it did not go."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            os.kill(self.server_pid(), signal.SIGTERM)
        while self.proc.poll() is None:
            try:
                self.proc.wait(POKE_EVERY)
            except subprocess.TimeoutExpired:
                if time.monotonic() - t0 > EXIT_TIMEOUT:
                    self.proc.kill()
                    self.proc.wait()
                    raise RuntimeError(f"{self.name} under {self.tool} did not exit on SIGTERM")
                poke(self.port)
        return time.monotonic() - t0


def load(build, port, duration, jpath):
    argv = ["taskset", "-c", CLIENT_CPU, os.path.join(build, "cport-bench"), "--host", "127.0.0.1", "--port",
            str(port), "-c", str(CONNS), "-s", str(SIZE), "-d", str(duration), "--warmup", "0",
            "--backend", "epoll", "--timeout", "30", "--json", jpath]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=duration + 120)
    if not os.path.exists(jpath):
        raise RuntimeError(f"client exit {p.returncode}: {p.stdout.strip()[-300:]}")
    with open(jpath) as f:
        res = json.load(f)
    if res.get("exit_status") == 1:
        raise RuntimeError(f"payload mismatch: {res['errors']}")
    return res


def one_run(tool, name, argv_of, build, raw, loaded, duration, say):
    """One run of a server under a tool: idle or loaded. Returns its figures."""
    port = free_port()
    tag = f"{name}-{'load' if loaded else 'idle'}"
    t0 = time.monotonic()
    srv = Traced(tool, name, argv_of(port), port, raw, f"{tag}")
    try:
        srv.wait_ready()
        t_ready = time.monotonic() - t0
        res = load(build, port, duration, os.path.join(raw, f"{tag}-{tool}-client.json")) if loaded else None
    finally:
        t_stop = srv.stop()
    out = {"messages": res["messages"] if res else 0, "msgs_per_s": res["msgs_per_s"] if res else None,
           "client_ok": res["ok"] if res else None, "ready_s": round(t_ready, 2), "stop_s": round(t_stop, 2),
           "exit": srv.proc.returncode, "file": os.path.relpath(srv.out, ROOT)}
    if not os.path.exists(srv.out):
        raise RuntimeError(f"{name} under {tool}: no output file " + " | ".join(srv.lines[-3:]))
    if tool == "callgrind":
        out["ir"] = parse_callgrind(srv.out)
        if out["ir"] is None:
            raise RuntimeError(f"{name}: no totals in {srv.out}")
    else:
        out["calls"] = parse_strace(srv.out)
    say(f"  {tool} {tag}: " + (f"{out['messages']} messages, " if loaded else "")
        + (f"{out['ir']} Ir" if tool == "callgrind" else f"{sum(out['calls'].values())} syscalls")
        + f" (ready {t_ready:.1f} s, exit {t_stop:.1f} s, status {srv.proc.returncode})")
    return out


def profile(build, raw, names, duration, say):
    results = []
    for name, argv_of in servers(build):
        if names and name not in names:
            continue
        say(name)
        r = {"server": name}
        for tool in ("callgrind", "strace"):
            try:
                idle = one_run(tool, name, argv_of, build, raw, False, duration, say)
                busy = one_run(tool, name, argv_of, build, raw, True, duration, say)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                r[tool] = {"error": str(e)}
                say(f"  {tool} {name}: FAILED: {e}")
                continue
            key = "ir" if tool == "callgrind" else "calls"
            r[tool] = {"idle": idle, "load": busy, "messages": busy["messages"],
                       "per_msg": per_message(busy[key], idle[key], busy["messages"])}
        results.append(r)
    return results


def fmt(v, spec="{:.0f}"):
    return "-" if v is None else spec.format(v)


def markdown(results, stamp, duration, loads):
    base = next((r for r in results if r["server"] == BASELINE), {})
    base_ir = (base.get("callgrind") or {}).get("per_msg")
    base_sys = (base.get("strace") or {}).get("per_msg")
    base_sys_total = sum(base_sys.values()) if base_sys else None
    lines = [f"# cport echo profile, {stamp}", "",
             f"Machine: {os.cpu_count()} CPUs, Linux {platform.release()}, load average "
             f"{' / '.join(f'{x:.2f}' for x in loads[0])} at the start, "
             f"{' / '.join(f'{x:.2f}' for x in loads[1])} at the end.", "",
             f"Load: cport-bench --backend epoll, {CONNS} connections x {SIZE} B, closed loop, {duration} s, no "
             f"warmup; the server pinned to CPU {SERVER_CPU}, the client to CPU {CLIENT_CPU}. Each server is run "
             "twice under each tool, idle (start, ready, SIGTERM) and loaded; per message is (loaded - idle) / "
             "messages echoed, so startup and shutdown are taken out and the connections' setup is spread over "
             "the messages. The tools slow the server (callgrind most), so the message counts are small and "
             "differ between servers; the counts per message do not depend on speed, except that a slower "
             "server finds more work waiting per wake-up (fewer system calls per message). cport-echo runs "
             "with --drain-timeout 1; cport-default is otherwise as shipped (its default threads, TCP and UDP).",
             "", "## User-space instructions per message (callgrind, all threads)", "",
             "| server | messages | Ir loaded | Ir idle | Ir per message | vs ref-epoll |", "|---|---|---|---|---|---|"]
    for r in results:
        c = r.get("callgrind") or {}
        if "error" in c:
            lines.append(f"| {r['server']} | failed: {c['error']} | | | | |")
            continue
        ratio = fmt(c["per_msg"] / base_ir if base_ir and c["per_msg"] is not None else None, "{:.2f}x")
        lines.append(f"| {r['server']} | {c['messages']} | {c['load']['ir']:,} | {c['idle']['ir']:,} | "
                     f"{fmt(c['per_msg'])} | {ratio} |")
    lines += ["", "## System calls per message (strace -c -f)", "",
              f"| server | messages | syscalls per message | vs ref-epoll | top {TOP} per message |", "|---|---|---|---|---|"]
    for r in results:
        s = r.get("strace") or {}
        if "error" in s:
            lines.append(f"| {r['server']} | failed: {s['error']} | | | |")
            continue
        total = sum(s["per_msg"].values()) if s["per_msg"] else None
        ratio = fmt(total / base_sys_total if base_sys_total and total is not None else None, "{:.2f}x")
        tops = ", ".join(f"{k} {v:.3f}" for k, v in top_calls(s["per_msg"] or {}))
        lines.append(f"| {r['server']} | {s['messages']} | {fmt(total, '{:.3f}')} | {ratio} | {tops} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--only", default="", help="comma-separated server names")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds of load per loaded run (default 3)")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    stamp = time.strftime("%Y-%m-%d-%H%M") + "-profile"
    raw = os.path.join(a.out, stamp + "-raw")
    os.makedirs(raw, exist_ok=True)
    names = set(filter(None, a.only.split(",")))
    t0 = time.monotonic()

    def say(msg):
        print(f"[{time.monotonic() - t0:6.1f}s] {msg}", flush=True)

    load0 = os.getloadavg()
    n = len([s for s in servers(build) if not names or s[0] in names])
    say(f"{n} servers x 2 tools x (idle + {a.duration} s loaded): about {n * (12 + 2 * a.duration) / 60:.1f} min")
    results = profile(build, raw, names, a.duration, say)
    load1 = os.getloadavg()
    with open(os.path.join(a.out, stamp + ".json"), "w") as f:
        json.dump({"stamp": stamp, "conns": CONNS, "size": SIZE, "duration": a.duration, "load_start": load0,
                   "load_end": load1, "results": results}, f, indent=1)
    md = os.path.join(a.out, stamp + ".md")
    with open(md, "w") as f:
        f.write(markdown(results, stamp, a.duration, (load0, load1)))
    say(f"wrote {os.path.relpath(md, ROOT)} (+ .json)")
    failed = [r["server"] for r in results if any("error" in (r.get(t) or {}) for t in ("callgrind", "strace"))]
    if failed:
        print("profile: failed for " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
