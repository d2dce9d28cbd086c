# %% [markdown]
# # 1c. Feature geometry, the phase change, and double descent
#
# *About 45–60 minutes. Prerequisites: section 1 (the toy model, `compute_dimensionality`); section 1b helps
# but is not needed.*
#
# Section 1 watched superposition appear as features got sparser. This section asks sharper questions,
# following Anthropic's [Toy Models of Superposition](https://transformer-circuits.pub/2022/toy_model/index.html):
#
# 1. **Feature geometry.** When many features of *equal* importance share a few dimensions, do they settle
#    into any arrangement at all, or into a few regular shapes? The paper found the dimensionality of each
#    feature sticking to simple fractions: 3/4, 2/3, 1/2, 2/5, 3/8 (and expects a line at 1 too, which
#    in the dense regime it could not see). We measure which of them our model finds, 1 included.
# 2. **The phase change.** In the smallest model with superposition (two features, one dimension), is the
#    move into superposition gradual, or a sudden switch between distinct solutions? We draw the paper's phase
#    diagram from trained models.
# 3. **Double descent** (optional). Trained on a finite set of data points instead of an endless stream,
#    does the model store the features, or the data points themselves? We measure the test loss against the
#    size of the training set.
#
# **What you will build:** `classify_phase`, which names the solution a trained 2 → 1 model found. Every
# exercise has a check cell under it; to check the whole notebook from a terminal:
# `python -m tests.grade notebooks/1c_geometry_and_phases.ipynb`.

# %% tags=["setup"] reference="bootstrap"
# Make this notebook work wherever it is opened. Inside the workbook's folder this only makes the
# folder importable. Opened alone (in Colab, or a fresh Jupyter), it first clones the workbook from
# WORKBOOK_GIT_URL and installs the few packages that Colab lacks (once; the torch already there is kept).
import os
import subprocess
import sys
from pathlib import Path

# Set by `python -m utils.build --git-url URL` (see README, "Teaching with it"); the environment variable
# WORKBOOK_GIT_URL, where set, takes precedence.
WORKBOOK_GIT_URL = ""
CLONE_TO = Path(os.environ.get("WORKBOOK_DIR") or ("/content/workbook" if "google.colab" in sys.modules
                                                   else "superposition-workbook")).resolve()


def find_workbook() -> Path | None:
    for folder in [Path.cwd(), *Path.cwd().parents, CLONE_TO]:
        if (folder / "utils" / "build.py").exists():
            return folder
    return None


WORKBOOK = find_workbook()
git_url = os.environ.get("WORKBOOK_GIT_URL") or WORKBOOK_GIT_URL
if WORKBOOK is None and git_url:
    print(f"fetching the workbook from {git_url} into {CLONE_TO} (once) ...")
    subprocess.run(["git", "clone", "--quiet", "--depth=1", git_url, str(CLONE_TO)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-r",
                    str(CLONE_TO / "utils" / "requirements-colab.txt")], check=True)
    WORKBOOK = find_workbook()
if WORKBOOK is None:
    raise RuntimeError("Cannot find the workbook's folder (the one with utils/, solutions/ and tests/): open this"
                       " notebook from inside it, or set WORKBOOK_GIT_URL (an environment variable, or"
                       " `python -m utils.build --git-url URL`) to the course's git repository.")
if str(WORKBOOK) not in sys.path:
    sys.path.insert(0, str(WORKBOOK))

# %% tags=["setup"]
import itertools
import math

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor
from torch.nn import functional as F

import utils
from solutions.geometry import PHASES
from solutions.toy_model import ToyModel, ToyModelConfig, compute_dimensionality, linear_lr, optimize, optimizer_step
from tests.checks.geometry import check_classify_phase
from utils.device import get_device
from utils.progress import progress_bar
from utils.threads import torch_threads

utils.use_offline_renderer()
utils.set_seed(0)
device = get_device()
print("running on", device)


# %% [markdown]
# ## 1. Feature geometry
#
# Section 1 gave its features importances falling a hundredfold, and found the dimensionalities
# $D_i = \lVert W_i\rVert^2 / \sum_j (\hat W_i\cdot W_j)^2$ (your `compute_dimensionality`, imported here from
# the reference) only partly sticking to simple fractions. The paper's plot gave **every feature the same
# importance** and used many sparsity levels. We do the same: 16 instances of a 100 → 10 model, every
# feature of importance 1, feature probability from 0.75 (dense) down to 0.2.
#
# What would each fraction mean? A feature's $D$ is 1 when it has a dimension to itself, and $k/n$ when $n$
# features share $k$ dimensions in a regular shape: 3/4 a tetrahedron (4 features in 3 dimensions), 2/3 a
# triangle, 1/2 an antipodal pair, 2/5 a pentagon, 3/8 a square antiprism (8 features in 3 dimensions).

