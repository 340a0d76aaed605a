"""The command line: --help, --version, bad options, bad addresses."""
import os
import socket
import subprocess

import pytest

from echoserver import BINARY, IO_TIMEOUT, READY_RE, Server, start_args


def run(*args):
    if not os.path.exists(BINARY):
        pytest.fail(f"{BINARY} is not built")
    return subprocess.run([BINARY, *args], capture_output=True, timeout=IO_TIMEOUT, text=True)


def test_help_prints_usage_and_exits_0(backend):
    out = run("--backend", backend, "--help")
    assert out.returncode == 0
    assert out.stdout.startswith("usage: cport-echo")
    for opt in ("--port", "--bind", "--listen", "--threads", "--backend", "--model", "--tcp-only",
                "--udp-only", "--max-connections", "--idle-timeout", "--drain-timeout", "--version"):
        assert opt in out.stdout
    assert out.stderr == ""


def test_version_prints_the_version_and_exits_0(backend):
    out = run("--backend", backend, "--version")
    assert out.returncode == 0
    assert out.stdout.startswith("cport-echo 0.1.0")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bogus"], "unknown option '--bogus'"),
        (["--port", "65536"], "bad --port '65536'"),
        (["--port", "-1"], "bad --port '-1'"),
        (["--port"], "needs a value"),
        (["--threads", "0"], "bad --threads '0'"),
        (["--backend", "kqueue"], "bad --backend 'kqueue'"),
        (["--model", "forked"], "bad --model 'forked'"),
        (["--bind", "localhost"], "bad --bind address 'localhost'"),
        (["--listen", "::1:80"], "bad --listen '::1:80'"),
        (["--listen", "127.0.0.1"], "bad --listen '127.0.0.1'"),
        (["--idle-timeout", "soon"], "bad --idle-timeout 'soon'"),
        (["--pool-buffers", "40000"], "bad --pool-buffers '40000'"),
        (["--pool-buffer-size", "100"], "bad --pool-buffer-size '100'"),
        (["--pool-large-buffers", "40000"], "bad --pool-large-buffers '40000'"),
        (["--pool-large-buffer-size", "100"], "bad --pool-large-buffer-size '100'"),
        (["--pool-buffer-size", "65536", "--pool-large-buffers", "8"],
         "--pool-large-buffer-size must be more than --pool-buffer-size"),
        (["--pool-large-buffer-size", "8192"], "--pool-large-buffer-size must be more than --pool-buffer-size"),
        (["--proxy-header-timeout", "0"], "bad --proxy-header-timeout '0'"),
        (["--tcp-only", "--udp-only"], "exclude each other"),
        (["stray"], "unexpected argument 'stray'"),
    ],
)
def test_bad_command_lines_say_why_and_exit_2(backend, args, message):
    out = run("--backend", backend, *args)
    assert out.returncode == 2, out
    assert message in out.stderr
    assert "--help" in out.stderr
    assert out.stdout == ""


def test_an_address_in_use_is_a_clear_failure_exit_1(backend):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = run("--backend", backend, "--bind", "127.0.0.1", "--port", str(port), "--tcp-only")
    assert out.returncode == 1
    assert f"cannot serve 127.0.0.1:{port} (tcp): bind: Address already in use" in out.stderr


def test_ready_line_names_backend_and_threads(launch, backend):
    srv = launch("--threads", "3")
    assert srv.backend == backend
    assert srv.threads == 3
    assert READY_RE.match(srv.lines[0])
    assert srv.lines[0] == f"cport-echo: listening on 127.0.0.1:{srv.port} (backend {backend}, 3 threads)"


def test_journald_stream_gets_priority_prefixes(backend):
    """With JOURNAL_STREAM naming stderr, lines carry <N> syslog priorities."""

    r, w = os.pipe()
    st = os.fstat(w)
    proc = subprocess.Popen(
        [BINARY, *start_args(backend)],
        stderr=w,
        stdout=subprocess.DEVNULL,
        env=dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}"),
    )
    os.close(w)
    try:
        with os.fdopen(r, "rb") as f:
            line = f.readline().decode()
            if "cannot create a completion port" in line:
                pytest.skip("io_uring is not available here")
            assert line.startswith("<5>cport-echo: listening on 127.0.0.1:")
            proc.terminate()
            rest = f.read().decode()
        assert proc.wait(IO_TIMEOUT) == 0
        assert all(ln.startswith("<") for ln in rest.splitlines()), rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_journal_stream_naming_another_file_is_ignored(backend):
    srv = Server(start_args(backend), env={"JOURNAL_STREAM": "1:1"}).wait_ready()
    try:
        assert srv.lines[0].startswith("cport-echo: listening")
    finally:
        assert srv.stop() == 0
