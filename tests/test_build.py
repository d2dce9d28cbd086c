"""One source of truth: the generated notebooks match the reference code, and every stub keeps
the reference's signature and docstring."""

import ast
import inspect
import re

import pytest

from tests.sections import ROOT, SECTIONS, notebook_namespace
from utils import build


def test_generated_files_are_up_to_date():
    stale = build.build([], check=True)
    assert not stale, f"stale generated files (run `python -m utils.build`): {stale}"


def test_every_notebook_is_paired():
    for py in (ROOT / "notebooks").glob("*.py"):
        assert py.with_suffix(".ipynb").exists(), f"{py.name} has no .ipynb"
        assert (build.SOLUTION_NOTEBOOKS / py.with_suffix(".ipynb").name).exists()


@pytest.mark.parametrize("section", SECTIONS, ids=[s.notebook for s in SECTIONS])
def test_stubs_keep_the_reference_signature_and_docstring(section):
    namespace = notebook_namespace(ROOT / "notebooks" / f"{section.notebook}.py")
    for qualname in section.reference.EXERCISES:
        ref_obj, stub_obj = section.reference, namespace[qualname.split(".")[0]]
        for part in qualname.split("."):
            ref_obj = getattr(ref_obj, part)
        for part in qualname.split(".")[1:]:
            stub_obj = getattr(stub_obj, part)
        # The reference module postpones annotations (strings): compare them evaluated, ignoring whether a
        # class in them (e.g. AutoEncoderConfig) was defined in the notebook or in the package.
        def signature(obj):
            return re.sub(r"\b(__notebook__|solutions\.\w+)\.", "", str(inspect.signature(obj, eval_str=True)))

        assert signature(stub_obj) == signature(ref_obj), qualname
        assert inspect.getdoc(stub_obj) == inspect.getdoc(ref_obj), qualname


def test_stub_rendering_removes_the_solution():
    stub = build.render("toy_model:ToyModel", solution=False)
    full = build.render("toy_model:ToyModel", solution=True)
    ast.parse(stub)
    assert 'raise NotImplementedError("ToyModel.forward: not implemented yet")' in stub
    assert "F.relu" in full and "F.relu" not in stub
    assert "def __init__" in stub and "register_buffer" in stub  # given code is kept


def test_a_method_can_be_rendered_on_its_own():
    code = build.render("toy_model:ToyModel.forward", solution=False)
    assert code.startswith("def forward(self") and code.endswith("ToyModel.forward = forward")


def test_first_cell_finds_the_workbook_and_explains_itself_elsewhere(tmp_path, monkeypatch):
    code = compile(build.BOOTSTRAP.read_text(), "bootstrap", "exec")
    monkeypatch.chdir(ROOT / "notebooks")
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["WORKBOOK"] == ROOT
    monkeypatch.chdir(tmp_path)  # a notebook copied out of the workbook, not in Colab
    with pytest.raises(RuntimeError, match="open this notebook from inside it"):
        exec(code, {})


def test_every_notebook_starts_with_the_shared_first_cell():
    for py in (ROOT / "notebooks").glob("*.py"):
        first_code = next(c for c in build.exercise_and_solution(py)[0].cells if c.cell_type == "code")
        assert first_code.metadata.get("reference") == "bootstrap", py.name