# %% tags=["experiment"]
utils.set_seed(0)
cfg_geo = ToyModelConfig(n_instances=16, n_features=100, n_hidden=10)
p_geo = 0.75 * (0.2 / 0.75) ** torch.linspace(0, 1, cfg_geo.n_instances)  # 0.75 down to 0.2, log-spaced
model_geo = ToyModel(cfg_geo, feature_probability=p_geo, importance=1.0)
optimize(model_geo, batch_size=256, steps=6_000, lr=3e-3, lr_scale=linear_lr)

# %% [markdown]
# The plot: each grey dot is one represented feature's $D_i$ (length $\lVert W_i\rVert > 0.5$; a nearly
# dropped feature's $D$ divides one tiny number by another and means nothing), the line the paper's
# "dimensions per feature" $n_\text{hidden} / \lVert W\rVert_F^2$ (one number per instance), against $1/p$. The table counts, in
# every instance, the represented features ($\lVert W_i\rVert > 0.5$) and how many of them lie within 0.012 of
# each fraction (half the gap between 2/5 and 3/8).

# %% tags=["experiment"]
fractions = {"1": 1, "3/4": 3 / 4, "2/3": 2 / 3, "1/2": 1 / 2, "2/5": 2 / 5, "3/8": 3 / 8}
utils.plot_dimensions_per_feature(model_geo.W, p_geo, fractions=fractions, min_norm=0.5,
                                  title="Feature dimensionality, equal importance: dense (left) to sparse").show()

W_geo = model_geo.W.detach().cpu()
represented = W_geo.norm(dim=1) > 0.5  # [inst, feat]
dims_geo = compute_dimensionality(W_geo)  # [inst, feat]
near = (dims_geo[..., None] - torch.tensor(list(fractions.values()))).abs() < 0.012  # [inst, feat, fraction]
near &= represented[..., None]
print("    p  represented  dims/feature  " + "".join(f"{name:>5}" for name in fractions) + "  none")
for i in range(cfg_geo.n_instances):
    counts = near[i].sum(0).tolist()
    none = int((represented[i] & ~near[i].any(-1)).sum())
    print(f"{p_geo[i]:.3f}  {int(represented[i].sum()):11d}  {cfg_geo.n_hidden / W_geo[i].pow(2).sum():12.3f}  "
          + "".join(f"{c:5d}" for c in counts) + f"{none:6d}")
total = near.sum((0, 1)).tolist()
print(f"all   {int(represented.sum()):11d}  {'':12}  " + "".join(f"{c:5d}" for c in total)
      + f"{int((represented & ~near.any(-1)).sum()):6d}")
print(f"p = {p_geo[0]:.3f}, the represented features' D:",
      sorted(round(d, 3) for d in dims_geo[0][represented[0]].tolist()))


# %% [markdown]
# **What to see.** Four of the paper's five fractions, and the way one gives way to the next:
#
# - **2/3 at the dense end.** At p = 0.69 and 0.63, 7 features sit at 2/3, a triangle's value (three
#   features in two dimensions); the counts per instance need not make whole triangles.
# - **1/2, a wide plateau.** From p = 0.53 to 0.26 (nine instances), 164 of the 169 represented features sit
#   at 1/2, the value of an antipodal pair; the other 5 are at 2/5, all at p = 0.285. Each instance keeps 18
#   to 21 features (8 to 10 pairs in 10 dimensions) and leaves the other 80-odd shorter than 0.5. The dimensions per feature moves only between
#   0.47 and 0.58 over that whole range: the curve is nearly flat there, as in the paper.
# - **2/5 and 3/8, sparser.** From p = 0.29 to 0.20, pentagons (2/5) and square antiprisms (3/8) take over
#   from the pairs, most instances there holding a mix of shapes.
# - **1 and 3/4: not here.** At the dense end few features reach a length of 0.5 at all: at p = 0.75 the
#   squared lengths add up to about 10, one per dimension, yet only 7 features are longer than 0.5. With
#   equal importances no feature has a better claim to a dimension of its own than another, and the model
#   spreads the dimensions thinly across many. The paper's tetrahedra (3/4) would sit on the dense side of
#   the triangles, where ours has few represented features. None is within 0.012 of 3/4 after 6,000 steps;
#   the last line printed shows the densest instance's features between 2/3 and 3/4: not a tetrahedron
#   yet, perhaps one on the way.
#
# Going further: train only the dense end (`p` from 0.75 to 0.55) several times as long, and count again.

