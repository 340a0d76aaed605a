"""cport-echo(1) and cport-bench(1) list the same options as --help and the parser have, and render cleanly."""
import os
import re
import subprocess

import pytest

from echoserver import BINARY, IO_TIMEOUT, REPO

# Each program: its binary, its man page, the source of its option table, and the section after OPTIONS.
PROGRAMS = {
    "cport-echo": (BINARY, os.path.join(REPO, "man", "man1", "cport-echo.1"),
                   os.path.join(REPO, "apps", "echo", "options.c"), "UDP"),
    "cport-bench": (os.path.join(os.path.dirname(BINARY), "cport-bench"), os.path.join(REPO, "man", "man1", "cport-bench.1"),
                    os.path.join(REPO, "apps", "bench", "options.c"), "OUTPUT"),
}
# "  -p, --port N", "      --tcp-only": an option's own line, and whether it takes a value.
OPT_LINE = re.compile(r"^\s+(?:(-[a-zA-Z]), )?(--[a-z][a-z-]*)( \S+)?")


def options_of(lines):
    """{'--long': (short or None, takes_value)} of the lines that start an option."""
    out = {}
    for line in lines:
        m = OPT_LINE.match(line)
        if m:
            out[m.group(2)] = (m.group(1), m.group(3) is not None)
    return out


def help_options(program):
    out = subprocess.run([PROGRAMS[program][0], "--help"], capture_output=True, text=True, timeout=IO_TIMEOUT)
    assert out.returncode == 0
    return options_of(out.stdout.splitlines())


def man_options(program):
    _, manpage, _, after = PROGRAMS[program]
    env = dict(os.environ, MANWIDTH="100", LC_ALL="C.UTF-8")
    out = subprocess.run(["man", "-P", "cat", "-l", manpage], capture_output=True, text=True, env=env,
                         timeout=IO_TIMEOUT)
    if out.returncode != 0:
        pytest.skip("man cannot render pages here: " + out.stderr.strip())
    text = re.sub(r".\x08", "", out.stdout)  # no overstrike, whatever the pager settings
    section = text.split("\nOPTIONS\n", 1)[1].split(f"\n{after}\n", 1)[0]
    # An option's tag is indented 7; its description, 14.
    return options_of(line for line in section.splitlines() if re.match(r"^ {7}-", line))


def source_options(program):
    with open(PROGRAMS[program][2]) as f:
        src = f.read()
    return {"--" + name: has_arg == "required_argument"
            for name, has_arg in re.findall(r'\{"([a-z-]+)", (no_argument|required_argument)', src)}


@pytest.fixture(params=sorted(PROGRAMS))
def program(request):
    return request.param


def test_help_and_man_page_list_the_same_options(program):
    h, m = help_options(program), man_options(program)
    assert set(h) == set(m), f"only in --help: {set(h) - set(m)}; only in the man page: {set(m) - set(h)}"
    assert h == m  # the same short forms, and the same options take a value


def test_every_option_of_the_parser_is_documented(program):
    src, h = source_options(program), help_options(program)
    assert set(src) == set(h)
    assert {k: v[1] for k, v in h.items()} == src


def test_man_page_renders_without_warnings(program):
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    out = subprocess.run(["man", "--warnings", "-P", "cat", "-l", PROGRAMS[program][1]], capture_output=True, text=True,
                         env=env, timeout=IO_TIMEOUT)
    assert out.returncode == 0
    assert out.stderr == "", out.stderr
