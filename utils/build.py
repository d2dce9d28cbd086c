"""Keep the exercise notebooks, the solution notebooks and the `solutions` package in sync.

The reference code lives once, in solutions/*.py. A notebook cell whose metadata says
`reference="toy_model:ToyModel"` holds a copy of that object:
  * in the exercise notebook (notebooks/*.py + .ipynb) the bodies of the module's EXERCISES are
    replaced by `raise NotImplementedError` (signature and docstring kept);
  * in the solution notebook (solutions/notebooks/*.ipynb) the code is copied whole, and the
    notebook is executed so nbval can compare its outputs later.
`reference="toy_model:ToyModel.forward"` copies a single method as a top-level function.

    python -m utils.build              # regenerate everything (executes the solution notebooks)
    python -m utils.build --check      # exit 1, listing stale files, if anything is out of date
    python -m utils.build 1            # only notebooks whose name starts with "1"
    python -m utils.build --git-url URL   # notebooks opened alone (Colab) clone the workbook from URL
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib
import os
import re
import sys
import textwrap
import time
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOLUTION_NOTEBOOKS = ROOT / "solutions" / "notebooks"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
#: Environment for executing notebooks: no progress bars (their timings differ every run).
EXECUTION_ENV = {"TQDM_DISABLE": "1", "PYTHONHASHSEED": "0", "WORKBOOK_DEVICE": "cpu",
                 "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _find(tree: ast.Module, qualname: str) -> ast.AST:
    node: ast.AST = tree
    for part in qualname.split("."):
        matches = [n for n in getattr(node, "body", []) if getattr(n, "name", None) == part]
        if not matches:
            raise KeyError(f"{qualname} not found")
        node = matches[0]
    return node


def _first_line(node) -> int:
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def _stub_ranges(node, prefix: str, exercises: set[str], exercise_module: str) -> list[tuple[int, int, str]]:
    """(first line, last line, replacement) for the body of every exercise inside `node`."""
    ranges = []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and prefix in exercises:
        body = node.body
        if not (body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)):
            raise ValueError(f"exercise {prefix} in {exercise_module} needs a docstring: it is the learner's spec")
        if len(body) == 1:
            raise ValueError(f"exercise {prefix} has no body after its docstring")
        indent = " " * body[1].col_offset
        ranges.append((body[0].end_lineno + 1, node.end_lineno,
                       f'{indent}raise NotImplementedError("{prefix}: not implemented yet")'))
    for child in getattr(node, "body", []):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            ranges += _stub_ranges(child, f"{prefix}.{child.name}", exercises, exercise_module)
    return ranges


BOOTSTRAP = Path(__file__).with_name("notebook_bootstrap.py")


def render(spec: str, solution: bool) -> str:
    """The source of `module:QualName` from solutions/, stubbed unless `solution`; `bootstrap` is the
    first cell every notebook shares (utils/notebook_bootstrap.py)."""
    if spec == "bootstrap":
        return BOOTSTRAP.read_text().strip()
    module_name, qualname = spec.split(":")
    module = importlib.import_module(f"solutions.{module_name}")
    source = Path(module.__file__).read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    node = _find(tree, qualname)
    exercises = set(getattr(module, "EXERCISES", ()))
    replacements = [] if solution else _stub_ranges(node, qualname, exercises, module_name)
    start, end = _first_line(node), node.end_lineno
    out, line_no = [], start
    for first, last, text in sorted(replacements):
        out += lines[line_no - 1 : first - 1] + [text]
        line_no = last + 1
    out += lines[line_no - 1 : end]
    code = textwrap.dedent("\n".join(out))
    if "." in qualname:  # a method shown on its own: attach it to its class after defining it
        cls, method = qualname.rsplit(".", 1)
        code += f"\n\n\n{cls}.{method} = {method}"
    return code


def exercise_and_solution(py_path: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """The exercise notebook (stubs) and the solution notebook (reference code) for one .py source."""
    nb = jupytext.read(py_path)
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"  # stable ids, so an unchanged notebook rebuilds byte for byte
    solution = copy.deepcopy(nb)
    for cell, sol_cell in zip(nb.cells, solution.cells, strict=True):
        spec = cell.metadata.get("reference")
        if spec:
            cell.source = render(spec, solution=False)
            sol_cell.source = render(spec, solution=True)
        if spec == "bootstrap":  # 35 lines of set-up: collapsed on the first screen (it still runs)
            for c in (cell, sol_cell):
                c.metadata["jupyter"] = {"source_hidden": True}
    return nb, solution


def execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    os.environ.update(EXECUTION_ENV)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def _without_metadata(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The .py keeps only cell tags and references: no kernel or version header to go stale."""
    nb = copy.deepcopy(nb)
    nb.metadata = {"jupytext": {"notebook_metadata_filter": "-all", "cell_metadata_filter": "tags,reference,-all"}}
    return nb