# %% [markdown]
# ## 2. The phase change
#
# The smallest model with superposition: **two features, one hidden dimension**, $W$ of shape `[inst, 1, 2]`.
# Feature 0 has importance 1; feature 1, the "extra" feature, has importance $r$. Both are present with
# probability $p$. A trained model ends in one of three solutions, named after what happens to the extra
# feature:
#
# | code | phase | weights | meaning |
# |---|---|---|---|
# | 0 | not represented | $W \approx [w, 0]$ (or $[0, 0]$) | the extra feature is dropped, whatever feature 0 does |
# | 1 | dedicated dimension | $W \approx [0, w]$ | the extra feature takes the dimension; feature 0 is dropped |
# | 2 | superposition | $W \approx [w, -v]$ | both share the dimension (trained models point them opposite ways) |
#
# The paper found that which one wins changes **abruptly** as $r$ and $p$ vary, like the phases of water:
# within a region the solution stays the same shape; at a boundary it jumps. Before drawing the map, we need
# a way to read off each trained model's phase.
#
# ### Exercise 1: `classify_phase`
#
# > **Difficulty** 2/5 · **Estimated time** 10 min · **Why it matters:** the phase diagram is this classification over a grid of sparsities and importances: each of its cells is one call.
#
# Given `W` of shape `[inst, 1, 2]`, return one code per instance (int64, shape `[inst]`) as in the table. A
# feature counts as represented when the **length** of its weight, $|W_{\text{inst}, 0, i}|$, is above
# `threshold` (0.5 by default; the check also passes other values). Mind the signs: a negative weight is as
# represented as a positive one, and the code depends only on which features are represented, not on their
# signs (two represented features of the same sign are code 2 too).
#
# *Hint:* `represented = W[:, 0, :].abs() > threshold` gives a `[inst, 2]` boolean tensor; two nested
# `torch.where` turn its two columns into the codes. What should an instance where *neither* feature is
# represented get?

# %% tags=["exercise"] reference="geometry:classify_phase"
def classify_phase(W: Float[Tensor, "inst 1 2"], threshold: float = 0.5) -> Int[Tensor, " inst"]:
    """Which solution each instance of a 2-feature, 1-dimension model found, named after what happened to
    the extra feature (feature 1). A feature is represented when the length of its weight, |W[inst, 0, i]|,
    is above `threshold`.

    returns one code per instance (int64):
        0  not represented: feature 1 is not represented (whatever feature 0 does)
        1  dedicated dimension: feature 1 is represented and feature 0 is not
        2  superposition: both are represented
    """
    raise NotImplementedError("classify_phase: not implemented yet")


# %% tags=["check"]
check_classify_phase(classify_phase)


# %% [markdown]
# ### Training a whole phase diagram at once
#
# Every cell of the diagram, a pair $(p, r)$, is one instance; we train them all together. Two things make
# this cheap enough for a laptop, and clean enough to read (both given below):
#
# - **The loss is averaged over presence patterns exactly.** Whether superposition pays depends on how often
#   *both* features are present, which happens with probability $p^2$: at $p = 0.01$, once in 10,000 inputs,
#   so a sampled batch of 1,024 shows it about once in ten steps. `PhaseModel.expected_loss` instead
#   evaluates all four patterns (neither, only feature 0, only feature 1, both) on every step and weights
#   each by its probability; only the values of the present features are sampled.
# - **Several starts per cell, and the lowest final loss wins.** Gradient descent can stop in a local
#   minimum: a model that starts with the extra feature at zero may never find out that superposition
#   would be better. Each cell is trained from three random starts and from one start near each of the
#   three solutions; at the end we compare the losses on the same fixed grid of values.

