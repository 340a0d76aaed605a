"""With no --threads, cport-echo starts as many workers as the CPUs it may run
on (its affinity mask, as taskset or systemd's CPUAffinity= sets it), twice
that with the shared model, as the port's concurrency limit counts them; not
as many as the host has online. Per-thread ports beyond those CPUs only take
turns on them."""
import os

import pytest

from echoserver import echo_once


def pinned_to(cpu):
    return lambda: os.sched_setaffinity(0, {cpu})


def tasks(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


@pytest.mark.parametrize("model, per_cpu", [("per-thread", 1), ("shared", 2)])
def test_on_one_cpu_the_default_is_that_cpus_share_of_threads(launch, model, per_cpu):
    cpu = min(os.sched_getaffinity(0))
    default = launch("--model", model, preexec_fn=pinned_to(cpu))
    told = launch("--model", model, "--threads", str(per_cpu), preexec_fn=pinned_to(cpu))
    assert default.threads == per_cpu, default.text()
    # The ready line is not all: as many threads run as when told so.
    assert tasks(default.proc.pid) == tasks(told.proc.pid)
    with default.connect() as s:
        assert echo_once(s, b"on one cpu") == b"on one cpu"


def test_unpinned_the_default_counts_every_cpu_it_may_run_on(launch):
    srv = launch("--model", "per-thread")
    assert srv.threads == len(os.sched_getaffinity(0)), srv.text()
