"""Every cport-echo test runs once per backend."""
import pytest

from echoserver import Server, start_args

BACKENDS = ["io_uring", "epoll"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def servers():
    """Servers a test starts are stopped (and must exit 0) when it ends."""
    started = []
    yield started
    failures = []
    for srv in started:
        if srv.proc.poll() is None:
            rc = srv.stop()
        else:
            rc = srv.proc.returncode
            srv.reader.join(5)
        if rc != 0:
            failures.append(f"{srv.args}: exit {rc}\n{srv.text()}")
    assert not failures, "\n".join(failures)


@pytest.fixture
def launch(servers, backend):
    """launch(*extra_args, bind=True, ready_lines=1, env=None, preexec_fn=None):
    start cport-echo on this test's backend and wait for its ready line(s)."""

    def _launch(*extra, bind=True, ready_lines=1, **kw):
        srv = Server(start_args(backend, *extra, bind=bind), **kw)
        srv.wait_ready(ready_lines)
        servers.append(srv)
        return srv

    return _launch
