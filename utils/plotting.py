"""Plotly figures for the workbook. Each function takes tensors and returns a go.Figure; call
`.show()` on it (the notebooks do). Plotly renders offline: the figure travels as JSON inside the
notebook and JupyterLab, VS Code and Colab draw it with their built-in plotly support."""

from __future__ import annotations

import math

import einops
import plotly.graph_objects as go
import plotly.io as pio
import torch
from jaxtyping import Float
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots
from torch import Tensor


def use_offline_renderer() -> None:
    """Pick a renderer that needs no internet: Colab's own where we run in Colab, else plotly's
    mimetype (drawn by JupyterLab/VS Code; no 4 MB plotly.js copied into every notebook)."""
    try:
        import google.colab  # noqa: F401

        pio.renderers.default = "colab"
    except ImportError:
        pio.renderers.default = "plotly_mimetype"


def _rounded(x: Tensor, digits: int = 4) -> list:
    """Plain nested lists rounded to `digits`: smaller notebooks, and saved figures that do not change
    with the last bits of floating point (nbval compares figure data exactly)."""
    return torch.as_tensor(x).detach().float().cpu().round(decimals=digits).tolist()


def _grid(n: int, n_rows: int | None) -> tuple[int, int]:
    n_rows = n_rows or math.ceil(n / 4)  # at most four subplots a row: fits a notebook's width
    return n_rows, math.ceil(n / n_rows)


def _as_colors(colors, n_inst: int, n_feat: int) -> list[list[str]]:
    """Per-instance, per-feature CSS colours from None, a colour name, a list of names, or values in
    [0, 1] ([feat] or [inst, feat]) mapped through viridis (dark = low, yellow = high)."""
    if colors is None:
        return [["#1f77b4"] * n_feat for _ in range(n_inst)]
    if isinstance(colors, str):
        return [[colors] * n_feat for _ in range(n_inst)]
    if isinstance(colors, (list, tuple)) and all(isinstance(c, str) for c in colors):
        return [list(colors) for _ in range(n_inst)]
    values = torch.as_tensor(colors, dtype=torch.float32).cpu()
    values = values.expand(n_inst, n_feat)  # [feat], [1, feat] or [inst, feat]
    return [sample_colorscale("Viridis", values[i].clamp(0, 1).tolist()) for i in range(n_inst)]


def _feature_traces(W2, colors, highlight, opacity=1.0, width=2):
    """Line from the origin to each feature's 2D direction, with a marker at its tip."""
    traces = []
    for f in range(W2.shape[1]):
        x, y = round(W2[0, f].item(), 4), round(W2[1, f].item(), 4)
        marked = highlight is not None and bool(highlight[f])
        traces.append(
            go.Scatter(
                x=[0, x], y=[0, y], mode="lines+markers", opacity=opacity, showlegend=False,
                line=dict(color=colors[f], width=width),
                marker=dict(size=[0, 10 if marked else 6], color=colors[f],
                            symbol=["circle", "x" if marked else "circle"]),
                hovertext=f"feature {f}", hoverinfo="text",
            )
        )
    return traces


