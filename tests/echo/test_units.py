"""The shipped systemd units: systemd-analyze verify is clean, with the
ExecStart pointed at the built binary (the installed path is not there)."""
import os
import re
import shutil
import subprocess

import pytest

from echoserver import BINARY, IO_TIMEOUT, REPO

ANALYZE = shutil.which("systemd-analyze")
UNITS = os.path.join(REPO, "systemd")
pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (Debian's systemd)")
HARDENING = [
    "DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
    "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
]


@pytest.fixture
def units(tmp_path):
    """Copies of the units, ExecStart rewritten to the built cport-echo."""
    with open(os.path.join(UNITS, "cport-echo.service")) as f:
        service = f.read()
    assert "\nExecStart=/usr/local/bin/cport-echo\n" in service
    (tmp_path / "cport-echo.service").write_text(
        service.replace("ExecStart=/usr/local/bin/cport-echo", f"ExecStart={BINARY}"))
    shutil.copy(os.path.join(UNITS, "cport-echo.socket"), tmp_path)
    return tmp_path


def analyze(*args, cwd):
    # MANPATH: verify checks that Documentation=man:cport-echo(1) resolves.
    env = dict(os.environ, MANPATH=os.path.join(REPO, "man") + ":", SYSTEMD_LOG_COLOR="0")
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=IO_TIMEOUT * 3)


def test_systemd_analyze_verify_is_clean(units):
    r = analyze("verify", str(units / "cport-echo.socket"), str(units / "cport-echo.service"), cwd=units)
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr


def test_service_is_hardened_as_documented(units):
    text = (units / "cport-echo.service").read_text()
    for line in HARDENING:
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    assert re.search(r"^Type=notify$", text, re.M)
    socket_text = (units / "cport-echo.socket").read_text()
    assert re.search(r"^ListenStream=7$", socket_text, re.M)
    assert re.search(r"^ListenDatagram=7$", socket_text, re.M)


def test_offline_security_exposure_stays_low(units):
    r = analyze("security", "--offline=yes", "--no-pager", str(units / "cport-echo.service"), cwd=units)
    m = re.search(r"Overall exposure level for cport-echo\.service: (\d+\.\d+)", r.stdout + r.stderr)
    if m is None:
        pytest.skip("systemd-analyze security --offline is not supported here: " + (r.stderr.strip() or r.stdout[-200:]))
    assert float(m.group(1)) <= 4.0, r.stdout
