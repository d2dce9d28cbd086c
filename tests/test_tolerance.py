"""Verification that travels, and still fails on substance (tests/tolerance.py).

Two halves: outputs that differ only as another CPU's would (last digits, figure points moved by far less than
a pixel) are accepted; outputs changed in substance (a check's ✓ turned into ✗, a count, a loss x1.5, a figure's
data scaled, a trace removed, an error added) are rejected. The first tests use the real stored outputs of the
solution notebooks; the last runs nbval itself, through the plugin, on small notebooks."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import coalesce_streams

from tests.tolerance import first_difference, numbers_match, snap, snap_outputs, snap_text

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions" / "notebooks").glob("*.ipynb"))


def _outputs(path: Path) -> list[list]:
    nb = nbformat.read(path, as_version=4)
    return [coalesce_streams(copy.deepcopy(c.outputs)) for c in nb.cells if c.cell_type == "code"]


def _accepted(stored: list, new: list) -> bool:
    return snap_outputs(stored, new) == stored


# --- single numbers and texts --------------------------------------------------------------------------------

def test_last_digit_and_one_percent_are_accepted():
    assert numbers_match("0.995", "0.994") and numbers_match("0.0368", "0.0369")
    assert numbers_match("96.3", "96.9") and numbers_match("4096", "4090")
    assert snap_text("cosine 0.995, loss 0.0368", "cosine 0.994, loss 0.0367") == "cosine 0.995, loss 0.0368"


def test_substance_is_rejected():
    assert not numbers_match("8", "5") and not numbers_match("8", "7"), "small counts are exact"
    assert not numbers_match("0.0368", "0.0552"), "a loss x1.5"
    assert not numbers_match("1", "1.0"), "an integer turned into a float"
    assert snap_text("✓ forward: all checks passed.", "✗ forward: the output does not match") != \
        "✓ forward: all checks passed."
    assert snap_text("recovered 8/8", "recovered 5/8") == "recovered 5/8"
    assert first_difference("recovered 8/8", "recovered 5/8") == \
        "the output: stored 8, now 5 (tolerance 1% + one unit of the last digit)"


def test_words_glued_to_digits_are_words():
    # `W1`, `l1_coeff`, `blocks.0` and hex ids are compared as text, never as numbers within tolerance.
    assert snap_text("l1_coeff=1e-3 W1", "l1_coeff=1e-3 W2") == "l1_coeff=1e-3 W2"
    assert snap_text("id 0x7f3a", "id 0x7f3b") == "id 0x7f3b"


def test_figure_arrays_within_one_percent_of_their_range():
    stored = {"data": [{"type": "scatter", "x": [0, -0.8997], "y": [0, 0.4342]}]}
    moved = {"data": [{"type": "scatter", "x": [0, -0.8990], "y": [0, 0.4300]}]}
    assert snap(stored, moved) == stored
    scaled = {"data": [{"type": "scatter", "x": [0, -0.8997 * 1.5], "y": [0, 0.4342]}]}
    assert snap(stored, scaled) != stored
    assert "element 1 stored -0.8997" in first_difference(stored, scaled)
    assert snap("rgb(68, 2, 85)", "rgb(68, 4, 85)") == "rgb(68, 2, 85)"
    assert snap("rgb(68, 2, 85)", "rgb(68, 40, 85)") == "rgb(68, 40, 85)"


# --- the real stored outputs, as another machine would print them, and tampered -----------------------------

def _perturb_text(text: str, factor: float) -> str:
    """Every printed decimal number moved by `factor` (relative), printed with the same number of decimals."""
    def move(m: re.Match) -> str:
        s = m.group(0)
        if "." not in s or "e" in s.lower():
            return s
        decimals = len(s.split(".")[1])
        return f"{float(s) * factor:.{decimals}f}"
    return re.sub(r"(?<![\w.])-?\d+\.\d+(?![\w])", move, text)


def _perturb(value, factor: float):
    """A figure or text as another machine might produce it: every float moved by `factor` (relative)."""
    if isinstance(value, str):
        return _perturb_text(value, factor)
    if isinstance(value, list):
        return [_perturb(v, factor) for v in value]
    if isinstance(value, dict):
        return {k: _perturb(v, factor) for k, v in value.items()}
    if isinstance(value, float):
        return value * factor
    return value


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_stored_outputs_accept_another_machines_digits(path):
    """Every float of every output moved by 0.3% (above the largest change measured across simulated machines)."""
    for stored in _outputs(path):
        new = [nbformat.from_dict(_perturb(dict(o), 1.003)) for o in stored]
        assert _accepted(stored, new), first_difference([dict(o) for o in stored], [dict(o) for o in new])


def _find_output(path: Path, predicate) -> tuple[list, int]:
    for outputs in _outputs(path):
        for i, output in enumerate(outputs):
            if predicate(output):
                return outputs, i
    raise AssertionError(f"{path.name} has no such output")


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_a_check_turned_red_is_caught(path):
    outputs, i = _find_output(path, lambda o: "✓" in o.get("text", ""))
    new = copy.deepcopy(outputs)
    new[i]["text"] = new[i]["text"].replace("✓", "✗", 1)
    assert not _accepted(outputs, new)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_a_printed_metric_x_1_5_is_caught(path):
    decimal = re.compile(r"(?<![\w.])\d+\.\d*[1-9]\d*(?![\w])")  # a nonzero decimal number in the text

    def metric(text: str):
        """The first number whose x1.5 is more than one unit of its last decimal (a threshold printed as `0.2`
        moves by exactly one unit, which the tolerance rightly allows: it says nothing about substance)."""
        return next((m for m in decimal.finditer(text)
                     if 0.5 * float(m.group(0)) > 1.01 * 10.0 ** -len(m.group(0).split(".")[1])), None)

    outputs, i = _find_output(path, lambda o: "✓" not in o.get("text", "✓") and metric(o["text"]))
    new = copy.deepcopy(outputs)
    m = metric(new[i]["text"])
    decimals = len(m.group(0).split(".")[1])
    new[i]["text"] = new[i]["text"][: m.start()] + f"{float(m.group(0)) * 1.5:.{decimals}f}" + new[i]["text"][m.end():]
    assert not _accepted(outputs, new), m.group(0)


PLOTLY = "application/vnd.plotly.v1+json"


def _scale(value, factor: float):
    if isinstance(value, list):
        return [_scale(v, factor) for v in value]
    return value * factor if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _numeric_key(trace: dict) -> str | None:
    for key in ("y", "z", "x"):
        flat = json.dumps(trace.get(key, []))
        if re.search(r"[1-9]", flat) and not re.search(r'"', flat):
            return key
    return None


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_a_scaled_figure_and_a_removed_trace_are_caught(path):
    outputs, i = _find_output(path, lambda o: PLOTLY in o.get("data", {}))
    scaled = copy.deepcopy(outputs)
    trace = next(t for t in scaled[i]["data"][PLOTLY]["data"] if _numeric_key(t))
    key = _numeric_key(trace)
    trace[key] = _scale(trace[key], 1.5)
    assert not _accepted(outputs, scaled), f"{key} x1.5"
    removed = copy.deepcopy(outputs)
    removed[i]["data"][PLOTLY]["data"].pop()
    assert not _accepted(outputs, removed)


def test_an_error_added_is_caught():
    outputs, i = _find_output(SOLUTIONS[0], lambda o: "✓" in o.get("text", ""))
    new = copy.deepcopy(outputs) + [nbformat.from_dict({"output_type": "error", "ename": "ValueError",
                                                        "evalue": "boom", "traceback": []})]
    assert not _accepted(outputs, new)


# --- nbval itself, through the plugin -----------------------------------------------------------------------

CELL = '''import os, torch
print(f"loss {0.0368:.4f}; recovered 8/8 ✓")
from IPython.display import display
display({"application/vnd.plotly.v1+json": {"data": [{"type": "scatter", "x": [0, 1, 2], "y": [0.1, 0.5, 0.9]}]}},
        raw=True)'''
CAPABILITY = 'import torch; print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads())'


def _notebook(text: str, y: list[float], extra_cells: list | None = None) -> nbformat.NotebookNode:
    figure = {"data": [{"type": "scatter", "x": [0, 1, 2], "y": y}]}
    cell = nbformat.v4.new_code_cell(CELL, execution_count=1, outputs=[
        nbformat.v4.new_output("stream", name="stdout", text=text),
        nbformat.v4.new_output("display_data", data={PLOTLY: figure}),
    ])
    nb = nbformat.v4.new_notebook(cells=[cell, *(extra_cells or [])])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _run_nbval(paths: list[Path], *options: str) -> tuple[dict[str, str], str]:
    """pytest --nbval (as configured in pyproject.toml, with this project's plugin) on `paths`: outcome per file,
    and pytest's report."""
    result = subprocess.run([sys.executable, "-m", "pytest", "-rA", "-c", str(ROOT / "pyproject.toml"), "--rootdir",
                             str(paths[0].parent), *options, *map(str, paths)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    outcomes = {}
    for line in result.stdout.splitlines():
        m = re.match(r"(PASSED|FAILED) (\S+?)\.ipynb::Cell \d+", line.strip())  # pytest -rA's summary
        if m:
            name = Path(m.group(2)).name
            outcomes[name] = "FAILED" if outcomes.get(name) == "FAILED" else m.group(1)
    assert outcomes, result.stdout[-3000:] + result.stderr[-3000:]
    return outcomes, result.stdout


def test_nbval_accepts_other_digits_and_rejects_substance(tmp_path):
    cases = {
        "same": ("loss 0.0368; recovered 8/8 ✓\n", [0.1, 0.5, 0.9], "PASSED"),
        "last_digit": ("loss 0.0369; recovered 8/8 ✓\n", [0.1, 0.5, 0.9], "PASSED"),
        "figure_moved": ("loss 0.0368; recovered 8/8 ✓\n", [0.1002, 0.4995, 0.9003], "PASSED"),
        "check_red": ("loss 0.0368; recovered 8/8 ✗\n", [0.1, 0.5, 0.9], "FAILED"),
        "count_changed": ("loss 0.0368; recovered 5/8 ✓\n", [0.1, 0.5, 0.9], "FAILED"),
        "loss_x1_5": ("loss 0.0552; recovered 8/8 ✓\n", [0.1, 0.5, 0.9], "FAILED"),
        "figure_scaled": ("loss 0.0368; recovered 8/8 ✓\n", [0.15, 0.75, 1.35], "FAILED"),
    }
    paths = []
    for name, (text, y, _) in cases.items():
        paths.append(tmp_path / f"{name}.ipynb")
        nbformat.write(_notebook(text, y), paths[-1])
    outcomes, report = _run_nbval(paths)
    assert outcomes == {name: expected for name, (_, _, expected) in cases.items()}
    # A failure says where, in words: the figure's point and the allowance, not only that "an item differs".
    assert "First difference beyond the tolerance (tests/tolerance.py): outputs[1].data." \
           "application/vnd.plotly.v1+json.data[0].y: element 2 stored 1.35, now 0.9" in report


def test_as_other_machine_reaches_the_kernel(tmp_path):
    """`make test` passes --as-other-machine: the notebooks' kernels must really run with AVX2 and one thread."""
    printed = nbformat.v4.new_output("stream", name="stdout", text="AVX2 1\n")
    cell = nbformat.v4.new_code_cell(CAPABILITY, execution_count=2, outputs=[printed])
    nbformat.write(_notebook("loss 0.0368; recovered 8/8 ✓\n", [0.1, 0.5, 0.9], [cell]), tmp_path / "machine.ipynb")
    assert _run_nbval([tmp_path / "machine.ipynb"], "--as-other-machine")[0] == {"machine": "PASSED"}
