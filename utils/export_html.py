"""Export executed notebooks to standalone HTML that renders offline: every plotly figure is drawn
with a copy of plotly.js inlined once per page (no CDN), so the page works from a USB stick.

    python -m utils.export_html solutions/notebooks/1_toy_bottleneck.ipynb [--out reports/]
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import nbformat
import plotly.graph_objects as go
import plotly.io as pio

PLOTLY_MIME = "application/vnd.plotly.v1+json"


def with_rendered_figures(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` where each plotly output also carries HTML that draws it."""
    nb = copy.deepcopy(nb)
    first = True
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if PLOTLY_MIME in data:
                figure = go.Figure(data[PLOTLY_MIME])
                data["text/html"] = pio.to_html(figure, include_plotlyjs=first, full_html=False,
                                                div_id=f"figure-{id(output)}")
                first = False
    return nb


def export(path: Path, out_dir: Path) -> Path:
    from nbconvert import HTMLExporter

    nb = with_rendered_figures(nbformat.read(path, as_version=4))
    # No require.js or MathJax from a CDN: plotly.js is inlined, and offline the maths stays as $...$ source.
    body, _ = HTMLExporter(template_name="lab", require_js_url="", mathjax_url="").from_notebook_node(nb)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / (path.stem + ".html")
    target.write_text(body)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    for path in args.notebooks:
        print(export(path, args.out))


if __name__ == "__main__":
    main()
