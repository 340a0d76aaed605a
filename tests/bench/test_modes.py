"""cport-bench's modes each verify every byte against a correct server."""
import pytest


def assert_clean(r):
    assert r.code == 0, r
    assert r.json["ok"] and r.json["messages"] > 0, r
    assert not any(r.json["errors"].values()), r


def test_closed_loop_pipelined_on_each_backend(start_server, bench, backend):
    srv = start_server("epoll")
    r = bench(srv.port, "-c", "20", "-s", "333", "-P", "4", "--backend", backend)
    assert_clean(r)
    assert r.json["params"]["backend"] == backend
    assert r.json["latency_us"]["count"] == r.json["messages"]


def test_open_loop_meets_its_rate_and_measures_from_intended_time(start_server, bench):
    srv = start_server("epoll")
    r = bench(srv.port, "-c", "10", "-r", "2000", duration="1")
    assert_clean(r)
    assert r.json["params"]["mode"] == "open"
    assert 1500 <= r.json["msgs_per_s"] <= 2500, r
    late = r.json["send_lateness_us"]
    assert 0 <= late["p50"] <= late["p99"] <= late["max"], r


def test_stream_mode_moves_bytes(start_server, bench):
    srv = start_server("epoll")
    r = bench(srv.port, "-c", "2", "-s", "65536", "--stream")
    assert r.code == 0, r
    assert r.json["bytes"] > 0 and r.json["latency_us"] is None


def test_threads_and_many_connections(start_server, bench):
    srv = start_server("epoll")
    r = bench(srv.port, "-c", "300", "-t", "2", "--connect-rate", "3000", warmup="0.2")
    assert_clean(r)
    assert r.json["connections"]["connected"] == 300


def test_receive_into_own_buffers(start_server, bench):
    srv = start_server("epoll")
    assert_clean(bench(srv.port, "-c", "5", "-s", "70000", "--no-pool"))


def test_ipv6_loopback(start_server, bench):
    srv = start_server("faulty", "--host", "::1")
    r = bench(srv.port, "--host", "::1", "-c", "2")
    assert_clean(r)
    assert r.json["params"]["family"] == "ipv6"


@pytest.mark.parametrize("args", [["-s", "4"], ["-c", "0"], ["--backend", "nope"], ["--udp", "--stream"],
                                  ["--bogus"], ["-d", "x"]])
def test_bad_options_exit_2(bench, args):
    assert bench(5150, *args).code == 2


def test_open_loop_shows_a_server_stall_in_the_tail(start_server, bench):
    # The server holds one connection's echo back for 400 ms once. Timed from
    # each message's intended send time, every message meant to leave during
    # the stall is late too: hundreds of them, not one.
    srv = start_server("faulty", "--fault", "stall", "--at", "6400", "--stall-ms", "400")
    r = bench(srv.port, "-c", "1", "-r", "1000", duration="1.5")
    assert r.code == 0, r
    lat = r.json["latency_us"]
    assert lat["max"] >= 350_000, r
    assert lat["p90"] >= 100_000, r  # a lower bound the stall sets: slowness only raises it
