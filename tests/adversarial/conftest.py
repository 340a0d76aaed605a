"""Every adversarial case runs once per backend; servers it starts must drain
and exit 0 with no sanitizer report when it ends."""
import pytest

from .advserver import Server

BACKENDS = ["io_uring", "epoll"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def start_server(backend):
    """start_server(*extra_args, **kw) -> a ready Server on this backend."""
    started = []

    def _start(*extra, **kw):
        srv = Server(backend, *extra, **kw)
        started.append(srv)
        return srv

    yield _start
    errors = []
    for srv in started:
        try:
            srv.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)
