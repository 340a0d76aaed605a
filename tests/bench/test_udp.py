"""UDP: loss and reordering are measured, not fatal; corruption still is."""


def test_udp_loss_is_counted_not_fatal(start_server, bench):
    srv = start_server("faulty", "--udp", "--drop-every", "5")
    r = bench(srv.port, "--udp", "-c", "2", "-P", "4", "--timeout", "0.05", duration="1")
    assert r.code == 0, r
    lost, echoed = r.counter("lost"), r.json["messages"]
    assert lost > 0 and echoed > 0, r
    # one in five dropped: the loss counted is about a quarter of what came back
    assert 0.1 < lost / echoed < 0.5, r
    assert r.counter("corrupt") == 0 and r.counter("crosstalk") == 0


def test_udp_through_a_correct_server_loses_nothing(start_server, bench):
    srv = start_server("faulty", "--udp")
    # A datagram counts as lost once --timeout passes without its echo: give
    # the Python server seconds, not the default 0.25 s, so that a busy
    # machine (CI shares its CPUs) cannot make a slow echo look like a loss.
    r = bench(srv.port, "--udp", "-c", "3", "-s", "1200", "-r", "1000", "--timeout", "3")
    assert r.code == 0, r
    assert r.counter("lost") == 0 and r.json["messages"] > 0, r


def test_udp_with_nothing_listening_fails(start_server, bench):
    srv = start_server("faulty")  # TCP only: the UDP port is closed
    r = bench(srv.port, "--udp", "-c", "2")
    assert r.code == 3, r
    assert r.counter("connect_failed") == 2, r
