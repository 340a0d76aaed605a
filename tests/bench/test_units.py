"""The C unit tests: histogram accuracy against exact percentiles, payload fault naming."""
import subprocess

import pytest

from conftest import binary


@pytest.mark.parametrize("name", ["tests/bench-hist-test", "tests/bench-pattern-test"])
def test_unit_binary_passes(name):
    p = subprocess.run([binary(name)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert " 0 failed" in p.stdout
