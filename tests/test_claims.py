"""The prose says what the outputs say, and every exercise says how hard it is.

A number in a notebook's prose that was measured (a decimal or a percentage: `0.0494`, `94%`, `13.2`) must
be one that the notebook printed before it, or prints in the next code cell, or one of its settings, or one
of the committed records the notebook reads (`checkpoints/`). A rebuild that changes an output then fails
here until the prose that quotes it is changed too. The few numbers that come from elsewhere (mathematics,
a paper, a worked example the learner computes by hand) are listed in `NOT_MEASURED`, each with its reason.

Integers are left out (shapes, counts of exercises and steps are everywhere, and a small count would match
some output by chance); the counts that matter most are quoted from records by their own tests
(`tests/test_scripts.py`).
"""

import json
import re

import nbformat
import pytest

from tests.sections import ROOT, SECTIONS

EXECUTED = ROOT / "solutions" / "notebooks"

#: (notebook, the number as written) -> why it is not in any output
NOT_MEASURED = {
    ("1b_superposition_more", "0.0025"): "a setting: 400 ** -1, the sparsest of the code's `400 ** -linspace(0.5, 1)`",
    ("2b_sae_variants", "0.45"): "exercise 2's worked example: values of z a learner checks by hand",
    ("2b_sae_variants", "0.52"): "exercise 2's worked example",
    ("2b_sae_variants", "0.58"): "exercise 2's worked example",
    ("2b_sae_variants", "−0.3"): "exercises 2 and 3's worked example",
}

NUMBER = re.compile(r"(?<![\w.^])[-−]?\d[\d,]*(?:\.\d+)?(?:e-?\d+)?%?(?![\w.]*\d)")


def _measured_numbers(markdown: str) -> list[tuple[str, float, int, bool]]:
    """(as written, value, decimals, is a percentage) for each decimal or percentage in prose. Code, maths and
    links are left out: a setting in backticks, a formula and an arXiv number are not measurements."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]*\$", " ", text, flags=re.S)
    text = re.sub(r"`[^`]*`|\]\([^)]*\)|https?://\S+|arXiv:?\s*\S+", " ", text)
    found = []
    for match in NUMBER.finditer(text):
        raw = match.group()
        digits = raw.rstrip("%").replace("−", "-").replace(",", "")
        mantissa, _, exponent = digits.partition("e")
        if "." not in mantissa and not raw.endswith("%"):
            continue
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        decimals -= int(exponent or 0)  # 7.5e-4 is written to 5 decimals
        found.append((raw, float(digits), decimals, raw.endswith("%")))
    return found


def _values(text: str) -> set[float]:
    values = set()
    for match in re.finditer(r"[-−]?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?", text):
        try:
            values.add(float(match.group().replace("−", "-").replace(",", "")))
        except ValueError:
            pass
    return values


def _outputs(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
            plotly = output["data"].get("application/vnd.plotly.v1+json")
            if plotly:  # titles and annotations say numbers too; the plotted data are not prose's business
                layout = plotly.get("layout", {})
                parts.append(json.dumps([layout.get("title"), layout.get("annotations")]))
    return "\n".join(parts)


def _quoted(value: float, decimals: int, percent: bool, sources: set[float]) -> bool:
    """Whether some source, rounded as the prose rounds it (and read as a percentage where that fits),
    is the number written."""
    half = 0.5 * 10.0**-decimals + 1e-9
    scales = (100.0, 1.0) if percent else (1.0, 100.0)
    return any(abs(x * scale - value) <= half for x in sources for scale in scales)


def _records() -> set[float]:
    texts = [p.read_text() for p in (ROOT / "checkpoints").rglob("*.json")]
    texts.append((ROOT / "checkpoints" / "bundled" / "MODEL_CARD.md").read_text())
    return _values("\n".join(texts))


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: s.notebook)
def test_every_measured_number_in_the_prose_was_printed(section):
    notebook = nbformat.read(EXECUTED / f"{section.notebook}.ipynb", as_version=4)
    cells = notebook.cells
    settings = _values("\n".join(c.source for c in cells if c.cell_type == "code"))
    records = _records()
    printed: set[float] = set()
    unquoted = []
    for i, cell in enumerate(cells):
        if cell.cell_type == "code":
            printed |= _values(_outputs(cell))
            continue
        following = next((c for c in cells[i + 1:] if c.cell_type == "code"), None)
        sources = printed | settings | records | (_values(_outputs(following)) if following else set())
        for raw, value, decimals, percent in _measured_numbers(cell.source):
            if (section.notebook, raw) not in NOT_MEASURED and not _quoted(value, decimals, percent, sources):
                unquoted.append(f"cell {i}: {raw}")
    assert not unquoted, (
        f"{section.notebook}: numbers in the prose that no earlier output, the next cell's output, the code or a"
        f" record says (print them, or list them in NOT_MEASURED with the reason): {unquoted}")


def test_the_allowance_lists_only_numbers_still_written():
    """An entry of NOT_MEASURED whose number the prose no longer writes would excuse a future one."""
    stale = []
    for (stem, raw), _reason in NOT_MEASURED.items():
        notebook = nbformat.read(EXECUTED / f"{stem}.ipynb", as_version=4)
        written = {r for c in notebook.cells if c.cell_type == "markdown" for r, *_ in _measured_numbers(c.source)}
        if raw not in written:
            stale.append((stem, raw))
    assert not stale, f"NOT_MEASURED lists numbers the prose no longer writes: {stale}"


EXERCISE = re.compile(r"^#{2,3} Exercises? \d", re.M)
META = re.compile(r"^> \*\*Difficulty\*\* ([1-5])/5 · \*\*Estimated time\*\* (\d+) min · \*\*Why it matters:\*\* \S",
                  re.M)


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: s.notebook)
def test_every_exercise_says_its_difficulty_time_and_why(section):
    """As ARENA's do: a difficulty from 1 to 5, an estimated time and one line on why it matters, under the
    exercise's heading, in the learner's notebook."""
    notebook = nbformat.read(ROOT / "notebooks" / f"{section.notebook}.ipynb", as_version=4)
    headings = [c.source for c in notebook.cells if c.cell_type == "markdown" and EXERCISE.search(c.source)]
    assert headings, f"{section.notebook} has no exercise headings"
    missing = [EXERCISE.search(h).group() for h in headings
               if len(EXERCISE.findall(h)) != len(META.findall(h))]
    assert not missing, f"{section.notebook}: exercises without their difficulty / time / why line: {missing}"
