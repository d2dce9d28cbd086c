"""Grade learners' notebooks: every exercise's check, run against each notebook in isolation.

    python -m tests.grade notebooks/1_toy_bottleneck.ipynb        # a learner: "am I done?"
    python -m tests.grade submissions/ --csv grades.csv --html grades.html   # a teacher: a class

Each notebook (.ipynb or Jupytext .py) is run in its own Python process, in a scratch folder under
.cache/grading, with the network blocked and a time limit, so a learner's infinite loop, crash,
sys.exit or download cannot stop the others. Its code cells run in order, except the check cells
(the grader calls the checks itself) and the slow experiment cells; a cell that fails is noted and
the rest still run. Then each exercise's check runs on the objects the notebook defined.
Submitted files are only ever read.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".cache" / "grading"
SKIPPED_TAGS = {"check", "experiment"}
#: Notebook name prefix -> check module, for notebooks whose imports were edited away.
SECTION_BY_PREFIX = {"1": "toy_model", "2": "sae", "2b": "sae_variants", "3": "llm_sae", "4": "interpretation",
                     "5": "using_saes", "6": "circuits"}


@dataclass
class Result:
    notebook: str
    exercise: str
    status: str  # passed | failed | not implemented | error
    message: str = ""
    hint: str = ""


# ---------------------------------------------------------------- reading a submission (parent side)

def read_cells(path: Path) -> list[dict]:
    """Code cells of a notebook as [{'source', 'tags'}]; .ipynb read as JSON, .py via jupytext."""
    if path.suffix == ".py":
        import jupytext

        nb = jupytext.read(path)
    else:
        import nbformat

        nb = nbformat.read(path, as_version=4)
    return [{"source": c.source, "tags": list(c.metadata.get("tags", []))} for c in nb.cells if c.cell_type == "code"]


def section_of(path: Path, cells: list[dict]) -> str | None:
    for cell in cells:
        match = re.search(r"tests\.checks\.(\w+)", cell["source"])
        if match:
            return match.group(1)
    # "2b_..." is section 2b's, "2_..." section 2's: the longest prefix that names a section wins.
    return SECTION_BY_PREFIX.get(path.name[:2]) or SECTION_BY_PREFIX.get(path.name[:1])


def find_notebooks(paths: list[str]) -> list[Path]:
    """The notebooks named, and those inside folders: each .ipynb, and each Jupytext .py ("# %%" cells)
    that has no .ipynb twin (a paired notebook is graded once, from its .ipynb)."""
    found = []
    for p in map(Path, paths):
        if not p.is_dir():
            found.append(p)
            continue
        for q in sorted(p.rglob("*")):
            if ".ipynb_checkpoints" in q.parts:
                continue
            if q.suffix == ".ipynb" or (q.suffix == ".py" and not q.with_suffix(".ipynb").exists()
                                        and "# %%" in q.read_text(errors="replace")):
                found.append(q)
    return found


def grade_notebook(path: Path, time_limit: float) -> list[Result]:
    name = str(path)
    try:
        cells = read_cells(path)
    except Exception as e:
        return [Result(name, "(notebook)", "error", f"could not read the notebook: {type(e).__name__}: {e}")]
    section = section_of(path, cells)
    if section is None:
        return [Result(name, "(notebook)", "error",
                       "cannot tell which section this notebook is (no tests.checks import)")]
    SCRATCH.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(dir=SCRATCH))
    try:
        job = workdir / "job.json"
        # The worker gets the cells, not the submission's path: it has no reason to know where it lives.
        job.write_text(json.dumps({"notebook": path.name, "section": section, "cells": cells}))
        env = {**os.environ, "TQDM_DISABLE": "1", "WORKBOOK_DEVICE": "cpu", "MPLBACKEND": "Agg",
               "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "tests.grade", "--worker", str(job)], cwd=workdir, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=time_limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return [Result(name, "(notebook)", "error", f"stopped after {time_limit:.0f}s (an infinite loop, or a slow"
                           " cell that is not tagged 'experiment'?)")]
        out = workdir / "results.json"
        if not out.exists():
            last = (stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or [""]
            return [Result(name, "(notebook)", "error", f"the notebook ended the grader's process (exit code"
                           f" {proc.returncode}) {last[0][:200]}".strip())]
        return [Result(**{**r, "notebook": name}) for r in json.loads(out.read_text())]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------- running one submission (worker side)

def _block_network() -> None:
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network access is disabled while grading")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse


def worker(job_path: Path) -> None:
    import contextlib
    import importlib
    import io

    job = json.loads(job_path.read_text())
    _block_network()
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    cell_errors = []
    sink = io.StringIO()
    for i, cell in enumerate(job["cells"]):
        if SKIPPED_TAGS & set(cell["tags"]):
            continue
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            result = shell.run_cell(cell["source"], store_history=False, silent=True)
        sink.seek(0)
        sink.truncate()
        if not result.success:
            err = result.error_in_exec or result.error_before_exec
            cell_errors.append(f"code cell {i + 1}: {type(err).__name__}: {str(err)[:150]}")

    checks = importlib.import_module(f"tests.checks.{job['section']}").CHECKS
    from tests.checks.core import CheckFailed

    results = []
    for exercise, (check, obj_name) in checks.items():
        obj = shell.user_ns.get(obj_name)
        if obj is None:
            why = f"; cells that failed: {'; '.join(cell_errors)}" if cell_errors else ""
            results.append(asdict(Result(job["notebook"], exercise, "error", f"{obj_name} is not defined{why}")))
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                check(obj, quiet=True)
            results.append(asdict(Result(job["notebook"], exercise, "passed")))
        except CheckFailed as e:
            status = "not implemented" if e.not_implemented else "failed"
            results.append(asdict(Result(job["notebook"], exercise, status, e.message, e.hint or "")))
        except BaseException as e:  # the check itself broke on something odd the learner did
            results.append(asdict(Result(job["notebook"], exercise, "error", f"{type(e).__name__}: {str(e)[:200]}")))
    (job_path.parent / "results.json").write_text(json.dumps(results))


# ---------------------------------------------------------------- reports

SYMBOL = {"passed": "✓", "failed": "✗", "not implemented": "·", "error": "!"}


def print_table(results: list[Result]) -> None:
    by_notebook: dict[str, list[Result]] = {}
    for r in results:
        by_notebook.setdefault(r.notebook, []).append(r)
    for notebook, rows in by_notebook.items():
        print(f"\n{notebook}")
        width = max(len(r.exercise) for r in rows)
        for r in rows:
            detail = (r.message + (f"  Hint: {r.hint}" if r.hint else "")).strip()
            print(f"  {SYMBOL[r.status]} {r.exercise:<{width}}  {r.status:<15}  {detail}")
        passed = sum(r.status == "passed" for r in rows)
        done = passed == len(rows) and not any(r.exercise == "(notebook)" for r in rows)
        print(f"  {passed}/{len(rows)} exercises pass" + (": all done!" if done else ""))


def write_csv(results: list[Result], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(results[0]).keys()) if results else ["notebook"])
        writer.writeheader()
        writer.writerows(asdict(r) for r in results)


def write_html(results: list[Result], path: Path) -> None:
    exercises = list(dict.fromkeys(r.exercise for r in results))
    notebooks = list(dict.fromkeys(r.notebook for r in results))
    cell = {(r.notebook, r.exercise): r for r in results}
    colour = {"passed": "#c8f7c5", "failed": "#f7c5c5", "not implemented": "#eeeeee", "error": "#f7e3a1"}
    rows = []
    for nb in notebooks:
        tds = []
        for ex in exercises:
            r = cell.get((nb, ex))
            if r is None:
                tds.append("<td></td>")
                continue
            tip = html.escape((r.message + (" Hint: " + r.hint if r.hint else "")).strip())
            tds.append(f'<td style="background:{colour[r.status]}" title="{tip}">{html.escape(r.status)}'
                       f'<br><small>{tip}</small></td>')
        rows.append(f"<tr><th>{html.escape(nb)}</th>{''.join(tds)}</tr>")
    head = "".join(f"<th>{html.escape(e)}</th>" for e in exercises)
    path.write_text(f"""<!doctype html><meta charset="utf-8"><title>Workbook grades</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;
padding:4px;vertical-align:top;max-width:320px}} small{{color:#555}}</style>
<h1>Workbook grades</h1><table><tr><th>notebook</th>{head}</tr>{''.join(rows)}</table>""")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", help="notebooks (.ipynb or .py) or folders of them")
    parser.add_argument("--csv", type=Path, help="write every result to this CSV file")
    parser.add_argument("--html", type=Path, help="write a colour-coded table to this HTML file")
    parser.add_argument("--time-limit", type=float, default=300, help="seconds per notebook (default 300)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="notebooks graded at once")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    notebooks = find_notebooks(args.paths)
    if not notebooks:
        parser.error("no notebooks given")
    started = time.time()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = [r for rs in pool.map(lambda p: grade_notebook(p, args.time_limit), notebooks) for r in rs]
    print_table(results)
    print(f"\ngraded {len(notebooks)} notebook(s) in {time.time() - started:.1f}s")
    if args.csv:
        write_csv(results, args.csv)
    if args.html:
        write_html(results, args.html)
    return 0 if all(r.status == "passed" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
