"""Test-suite setup, loaded by every pytest run (`-p tests.plugin` in pyproject.toml), whatever it collects.

- Offline: tests/offline/sitecustomize.py blocks every non-loopback connection, here and in every
  Python process the suite starts (nbval's kernels, the grader's workers), via PYTHONPATH.
- Executed notebooks are compared by nbval, so they run as the build ran them: on the CPU and
  without progress bars (a bar's timings differ on every run).
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = ROOT / "tests" / "offline"
sys.path[:0] = [str(OFFLINE), str(ROOT)]
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(OFFLINE), str(ROOT), os.environ.get("PYTHONPATH")]))

import sitecustomize  # noqa: E402,F401  (this process too; a venv may already have imported another one)

from utils.build import EXECUTION_ENV  # noqa: E402

os.environ.update(EXECUTION_ENV)