def plot_features_in_2d(
    W: Float[Tensor, "inst 2 feat"] | Float[Tensor, "time inst 2 feat"],
    colors=None,
    title: str | None = None,
    subplot_titles: list[str] | None = None,
    n_rows: int | None = None,
    background: Float[Tensor, "inst 2 other"] | None = None,
    highlight: Tensor | None = None,
    frame_labels: list[str] | None = None,
) -> go.Figure:
    """Draw each feature as a line from the origin to its direction (a column of W), one subplot per
    instance. A 4D W [time, inst, 2, feat] becomes an animation with a slider over time.

    background: directions drawn faintly underneath (e.g. the toy model's features under an SAE's).
    highlight:  bool [inst, feat] (or [time, inst, feat]); marked with an x (e.g. resampled latents).
    """
    W = W.detach().float().cpu()
    if W.ndim == 3:
        W = W[None]
    if W.ndim != 4 or W.shape[2] != 2:
        raise ValueError(f"plot_features_in_2d wants W of shape [inst, 2, feat] or [time, inst, 2, feat]; "
                         f"got {tuple(W.shape)}")
    n_time, n_inst, _, n_feat = W.shape
    if highlight is not None:
        highlight = highlight.detach().cpu().bool()
        highlight = highlight.expand(n_time, n_inst, n_feat) if highlight.ndim == 2 else highlight
    palette = _as_colors(colors, n_inst, n_feat)
    n_rows, n_cols = _grid(n_inst, n_rows)
    fig = make_subplots(rows=n_rows, cols=n_cols, subplot_titles=subplot_titles,
                        horizontal_spacing=0.02, vertical_spacing=0.06)

    def traces_at(t):
        out = []
        for i in range(n_inst):
            if background is not None:
                bg = background.detach().float().cpu()[i]
                out += [(i, tr) for tr in _feature_traces(bg, ["#bbbbbb"] * bg.shape[1], None, 0.7, 4)]
            hl = highlight[t, i] if highlight is not None else None
            out += [(i, tr) for tr in _feature_traces(W[t, i], palette[i], hl)]
        return out

    for i, tr in traces_at(0):
        fig.add_trace(tr, row=1 + i // n_cols, col=1 + i % n_cols)
    limit = 1.15 * max(W.abs().max().item(), 1e-3,
                       background.abs().max().item() if background is not None else 0)
    fig.update_xaxes(range=[-limit, limit], showticklabels=False, zeroline=True)
    fig.update_yaxes(range=[-limit, limit], showticklabels=False, zeroline=True, scaleanchor="x")
    fig.update_layout(title=title, height=260 * n_rows + 60, width=max(260 * n_cols, 400),
                      margin=dict(l=20, r=20, t=60, b=20), showlegend=False)
    if n_time > 1:
        labels = frame_labels or [str(t) for t in range(n_time)]
        fig.frames = [go.Frame(data=[tr for _, tr in traces_at(t)], name=labels[t]) for t in range(n_time)]
        fig.update_layout(
            sliders=[dict(active=0, currentvalue=dict(prefix="step "), pad=dict(t=30, l=70), steps=[
                dict(label=lab, method="animate",
                     args=[[lab], dict(mode="immediate", frame=dict(duration=0, redraw=False))])
                for lab in labels])],
            updatemenus=[dict(type="buttons", showactive=False, x=0, xanchor="left", y=-0.02, yanchor="top", buttons=[
                dict(label="Play", method="animate",
                     args=[None, dict(frame=dict(duration=150, redraw=False), fromcurrent=True)])])],
        )
    return fig


def plot_WtW(W: Float[Tensor, "inst hidden feat"], subplot_titles: list[str] | None = None,
             title: str | None = None) -> go.Figure:
    """W^T W for each instance as a heatmap: entry (i, j) is the dot product of features i and j's
    directions; diagonal = squared norms, off-diagonal = interference (red +, blue -)."""
    W = W.detach().float().cpu()
    WtW = einops.einsum(W, W, "inst hidden i, inst hidden j -> inst i j")
    n_inst = W.shape[0]
    n_rows, n_cols = _grid(n_inst, None)
    fig = make_subplots(rows=n_rows, cols=n_cols, subplot_titles=subplot_titles,
                        horizontal_spacing=0.02, vertical_spacing=0.06)
    for i in range(n_inst):
        fig.add_trace(go.Heatmap(z=_rounded(WtW[i]), zmin=-1, zmax=1, colorscale="RdBu", reversescale=True,
                                 showscale=(i == 0)), row=1 + i // n_cols, col=1 + i % n_cols)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False, scaleanchor="y")
    fig.update_layout(title=title, height=220 * n_rows + 60, width=max(200 * n_cols, 400),
                      margin=dict(l=20, r=20, t=60, b=20))
    return fig


def plot_neuron_weights(W: Float[Tensor, "inst neuron feat"], subplot_titles: list[str] | None = None,
                        title: str | None = None, zmax: float | None = None) -> go.Figure:
    """One heatmap per instance: a row per neuron, a column per feature, the weight between them (red +,
    blue -). A monosemantic neuron is a row with one strong entry; a polysemantic one has several."""
    W = W.detach().float().cpu()
    zmax = zmax or max(W.abs().max().item(), 1e-6)
    n_inst = W.shape[0]
    n_rows, n_cols = _grid(n_inst, None)
    # Room between rows for the x tick labels above and the next row's titles, so they do not overlap.
    fig = make_subplots(rows=n_rows, cols=n_cols, subplot_titles=subplot_titles,
                        horizontal_spacing=0.03, vertical_spacing=0.22 if n_rows > 1 else 0.08)
    for i in range(n_inst):
        fig.add_trace(go.Heatmap(z=_rounded(W[i]), zmin=-zmax, zmax=zmax, colorscale="RdBu", reversescale=True,
                                 showscale=(i == 0), hovertemplate="neuron %{y}, feature %{x}: %{z}<extra></extra>"),
                      row=1 + i // n_cols, col=1 + i % n_cols)
    fig.update_yaxes(autorange="reversed", dtick=1)  # neuron 0 on top in every panel, not only the first column's
    fig.update_yaxes(title_text="neuron", col=1)
    fig.update_xaxes(dtick=1)
    fig.update_xaxes(title_text="feature", row=n_rows)
    fig.update_layout(title=title, height=200 * n_rows + 90, width=max(230 * n_cols, 400),
                      margin=dict(l=40, r=20, t=70, b=40))
    return fig


def plot_feature_norms(W: Float[Tensor, "inst hidden feat"], subplot_titles: list[str] | None = None,
                       title: str | None = None) -> go.Figure:
    """For n_hidden > 2: one bar per feature, its length the norm ||W_i|| (is it represented?), its
    colour how much it shares its direction with others, sum_{j != i} (W_i_hat . W_j)^2
    (dark = its own dimension, yellow = in superposition), as in the paper."""
    W = W.detach().float().cpu()
    norms = W.norm(dim=1)  # [inst, feat]
    W_hat = W / norms[:, None, :].clamp(min=1e-6)
    overlap = einops.einsum(W_hat, W, "inst hidden i, inst hidden j -> inst i j") ** 2
    superposition = overlap.sum(-1) - overlap.diagonal(dim1=1, dim2=2)
    n_inst, n_feat = norms.shape
    fig = make_subplots(rows=1, cols=n_inst, subplot_titles=subplot_titles, horizontal_spacing=0.02,
                        shared_yaxes=True)
    for i in range(n_inst):
        colors = sample_colorscale("Viridis", superposition[i].clamp(0, 1).tolist())
        fig.add_trace(go.Bar(x=_rounded(norms[i]), y=list(range(n_feat)), orientation="h",
                             marker_color=colors, showlegend=False), row=1, col=i + 1)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(range=[0, 1.2 * max(norms.max().item(), 1e-3)], showticklabels=False)
    fig.update_layout(title=title, height=420, width=max(140 * n_inst, 400), margin=dict(l=20, r=20, t=60, b=20))
    return fig


def plot_dimensions_per_feature(
    W: Float[Tensor, "inst hidden feat"], feature_probability: Float[Tensor, " inst"], title: str | None = None,
    fractions: dict[str, float] | None = None, min_norm: float = 0.0,
) -> go.Figure:
    """The paper's 'dimensions per feature' n_hidden / ||W||_F^2 against 1 / feature probability, with
    each feature's own dimensionality as dots: watch it stick at 1, 1/2, 2/5, ... (geometry!).
    `fractions` ({"1/2": 0.5, ...}) draws a dotted, labelled line at each value. Features no longer than
    `min_norm` get no dot: a nearly dropped feature's D divides one tiny number by another, so it means nothing
    (and changes with the last bits of the arithmetic)."""
    from solutions.toy_model import compute_dimensionality

    W = W.detach().float().cpu()
    inv_p = _rounded(1 / feature_probability.detach().cpu())
    dims_per_feature = _rounded(W.shape[1] / W.pow(2).sum(dim=(1, 2)))
    dim = compute_dimensionality(W)
    fig = go.Figure()
    n_feat = W.shape[2]
    # Each instance's dots sorted, the hidden ones last: with equal importances *which* features a run keeps is
    # chance, and the figure should not change when another run keeps others at the same dimensionalities.
    dim = torch.where(W.norm(dim=1) > min_norm, dim, torch.inf).sort(dim=-1).values
    dots = [None if d == math.inf else d for d in _rounded(dim.flatten())]
    fig.add_trace(go.Scatter(x=[x for x in inv_p for _ in range(n_feat)], y=dots,
                             mode="markers", marker=dict(size=4, opacity=0.4, color="#999"),
                             name="each feature's dimensionality"))
    fig.add_trace(go.Scatter(x=inv_p, y=dims_per_feature, mode="lines+markers", name="dimensions per feature"))
    # Labels of lines closer than 0.05 (2/5 and 3/8 are 0.025 apart) go on alternate sides, so they do not overlap.
    previous = None
    for name, value in sorted((fractions or {}).items(), key=lambda item: item[1]):
        side = "left" if previous is not None and previous[0] == "right" and value - previous[1] < 0.05 else "right"
        fig.add_hline(y=value, line=dict(dash="dot", width=1, color="#d62728"), annotation_text=name,
                      annotation_position=side)
        previous = (side, value)
    fig.update_xaxes(type="log", title="1 / feature probability (sparser →)")
    fig.update_yaxes(title="dimensions", range=[0, 1.1])
    fig.update_layout(title=title, height=420, width=700)
    return fig


def plot_phase_diagram(phase: Tensor, probabilities: Tensor, ratios: Tensor, names: tuple[str, ...],
                       title: str | None = None) -> go.Figure:
    """A [probability, ratio] grid of phase codes (0, 1, 2, ... indexing `names`) as coloured cells: feature
    probability on x (dense on the right), the extra feature's relative importance on y, both log scale."""
    colors = ["#c7c7c7", "#1f77b4", "#d62728", "#2ca02c", "#9467bd"][: len(names)]
    n = len(names)
    # A discrete colour scale: code k fills the band [k/n, (k+1)/n] of the colour axis.
    scale = [[b / n, colors[k]] for k in range(n) for b in (k, k + 1)]
    # Category axes labelled with the values (a heatmap on log axes would draw uneven cells); sorted so that
    # density grows to the right and importance upwards.
    px, ry = probabilities.cpu().argsort(), ratios.cpu().argsort()
    z = phase.cpu()[px][:, ry].T  # [ratio, probability]: rows are y, columns are x
    fig = go.Figure(go.Heatmap(
        z=z.tolist(), x=[f"{v:.3g}" for v in probabilities.cpu()[px].tolist()],
        y=[f"{v:.3g}" for v in ratios.cpu()[ry].tolist()], zmin=-0.5, zmax=n - 0.5, colorscale=scale,
        customdata=[[names[int(c)] for c in row] for row in z.tolist()],
        hovertemplate="p = %{x}<br>relative importance = %{y}<br>%{customdata}<extra></extra>",
        colorbar=dict(tickvals=list(range(n)), ticktext=list(names), title="phase")))
    fig.update_xaxes(title="feature probability p (denser →)", type="category")
    fig.update_yaxes(title="relative importance of the extra feature", type="category")
    fig.update_layout(title=title, height=450, width=650)
    return fig


def plot_test_loss_curves(sizes: list[int], curves: dict[str, Tensor], title: str | None = None) -> go.Figure:
    """Test loss (relative to answering 0) against training set size, one line per entry of `curves`, on log
    axes, with a dotted line at 1 (no better than always answering 0)."""
    fig = go.Figure([go.Scatter(x=list(sizes), y=_rounded(values), mode="lines+markers", name=name)
                     for name, values in curves.items()])
    fig.add_hline(y=1, line=dict(dash="dot", color="#888"), annotation_text="always 0")
    fig.update_xaxes(type="log", title="training set size T")
    fig.update_yaxes(type="log", title="test loss / loss of answering 0")
    fig.update_layout(title=title, height=420, width=700)
    return fig


def plot_firing_fractions(log: dict, title: str | None = None, n_rows: int | None = None) -> go.Figure:
    """Each latent's firing fraction (share of inputs on which it is > 0) through training, one subplot
    per instance, log scale. Latents that drop to 0 are dead; resampling events are dotted lines."""
    frac = log["frac_active"]  # [time, inst, d_hidden]
    steps = log["steps"].tolist()
    n_inst, n_hidden = frac.shape[1], frac.shape[2]
    n_rows, n_cols = _grid(n_inst, n_rows or (2 if n_inst > 4 else 1))
    fig = make_subplots(rows=n_rows, cols=n_cols, subplot_titles=[f"instance {i}" for i in range(n_inst)],
                        shared_yaxes=True, horizontal_spacing=0.03, vertical_spacing=0.12)
    colors = sample_colorscale("Turbo", [j / max(n_hidden - 1, 1) for j in range(n_hidden)])
    for i in range(n_inst):
        row, col = 1 + i // n_cols, 1 + i % n_cols
        for j in range(n_hidden):
            # log axes cannot show 0: dead latents are drawn at 1e-5, the floor of the plot
            fig.add_trace(go.Scatter(x=steps, y=_rounded(frac[:, i, j].clamp(min=1e-5), 6), mode="lines",
                                     line=dict(color=colors[j], width=1.5), name=f"latent {j}",
                                     showlegend=(i == 0)), row=row, col=col)
        for t in torch.nonzero(log["resampled"][:, i].any(-1)).flatten().tolist():
            fig.add_vline(x=steps[t], line=dict(color="#999", dash="dot", width=1), row=row, col=col)
    fig.update_yaxes(type="log", range=[-5, 0])
    fig.update_layout(title=title, height=300 * n_rows + 80, width=max(250 * n_cols, 500),
                      margin=dict(l=40, r=20, t=80, b=40))
    return fig


def plot_histograms(values: dict[str, Tensor], title: str, xaxis_title: str, bins: int = 60,
                    value_range: tuple[float, float] | None = None, yaxis_title: str = "fraction of latents",
                    note: str | None = None) -> go.Figure:
    """Overlaid histograms, one per named set of values, each normalised to fractions (bars sum to 1).

    The bins are counted here and only the counts are plotted: a figure stays small however many
    values there are (nbval compares figures exactly, and notebooks stay light)."""
    arrays = {name: v.detach().float().cpu().flatten() for name, v in values.items()}
    lo, hi = value_range or (min(a.min().item() for a in arrays.values()), max(a.max().item() for a in arrays.values()))
    edges = torch.linspace(lo, hi, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    for name, a in arrays.items():
        counts = torch.histc(a.clamp(lo, hi), bins=bins, min=lo, max=hi) / max(len(a), 1)
        fig.add_trace(go.Bar(x=_rounded(centres), y=_rounded(counts), name=name, opacity=0.6))
    fig.update_layout(barmode="overlay", bargap=0, title=title, xaxis_title=xaxis_title, yaxis_title=yaxis_title,
                      height=380, width=720, margin=dict(l=60, r=20, t=70, b=50))
    if note:
        fig.add_annotation(text=note, xref="paper", yref="paper", x=0.01, y=0.98, showarrow=False, align="left")
    return fig


def plot_firing_frequency_histogram(frequency: Float[Tensor, "inst latent"], names: list[str] | None = None,
                                    floor: float = -6.0) -> go.Figure:
    """The "frequency of frequencies": how many latents (y, as a fraction) fire how often (x, log10 of
    the fraction of tokens). Latents that never fired cannot be placed on a log axis; they are
    counted in the note instead."""
    names = names or [f"SAE {chr(ord('A') + i)}" for i in range(frequency.shape[0])]
    log_freq = {name: torch.log10(f[f > 0]) for name, f in zip(names, frequency, strict=True)}
    dead = ", ".join(f"{name}: {int((f == 0).sum())}" for name, f in zip(names, frequency, strict=True))
    return plot_histograms(log_freq, "How often each latent fires", "log10(fraction of tokens on which it fires)",
                           value_range=(floor, 0.0), note=f"never fired (not shown): {dead}")


def plot_feature_dashboard(activations: Float[Tensor, " tokens"], raised: list[tuple[str, float]],
                           lowered: list[tuple[str, float]], title: str, bins: int = 50) -> go.Figure:
    """One latent at a glance: how strongly it fires when it does (a histogram of its non-zero
    activations, with how often it fires in the title), and the tokens whose logits it raises and
    lowers most (`raised`, `lowered`: its effect on the logits, as the caller computed it; section 4's
    dashboard passes the effect through ln_final's scale)."""
    acts = activations.detach().float().cpu().flatten()
    firing = acts[acts > 0]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.18, subplot_titles=[
        f"activation when it fires (on {len(firing) / max(len(acts), 1):.2%} of tokens)",
        "effect on logits, through ln_final"])
    if len(firing):
        hi = firing.max().item()
        edges = torch.linspace(0, hi, bins + 1)
        counts = torch.histc(firing, bins=bins, min=0, max=hi)
        fig.add_trace(go.Bar(x=_rounded((edges[:-1] + edges[1:]) / 2), y=_rounded(counts), marker_color="#1f77b4",
                             showlegend=False), row=1, col=1)
    effects = list(reversed(lowered)) + list(reversed(raised))  # largest at the top of the bar chart
    fig.add_trace(go.Bar(x=[round(v, 4) for _, v in effects], y=[repr(s) for s, _ in effects], orientation="h",
                         marker_color=["#d62728"] * len(lowered) + ["#2ca02c"] * len(raised), showlegend=False),
                  row=1, col=2)
    fig.update_xaxes(title_text="activation", row=1, col=1)
    fig.update_yaxes(title_text="tokens", type="log", row=1, col=1)
    fig.update_xaxes(title_text="logit change per unit of activation", row=1, col=2)
    fig.update_layout(title=title, height=420, width=900, bargap=0, margin=dict(l=60, r=20, t=80, b=50))
    return fig


FRONTIER_NAMES = {"l1": "L1 (section 2's AutoEncoder)", "topk": "TopK", "jumprelu": "JumpReLU"}
FRONTIER_DIALS = {"l1": "l1_coeff", "topk": "k", "jumprelu": "l0_coeff"}


def plot_frontier(points: list[dict], marks: dict[str, dict] | None = None, title: str | None = None) -> go.Figure:
    """The sparsity-fidelity frontier: L0 (log scale) against the fraction of the loss recovered (left)
    and the explained variance (right), one line per architecture (points: dicts with `architecture`,
    its dial, `l0`, `loss_recovered`, `explained_variance`), and `marks` (name -> such a dict) drawn
    as single labelled points: the bundled SAEs, your own."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=["CE loss recovered", "explained variance"])
    colors = {"l1": "#1f77b4", "topk": "#d62728", "jumprelu": "#2ca02c"}
    for arch in FRONTIER_NAMES:
        line = sorted((p for p in points if p["architecture"] == arch), key=lambda p: p["l0"])
        if not line:
            continue
        dial = FRONTIER_DIALS[arch]
        for col, metric in enumerate(("loss_recovered", "explained_variance"), start=1):
            fig.add_trace(go.Scatter(
                x=[round(p["l0"], 2) for p in line], y=[round(p[metric], 4) for p in line], mode="lines+markers",
                name=FRONTIER_NAMES[arch], legendgroup=arch, showlegend=col == 1, line=dict(color=colors[arch]),
                text=[f"{dial} = {p[dial]:g}" for p in line],
                hovertemplate="%{text}<br>L0 %{x}<br>%{y:.1%}<extra></extra>"), row=1, col=col)
    symbols = ["star", "diamond", "x", "circle-open"]
    for i, (name, p) in enumerate((marks or {}).items()):
        for col, metric in enumerate(("loss_recovered", "explained_variance"), start=1):
            fig.add_trace(go.Scatter(
                x=[round(p["l0"], 2)], y=[round(p[metric], 4)], mode="markers", name=name, legendgroup=name,
                showlegend=col == 1, marker=dict(symbol=symbols[i % len(symbols)], size=13, color="black"),
                hovertemplate=f"{name}<br>L0 %{{x}}<br>%{{y:.1%}}<extra></extra>"), row=1, col=col)
    fig.update_xaxes(type="log", title_text="L0 (latents firing per token, log scale)")
    fig.update_yaxes(tickformat=".0%")
    fig.update_layout(title=title or "Sparsity against fidelity: up and to the left is better", height=420,
                      width=980, margin=dict(l=60, r=20, t=80, b=50))
    return fig


def plot_dose_response(curves: dict[str, dict[str, dict[str, Tensor]]], title: str | None = None) -> go.Figure:
    """Steering's dose-response: for each target (a panel column), the probability of the target token and
    the price (KL to the clean run) against the coefficient, one line per direction steered along.
    `curves[target][direction]` is steering_response's dict."""
    targets = list(curves)
    fig = make_subplots(rows=2, cols=len(targets), shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=[f"P({t!r})" for t in targets]
                        + [f"KL to the clean run ({t!r})" for t in targets])
    palette = ["#1f77b4", "#ff7f0e", "#7f7f7f", "#2ca02c"]
    for col, target in enumerate(targets, start=1):
        for j, (direction, out) in enumerate(curves[target].items()):
            x = _rounded(out["coefficient"])
            style = dict(color=palette[j % len(palette)])
            fig.add_trace(go.Scatter(x=x, y=_rounded(out["p_target"]), name=direction, line=style,
                                     legendgroup=str(j), showlegend=False), row=1, col=col)
            fig.add_trace(go.Scatter(x=x, y=_rounded(out["kl"]), name=direction, line=style, legendgroup=str(j),
                                     showlegend=False), row=2, col=col)
    for j, name in enumerate(["the latent's decoder row", "the best-matching neuron", "a random direction"]):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name, line=dict(color=palette[j])))
    fig.update_xaxes(title_text="steering coefficient (the norm of what is added)", row=2)
    fig.update_layout(title=title, height=560, width=300 * len(targets) + 200, margin=dict(l=60, r=20, t=80, b=50))
    return fig


def plot_attribution_vs_ablation(estimate: Tensor, actual: Tensor, title: str | None = None) -> go.Figure:
    """One dot per (latent, position) where the latent fired: attribution's linear estimate of the change
    in log-probability against the change measured by removing the latent."""
    lo = float(min(estimate.min(), actual.min()))
    hi = float(max(estimate.max(), actual.max()))
    fig = go.Figure(go.Scatter(x=_rounded(estimate, 3), y=_rounded(actual, 3), mode="markers",
                               marker=dict(size=4, opacity=0.5), name="latent at a position"))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(dash="dot", color="gray"),
                             name="estimate = measurement"))
    fig.update_layout(title=title, xaxis_title="attribution's estimate: -(activation x gradient)",
                      yaxis_title="measured: log-prob ablated - clean", height=480, width=560,
                      margin=dict(l=60, r=20, t=70, b=50))
    return fig