# %% tags=["given"] reference="geometry:PhaseModel"
class PhaseModel(ToyModel):
    """Section 1's toy model, trained on the loss averaged exactly over which features are present.

    Each of the 2^n_features presence patterns (which features are present) is weighted by its
    probability, and only the values of present features are sampled (uniform in [0, 1)).
    """

    def presence_patterns(self) -> Float[Tensor, "pattern feat"]:
        """Every 0/1 pattern of present features: [0, 0], [0, 1], [1, 0], [1, 1] for two features."""
        if self.cfg.n_features > 12:
            raise ValueError(f"PhaseModel enumerates all 2^n_features presence patterns: meant for a few features,"
                             f" not {self.cfg.n_features}")
        patterns = list(itertools.product([0.0, 1.0], repeat=self.cfg.n_features))
        return torch.tensor(patterns, device=self.W.device)

    def pattern_probabilities(self) -> Float[Tensor, "pattern inst"]:
        """P(pattern) per instance: features are independent, so multiply p (present) or 1 - p (absent)."""
        patterns = self.presence_patterns()[:, None, :]  # [pattern, 1, feat]
        p = self.feature_probability[None]  # [1, inst, feat]
        return (patterns * p + (1 - patterns) * (1 - p)).prod(-1)

    def expected_loss(self, values: Float[Tensor, "batch inst feat"]) -> Float[Tensor, " inst"]:
        """Each instance's loss averaged over the presence patterns (exactly, weighted by probability) and
        over `values` (the values present features take; [batch, 1, feat] shares them across instances)."""
        patterns = self.presence_patterns()
        x = einops.einsum(values, patterns, "batch inst feat, pattern feat -> pattern batch inst feat")
        error = self.importance * (x - self(x)) ** 2
        per_pattern = einops.reduce(error, "pattern batch inst feat -> pattern inst", "mean")
        return (per_pattern * self.pattern_probabilities()).sum(0)

    def value_grid(self, n: int = 32) -> Float[Tensor, "batch 1 feat"]:
        """Midpoints of an n x n x ... grid on [0, 1)^n_features: a deterministic stand-in for random values,
        so that the final losses of different starts are compared on exactly the same inputs."""
        points = (torch.arange(n, device=self.W.device) + 0.5) / n
        grid = torch.cartesian_prod(*[points] * self.cfg.n_features).reshape(-1, self.cfg.n_features)
        return grid[:, None, :]


