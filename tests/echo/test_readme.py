"""The README's "try it" line works on a fresh machine: `make run` installs its program, and it echoes."""
import os
import re
import shlex
import subprocess

from echoserver import IO_TIMEOUT, REPO, have_ipv6

README = os.path.join(REPO, "README.md")
DEPS = os.path.join(REPO, "scripts", "deps.sh")


def try_it_line():
    with open(README) as f:
        text = f.read()
    m = re.search(r"try it\s+with\s+`([^`]+)`", text)
    assert m, "README has no 'try it with `...`' line"
    return shlex.split(m.group(1))


def run_set():
    """The packages scripts/deps.sh installs for `make run`."""
    with open(DEPS) as f:
        src = f.read()
    build = re.search(r'^build="([^"]*)"', src, re.M).group(1).split()
    run = re.search(r'^run="([^"]*)"', src, re.M).group(1).replace("$build", " ".join(build)).split()
    return run


def test_make_run_installs_the_program_of_the_try_it_line():
    with open(os.path.join(REPO, "Makefile")) as f:
        assert re.search(r"^run:.*\n\t@scripts/deps.sh run$", f.read(), re.M), "make run installs the run set"
    assert try_it_line()[0] in run_set()


def test_the_try_it_line_echoes_what_it_is_given(launch):
    # As `make run` serves (0.0.0.0 and [::]), on a free port rather than 5150.
    srv = launch("--port", "0", bind=False, ready_lines=2 if have_ipv6() else 1)
    argv = [a.replace("5150", str(srv.port)) for a in try_it_line()]
    out = subprocess.run(argv, input=b"hello, cport\n", capture_output=True, timeout=IO_TIMEOUT)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"hello, cport\n"
