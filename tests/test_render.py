"""What a learner sees, in a real browser: the executed solution notebooks, exported to HTML, open in
headless Chromium with no network, and every plotly figure and every circuitsvis view is actually
drawn (checked in the DOM).
A screenshot of each page is kept in reports/ as an artifact."""

import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from utils.build import SOLUTION_NOTEBOOKS
from utils.export_html import PLOTLY_MIME, export

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOTEBOOKS = sorted(SOLUTION_NOTEBOOKS.glob("*.ipynb"))


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    offline = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
               "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}",
               "--host-resolver-rules=MAP * ~NOTFOUND"]  # every host name fails: nothing can be fetched
    return subprocess.run([CHROMIUM, *offline, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_figure_is_drawn_offline(path, tmp_path):
    page = export(path, REPORTS)
    outputs = [o.get("data", {}) for c in nbformat.read(path, as_version=4).cells for o in c.get("outputs", [])]
    n_figures = sum(PLOTLY_MIME in data for data in outputs)
    views = [m for data in outputs for m in re.findall(r'<div id="(circuits-vis-[\w-]+)"', data.get("text/html", ""))]
    assert n_figures + len(views) > 0
    dom = chromium("--virtual-time-budget=15000", "--dump-dom", page.as_uri(), profile=tmp_path / "a").stdout
    # plotly adds the class js-plotly-plot to a figure's div once it has drawn it
    drawn = len(re.findall(r'<div[^>]*class="[^"]*js-plotly-plot', dom))
    assert drawn == n_figures, f"{drawn} of {n_figures} figures drawn"
    assert dom.count('class="main-svg"') >= n_figures
    # circuitsvis (React) replaces the inline script inside its div with the view's own elements
    for view in views:
        inside = re.search(rf'<div id="{view}"[^>]*>\s*<(\w+)', dom)
        assert inside and inside.group(1) == "div", f"circuitsvis view {view} was not drawn"
    shot = REPORTS / f"{path.stem}.png"
    chromium("--virtual-time-budget=15000", "--window-size=1280,4000", f"--screenshot={shot}", page.as_uri(),
             profile=tmp_path / "b")
    assert shot.exists() and shot.stat().st_size > 10_000
