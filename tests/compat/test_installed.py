"""`make install` into a temporary prefix, then programs built the way the
shim's users build them: cc prog.c $(pkg-config --cflags --libs cport-win32).
The seed's own program (../shared/seed, next to the repository, typo and
non-breaking spaces mended, nothing else) is extracted here when that page
is there, compiled with gcc's default warnings and run; the repository
holds no copy of it, so elsewhere (CI clones only the repository) that
test is skipped, and examples/win32/iocp_echo, written here in the same
shape, covers the same behaviour on every run."""
import glob
import os
import shutil
import signal
import subprocess

import pytest

from conftest import BUILD, REPO, SLOW, Program, bench, env_for
from test_examples import resets

# Installing and building against the install checks the packaging, which
# the plain pass does; under sanitizers the examples (test_examples.py) run
# the same library code, and this module's five builds and servers would
# only add minutes.
# One worker runs the whole module (pytest-xdist), so it installs once.
pytestmark = [pytest.mark.skipif(SLOW > 1, reason="the plain build's pass installs and builds against the shim"),
              pytest.mark.xdist_group("install")]

SEED_DIR = os.path.join(REPO, "..", "shared", "seed")
SANFLAGS = os.environ.get("CPORT_SANFLAGS", "").split()
MAKEFLAGS = os.environ.get("CPORT_MAKEFLAGS", "").split()


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    root = tmp_path_factory.mktemp("prefix")
    r = subprocess.run(["make", "--no-print-directory", "-C", REPO, "install", f"PREFIX={root}", *MAKEFLAGS],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return str(root)


def pkg_config(prefix, *what):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
    r = subprocess.run(["pkg-config", *what, "cport-win32"], capture_output=True, text=True, env=env, check=True)
    return r.stdout.split()


def build(prefix, source, out, *warnings):
    """cc source $(pkg-config --cflags --libs cport-win32), sanitizer flags
    of this build added so its instrumented libraries load."""
    args = ["gcc", *warnings, *SANFLAGS, source, "-o", out, *pkg_config(prefix, "--cflags", "--libs")]
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(args)}\n{r.stderr}"
    return r.stderr


def test_install_puts_the_shim_in_its_own_include_folder(prefix):
    inc = os.path.join(prefix, "include")
    assert sorted(os.listdir(os.path.join(inc, "cport-win32"))) == \
        ["cport-win32-crt.h", "mswsock.h", "process.h", "strsafe.h", "tchar.h", "windows.h", "winsock2.h",
         "ws2tcpip.h"]
    assert not os.path.exists(os.path.join(inc, "windows.h"))
    assert os.path.exists(os.path.join(prefix, "lib", "libcport-win32.so.0"))
    assert os.path.exists(os.path.join(prefix, "lib", "libcport-win32.a"))
    assert "-I" + os.path.join(inc, "cport-win32") in pkg_config(prefix, "--cflags")