def plot_graph_vs_intervention(results: dict[str, tuple[Tensor, Tensor]], title: str | None = None) -> go.Figure:
    """Section 6: the attribution graph's predicted change in a logit against the change measured by removing
    the node in the real model, one colour per kind of node. `results[kind]` is (predicted, measured)."""
    values = torch.cat([torch.cat([torch.as_tensor(p), torch.as_tensor(m)]) for p, m in results.values()])
    lo, hi = float(values.min()), float(values.max())
    fig = go.Figure()
    for kind, (predicted, measured) in results.items():
        fig.add_trace(go.Scatter(x=_rounded(torch.as_tensor(predicted), 3), y=_rounded(torch.as_tensor(measured), 3),
                                 mode="markers", marker=dict(size=5, opacity=0.6), name=kind))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(dash="dot", color="gray"),
                             name="prediction = measurement"))
    fig.update_layout(title=title, xaxis_title="the graph's prediction (change in the logit)",
                      yaxis_title="measured change in the logit (real model)", height=480, width=620,
                      margin=dict(l=60, r=20, t=70, b=50))
    return fig


def plot_probe_accuracy(accuracy: dict[str, dict[str, list[float]]], ks: list[int],
                        ceiling: dict[str, float], title: str | None = None) -> go.Figure:
    """Sparse probing: test accuracy against k, one panel per concept, one line per basis, and the probe on
    the whole MLP as a dotted ceiling. `accuracy[concept][basis]` has one value per k."""
    concepts = list(accuracy)
    n_cols = min(4, len(concepts))
    n_rows = math.ceil(len(concepts) / n_cols)
    fig = make_subplots(rows=n_rows, cols=n_cols, subplot_titles=concepts, shared_yaxes=True)
    palette = ["#1f77b4", "#ff7f0e", "#7f7f7f"]
    for i, concept in enumerate(concepts):
        row, col = divmod(i, n_cols)
        for j, (basis, values) in enumerate(accuracy[concept].items()):
            fig.add_trace(go.Scatter(x=ks, y=_rounded(torch.tensor(values), 3), name=basis, mode="lines+markers",
                                     line=dict(color=palette[j % 3]), legendgroup=basis, showlegend=i == 0),
                          row=row + 1, col=col + 1)
        fig.add_hline(y=round(ceiling[concept], 3), line=dict(dash="dot", color="black"), row=row + 1, col=col + 1)
    fig.update_xaxes(type="log", title_text="k")
    fig.update_yaxes(range=[0.45, 1.0])
    fig.update_layout(title=title, height=300 * n_rows + 80, width=260 * n_cols + 160,
                      margin=dict(l=60, r=20, t=80, b=50))
    return fig


