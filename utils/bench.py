"""Benchmarks, measured side by side on this machine: `python -m utils.bench` prints a table and
writes it to utils/BENCHMARKS.md (linked from the README). Not a test: timings are written down, never
asserted.

    python -m utils.bench            # everything (about 5 minutes on 2 cores)
    python -m utils.bench toy        # only the named parts: toy, notebooks, grading
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # before tqdm is imported: it reads this once, at import

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).with_name("BENCHMARKS.md")


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_toy(steps: int = 300) -> list[tuple[str, str, str]]:
    """All instances in one tensor against a Python loop over one-instance models, same total work."""
    from solutions.toy_model import ToyModel, ToyModelConfig, optimize

    rows = []
    for n_inst, n_feat, n_hidden, batch in [(8, 5, 2, 1024), (8, 80, 20, 512)]:
        torch.manual_seed(0)
        stacked = ToyModel(ToyModelConfig(n_inst, n_feat, n_hidden), feature_probability=0.1, device="cpu")
        t_stacked = _timed(lambda m=stacked, b=batch: optimize(m, batch_size=b, steps=steps))
        singles = [ToyModel(ToyModelConfig(1, n_feat, n_hidden), feature_probability=0.1, device="cpu")
                   for _ in range(n_inst)]
        t_loop = _timed(lambda ms=singles, b=batch: [optimize(m, batch_size=b, steps=steps) for m in ms])
        rows.append((f"toy model {n_feat}→{n_hidden}, {n_inst} instances, batch {batch}",
                     f"{steps / t_stacked:,.0f} steps/s stacked vs {steps / t_loop:,.0f} looped",
                     f"{t_loop / t_stacked:.1f}× faster stacked"))
    return rows


def bench_notebooks() -> list[tuple[str, str, str]]:
    """Each executed solution notebook, end to end, as `make build` runs it."""
    import nbformat

    from utils.build import SOLUTION_NOTEBOOKS, execute

    rows, total = [], 0.0
    for path in sorted(SOLUTION_NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        seconds = _timed(lambda nb=nb: execute(nb, SOLUTION_NOTEBOOKS))
        total += seconds
        rows.append((f"notebook {path.stem}", f"{seconds:.0f} s", "goal: under 180 s"))
    rows.append(("all notebooks together", f"{total:.0f} s", "goal: under 600 s"))
    return rows


def bench_grading(n: int = 30) -> list[tuple[str, str, str]]:
    """A class of n notebooks (complete, partial, wrong, broken, hostile), graded with 2 workers."""
    from tests import grade
    from tests.class_factory import CLASS, write_class

    names = [name for name in CLASS if name != "infinite_loop"]  # a hang costs its time limit, nothing else
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(n):
            written = write_class(Path(folder) / f"learner{i:02d}", names=[names[i % len(names)]])
            paths += list(written)
        seconds = _timed(lambda: grade.main([str(p) for p in paths] + ["--jobs", "2"]))
    return [(f"grading a class of {n} notebooks (2 workers)", f"{seconds:.0f} s", f"{seconds / n:.1f} s per notebook")]


PARTS = {"toy": bench_toy, "notebooks": bench_notebooks, "grading": bench_grading}


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    parts = argv or list(PARTS)
    rows = []
    for part in parts:
        print(f"benchmarking {part} ...", flush=True)
        rows += PARTS[part]()
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    table = ["| what | measured | compared |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    text = "\n".join([
        "# Benchmarks", "",
        f"Measured by `{' '.join(['python -m utils.bench', *argv])}` on {machine}, "
        f"{time.strftime('%Y-%m-%d')}.", "", *table, "",
        "Not measured yet: the SAE training step and activation collection on the bundled language model",
        "(they arrive with it, sections 3 and 4).", "",
    ])
    print("\n" + "\n".join(table))
    if not argv:
        OUT.write_text(text)
        print(f"\nwritten to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
