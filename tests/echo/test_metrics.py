"""--metrics: GET /metrics in Prometheus' text format from the server's own
port; exact counters; proper HTTP errors; nothing a scraper does (or a
hostile client of the metrics port) disturbs the echo."""
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from echoserver import IO_TIMEOUT, METRICS_RE, SLOW, closed_by_peer, echo_once, recv_exactly

PROMTOOL = shutil.which("promtool")
REQ_TIMEOUT = 5  # the server's own bound on a request head (metrics_server.c)
SAMPLE_RE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")


def launch_metrics(launch, *extra):
    srv = launch("--metrics", "127.0.0.1:0", *extra)
    _, m = srv.wait_line(METRICS_RE)
    assert m is not None, srv.text()
    srv.metrics = (m.group(1), int(m.group(2)))
    return srv


def scrape_text(srv, path="/metrics"):
    host, port = srv.metrics
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=IO_TIMEOUT) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return r.read().decode()


def samples(text):
    """{'name{labels}': value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"not a sample line: {line!r}"
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def scrape(srv):
    return samples(scrape_text(srv))


def raw_request(srv, data, shut=True):
    """Send bytes to the metrics port; return everything it answers."""
    with socket.create_connection(srv.metrics, timeout=IO_TIMEOUT) as s:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        return read_all(s)


def read_all(s):
    chunks = []
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def status_of(resp):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", resp)
    assert m, resp[:200]
    return int(m.group(1))


def promtool_check(text):
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=IO_TIMEOUT)
    return r.returncode, r.stdout + r.stderr


def echo_load(port, clients, rounds, stop):
    """Clients echoing in a loop (bounded in rounds) until stop is set."""
    errors = []

    def client():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
                for i in range(rounds):
                    if stop.is_set():
                        break
                    data = os.urandom(1 + (i * 997) % 20000)
                    assert echo_once(s, data) == data
        except Exception as e:  # reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    return threads, errors


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian's prometheus)")
def test_promtool_accepts_the_metrics_of_a_loaded_server(launch):
    srv = launch_metrics(launch)
    stop = threading.Event()
    threads, errors = echo_load(srv.port, 8, 300, stop)
    try:
        for _ in range(3):
            rc, out = promtool_check(scrape_text(srv))
            assert rc == 0, out
    finally:
        stop.set()
        for t in threads:
            t.join(IO_TIMEOUT)
    assert not errors, errors
    rc, out = promtool_check(scrape_text(srv))
    assert rc == 0, out


def wait_quiet(srv, pred):
    deadline = time.monotonic() + IO_TIMEOUT
    while True:
        try:
            s = scrape(srv)
        except urllib.error.HTTPError as e:  # 503: the slots are still taken
            assert e.code == 503 and time.monotonic() < deadline, e
            time.sleep(0.05)
            continue
        if pred(s):
            return s
        assert time.monotonic() < deadline, f"metrics never settled: {s}"
        time.sleep(0.05)


def test_counters_move_by_exactly_what_the_client_did(launch):
    srv = launch_metrics(launch)
    before = scrape(srv)
    sizes = [1, 5000, 70_000, 3]
    for n in sizes:
        with srv.connect() as s:
            data = os.urandom(n)
            assert echo_once(s, data) == data
            s.shutdown(socket.SHUT_WR)
            assert closed_by_peer(s)
    dgrams = [0, 10, 1000, 1400, 7]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(IO_TIMEOUT)
        for n in dgrams:
            u.sendto(b"x" * n, ("127.0.0.1", srv.port))
            assert u.recvfrom(2000)[0] == b"x" * n
    after = wait_quiet(srv, lambda s: s["cport_echo_connections_open"] == 0
                       and s["cport_echo_udp_sent_datagrams_total"] == len(dgrams))

    def moved(name):
        return after[name] - before.get(name, 0)

    assert moved("cport_echo_connections_accepted_total") == len(sizes)
    assert moved('cport_echo_received_bytes_total{protocol="tcp"}') == sum(sizes)
    assert moved('cport_echo_sent_bytes_total{protocol="tcp"}') == sum(sizes)
    assert moved('cport_echo_received_bytes_total{protocol="udp"}') == sum(dgrams)
    assert moved('cport_echo_sent_bytes_total{protocol="udp"}') == sum(dgrams)
    assert moved("cport_echo_udp_received_datagrams_total") == len(dgrams)
    assert moved('cport_echo_received_messages_total{protocol="udp"}') == len(dgrams)
    assert moved('cport_echo_sent_messages_total{protocol="udp"}') == len(dgrams)
    # TCP messages are the server's reads and writes: at least one per
    # connection, at most one per byte, whatever the segmentation was.
    assert len(sizes) <= moved('cport_echo_received_messages_total{protocol="tcp"}') <= sum(sizes)
    assert len(sizes) <= moved('cport_echo_sent_messages_total{protocol="tcp"}') <= sum(sizes)
    assert moved("cport_echo_connection_lifetime_seconds_count") == len(sizes)
    assert moved('cport_echo_connection_lifetime_seconds_bucket{le="+Inf"}') == len(sizes)
    assert moved('cport_echo_errors_total{kind="connection_other"}') == 0
    # The scrapes themselves are no echo traffic.
    assert after["cport_echo_connections_accepted_total"] == len(sizes)


def test_refused_and_dropped_counters_count_by_reason(launch):
    srv = launch_metrics(launch, "--max-connections", "1", "--udp-min-source-port", "65535")
    with srv.connect() as held:
        assert echo_once(held, b"hold") == b"hold"
        for _ in range(3):
            with srv.connect() as s:
                assert closed_by_peer(s)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))  # an ephemeral port: below 65535
            u.sendto(b"dropped", ("127.0.0.1", srv.port))
        s = wait_quiet(srv, lambda s: s['cport_echo_connections_refused_total{reason="max_connections"}'] == 3
                       and s['cport_echo_udp_dropped_datagrams_total{reason="privileged_source_port"}'] == 1)
        assert s["cport_echo_connections_open"] == 1


def test_lifetime_histogram_is_cumulative_and_adds_up(launch):
    srv = launch_metrics(launch)
    for _ in range(5):
        with srv.connect() as s:
            assert echo_once(s, b"x") == b"x"
    s = wait_quiet(srv, lambda s: s["cport_echo_connection_lifetime_seconds_count"] == 5)
    les = ["0.01", "0.1", "1", "10", "60", "600", "3600", "+Inf"]
    buckets = [s[f'cport_echo_connection_lifetime_seconds_bucket{{le="{le}"}}'] for le in les]
    assert buckets == sorted(buckets)
    assert buckets[-1] == 5
    assert s["cport_echo_connection_lifetime_seconds_sum"] >= 0


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (b"DELETE /metrics HTTP/1.0\r\n\r\n", 405),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),  # a TLS hello
        (b"GET /metrics\r\n\r\n", 400),  # HTTP/0.9
        (b"GET /metrics HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400),
        (b"GET metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", 413),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 413),
        (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 65 + b"\r\n", 431),
        (b"GETTINGVERYLONGMETHOD /metrics HTTP/1.1\r\n\r\n", 501),
    ],
)
def test_anything_but_get_metrics_gets_a_proper_http_error(launch, request_bytes, status):
    srv = launch_metrics(launch)
    resp = raw_request(srv, request_bytes)
    assert status_of(resp) == status, resp[:300]
    head, _, body = resp.partition(b"\r\n\r\n")
    assert b"\r\nConnection: close\r\n" in head + b"\r\n"
    length = int(re.search(rb"\r\nContent-Length: (\d+)", head).group(1))
    assert len(body) == length
    if status == 405:
        assert b"\r\nAllow: GET, HEAD" in head
    assert scrape(srv)[f'cport_echo_metrics_responses_total{{code="{status}"}}'] == 1


def test_head_gets_the_headers_only_and_a_query_string_is_ignored(launch):
    srv = launch_metrics(launch)
    resp = raw_request(srv, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = resp.partition(b"\r\n\r\n")
    assert status_of(resp) == 200 and body == b""
    assert int(re.search(rb"\r\nContent-Length: (\d+)", head).group(1)) > 1000
    assert "cport_echo_connections_open" in scrape_text(srv, "/metrics?x=1")


def test_a_request_line_fed_byte_by_byte_is_answered(launch):
    srv = launch_metrics(launch)
    req = b"GET /metrics HTTP/1.0\n\n"  # bare LF ends lines too
    with socket.create_connection(srv.metrics, timeout=IO_TIMEOUT) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(req)):
            s.sendall(req[i:i + 1])
        resp = read_all(s)
    assert status_of(resp) == 200
    assert b"cport_echo_connections_open" in resp


def test_a_slow_client_gets_408_in_bounded_time_and_echo_goes_on(launch):
    srv = launch_metrics(launch)
    with srv.connect() as echo, socket.create_connection(srv.metrics, timeout=IO_TIMEOUT + REQ_TIMEOUT) as slow:
        slow.sendall(b"GET /metr")
        t0 = time.monotonic()
        # While it dawdles, the echo and other scrapes are served.
        assert echo_once(echo, b"unaffected") == b"unaffected"
        assert "cport_echo_connections_open 1" in scrape_text(srv)
        resp = read_all(slow)
        assert time.monotonic() - t0 < REQ_TIMEOUT + IO_TIMEOUT  # a bound, not a timing claim
    assert status_of(resp) == 408


def test_a_silent_client_gets_408_too(launch):
    srv = launch_metrics(launch)
    with socket.create_connection(srv.metrics, timeout=IO_TIMEOUT + REQ_TIMEOUT) as silent:
        assert status_of(read_all(silent)) == 408


def test_more_scrapers_than_slots_get_503_and_the_echo_is_untouched(launch):
    srv = launch_metrics(launch)
    held = [socket.create_connection(srv.metrics, timeout=IO_TIMEOUT + REQ_TIMEOUT) for _ in range(8)]
    try:
        for h in held:
            h.sendall(b"G")  # each holds a slot: a request begun
        got = set()
        for _ in range(3):
            # Refused at once: read it before sending anything (a request
            # sent into the close may turn it into a reset).
            with socket.create_connection(srv.metrics, timeout=IO_TIMEOUT) as s:
                got.add(status_of(read_all(s)))
        assert got == {503}
        with srv.connect() as echo:
            data = os.urandom(50_000)
            assert echo_once(echo, data) == data
    finally:
        for h in held:
            h.close()
    s = wait_quiet(srv, lambda s: True)
    assert s['cport_echo_metrics_responses_total{code="503"}'] >= 3


def test_garbage_on_the_metrics_port_never_harms_the_server(launch):
    """Random bytes, random lengths, half sent, reset: every connection ends
    with an HTTP error or a close; the server then scrapes and echoes fine."""
    srv = launch_metrics(launch)
    rnd = __import__("random").Random(862)
    with srv.connect() as echo:
        for i in range(100 // SLOW):
            n = rnd.choice([1, 7, 100, 4000, 9000])
            data = bytes(rnd.getrandbits(8) for _ in range(n))
            if i % 3 == 0:
                data = b"GET /metrics HTTP/1.1\r\n" + data
            with socket.create_connection(srv.metrics, timeout=IO_TIMEOUT) as s:
                if i % 5 == 0:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    s.sendall(data[:50])
                    continue  # closed with a reset, mid-request
                try:
                    s.sendall(data)
                    s.shutdown(socket.SHUT_WR)
                except (BrokenPipeError, ConnectionResetError):
                    continue  # answered and closed before all was sent
                resp = read_all(s)
            assert resp == b"" or 400 <= status_of(resp) < 600 or status_of(resp) == 200, resp[:100]
        assert echo_once(echo, b"still echoing") == b"still echoing"
    assert "cport_echo_info" in scrape_text(srv)


def test_metrics_on_ipv6_loopback(launch):
    if not __import__("echoserver").have_ipv6():
        pytest.skip("no IPv6 loopback here")
    srv = launch("--metrics", "[::1]:0")
    _, m = srv.wait_line(METRICS_RE)
    host, port = m.group(1).strip("[]"), int(m.group(2))
    with socket.create_connection((host, port), timeout=IO_TIMEOUT) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: [::1]\r\n\r\n")
        assert status_of(read_all(s)) == 200


def test_metrics_while_draining_and_a_clean_exit(launch):
    srv = launch_metrics(launch)
    held = socket.create_connection(srv.metrics, timeout=IO_TIMEOUT)
    held.sendall(b"GET /")
    assert srv.stop() == 0  # an open metrics connection does not hold the exit
    held.close()


def test_per_thread_model_counts_every_threads_traffic(launch):
    """Each thread has its own port and listener; the scrape sums them all."""
    srv = launch_metrics(launch, "--model", "per-thread", "--threads", "3")
    socks = [srv.connect() for _ in range(12)]
    for i, s in enumerate(socks):
        assert echo_once(s, b"p" * (i + 1)) == b"p" * (i + 1)
    for s in socks:
        s.close()
    s = wait_quiet(srv, lambda s: s["cport_echo_connections_open"] == 0
                   and s["cport_echo_connection_lifetime_seconds_count"] == 12)
    assert s["cport_echo_connections_accepted_total"] == 12
    assert s['cport_echo_received_bytes_total{protocol="tcp"}'] == sum(range(1, 13))
    assert s['cport_echo_info{version="0.1.0",backend="%s",threads="3"}' % srv.backend] == 1