def plot_seed_ranges(values: dict[str, dict[str, dict[str, list[float]]]], baselines: dict[str, float] | None = None,
                     title: str | None = None) -> go.Figure:
    """A record over seeds at a glance: one panel per metric (`values[metric][recipe][architecture]`, one value
    per seed), a group of bars per architecture, one colour per recipe. Each bar is the seeds' mean, its
    error bar runs from their lowest to their highest; `baselines[metric]` (a random dictionary, say) is a
    dotted line."""
    metrics = list(values)
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=metrics, horizontal_spacing=0.08)
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
    for col, metric in enumerate(metrics, start=1):
        for j, (recipe, by_arch) in enumerate(values[metric].items()):
            runs = [torch.tensor(v, dtype=torch.float) for v in by_arch.values()]
            mean = torch.stack([r.mean() for r in runs])
            fig.add_trace(go.Bar(
                x=list(by_arch), y=_rounded(mean), name=recipe, legendgroup=recipe, showlegend=col == 1,
                marker_color=palette[j % len(palette)],
                error_y=dict(type="data", symmetric=False, array=_rounded(torch.stack([r.max() for r in runs]) - mean),
                             arrayminus=_rounded(mean - torch.stack([r.min() for r in runs])))), row=1, col=col)
        if baselines and metric in baselines:
            fig.add_hline(y=round(baselines[metric], 4), line=dict(dash="dot", color="black"), row=1, col=col)
    fig.update_layout(title=title, barmode="group", height=400, width=330 * len(metrics) + 160,
                      margin=dict(l=60, r=20, t=80, b=50))
    return fig


