"""What the test suite knows about each section: its notebook, reference module, checks and mutants."""

import importlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Section:
    notebook: str  # stem of notebooks/<stem>.py
    module: str  # solutions/<module>.py, tests/checks/<module>.py, tests/mutants/<module>.py

    @property
    def checks(self) -> dict:
        return importlib.import_module(f"tests.checks.{self.module}").CHECKS

    @property
    def reference(self):
        return importlib.import_module(f"solutions.{self.module}")

    def mutants(self) -> list:
        from tests.mutants import REGISTRY

        importlib.import_module(f"tests.mutants.{self.module}")
        return [m for m in REGISTRY if m.exercise in self.checks]

    def alternatives(self) -> list:
        from tests.mutants import ALTERNATIVES

        importlib.import_module(f"tests.mutants.{self.module}")
        return [m for m in ALTERNATIVES if m.exercise in self.checks]


SECTIONS = [Section("1_toy_bottleneck", "toy_model"), Section("1b_superposition_more", "superposition"),
            Section("1c_geometry_and_phases", "geometry"), Section("2_sae_training", "sae"),
            Section("2b_sae_variants", "sae_variants"),
            Section("3_llm_sae", "llm_sae"), Section("4_feature_interpretation", "interpretation"),
            Section("5_using_saes", "using_saes"), Section("6_circuits", "circuits")]


def notebook_namespace(path: Path) -> dict:
    """Run a notebook's code cells as the grader would (no check or experiment cells) and return
    its globals: the learner's objects, stubs included."""
    from tests.grade import SKIPPED_TAGS, read_cells

    namespace: dict = {"__name__": "__notebook__"}
    for cell in read_cells(path):
        if not SKIPPED_TAGS & set(cell["tags"]):
            exec(compile(cell["source"], str(path), "exec"), namespace)
    return namespace