# %% tags=["given"] reference="geometry:train_expected_loss"
def train_expected_loss(model: PhaseModel, steps: int = 3_000, batch_size: int = 64, lr: float = 1e-2) -> None:
    """Adam on the summed expected loss of every instance, with a linearly decaying learning rate."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    shape = (batch_size, model.cfg.n_instances, model.cfg.n_features)
    with torch_threads(1):  # tiny operations: one thread is as fast and does not stall on a busy machine
        for step in progress_bar(range(steps), desc="Training 2 -> 1 models"):
            for group in optimizer.param_groups:
                group["lr"] = lr * linear_lr(step, steps)
            loss = model.expected_loss(torch.rand(shape, device=model.W.device)).sum()
            optimizer_step(optimizer, loss, step, lr)


# %% [markdown]
# Ten feature probabilities from 1 down to 0.01, ten relative importances from 0.1 to 10, six starts: 600
# instances of a 2 → 1 model.

# %% tags=["experiment"]
utils.set_seed(0)
probabilities = 100 ** -torch.linspace(0, 1, 10)  # 1 (dense) down to 0.01
ratios = 10 ** torch.linspace(-1, 1, 10)  # the extra feature's importance relative to feature 0
P, R = torch.meshgrid(probabilities, ratios, indexing="ij")  # [n_p, n_r] each
n_cells = P.numel()
starts = {"random 1": None, "random 2": None, "random 3": None,
          "not represented": [1.0, 0.0], "dedicated dimension": [0.0, 1.0], "superposition": [1.0, -1.0]}
n_starts = len(starts)
cfg_phase = ToyModelConfig(n_instances=n_starts * n_cells, n_features=2, n_hidden=1)
importance = torch.stack([torch.ones(n_cells), R.flatten()], dim=-1).repeat(n_starts, 1)  # [inst, 2]
model_phase = PhaseModel(cfg_phase, feature_probability=P.flatten().repeat(n_starts), importance=importance)
with torch.no_grad():  # instance k * n_cells + c is start k of cell c
    for k, w in enumerate(starts.values()):
        if w is not None:  # a start near one solution: its weights plus a little noise, bias 0
            noise = 0.05 * torch.randn(n_cells, 2, device=model_phase.W.device)
            model_phase.W[k * n_cells:(k + 1) * n_cells, 0] = torch.tensor(w, device=model_phase.W.device) + noise
train_expected_loss(model_phase, steps=3_000)

with torch.no_grad():
    final_loss = model_phase.expected_loss(model_phase.value_grid()).reshape(n_starts, n_cells).cpu()
phase_all = classify_phase(model_phase.W.detach()).reshape(n_starts, n_cells).cpu()  # [start, cell]
best = final_loss.argmin(0)  # [cell]: the start with the lowest loss
phase = phase_all[best, torch.arange(n_cells)].reshape(P.shape)  # [n_p, n_r]

# %% tags=["experiment"]
utils.plot_phase_diagram(phase, probabilities, ratios, PHASES,
                         title="Which solution wins: 2 features, 1 dimension").show()
for k, name in enumerate(PHASES):
    print(f"{name}: {int((phase == k).sum())} of {n_cells} cells")
for i, p in enumerate(probabilities.tolist()):
    sup = ratios[phase[i] == 2]
    where = f"r from {sup.min():.2f} to {sup.max():.2f}" if len(sup) else "none"
    print(f"p = {p:.3f}: superposition for {where}")
row = 2  # p = 0.36: walk across the importances and watch the weights jump at the boundaries
W_best = model_phase.W.detach()[:, 0, :].cpu().reshape(n_starts, n_cells, 2)[best, torch.arange(n_cells)]
print(f"\nbest weights [w_0, w_1] at p = {probabilities[row]:.3f}:")
for j, r in enumerate(ratios.tolist()):
    w0, w1 = W_best.reshape(*P.shape, 2)[row, j].tolist()
    print(f"  r = {r:5.2f}: [{w0:+.2f}, {w1:+.2f}]  {PHASES[phase[row, j]]}")

# %% [markdown]
# **What to see.** The paper's three regions:
#
# - **Dense features** (p = 1 and 0.6): no cell of the grid ends in superposition. The extra feature is dropped
#   while it matters less than feature 0 (r ≤ 0.77) and takes the dimension from feature 0 once it matters
#   more (r ≥ 1.29). Between those two columns the grid has no cell, and at p = 0.6 that gap hides a narrow
#   band of superposition: the last cell of this part trains r = 1 there.
# - **Sparser**, superposition takes over from the middle outwards: at p = 0.36 it wins for r from 0.28 to
#   3.59, at p = 0.22 from 0.17 to 5.99, and from p = 0.13 down for every importance on the grid, 0.1 to 10.
#   The sparser the features, the rarer the interference, and the less the extra feature has to matter to
#   be worth storing.
# - **A change of phase, not a slide.** Walking across p = 0.36, the extra feature's weight is 0.00 at
#   r = 0.17 and −0.72 one cell later, at r = 0.28; at the other end, feature 0's weight goes from 0.71 to
#   0.00 between r = 3.59 and 5.99. No cell of the grid holds anything in between: within a region the
#   solution keeps its shape (two weights of opposite signs; which one is positive is chance), and at a
#   boundary it jumps to another. A finer grid would place the boundaries more exactly; the paper shows they
#   are sharp.
#
# How much did the extra starts matter? The cell below compares the three random starts with the best of all six.

# %% tags=["experiment"]
random_phase = phase_all[:3]
disagree = (random_phase != random_phase[0]).any(0)
best_random = final_loss[:3].argmin(0)
wrong = phase_all[best_random, torch.arange(n_cells)] != phase.flatten()
excess = final_loss[best_random, torch.arange(n_cells)] / final_loss.min(0).values
print(f"cells where the three random starts end in different phases: {int(disagree.sum())} of {n_cells}")
print(f"cells where the best random start is in the wrong phase: {int(wrong.sum())};"
      f" its loss there is up to {excess[wrong].max():.0f} times the best" if wrong.any() else "")


# %% [markdown]
# **Local minima are common.** In 40 of the 100 cells the three random starts did not even agree on the phase:
# training stops in whichever solution is nearest, not in the best one. Keeping the best of the three still
# left 4 cells in the wrong phase, with a loss up to 84 times that of the best solution: a start can stay
# near a solution that is not the best (for example, an extra feature that starts near zero can stay
# there where superposition would be better). Hence the starts
# near each solution. When you train a model once and read off "the" solution, remember this cell.
#
# **Between the grid's columns.** A grid shows the phases only where it has cells. At p = 0.6 it has none
# between r = 0.77 and 1.29, where the two dense solutions trade places. Here is r = 1 at p = 0.6, trained
# from the same six kinds of start, with the lowest expected loss each phase reached:

# %% tags=["experiment"]
utils.set_seed(0)
p_gap = probabilities[1]  # 0.599, the grid's second row
model_gap = PhaseModel(ToyModelConfig(n_instances=n_starts, n_features=2, n_hidden=1),
                       feature_probability=p_gap.repeat(n_starts), importance=torch.ones(n_starts, 2))
with torch.no_grad():
    for k, w in enumerate(starts.values()):
        if w is not None:
            model_gap.W[k, 0] = torch.tensor(w, device=model_gap.W.device) + 0.05 * torch.randn(2, device=model_gap.W.device)
train_expected_loss(model_gap, steps=3_000)
with torch.no_grad():
    loss_gap = model_gap.expected_loss(model_gap.value_grid()).cpu()
phase_gap = classify_phase(model_gap.W.detach()).cpu()
print(f"p = {p_gap:.3f}, r = 1:")
for k, name in enumerate(PHASES):
    reached = phase_gap == k
    print(f"  {name}: " + (f"lowest loss {loss_gap[reached].min():.4f}" if reached.any() else "no start ended here"))

# %% [markdown]
# At r = 1 superposition has the lowest loss even at p = 0.6, where the grid showed none: the band is there,
# narrow, between two columns. The boundaries in the diagram are only as exact as its grid.

# %% [markdown]
# ## 3. Double descent (optional)
#
# Everything so far trained on fresh data every step: an endless stream. Real models see a finite
# training set. Anthropic's follow-up, [Superposition, Memorization, and Double
# Descent](https://transformer-circuits.pub/2023/toy-double-descent/index.html), trains the same toy model on
# $T$ fixed data points and finds that the model switches strategy as $T$ grows: with few points it stores
# the **data points** themselves in superposition (memorising them); with many it stores the **features**
# (generalising). In between, neither works well, and the **test loss peaks**: more data makes the model
# worse before it makes it better. That is double descent.
#
# Our version, sized for a laptop: 200 features, 2 hidden dimensions, each feature present with probability
# 0.025 (about 5 per data point), every data point scaled to length 1 as in the paper. Fifteen training-set
# sizes $T$ from 3 to 800, each one instance, trained full-batch for 4,000 steps with AdamW (weight decay
# 0.01, a short warmup, then a cosine decay). The training sets are nested: instance $T$ trains on the first
# $T$ points of one pool. We do it for two pools (two seeds). The test loss is measured on
# 10,000 fresh points and shown relative to the loss of a model that always outputs 0.

# %% tags=["given"] reference="geometry:normalised_sparse_data"
def normalised_sparse_data(n_points: int, n_features: int, p: float,
                           generator: torch.Generator | None = None) -> Float[Tensor, "point feat"]:
    """Section 1's sparse features (present with probability p, uniform in [0, 1) when present), each data
    point scaled to length 1 as in the double descent paper (a point with no feature present stays 0)."""
    values = torch.rand(n_points, n_features, generator=generator)
    x = torch.where(torch.rand(n_points, n_features, generator=generator) < p, values, 0.0)
    return x / x.norm(dim=-1, keepdim=True).clamp(min=1e-8)


# %% tags=["given"] reference="geometry:warmup_cosine_lr"
def warmup_cosine_lr(step: int, steps: int, warmup: float = 0.05) -> float:
    """Linear warmup over the first `warmup` share of the steps, then cosine decay to 0."""
    n_warmup = max(1, int(warmup * steps))
    if step < n_warmup:
        return (step + 1) / n_warmup
    return 0.5 * (1 + math.cos(math.pi * (step - n_warmup) / max(1, steps - n_warmup)))


# %% tags=["given"] reference="geometry:reconstruct"
def reconstruct(W: Float[Tensor, "inst hidden feat"], b: Float[Tensor, "inst feat"],
                x: Float[Tensor, "point feat"]) -> Float[Tensor, "point inst feat"]:
    """The toy model's ReLU(W^T W x + b) for points shared by every instance (no copy of x per instance)."""
    hidden = einops.einsum(x, W, "point feat, inst hidden feat -> point inst hidden")
    return F.relu(einops.einsum(hidden, W, "point inst hidden, inst hidden feat -> point inst feat") + b)


