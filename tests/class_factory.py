"""Make a class of learner notebooks for testing the grader: complete, partial, broken and hostile."""

import copy
import inspect
import textwrap
from pathlib import Path

import jupytext
import nbformat

from solutions import circuits, interpretation, llm_sae, sae, sae_variants, toy_model, using_saes
from utils import build

NOTEBOOK = build.NOTEBOOKS / "1_toy_bottleneck.py"
SAE_NOTEBOOK = build.NOTEBOOKS / "2_sae_training.py"
LLM_NOTEBOOK = build.NOTEBOOKS / "3_llm_sae.py"
N_SAE = len(sae.EXERCISES)  # section 2's exercises, in notebook order
VARIANTS_NOTEBOOK = build.NOTEBOOKS / "2b_sae_variants.py"
N_VARIANTS = len(sae_variants.EXERCISES)  # section 2b's
N_LLM = len(llm_sae.EXERCISES)  # section 3's exercises, in notebook order
N_INTERP = len(interpretation.EXERCISES)  # section 4's (the ablation is the fifth)
INTERP_NOTEBOOK = build.NOTEBOOKS / "4_feature_interpretation.py"
N_USING = len(using_saes.EXERCISES)  # section 5's
USING_NOTEBOOK = build.NOTEBOOKS / "5_using_saes.py"
N_CIRCUITS = len(circuits.EXERCISES)  # section 6's
CIRCUITS_NOTEBOOK = build.NOTEBOOKS / "6_circuits.py"


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
        if name in FUNCTIONS:  # a function of its own exercise cell
            stub = f'    raise NotImplementedError("{name}: not implemented yet")'
            own = next(c for c in nb.cells if stub in c.source)
            own.source = own.source.replace(stub, _method_body(getattr(toy_model, name)))
            continue
        stub = f'        raise NotImplementedError("ToyModel.{name}: not implemented yet")'
        cell.source = cell.source.replace(stub, _method_body(getattr(toy_model.ToyModel, name)))
    if exercise_edit:
        cell.source = exercise_edit(cell.source)
    for source in extra_cells:
        nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(source)))
    return nb


def swap_line(old: str, new: str):
    """An exercise-cell edit that replaces one line of the reference with a learner's wrong line."""
    def edit(source: str) -> str:
        assert old in source, old
        return source.replace(old, new)
    return edit


def sae_notebook(solution: bool, path: Path = SAE_NOTEBOOK) -> nbformat.NotebookNode:
    exercise, full = build.exercise_and_solution(path)
    return full if solution else exercise


FUNCTIONS = ("compute_dimensionality",)
ALL = ("forward", "generate_batch", "calculate_loss", *FUNCTIONS)
N_TOY = len(toy_model.EXERCISES)  # section 1's exercises: the three ToyModel methods, then compute_dimensionality