def plot_attribution_graph(A: Tensor, names: list[str], keep: Tensor, title: str | None = None) -> go.Figure:
    """A pruned attribution graph: the kept nodes in three rows (inputs at the bottom, ordered by position;
    latents, error and bias in the middle; the target logit on top), one line per edge between kept nodes,
    its width proportional to |A[target, source]|, blue where it raises the target and red where it lowers
    it. Hover a node for its name."""
    kept = keep.nonzero()[:, 0].tolist()
    row = {i: 0 if names[i].startswith(("tok", "pos")) else 2 if names[i] == "logit" else 1 for i in kept}
    place = {}
    for level in (0, 1, 2):
        members = [i for i in kept if row[i] == level]
        for j, i in enumerate(members):
            place[i] = ((j + 1) / (len(members) + 1), level)
    strongest = float(A[kept][:, kept].abs().max()) or 1.0
    fig = go.Figure()
    for t in kept:
        for s in kept:
            if A[t, s] != 0 and s != t:
                (x0, y0), (x1, y1) = place[s], place[t]
                width = round(0.5 + 6 * abs(float(A[t, s])) / strongest, 2)
                colour = "#1f77b4" if A[t, s] > 0 else "#d62728"
                fig.add_trace(go.Scatter(x=[round(x0, 4), round(x1, 4)], y=[y0, y1], mode="lines", hoverinfo="skip",
                                         showlegend=False, line=dict(width=width, color=colour)))
    labels = [names[i] for i in kept]
    fig.add_trace(go.Scatter(x=[round(place[i][0], 4) for i in kept], y=[place[i][1] for i in kept],
                             mode="markers+text", text=labels, textposition="top center", hovertext=labels,
                             marker=dict(size=12, color="black"), showlegend=False))
    fig.update_layout(title=title, height=520, width=900, margin=dict(l=20, r=20, t=70, b=20),
                      xaxis=dict(visible=False, range=[0, 1]),
                      yaxis=dict(tickvals=[0, 1, 2], ticktext=["inputs", "latents, error, bias", "target"],
                                 range=[-0.3, 2.4]))
    return fig