_GIT_URL_LINE = re.compile(r"^WORKBOOK_GIT_URL = .*$", re.MULTILINE)


def _sources(nb, ignore_git_url: bool = False) -> list[tuple[str, str]]:
    """Each cell's kind and source; with ignore_git_url, the bootstrap's URL line (which changes nothing a
    notebook computes here) is left out, so that setting it does not re-execute the solution notebooks."""
    strip = (lambda src: _GIT_URL_LINE.sub("WORKBOOK_GIT_URL = ...", src)) if ignore_git_url else (lambda src: src)
    return [(c.cell_type, strip(c.source)) for c in nb.cells]


def set_git_url(url: str) -> None:
    """Write the URL that notebooks opened alone (Colab) clone the workbook from into their first cell."""
    if not url or any(c.isspace() for c in url) or "'" in url or '"' in url:
        raise SystemExit(f"--git-url wants a git URL without spaces or quotes (https://..., git@..., file://...),"
                         f" not {url!r}")
    BOOTSTRAP.write_text(_GIT_URL_LINE.sub(f'WORKBOOK_GIT_URL = "{url}"', BOOTSTRAP.read_text(), count=1))


#: utils/ scripts that no notebook runs: changing them need not re-execute the notebooks. (A tool left off
#: this list only costs an unneeded re-execution, never a missed one.) The bootstrap is part of every
#: notebook's source, which is compared on its own.
TOOLS_NOT_IN_NOTEBOOKS = {"bench.py", "export_html.py", "notebook_bootstrap.py"}


def fingerprint(py_path: Path) -> str:
    """A hash of everything an executed solution notebook's outputs depend on: its own source and the
    code it runs (solutions/, utils/, the checks). Stored in the notebook; a mismatch means re-execute."""
    import hashlib

    utils_run_by_notebooks = [f for f in sorted((ROOT / "utils").glob("*.py")) if f.name not in TOOLS_NOT_IN_NOTEBOOKS]
    files = [py_path, *sorted((ROOT / "solutions").glob("*.py")), *utils_run_by_notebooks,
             *sorted((ROOT / "tests" / "checks").glob("*.py"))]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(ROOT).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build(names: list[str], check: bool, run: bool = True) -> list[str]:
    """Regenerate (or with check=True, only compare); returns the stale files."""
    stale = []
    sources = sorted(p for p in NOTEBOOKS.glob("*.py") if not names or any(p.name.startswith(n) for n in names))
    for py_path in sources:
        exercise, solution = exercise_and_solution(py_path)
        py_text = jupytext.writes(_without_metadata(exercise), fmt="py:percent")
        ipynb_text = nbformat.writes(exercise) + "\n"
        ipynb_path = py_path.with_suffix(".ipynb")
        sol_path = SOLUTION_NOTEBOOKS / ipynb_path.name
        for path, text in [(py_path, py_text), (ipynb_path, ipynb_text)]:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
                if not check:
                    path.write_text(text)
        old = nbformat.read(sol_path, as_version=4) if sol_path.exists() else None
        inputs = fingerprint(py_path)
        solution.metadata["workbook"] = {"inputs": inputs}
        up_to_date = old is not None and _sources(old, True) == _sources(solution, True) and all(
            c.get("execution_count") for c in old.cells if c.cell_type == "code") and \
            old.metadata.get("workbook", {}).get("inputs") == inputs
        if up_to_date and _sources(old) != _sources(solution):  # only the git URL changed: no need to re-run
            stale.append(str(sol_path.relative_to(ROOT)))
            if not check:
                for old_cell, cell in zip(old.cells, solution.cells, strict=True):
                    old_cell.source = cell.source
                nbformat.write(old, sol_path)
        if not up_to_date:
            stale.append(str(sol_path.relative_to(ROOT)))
        if not check and run and (not up_to_date or names):
            started = time.time()
            print(f"executing {sol_path.relative_to(ROOT)} ...", flush=True)
            execute(solution, SOLUTION_NOTEBOOKS)
            nbformat.write(solution, sol_path)
            print(f"  done in {time.time() - started:.0f}s", flush=True)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="notebook name prefixes (default: all)")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    parser.add_argument("--no-execute", action="store_true", help="do not execute solution notebooks")
    parser.add_argument("--git-url", help="the git URL that notebooks opened alone (in Colab) clone the workbook from")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.git_url is not None:
        if args.check:
            raise SystemExit("--git-url changes the notebooks; it cannot be combined with --check")
        set_git_url(args.git_url)
    stale = build(args.names, check=args.check, run=not args.no_execute)
    if args.check and stale:
        print("stale (run `python -m utils.build`):\n  " + "\n  ".join(stale))
        return 1
    print("up to date" if not stale else "rebuilt:\n  " + "\n  ".join(stale))
    return 0


if __name__ == "__main__":
    sys.exit(main())