# %% tags=["given"] reference="geometry:size_buckets"
def size_buckets(sizes: list[int], ratio: float = 4.0) -> list[list[int]]:
    """Consecutive instances whose training-set sizes differ by at most `ratio`: each bucket is padded to its
    largest set, so small sets do not pay for the largest one."""
    buckets: list[list[int]] = []
    for i, size in enumerate(sizes):
        if buckets and size <= ratio * sizes[buckets[-1][0]]:
            buckets[-1].append(i)
        else:
            buckets.append([i])
    return buckets


# %% tags=["given"] reference="geometry:train_on_finite_sets"
def train_on_finite_sets(model: ToyModel, pool: Float[Tensor, "point feat"], sizes: list[int], steps: int = 4_000,
                         lr: float = 5e-3, weight_decay: float = 1e-2) -> None:
    """Train instance i of `model` on the first sizes[i] points of `pool` only, the whole set every step
    (full batch), with AdamW and a warmup-then-cosine learning rate. Every instance sees the same pool, so
    the training sets are nested: a bigger set holds every point of a smaller one. `sizes` must increase."""
    if len(sizes) != model.cfg.n_instances or max(sizes) > len(pool) or sorted(sizes) != list(sizes):
        raise ValueError(f"need one training-set size per instance ({model.cfg.n_instances}), increasing, each at"
                         f" most the pool's {len(pool)} points; got {sizes}")
    pool = pool.to(model.W.device)
    batches = []  # per bucket: its instances, its points, and weight[t, i] = 1 / T_i on instance i's points
    for bucket in size_buckets(sizes):
        T = torch.tensor([sizes[i] for i in bucket], device=pool.device)
        rows = torch.arange(int(T.max()), device=pool.device)[:, None]
        batches.append((bucket[0], bucket[-1] + 1, pool[: int(T.max())], (rows < T).float() / T))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    with torch_threads(1):
        for step in progress_bar(range(steps), desc="Training on finite sets"):
            for group in optimizer.param_groups:
                group["lr"] = lr * warmup_cosine_lr(step, steps)
            loss = 0.0
            for first, last, x, weight in batches:
                out = reconstruct(model.W[first:last], model.b_final[first:last], x)
                loss = loss + (((out - x[:, None, :]) ** 2).mean(-1) * weight).sum()  # mean over features
            optimizer_step(optimizer, loss, step, lr)