def test_the_installed_libcport_a_holds_plain_code_only_and_links_without_gccs_link_time_code(prefix, tmp_path):
    """The release build is optimised at link time, and its objects carry
    GCC's link-time code beside plain code. Another compiler, or another
    GCC, cannot read the former, so `make install` strips it from the
    libcport.a it installs: no member has a .gnu.lto_ section, and a link
    that reads no link-time code finds every call, and the program runs."""
    lib = os.path.join(prefix, "lib", "libcport.a")
    r = subprocess.run(["objdump", "-h", lib], capture_output=True, text=True, check=True)
    assert ".text" in r.stdout and ".gnu.lto_" not in r.stdout
    exe = str(tmp_path / "app-static")
    args = ["gcc", "-fno-lto", "-fno-use-linker-plugin", *SANFLAGS, "-I", os.path.join(prefix, "include"),
            os.path.join(REPO, "tests", "package", "app.c"), lib, "-luring", "-lpthread", "-o", exe]
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(args)}\n{r.stderr}"
    r = subprocess.run([exe], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("name", ["iocp_echo", "acceptex_echo", "connectex_client"])
def test_each_example_builds_with_wall_werror_through_pkg_config(prefix, tmp_path, name):
    build(prefix, os.path.join(REPO, "examples", "win32", name + ".c"), str(tmp_path / name),
          "-Wall", "-Wextra", "-Werror")


def test_an_installed_example_serves_100_clients(prefix, tmp_path, backend):
    exe = str(tmp_path / "acceptex_echo")
    build(prefix, os.path.join(REPO, "examples", "win32", "acceptex_echo.c"), exe, "-Wall", "-Werror")
    prog = Program([exe, "0"], backend)
    try:
        bench(prog.port, connections=100, size=1024)
        prog.stop()
    finally:
        prog.kill()


def test_a_book_style_server_builds_with_wall_and_echoes_100_clients(prefix, tmp_path, backend):
    """tests/compat/classic/book_server.c: _beginthreadex workers, _tmain and
    TCHAR, FormatMessage, an event, a DWORD-cast key, exit packets posted.
    Built with -Wall (its DWORD cast of a pointer draws gcc's default
    warning, as on any 64-bit compiler), served to 100 clients byte-exact,
    through resets, then stopped with every worker's exit code checked."""
    exe = str(tmp_path / "book_server")
    warnings = build(prefix, os.path.join(REPO, "tests", "compat", "classic", "book_server.c"), exe, "-Wall")
    assert "error" not in warnings.lower()
    assert all("pointer-to-int-cast" in line for line in warnings.splitlines() if "warning:" in line), warnings
    prog = Program([exe, "0"], backend)
    try:
        bench(prog.port, connections=100, size=1024)
        resets(prog.port)
        bench(prog.port, connections=100, size=4096, seconds=1)
        out = prog.stop()
    finally:
        prog.kill()
    assert "failed with error" not in out, out
    stopped = [line for line in out.splitlines() if "workers stopped" in line]
    assert stopped, out
    done, total = stopped[0].split()[1], stopped[0].split()[3]
    assert done == total, out


def seed_page():
    pages = sorted(glob.glob(os.path.join(SEED_DIR, "*.txt")))
    return pages[0] if pages else None


def extract_seed(page):
    """The C program on the page: from its first #include line to the end,
    with its `#i nclude` typo and the non-breaking spaces mended."""
    text = open(page, encoding="utf-8").read()
    start = text.index("#i nclude")
    return text[start:].replace("#i nclude", "#include").replace("\u00a0", " ")


def net_namespace_runner():
    """The seed listens on 5150 on every address: it runs in a network
    namespace of its own (with its clients) where that is possible."""
    if shutil.which("unshare") and shutil.which("ip"):
        r = subprocess.run(["unshare", "-n", "true"], capture_output=True)
        if r.returncode == 0:
            return ["unshare", "-n", "sh", "-c"]
    return None


SEED_RUN = """ip link set lo up || exit 90
"$1" > "$2" 2>&1 &
seed=$!
i=0
while ! "$3" -p 5150 -c 1 -d 0.1 --warmup 0 --timeout 2 >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 200 ] || { kill -9 $seed; exit 91; }
    kill -0 $seed 2>/dev/null || exit 92
    sleep 0.05
done
# The seed listens with a backlog of 5: clients connect at a pace its accept loop keeps up with.
"$3" --backend epoll -p 5150 -c 100 -s 1000 -d 2 --warmup 2 --connect-rate 200 --timeout 20
rc=$?
kill -9 $seed
exit $rc
"""


def test_the_seed_program_builds_against_the_installed_shim_and_echoes_100_clients(prefix, tmp_path, backend):
    page = seed_page()
    if not page:
        pytest.skip(f"no seed page in {os.path.normpath(SEED_DIR)} (a clone of the repository alone has none); "
                    "examples/win32/iocp_echo covers its behaviour")
    runner = net_namespace_runner()
    if not runner:
        pytest.skip("cannot make a network namespace here (unshare -n), and the seed needs port 5150 to itself")
    src = tmp_path / "seed.c"
    src.write_text(extract_seed(page))
    exe = str(tmp_path / "seed")
    warnings = build(prefix, str(src), exe)  # gcc's default warnings: the seed has some, none fatal
    assert "error" not in warnings.lower()
    r = subprocess.run([*runner, SEED_RUN, "seed-run", exe, str(tmp_path / "seed.out"),
                        os.path.join(BUILD, "cport-bench")],
                       capture_output=True, text=True, env=env_for(backend), timeout=120 * SLOW)
    out = (tmp_path / "seed.out").read_text() if (tmp_path / "seed.out").exists() else ""
    if r.returncode == 92 and "CreateIoCompletionPort failed" in out and backend == "io_uring" \
            and os.environ.get("CPORT_URING_EXPECTED") != "1":
        pytest.skip("io_uring is not available here")
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}{r.stderr}\nseed said:\n{out[-3000:]}"
    assert "OK: every byte echoed verified" in r.stdout + r.stderr
