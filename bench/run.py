#!/usr/bin/env python3
"""run.py - `make bench`: every echo server side by side, one client, one table.

Each server runs pinned to CPU 0 and is measured by build/cport-bench pinned
to CPU 1, one fresh server process per cell, over the closed-loop matrix and an
open-loop rate sweep. Writes bench/results/DATE.md (the table, with ratios to
the plain-epoll reference), DATE.json (every run's figures) and DATE.png
(latency by percentile, from the runs' .hgrm files, drawn by gnuplot).

usage: bench/run.py [--quick] [--build DIR] [--out DIR] [--only NAME,...]
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SERVER_CPU, CLIENT_CPU = "0", "1"
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
BASELINE = "ref-epoll"
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#000000", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

FULL = {
    "cells": [(c, s) for c in (1, 100, 1000, 10000) for s in (64, 4096, 65536)],
    "rates": [10000, 25000, 50000, 100000],
    "rate_conns": 100, "rate_size": 64, "duration": 5.0, "warmup": 1.0,
}
QUICK = {
    "cells": [(1, 64), (100, 64), (1000, 64), (100, 65536)],
    "rates": [20000, 50000],
    "rate_conns": 100, "rate_size": 64, "duration": 1.0, "warmup": 0.2,
}


def servers(build):
    """(name, argv) for every server, each taking its port (0: any) from the argv."""
    echo = os.path.join(build, "cport-echo")
    out = []
    for be in ("io_uring", "epoll"):
        for model in ("shared", "per-thread"):
            out.append((f"cport-{be}-{model}", [echo, "--port", "0", "--bind", "127.0.0.1", "--backend", be,
                                                "--model", model, "--threads", "1", "--tcp-only", "-q"]))
    ref = os.path.join(build, "bench")
    out += [
        ("ref-epoll", [os.path.join(ref, "ref-epoll"), "0"]),
        ("ref-libuv", [os.path.join(ref, "ref-uv"), "0"]),
        ("ref-threads", [os.path.join(ref, "ref-threads"), "0"]),
        ("ref-uvloop", ["/usr/bin/python3", os.path.join(HERE, "ref", "echo_uvloop.py"), "0"]),
        ("ref-node", ["node", os.path.join(HERE, "ref", "echo_node.js"), "0"]),
    ]
    return out


class Server:
    """A server pinned to its CPU; its stderr is read by a thread that notes the ready line."""

    def __init__(self, name, argv):
        self.name, self.port, self.lines = name, None, []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())
            if self.port is None and "listening on " in line:
                addr = line.split("listening on ", 1)[1].split()[0]
                self.port = int(addr.rsplit(":", 1)[1])
                self.ready.set()
        self.ready.set()

    def wait_ready(self):
        if not self.ready.wait(READY_TIMEOUT) or self.port is None:
            raise RuntimeError(f"{self.name} did not start: " + " | ".join(self.lines[-5:]))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_client(build, port, pid, cell, plan, raw, tag):
    conns, size, rate = cell["conns"], cell["size"], cell.get("rate")
    jpath, hpath = os.path.join(raw, tag + ".json"), os.path.join(raw, tag + ".hgrm")
    argv = ["taskset", "-c", CLIENT_CPU, os.path.join(build, "cport-bench"), "--host", "127.0.0.1",
            "--port", str(port), "-c", str(conns), "-s", str(size), "-d", str(plan["duration"]),
            "--warmup", str(plan["warmup"]), "--threads", "1", "--server-pid", str(pid),
            "--json", jpath, "--hgrm", hpath]
    if rate:
        argv += ["--rate", str(rate)]
    limit = plan["duration"] + plan["warmup"] + 60
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"error": f"client timed out after {limit:.0f} s"}
    if not os.path.exists(jpath):
        return {"error": f"client exit {p.returncode}: {p.stdout.strip()[-300:]}"}
    with open(jpath) as f:
        res = json.load(f)
    res["hgrm"] = os.path.relpath(hpath, ROOT)
    return res


def measure(build, plan, names, raw, log):
    cells = [{"conns": c, "size": s} for c, s in plan["cells"]]
    cells += [{"conns": plan["rate_conns"], "size": plan["rate_size"], "rate": r} for r in plan["rates"]]
    results = []
    for cell in cells:
        for name, argv in servers(build):
            if names and name not in names:
                continue
            tag = f"{name}-c{cell['conns']}-s{cell['size']}" + (f"-r{cell['rate']}" if cell.get("rate") else "")
            srv = Server(name, argv)
            try:
                srv.wait_ready()
                res = run_client(build, srv.port, srv.proc.pid, cell, plan, raw, tag)
            except RuntimeError as e:
                res = {"error": str(e)}
            finally:
                srv.stop()
            results.append({"server": name, "cell": cell, "result": res})
            log(tag, res)
    return results


def figures(res):
    """The table's figures from one run's JSON, None where there is none."""
    if "error" in res:
        return None
    lat = res.get("latency_us") or {}
    srv = res.get("server") or {}
    errs = {k: v for k, v in res["errors"].items() if v}
    return {"msgs": res["msgs_per_s"], "mib": res["mib_per_s"], "p50": lat.get("p50"), "p99": lat.get("p99"),
            "cpu_msg": srv.get("cpu_us_per_msg"), "rss": srv.get("rss_kib"), "client_cpu": res["client"]["cpu_share"],
            "server_cpu": srv.get("cpu_share"), "errors": errs, "ok": res["ok"]}


def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b else "-"


def fmt_us(v):
    if v is None:
        return "-"
    return f"{v:.0f} us" if v < 1000 else f"{v / 1000:.2f} ms" if v < 1e6 else f"{v / 1e6:.2f} s"


def num(v, fmt):
    return "-" if v is None else fmt.format(v)


def cell_title(cell):
    if cell.get("rate"):
        return f"open loop {cell['rate']} msgs/s, {cell['conns']} connections x {cell['size']} B"
    return f"closed loop, {cell['conns']} connections x {cell['size']} B"


def table(rows):
    head = ("| server | msgs/s | MiB/s | p50 | p99 | server CPU/msg | server RSS | msgs/s vs epoll | p50 vs epoll | "
            "p99 vs epoll | CPU/msg vs epoll | RSS vs epoll | client CPU | errors |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    base = next((f for n, f in rows if n == BASELINE and f), None)
    for name, f in rows:
        if not f:
            out.append(f"| {name} | failed | | | | | | | | | | | | |")
            continue
        b = base or {}
        errs = ", ".join(f"{k} {v}" for k, v in f["errors"].items()) or "none"
        out.append(
            f"| {name} | {f['msgs']:.0f} | {f['mib']:.1f} | {fmt_us(f['p50'])} | {fmt_us(f['p99'])} | "
            f"{num(f['cpu_msg'], '{:.2f} us')} | {num(f['rss'] and f['rss'] / 1024, '{:.1f} MiB')} | "
            f"{ratio(f['msgs'], b.get('msgs'))} | "
            f"{ratio(f['p50'], b.get('p50'))} | {ratio(f['p99'], b.get('p99'))} | "
            f"{ratio(f['cpu_msg'], b.get('cpu_msg'))} | {ratio(f['rss'], b.get('rss'))} | "
            f"{f['client_cpu'] * 100:.0f}% | {errs} |")
    return out


def hgrm_points(path, out):
    """The plottable lines of an .hgrm: latency (ms) against 1/(1-percentile)."""
    n = 0
    with open(os.path.join(ROOT, path)) as f, open(out, "w") as o:
        for line in f:
            parts = line.split()
            if len(parts) == 4 and not line.startswith("#"):
                try:
                    o.write(f"{float(parts[3])} {float(parts[0])}\n")
                    n += 1
                except ValueError:
                    pass
    return n


def plot(results, picks, png, raw):
    """One panel per picked cell: every server's latency by percentile."""
    if not shutil.which("gnuplot"):
        return "gnuplot not found: no plot"
    panels = []
    for cell in picks:
        series = []
        for r in results:
            if r["cell"] == cell and "hgrm" in r["result"]:
                dat = os.path.join(raw, f"plot-{len(panels)}-{r['server']}.dat")
                if hgrm_points(r["result"]["hgrm"], dat):
                    series.append((r["server"], dat))
        if series:
            panels.append((cell_title(cell), series))
    if not panels:
        return "no latency data to plot"
    script = [f"set terminal pngcairo size {700 * len(panels)},600 noenhanced", f"set output '{png}'",
              f"set multiplot layout 1,{len(panels)}", "set logscale x", "set logscale y", "set grid",
              "set xlabel 'percentile'", "set ylabel 'latency (ms)'", "set key outside below maxrows 3 font ',9'",
              "set xtics ('0%%' 1, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)"]
    for title, series in panels:
        script.append(f"set title '{title}'")
        script.append("plot " + ", ".join(f"'{d}' using 1:2 with lines lw 2 lc rgb '{COLORS[i % len(COLORS)]}' "
                                          f"dt {1 if n.startswith('cport') else 2} "
                                          f"title '{n}'" for i, (n, d) in enumerate(series)))
    script.append("unset multiplot")
    p = subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, capture_output=True, timeout=60)
    return None if p.returncode == 0 else "gnuplot failed: " + p.stderr.strip()[-300:]


