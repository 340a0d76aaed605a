"""The shim's calls, one C program per behaviour (tests/compat/*.c), each
run on both backends."""
import glob
import os
import subprocess

import pytest

from conftest import BUILD, SLOW, env_for, skip_or_fail_unavailable

PROGRAMS = sorted(os.path.splitext(os.path.basename(p))[0]
                  for p in glob.glob(os.path.join(os.path.dirname(__file__), "*.c")))


@pytest.mark.parametrize("program", PROGRAMS)
def test_shim_call_behaves_as_on_windows(program, backend):
    path = os.path.join(BUILD, "tests", "win32", program)
    if not os.path.exists(path):
        pytest.fail(f"{path} is not built")
    r = subprocess.run([path], capture_output=True, text=True, env=env_for(backend), timeout=120 * SLOW)
    if r.returncode == 77:
        skip_or_fail_unavailable(backend, r.stdout)
    assert r.returncode == 0, f"{program} on {backend} exited {r.returncode}:\n{r.stdout}{r.stderr}"
