"""Make a class of learner notebooks for testing the grader: complete, partial, broken and hostile."""

import copy
import inspect
import textwrap
from pathlib import Path

import jupytext
import nbformat

from solutions import toy_model
from utils import build

NOTEBOOK = build.NOTEBOOKS / "1_toy_bottleneck.py"


def _method_body(method) -> str:
    """The reference method's body, without its docstring, at method indentation."""
    lines = inspect.getsource(method).splitlines()
    body_start = next(i for i, line in enumerate(lines) if line.strip().endswith('"""') and i > 1) + 1
    return "\n".join(lines[body_start:])


def exercise_notebook(filled=(), extra_cells=(), exercise_edit=None) -> nbformat.NotebookNode:
    """The section 1 exercise notebook with the methods in `filled` completed as the reference does,
    `extra_cells` (source strings) appended, and `exercise_edit` applied to the exercise cell."""
    nb, _ = build.exercise_and_solution(NOTEBOOK)
    nb = copy.deepcopy(nb)
    cell = next(c for c in nb.cells if "exercise" in c.metadata.get("tags", []))
    for name in filled:
        stub = f'        raise NotImplementedError("ToyModel.{name}: not implemented yet")'
        cell.source = cell.source.replace(stub, _method_body(getattr(toy_model.ToyModel, name)))
    if exercise_edit:
        cell.source = exercise_edit(cell.source)
    for source in extra_cells:
        nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(source)))
    return nb


ALL = ("forward", "generate_batch", "calculate_loss")

#: name -> (notebook, expected statuses in CHECKS order, or "(notebook)" for a notebook-level error)
CLASS = {
    "complete": (lambda: exercise_notebook(ALL), ["passed"] * 3),
    "untouched": (lambda: exercise_notebook(), ["not implemented"] * 3),
    "partial": (lambda: exercise_notebook(["forward"]), ["passed", "not implemented", "not implemented"]),
    "wrong_loss": (lambda: exercise_notebook(ALL, exercise_edit=lambda s: s.replace(
        "return loss_per_instance.sum()", "return loss_per_instance.mean()")),
        ["passed", "passed", "failed"]),
    "syntax_error": (lambda: exercise_notebook(ALL, exercise_edit=lambda s: s.replace("def forward", "def forward(")),
                     ["error"] * 3),
    "exits": (lambda: exercise_notebook(ALL, extra_cells=["import sys\nsys.exit(1)"]), ["passed"] * 3),
    "downloads": (lambda: exercise_notebook(ALL, extra_cells=[
        "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=5)"]), ["passed"] * 3),
    "prints_megabytes": (lambda: exercise_notebook(ALL, extra_cells=["print('x' * 20_000_000)"]), ["passed"] * 3),
    "kills_the_process": (lambda: exercise_notebook(ALL, extra_cells=["import os\nos._exit(3)"]), "(notebook)"),
    "infinite_loop": (lambda: exercise_notebook(ALL, extra_cells=["while True:\n    pass"]), "(notebook)"),
}


def write_class(folder: Path, names=None, as_py=()) -> dict[Path, object]:
    """Write the class into `folder`; returns path -> expected statuses."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name in names or CLASS:
        make, statuses = CLASS[name]
        nb = make()
        if name in as_py:
            path = folder / f"{name}.py"
            path.write_text(jupytext.writes(nb, fmt="py:percent"))
        else:
            path = folder / f"{name}.ipynb"
            nbformat.write(nb, path)
        expected[path] = statuses
    return expected