def top_cell(results):
    best = None
    for r in results:
        f = figures(r["result"])
        if f and (best is None or f["msgs"] > best[1]["msgs"]):
            best = (r, f)
    return best


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, load average {load} at the end"


def markdown(results, plan, quick, stamp, png_note):
    lines = [f"# cport echo benchmark, {stamp}{' (QUICK)' if quick else ''}", "",
             f"Machine: {machine()}. Each server pinned to CPU {SERVER_CPU} (cport-echo with one thread), "
             f"the client (cport-bench, one thread, every byte verified) to CPU {CLIENT_CPU}. A fresh server "
             f"process per cell; {plan['warmup']} s warmup, then {plan['duration']} s measured. Server CPU per "
             "message is its utime+stime (/proc/PID/stat) over the window divided by messages echoed; RSS is "
             f"VmRSS at the end of the window. Ratios are to `{BASELINE}` in the same cell: for msgs/s higher "
             "is better, for the others lower is better. Open-loop latency is measured from each message's "
             "intended send time.", ""]
    top = top_cell(results)
    if top:
        r, f = top
        lines += [f"Top cell: `{r['server']}`, {cell_title(r['cell'])}: {f['msgs']:.0f} msgs/s; the client "
                  f"used {f['client_cpu'] * 100:.0f}% of one CPU, the server {num(f['server_cpu'] and f['server_cpu'] * 100, '{:.0f}')}% "
                  "of one CPU.", ""]
    if png_note:
        lines += [f"Plot: {png_note}", ""]
    else:
        lines += [f"![latency by percentile]({stamp}.png)", ""]
    cells = []
    for r in results:
        if r["cell"] not in cells:
            cells.append(r["cell"])
    for cell in cells:
        rows = [(r["server"], figures(r["result"])) for r in results if r["cell"] == cell]
        lines += [f"## {cell_title(cell)}", ""] + table(rows) + [""]
    failed = [(r["server"], cell_title(r["cell"]), r["result"]["error"]) for r in results if "error" in r["result"]]
    if failed:
        lines += ["## Runs that failed", ""] + [f"- {s}, {c}: {e}" for s, c, e in failed] + [""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the reduced matrix, for development")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--only", default="", help="comma-separated server names")
    a = ap.parse_args()
    plan = QUICK if a.quick else FULL
    build = os.path.abspath(a.build)
    stamp = time.strftime("%Y-%m-%d-%H%M") + ("-quick" if a.quick else "")
    raw = os.path.join(a.out, stamp + "-raw")
    os.makedirs(raw, exist_ok=True)
    t0 = time.monotonic()

    def log(tag, res):
        f = figures(res)
        what = res.get("error") if f is None else f"{f['msgs']:.0f} msgs/s p99 {fmt_us(f['p99'])}" + \
            ("" if f["ok"] else f" ERRORS {f['errors']}")
        print(f"[{time.monotonic() - t0:6.1f}s] {tag}: {what}", flush=True)

    names = set(filter(None, a.only.split(",")))
    results = measure(build, plan, names, raw, log)
    png = os.path.join(a.out, stamp + ".png")
    closed = next((c for c in ({"conns": 100, "size": 64},) if any(r["cell"] == c for r in results)), None)
    rated = [{"conns": plan["rate_conns"], "size": plan["rate_size"], "rate": r} for r in plan["rates"]]
    picks = ([closed] if closed else []) + rated[len(rated) // 2:len(rated) // 2 + 1]
    note = plot(results, picks, png, raw)
    with open(os.path.join(a.out, stamp + ".json"), "w") as f:
        head = {"stamp": stamp, "quick": a.quick, "machine": machine(), "plan": plan}
        f.write(json.dumps(head)[:-1] + ', "runs": [\n' + ",\n".join(json.dumps(r) for r in results) + "\n]}\n")
    with open(os.path.join(a.out, stamp + ".md"), "w") as f:
        f.write(markdown(results, plan, a.quick, stamp, note) + "\n")
    print(f"wrote {os.path.relpath(os.path.join(a.out, stamp + '.md'), ROOT)} (+ .json, .png) "
          f"in {time.monotonic() - t0:.0f} s")
    # A server that echoed wrong bytes fails the target; slow or stuck runs are in the table.
    wrong = [r for r in results if r["result"].get("exit_status") == 1]
    for r in wrong:
        print(f"MISMATCH: {r['server']}, {cell_title(r['cell'])}: {r['result']['errors']}", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
