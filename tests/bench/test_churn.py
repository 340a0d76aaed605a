"""bench/churn.py, the connection-churn client: it counts connections, reads the
server's CPU per connection, and fails on a wrong echo."""
import json
import os
import subprocess
import sys

from conftest import ROOT

CHURN = os.path.join(ROOT, "bench", "churn.py")


def churn(port, tmp_path, *args, duration="0.5"):
    out = tmp_path / "churn.json"
    p = subprocess.run([sys.executable, CHURN, str(port), "--duration", duration, "--json", str(out), *args],
                       capture_output=True, text=True, timeout=30)
    return p, (json.loads(out.read_text()) if out.exists() else None)


def test_churn_counts_connections_and_the_servers_cpu_per_connection(start_server, tmp_path):
    srv = start_server("epoll")
    p, figures = churn(srv.port, tmp_path, "--server-pid", str(srv.proc.pid), duration="1")
    assert p.returncode == 0, p.stderr
    assert figures["conns_per_s"] > 50
    # Each connection costs the server an accept, a receive, a send and a close:
    # a second of them is many 10 ms ticks of its CPU, never none.
    assert figures["cpu_us_per_conn"] > 0
    assert "connections/s" in p.stdout


def test_a_wrong_echo_fails_the_run(start_server, tmp_path):
    srv = start_server("faulty", "--fault", "flip", "--at", "10")
    p, figures = churn(srv.port, tmp_path)
    assert p.returncode == 1
    assert "differs" in p.stderr
    assert figures is None


def test_nothing_listening_fails_the_run(tmp_path):
    p, _ = churn(1, tmp_path)  # port 1 on loopback: nobody there
    assert p.returncode == 1
    assert "churn:" in p.stderr
