"""A notebook opened alone, as in Colab or a fresh Jupyter: its first cell fetches the workbook and a check passes.

Offline, as everything here: the workbook is served from a local git repository (a file:// URL), and the
packages the first cell installs must already be there (PIP_NO_INDEX), as Colab's torch is. The kernel starts
in an empty folder, with nothing of the workbook on its path: what it imports comes from the clone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.plugin import OFFLINE
from utils.build import BOOTSTRAP, SOLUTION_NOTEBOOKS, set_git_url

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env).stdout


@pytest.fixture(scope="module")
def served_workbook(tmp_path_factory) -> str:
    """This working tree (tracked and new files, as they are now) committed to a local repository: its URL."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path_factory.mktemp("served") / "workbook"
    files = _git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT).split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    _git("init", "--quiet", cwd=repo)
    _git("add", "-A", cwd=repo)
    _git("commit", "--quiet", "-m", "the workbook", cwd=repo)
    return repo.as_uri()


def _first_cells(path: Path, until_output: str) -> nbformat.NotebookNode:
    """The notebook's code cells up to and including the first whose stored output contains `until_output`."""
    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cells.append(cell)
        if any(until_output in o.get("text", "") for o in cell.outputs):
            break
    nb.cells = cells
    return nb


def test_a_notebook_opened_alone_fetches_the_workbook_and_a_check_passes(served_workbook, tmp_path):
    from nbclient import NotebookClient

    empty = tmp_path / "empty"
    empty.mkdir()
    nb = _first_cells(SOLUTION_NOTEBOOKS / "1_toy_bottleneck.ipynb", "✓ ToyModel.forward")
    nb.cells.append(nbformat.v4.new_code_cell("import solutions; print(solutions.__file__)"))
    env = {"WORKBOOK_GIT_URL": served_workbook, "PIP_NO_INDEX": "1", "PYTHONPATH": str(OFFLINE)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits these; the workbook itself is not on its path
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(empty)}}).execute()
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.outputs)
    clone = empty / "superposition-workbook"
    assert f"fetching the workbook from {served_workbook} into {clone}" in text
    assert "✓ ToyModel.forward: all checks passed." in text
    assert str(clone / "solutions" / "__init__.py") in text, "the code must come from the clone"


def test_build_sets_the_git_url_without_editing_code(tmp_path, monkeypatch):
    """A teacher points Colab at their copy with a build flag; the first cell then carries that URL."""
    copy = tmp_path / "notebook_bootstrap.py"
    copy.write_text(BOOTSTRAP.read_text())
    monkeypatch.setattr("utils.build.BOOTSTRAP", copy)
    set_git_url("https://example.org/teacher/workbook.git")
    assert 'WORKBOOK_GIT_URL = "https://example.org/teacher/workbook.git"' in copy.read_text()
    with pytest.raises(SystemExit, match="without spaces or quotes"):
        set_git_url('x"; import os')


def test_the_build_does_not_rerun_notebooks_for_a_new_git_url():
    from utils.build import _sources

    nb = nbformat.read(SOLUTION_NOTEBOOKS / "1_toy_bottleneck.ipynb", as_version=4)
    other = nbformat.read(SOLUTION_NOTEBOOKS / "1_toy_bottleneck.ipynb", as_version=4)
    first = next(c for c in other.cells if "WORKBOOK_GIT_URL = " in c.source)
    first.source = first.source.replace('WORKBOOK_GIT_URL = ""', 'WORKBOOK_GIT_URL = "https://example.org/w.git"')
    assert _sources(nb) != _sources(other) and _sources(nb, True) == _sources(other, True)


def test_bootstrap_names_what_to_do_when_it_cannot_find_the_workbook(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("WORKBOOK_GIT_URL", "WORKBOOK_DIR")}
    result = subprocess.run([sys.executable, str(BOOTSTRAP)], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert result.returncode != 0 and "set WORKBOOK_GIT_URL" in result.stderr
