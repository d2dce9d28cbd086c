"""The grader runs every check against each notebook in isolation and never changes a submission."""

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import grade
from tests.class_factory import write_class


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    expected = write_class(folder, as_py=("partial", "no_bias", "sae_untouched"))
    assert len(expected) >= 20
    before = {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in expected}
    started = time.time()
    with ThreadPoolExecutor(2) as pool:  # as the grader's command line does
        graded = pool.map(lambda p: grade.grade_notebook(p, time_limit=60 if "infinite" not in p.name else 8), expected)
    results = dict(zip(expected, graded, strict=True))
    print(f"graded {len(expected)} notebooks in {time.time() - started:.1f}s")
    after = {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in expected}
    return expected, results, before, after


def test_each_notebook_gets_its_expected_statuses(graded_class):
    expected, results, _, _ = graded_class
    for path, want in expected.items():
        got = results[path]
        if want == "(notebook)":
            assert [r.exercise for r in got] == ["(notebook)"] and got[0].status == "error", (path.name, got)
        else:
            assert [r.status for r in got] == want, (path.name, [(r.status, r.message) for r in got])


def test_wrong_answers_come_with_the_named_hint(graded_class):
    expected, results, _, _ = graded_class
    wrong = next(p for p in expected if p.name.startswith("wrong_loss"))
    assert "averaged over instances" in results[wrong][2].hint


def test_runaway_notebooks_are_reported_clearly(graded_class):
    expected, results, _, _ = graded_class
    by_name = {p.stem: results[p][0].message for p in expected}
    assert "stopped after 8s" in by_name["infinite_loop"]
    assert "ended the grader's process" in by_name["kills_the_process"]


def test_submissions_are_never_modified(graded_class):
    _, _, before, after = graded_class
    assert before == after


def test_reports(graded_class, tmp_path, capsys):
    _, results, _, _ = graded_class
    flat = [r for rs in results.values() for r in rs]
    grade.print_table(flat)
    out = capsys.readouterr().out
    assert "4/4 exercises pass: all done!" in out and "0/4 exercises pass" in out
    grade.write_csv(flat, tmp_path / "g.csv")
    grade.write_html(flat, tmp_path / "g.html")
    assert (tmp_path / "g.csv").read_text().count("\n") == len(flat) + 1
    assert "<table>" in (tmp_path / "g.html").read_text()


def test_folders_grade_each_notebook_once(tmp_path):
    (tmp_path / "a.ipynb").write_text("{}")
    (tmp_path / "a.py").write_text("# %%\nx = 1\n")  # the .ipynb's twin
    (tmp_path / "b.py").write_text("# %%\nx = 1\n")  # a Jupytext notebook on its own
    (tmp_path / "helper.py").write_text("x = 1\n")  # not a notebook
    assert [p.name for p in grade.find_notebooks([str(tmp_path)])] == ["a.ipynb", "b.py"]
