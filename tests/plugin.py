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

# nbval compares outputs byte for byte; a notebook executed on another CPU prints other last digits. Before nbval
# compares a cell, every number of the fresh output that is within tolerance of the stored one is replaced by the
# stored text (tests/tolerance.py says which tolerance and why), so only differences in substance remain.
from nbval.plugin import IPyNbCell  # noqa: E402

from tests.tolerance import describe_difference, snap_outputs  # noqa: E402

_compare_exactly = IPyNbCell.compare_outputs


def _compare_within_tolerance(self, test, ref, skip_compare=None):
    if _compare_exactly(self, snap_outputs(ref, test, self.sanitize), ref, skip_compare):
        return True
    where = describe_difference(ref, test, self.sanitize)
    if where:
        self.comparison_traceback.append(f"First difference beyond the tolerance (tests/tolerance.py): {where}")
    return False


IPyNbCell.compare_outputs = _compare_within_tolerance


# `make test` verifies the solution notebooks as another machine would run them: AVX2 instead of this CPU's
# AVX-512 kernels (torch, MKL and oneDNN each choose their own) and one thread instead of two. Each of these
# changes torch's floating-point results in the last bits, as a learner's laptop would. Only the notebooks'
# kernels get these settings; a plain `pytest solutions/notebooks/X.ipynb` verifies as this machine is.
OTHER_MACHINE = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2",
                 "OMP_NUM_THREADS": "1"}


def pytest_addoption(parser):
    parser.addoption("--as-other-machine", action="store_true",
                     help="run the notebooks' kernels with " + " ".join(f"{k}={v}" for k, v in OTHER_MACHINE.items()))


from nbval.plugin import IPyNbFile  # noqa: E402

_start_kernel = IPyNbFile.setup


def _start_kernel_as_configured(self):
    if not self.config.getoption("as_other_machine"):
        return _start_kernel(self)
    saved = {k: os.environ.get(k) for k in OTHER_MACHINE}
    os.environ.update(OTHER_MACHINE)
    try:
        return _start_kernel(self)  # the kernel process inherits the environment it is started with
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value


IPyNbFile.setup = _start_kernel_as_configured