#: name -> (notebook, expected statuses in CHECKS order, or "(notebook)" for a notebook-level error)
CLASS = {
    "complete": (lambda: exercise_notebook(ALL), ["passed"] * N_TOY),
    "untouched": (lambda: exercise_notebook(), ["not implemented"] * N_TOY),
    "partial": (lambda: exercise_notebook(["forward"]), ["passed"] + ["not implemented"] * (N_TOY - 1)),
    "wrong_loss": (lambda: exercise_notebook(ALL, exercise_edit=lambda s: s.replace(
        "return loss_per_instance.sum()", "return loss_per_instance.mean()")),
        ["passed", "passed", "failed", "passed"]),
    "syntax_error": (lambda: exercise_notebook(ALL, exercise_edit=lambda s: s.replace("def forward", "def forward(")),
                     ["error"] * 3 + ["passed"]),  # compute_dimensionality has a cell of its own
    "exits": (lambda: exercise_notebook(ALL, extra_cells=["import sys\nsys.exit(1)"]), ["passed"] * N_TOY),
    "downloads": (lambda: exercise_notebook(ALL, extra_cells=[
        "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=5)"]), ["passed"] * N_TOY),
    "prints_megabytes": (lambda: exercise_notebook(ALL, extra_cells=["print('x' * 20_000_000)"]), ["passed"] * N_TOY),
    "kills_the_process": (lambda: exercise_notebook(ALL, extra_cells=["import os\nos._exit(3)"]), "(notebook)"),
    "infinite_loop": (lambda: exercise_notebook(ALL, extra_cells=["while True:\n    pass"]), "(notebook)"),
    # Realistic mistakes, one line each, as learners write them.
    "no_bias": (lambda: exercise_notebook(ALL, exercise_edit=swap_line(
        "return F.relu(out + self.b_final)", "return F.relu(out)")), ["failed", "passed", "passed", "passed"]),
    "no_relu": (lambda: exercise_notebook(ALL, exercise_edit=swap_line(
        "return F.relu(out + self.b_final)", "return out + self.b_final")), ["failed", "passed", "passed", "passed"]),
    "wrong_way_round": (lambda: exercise_notebook(ALL, exercise_edit=swap_line(
        "fires = torch.rand(shape, device=self.W.device) < self.feature_probability",
        "fires = torch.rand(shape, device=self.W.device) > self.feature_probability")),
        ["passed", "failed", "passed", "passed"]),
    "one_draw": (lambda: exercise_notebook(ALL, exercise_edit=swap_line(
        "fires = torch.rand(shape, device=self.W.device) < self.feature_probability",
        "fires = values < self.feature_probability")), ["passed", "failed", "passed", "passed"]),
    "no_importance": (lambda: exercise_notebook(ALL, exercise_edit=swap_line(
        "error = self.importance * (batch - out) ** 2", "error = (batch - out) ** 2")),
        ["passed", "passed", "failed", "passed"]),
    "loss_item": (lambda: exercise_notebook(ALL, exercise_edit=swap_line(
        "return loss_per_instance.sum()", "return loss_per_instance.sum().item()")),
        ["passed", "passed", "failed", "passed"]),
    "only_batch_and_loss": (lambda: exercise_notebook(["generate_batch", "calculate_loss"]),
                            ["not implemented", "passed", "passed", "not implemented"]),
    "hard_coded_sizes": (lambda: exercise_notebook(ALL, exercise_edit=swap_line(
        "shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)", "shape = (batch_size, 8, 5)")),
        ["passed", "failed", "passed", "passed"]),
    "renamed_class": (lambda: exercise_notebook(ALL, exercise_edit=lambda s: s.replace(
        "class ToyModel(", "class MyToyModel(")), ["error"] * 3 + ["passed"]),
    "sae_complete": (lambda: sae_notebook(solution=True), ["passed"] * N_SAE),
    "sae_untouched": (lambda: sae_notebook(solution=False), ["not implemented"] * N_SAE),
    "variants_complete": (lambda: sae_notebook(solution=True, path=VARIANTS_NOTEBOOK), ["passed"] * N_VARIANTS),
    "variants_untouched": (lambda: sae_notebook(solution=False, path=VARIANTS_NOTEBOOK),
                           ["not implemented"] * N_VARIANTS),
    # k rounded up before it is multiplied by the batch (k = 1.5 in the check): only exercise 4 fails.
    "variants_batchtopk_ceil": (lambda: _llm_edit(
        '        top = flat.topk(int(self.k * batch), dim=-1)',
        '        top = flat.topk(math.ceil(self.k) * batch, dim=-1)', VARIANTS_NOTEBOOK),
        ["passed", "passed", "passed", "failed"]),
    "llm_complete": (lambda: sae_notebook(solution=True, path=LLM_NOTEBOOK), ["passed"] * N_LLM),
    "llm_untouched": (lambda: sae_notebook(solution=False, path=LLM_NOTEBOOK), ["not implemented"] * N_LLM),
    "llm_mean_activation": (lambda: _llm_edit("    return (acts > 0).float().mean(0)", "    return acts.mean(0)"),
                            ["passed", "failed"] + ["passed"] * (N_LLM - 2)),
    "interp_complete": (lambda: sae_notebook(solution=True, path=INTERP_NOTEBOOK), ["passed"] * N_INTERP),
    "interp_untouched": (lambda: sae_notebook(solution=False, path=INTERP_NOTEBOOK), ["not implemented"] * N_INTERP),
    "interp_no_error_term": (lambda: _llm_edit("    h_ablated = acts_ablated @ autoencoder.W_dec[instance_idx] +"
                                               " autoencoder.b_dec[instance_idx] + error",
                                               "    h_ablated = acts_ablated @ autoencoder.W_dec[instance_idx] +"
                                               " autoencoder.b_dec[instance_idx]", INTERP_NOTEBOOK),
                             ["passed"] * 4 + ["failed"] + ["passed"] * (N_INTERP - 5)),
    "using_complete": (lambda: sae_notebook(solution=True, path=USING_NOTEBOOK), ["passed"] * N_USING),
    "using_untouched": (lambda: sae_notebook(solution=False, path=USING_NOTEBOOK), ["not implemented"] * N_USING),
    # The error term forgotten: the splice is the reconstruction alone (section 5's first exercise). Only
    # exercise 1 fails: exercise 3 (latent_attribution) calls run_with_sae, and its check lends it the
    # reference's (reference_helpers), so one mistake costs one exercise.
    "using_no_error_term": (lambda: _llm_edit(
        "            spliced = spliced + (h - h_reconstructed)  # what the SAE misses, from the unedited latents",
        "            spliced = spliced", USING_NOTEBOOK), ["failed", "passed", "passed", "passed"]),
    "circuits_complete": (lambda: sae_notebook(solution=True, path=CIRCUITS_NOTEBOOK), ["passed"] * N_CIRCUITS),
    "circuits_untouched": (lambda: sae_notebook(solution=False, path=CIRCUITS_NOTEBOOK),
                           ["not implemented"] * N_CIRCUITS),
}


def _llm_edit(old: str, new: str, path: Path = LLM_NOTEBOOK) -> nbformat.NotebookNode:
    """Section 3's (or another section's) completed notebook with one exercise's line changed, as a
    learner would."""
    nb = copy.deepcopy(sae_notebook(solution=True, path=path))
    cell = next(c for c in nb.cells if old in c.source)
    cell.source = cell.source.replace(old, new)
    return nb



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
        else:  # sections 2-4 notebooks keep their section's name prefix, as learners' copies would
            prefixes = {"sae": "2_", "variants": "2b_", "llm": "3_", "interp": "4_", "using": "5_", "circuits": "6_"}
            prefix = prefixes.get(name.split("_")[0], "")
            path = folder / f"{prefix}{name}.ipynb"
            nbformat.write(nb, path)
        expected[path] = statuses
    return expected
