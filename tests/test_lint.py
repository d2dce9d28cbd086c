"""The code learners read stays clean: ruff's checks (pyproject.toml) pass on the whole repository."""

import subprocess
import sys

from tests.sections import ROOT


def test_ruff_passes():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