# %% tags=["given"] reference="geometry:loss_on"
def loss_on(model: ToyModel, points: Float[Tensor, "point feat"], chunk: int = 2_000) -> Float[Tensor, " inst"]:
    """Each instance's mean squared error (over points and features) on `points`, e.g. a test set."""
    total = torch.zeros(model.cfg.n_instances, device=model.W.device)
    with torch.no_grad():
        for start in range(0, len(points), chunk):
            x = points[start:start + chunk].to(model.W.device)
            total += ((reconstruct(model.W, model.b_final, x) - x[:, None, :]) ** 2).mean(-1).sum(0)
    return total / len(points)


# %% tags=["experiment"]
utils.set_seed(0)
sizes = [3, 5, 8, 13, 20, 30, 50, 80, 100, 130, 160, 200, 300, 500, 800]
n_dd, p_dd = 200, 0.025
test_points = normalised_sparse_data(10_000, n_dd, p_dd, torch.Generator().manual_seed(999))
zero_loss = (test_points**2).mean().item()  # the test loss of always answering 0
runs = []
for seed in [0, 1]:
    pool = normalised_sparse_data(max(sizes), n_dd, p_dd, torch.Generator().manual_seed(1000 + seed))
    model_dd = ToyModel(ToyModelConfig(n_instances=len(sizes), n_features=n_dd, n_hidden=2))
    train_on_finite_sets(model_dd, pool, sizes, steps=4_000)
    runs.append((pool, model_dd, loss_on(model_dd, test_points).cpu() / zero_loss))

# %% tags=["experiment"]
relative = torch.stack([r for _, _, r in runs])  # [seed, size]
peaks = [sizes[int(r.argmax())] for r in relative]
small, large = torch.tensor(sizes) <= 20, torch.tensor(sizes) >= 300
print(f"highest test loss at T = {peaks[0]} (seed 0) and T = {peaks[1]} (seed 1)")
print(f"T <= 20, every test loss between 0.95 and 1.2 of the zero loss: {bool(relative[:, small].sub(1.075).abs().max() < 0.125)}")
print(f"T >= 300, every test loss below the zero loss: {bool((relative[:, large] < 1).all())}")
print(f"the peak at least 3 times the zero loss in both seeds: {bool((relative.max(-1).values >= 3).all())}")

# %% [markdown]
# The curves, and the numbers behind them. (Near the peak, training on a set that barely fits is unstable: a
# change in the last bits of the arithmetic moves the peak's height by several percent, so the course's
# verification does not compare this cell. The lines above, which hold, it does compare.)

# %% tags=["experiment", "nbval-ignore-output"]
utils.plot_test_loss_curves(sizes, {f"seed {k}": relative[k] for k in range(len(runs))},
                            title="Double descent: test loss against the number of training points").show()
print("    T   test loss / zero-output loss (seed 0, seed 1)")
for j, T in enumerate(sizes):
    print(f"{T:5d}   {relative[0, j]:.2f}  {relative[1, j]:.2f}")

# %% [markdown]
# **What to see.** Both seeds draw the same shape:
#
# - **T ≤ 20:** the test loss stays close to that of answering 0 (between 0.95 and 1.2; this run's table:
#   0.99 to 1.12). The model fits its few
#   points and has learned little that carries over to new ones.
# - **T = 30 to 200:** it rises above it, highest at T = 160 in both seeds, several times the zero loss
#   (the table gives this run's heights; they differ from machine to machine, the place did not). More data
#   made the model worse.
# - **T ≥ 300:** it falls just below 1 (this run's table: 0.96 to 0.97) and stays there: the model now does
#   a little better on new points than answering 0. Only a little, and not much more can be expected: two
#   dimensions hold about six of the 200 features (the hexagon below), and the 200 are alike, so
#   reconstructing those six perfectly would remove 6/200 = 3% of the zero-output loss, and the bias, set
#   near each feature's average, a little more: a few percent in all, the size of what is measured.
#   Generalising here means storing features rather than training points, not reconstructing new points well.
#
# The curve is jagged near the peak (in this run's table, in both seeds T = 130 is lower than its
# neighbours), and the paper's first descent is barely there in ours: from T = 3 to 5 the loss falls only
# from 1.12 and 1.08 to 0.99 (this run's table). What
# repeats is the rise to a peak near T = 160 and the fall after it.
#
# **What is stored: data points or features?** For T = 5 and the largest training set of seed 0, the
# plots show the hidden vectors $h_t = W x_t$ of training points (up to 20 of them) and the 20 longest
# feature directions $W_j$; the cell prints their lengths, and those of fresh points.

# %% tags=["experiment"]
def angle_gaps(V: Float[Tensor, "2 n"]) -> Tensor:
    """Going round the circle, the angle (degrees) from each direction to the next: a regular n-gon has all 360/n."""
    angles = torch.atan2(V[1], V[0]).sort().values
    return torch.diff(torch.cat([angles, angles[:1] + 2 * math.pi])).rad2deg()


pool, model_dd, _ = runs[0]
vectors, titles = [], []
for j in [sizes.index(5), len(sizes) - 1]:
    T = sizes[j]
    W_j = model_dd.W.detach()[j].cpu()  # [hidden, feat]
    h_train = W_j @ pool[:T].T  # [hidden, T]: the hidden vectors of the training points
    h_fresh = W_j @ test_points[:2_000].T
    longest = W_j.norm(dim=0).topk(20).indices
    shown = torch.zeros(2, 20)  # up to 20 training points; zero columns draw nothing
    shown[:, :min(T, 20)] = h_train[:, :20]
    vectors += [shown, W_j[:, longest]]
    titles += [f"T = {T}: training points W x_t", f"T = {T}: 20 longest features W_j"]
    long_h, long_f = h_train[:, h_train.norm(dim=0) > 0.5], W_j[:, W_j.norm(dim=0) > 0.5]
    print(f"T = {T}: mean |W x| of training points {h_train.norm(dim=0).mean():.2f}, of fresh points"
          f" {h_fresh.norm(dim=0).mean():.2f}")
    print(f"  {long_h.shape[1]} training points with |W x| > 0.5; angles between neighbours (degrees):",
          [round(a, 1) for a in angle_gaps(long_h).tolist()] if long_h.shape[1] <= 8 else "(more than 8)")
    print(f"  {long_f.shape[1]} features with |W_j| > 0.5; angles between neighbours (degrees):",
          [round(a, 1) for a in angle_gaps(long_f).tolist()] if long_f.shape[1] <= 8 else "(more than 8)")
utils.plot_features_in_2d(torch.stack(vectors), subplot_titles=titles, n_rows=1,
                          title="Memorising (small T) vs generalising (large T)").show()

# %% [markdown]
# **Memorising, then generalising.** With T = 5 the model stores the **data points**: the five training points'
# hidden vectors are long (1.23 on average, against 0.13 for fresh points) and 70° to 74° apart, a
# near-regular pentagon (360/5 = 72°): the data points are in superposition. With T = 800 it stores
# **features**: six of them form a near-regular hexagon (57° to 63° apart; 360/6 = 60°), and training points
# are barely longer in the hidden space than fresh ones (0.14 against 0.09, where T = 5 had 1.23 against 0.13). Between the two regimes the model has
# too many points to memorise and too few to find the features, and the test loss peaks.

# %% [markdown]
# ## Summary
#
# - Features of **equal importance** settle into regular shapes: here a few triangles (dimensionality 2/3),
#   then antipodal pairs (1/2) over a wide range of sparsity, then pentagons (2/5) and square antiprisms
#   (3/8). The paper also found tetrahedra (3/4), and expects features with a dimension each (1); our run
#   shows neither.
# - Superposition is a **phase**: which solution a 2 → 1 model ends in changes abruptly with importance and
#   sparsity, and the sparser the features, the wider the range of importances where superposition wins.
# - Training often stops in a **local minimum**: compare several starts before believing a solution.
# - On a **finite training set**, a small model memorises few data points (the points are in superposition)
#   and generalises from many (the features are), and its test loss peaks in between: double descent.
#
# **Questions to think about:**
# 1. In the phase diagram, why does the superposition region widen as p falls? Estimate how often the two
#    features are present together at p = 0.36 and at p = 0.01.
# 2. Why does a feature's dimensionality stick at 1/2 over such a wide range of sparsity, rather than falling
#    smoothly as the dimensions per feature does in section 1?
# 3. In the double descent experiment, what would weight decay do to the memorising solution? (Try
#    `weight_decay=0.1`.)
