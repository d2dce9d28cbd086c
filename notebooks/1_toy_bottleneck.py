# %% [markdown]
# # 1. The toy bottleneck: superposition in a model you can see
#
# *About 60–90 minutes. Prerequisites: PyTorch basics, matrix multiplication, what a ReLU is.*
#
# A neural network often has to represent **more features than it has dimensions**. Anthropic's
# [Toy Models of Superposition](https://transformer-circuits.pub/2022/toy_model/index.html) shows the
# smallest model where this happens: `n_features` inputs are squeezed through a matrix `W` into
# `n_hidden < n_features` dimensions, then read back out with `W`'s transpose:
#
# $$h = W x, \qquad x' = \mathrm{ReLU}(W^\top h + b).$$
#
# When features are **dense** (present most of the time), the model keeps the `n_hidden` most important
# ones and drops the rest, like PCA. When they are **sparse** (rarely present), it stores *more* features
# than it has dimensions, at angles to each other, and uses the ReLU to filter out the small interference.
# That is **superposition**, and it is why sections 2–4 need sparse autoencoders to pull features back out.
#
# **What you will build:** the model's `forward`, its data (`generate_batch`) and its loss
# (`calculate_loss`), for *many models at once*. Then you will train it, watch superposition appear, and
# measure how much of a dimension each feature gets (`compute_dimensionality`).
#
# Every exercise is followed by a check cell. A green ✓ means your code matches the reference on a
# config different from the notebook's; a red ✗ names what is wrong. To check the whole notebook from a
# terminal: `python -m tests.grade notebooks/1_toy_bottleneck.ipynb`.

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
import math
from dataclasses import dataclass

import einops
import torch
from jaxtyping import Float
from torch import Tensor, nn
from torch.nn import functional as F

import utils
from tests.checks.toy_model import (
    check_calculate_loss,
    check_compute_dimensionality,
    check_forward,
    check_generate_batch,
)
from utils.device import get_device
from utils.progress import progress_bar
from utils.threads import threads_for, torch_threads

utils.use_offline_renderer()
utils.set_seed(0)
device = get_device()
print("running on", device)

# %% [markdown]
# ## The model
#
# We train **many instances at once**: `n_instances` independent toy models stacked in one tensor.
# They share nothing but the tensor; each has its own weights, its own feature probability (how
# sparse its features are) and its own importance per feature. One training run therefore sweeps a
# whole range of sparsities. Every tensor carries an `inst` axis for this:
#
# | tensor | shape |
# |---|---|
# | `W` | `[n_instances, n_hidden, n_features]` |
# | `b_final` | `[n_instances, n_features]` |
# | `feature_probability`, `importance` | `[n_instances, n_features]` |
# | a batch of features | `[batch, n_instances, n_features]` |
#
# `ToyModel(cfg, feature_probability, importance)` accepts a float, a `[n_instances]` tensor (one value
# per instance) or a `[n_instances, n_features]` tensor for both, and broadcasts them. Read the
# helper and the config; they are given.

# %% reference="toy_model:ToyModelConfig"
@dataclass
class ToyModelConfig:
    n_instances: int
    n_features: int = 5
    n_hidden: int = 2
    # Section 1b's data: pairs of features that fire together, or never together. This section's
    # generate_batch treats every feature as independent; section 1b's ToyModel uses these.
    n_correlated_pairs: int = 0
    n_anticorrelated_pairs: int = 0

# %% reference="toy_model:broadcast_to_instances"
def broadcast_to_instances(
    value: float | Tensor, cfg: ToyModelConfig, name: str
) -> Float[Tensor, "inst feat"]:
    """A float, a [n_instances] or a [n_instances, n_features] tensor, as [n_instances, n_features]."""
    inst, feat = cfg.n_instances, cfg.n_features
    value = torch.as_tensor(value, dtype=torch.float32)
    if value.ndim == 1:
        value = value[:, None]  # one value per instance, shared by its features
    if value.ndim > 2 or (value.ndim >= 1 and value.shape[0] not in (1, inst)) or (
        value.ndim == 2 and value.shape[1] not in (1, feat)
    ):
        raise ValueError(
            f"{name} must be a float, a [n_instances={inst}] or a [n_instances={inst}, n_features={feat}]"
            f" tensor; got shape {tuple(value.shape)}. (For one value per feature, shared by every"
            f" instance, pass a [1, n_features] tensor, e.g. {name}[None, :].)"
        )
    return value.expand(inst, feat).clone()

# %% [markdown]
# ### Exercise 1: `forward`
#
# > **Difficulty** 1/5 · **Estimated time** 10 min · **Why it matters:** every experiment in sections 1 and 1b runs this forward pass, and reading back with the same `W` is what lets features interfere.
#
# Implement `ToyModel.forward` in the cell below (leave `__init__` and the other two methods for now).
#
# - Input `features`: `[..., inst, feat]`. The `...` is any number of batch dimensions; `einops.einsum`
#   handles it if you write `...` in the pattern.
# - Compute `h = W x` (shape `[..., inst, hidden]`), then `W^T h` (back to `[..., inst, feat]`), add
#   `b_final`, apply a ReLU.
# - There is no transpose to write: `einops.einsum` names each axis, so "multiply by `W`" and
#   "multiply by `W^T`" are the same tensor with different axes summed over.
#
# *Hint:* `einops.einsum(features, self.W, "... inst feat, inst hidden feat -> ... inst hidden")`.
#
# Run the cell after each change, then run the check below it.

# %% tags=["exercise"] reference="toy_model:ToyModel"
class ToyModel(nn.Module):
    W: Float[Tensor, "inst hidden feat"]
    b_final: Float[Tensor, "inst feat"]
    # Both are buffers: they move with .to(device) but are not trained.
    feature_probability: Float[Tensor, "inst feat"]
    importance: Float[Tensor, "inst feat"]

    def __init__(
        self,
        cfg: ToyModelConfig,
        feature_probability: float | Tensor = 1.0,
        importance: float | Tensor = 1.0,
        device: str | torch.device | None = None,
    ):
        super().__init__()
        self.cfg = cfg
        feature_probability = broadcast_to_instances(feature_probability, cfg, "feature_probability")
        if not ((feature_probability >= 0) & (feature_probability <= 1)).all():
            raise ValueError("feature_probability must lie in [0, 1]")
        self.register_buffer("feature_probability", feature_probability)
        self.register_buffer("importance", broadcast_to_instances(importance, cfg, "importance"))

        # Xavier-normal for each instance's [n_hidden, n_features] matrix. (nn.init.xavier_normal_
        # on the stacked 3D tensor would count n_instances into the fan-out and shrink the init.)
        std = math.sqrt(2.0 / (cfg.n_hidden + cfg.n_features))
        self.W = nn.Parameter(torch.randn(cfg.n_instances, cfg.n_hidden, cfg.n_features) * std)
        self.b_final = nn.Parameter(torch.zeros(cfg.n_instances, cfg.n_features))
        self.to(get_device(device))

    def forward(self, features: Float[Tensor, "... inst feat"]) -> Float[Tensor, "... inst feat"]:
        """Compress with W, reconstruct with W^T, add the bias, ReLU.

        features: [..., n_instances, n_features] (any number of leading batch dims)
        returns:  [..., n_instances, n_features]
        """
        raise NotImplementedError("ToyModel.forward: not implemented yet")

    def generate_batch(self, batch_size: int) -> Float[Tensor, "batch inst feat"]:
        """Sparse random features: each one is present with probability `feature_probability`
        (per instance and feature), and when present its value is uniform in [0, 1).

        returns: [batch_size, n_instances, n_features]
        """
        raise NotImplementedError("ToyModel.generate_batch: not implemented yet")

    def calculate_loss(
        self,
        out: Float[Tensor, "batch inst feat"],
        batch: Float[Tensor, "batch inst feat"],
    ) -> Float[Tensor, ""]:
        """Importance-weighted squared error: mean over batch and features, summed over instances.

        Instances are independent models that merely share a tensor: summing their losses gives each
        one exactly the gradient it would get if trained alone (a mean would divide it by n_instances).
        """
        raise NotImplementedError("ToyModel.calculate_loss: not implemented yet")

# %% tags=["check"]
check_forward(ToyModel)

# %% [markdown]
# ### Exercise 2: `generate_batch`
#
# > **Difficulty** 2/5 · **Estimated time** 10 min · **Why it matters:** sparsity lives in the data: the probability you draw features with decides whether the model superposes them.
#
# The data are synthetic. Each feature of each instance is, independently:
# - **present** with probability `feature_probability[inst, feat]`, and then uniform in `[0, 1)`;
# - **absent** (exactly 0) otherwise.
#
# Return a `[batch_size, n_instances, n_features]` tensor on the model's device (`self.W.device`).
#
# *Hint:* two `torch.rand` calls of the batch's shape: one for the values, one compared with
# `self.feature_probability` (it broadcasts against `[batch, inst, feat]`) to decide which features
# are present. Why two? If you reuse one draw, only values below `p` can ever be present.

# %% tags=["check"]
check_generate_batch(ToyModel)

# %% [markdown]
# ### Exercise 3: `calculate_loss`
#
# > **Difficulty** 2/5 · **Estimated time** 10 min · **Why it matters:** the importance weights in the loss are how the model is told which features to keep when it cannot keep all.
#
# $$L = \sum_{\text{inst}} \;\frac{1}{B \cdot F} \sum_{b, f} I_{\text{inst}, f}\,\big(x_{b,\text{inst},f} - x'_{b,\text{inst},f}\big)^2$$
#
# The importance-weighted squared error, averaged over the batch and the features, then **summed over
# instances**.
#
# **Why sum over instances, not average?** The instances are independent models that happen to share a
# tensor. The gradient of a sum with respect to instance *i*'s weights is exactly the gradient of
# instance *i*'s own loss, as if it were trained alone. A mean would divide every instance's gradient by
# `n_instances`, so adding instances would quietly shrink every model's learning rate. (With Adam the
# scale mostly cancels, but with SGD it would not, and the printed loss would no longer be any
# instance's loss.)
#
# *Hint:* `einops.reduce(error, "batch inst feat -> inst", "mean").sum()`.

# %% tags=["check"]
check_calculate_loss(ToyModel)

# %% [markdown]
# ## Training
#
# `optimize` is given: Adam over all instances at once, with a progress bar showing the loss of each
# instance.

# %% tags=["given"] reference="toy_model:optimizer_step"
def optimizer_step(optimizer: torch.optim.Optimizer, loss: Tensor, step: int, lr: float) -> None:
    """One optimizer step; stops with a clear message instead of training on NaN once the loss diverges."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the loss became {loss.item()} at step {step}: try a smaller learning rate (lr={lr})")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


# %% tags=["given"] reference="toy_model:optimize"
def optimize(
    model: ToyModel,
    batch_size: int = 1024,
    steps: int = 10_000,
    lr: float = 1e-3,
    log_freq: int = 100,
    lr_scale=None,
) -> None:
    """Train every instance of `model` at once with Adam, showing each instance's loss in the bar."""
    lr_scale = lr_scale or constant_lr
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    bar = progress_bar(range(steps), desc="Training toy model")
    # A toy model's operations are tiny: one CPU thread runs them as fast as several, and does not stall
    # when the machine is busy (utils/threads.py explains why).
    cfg = model.cfg
    with torch_threads(threads_for(batch_size * cfg.n_instances * cfg.n_features * cfg.n_hidden)):
        for step in bar:
            for group in optimizer.param_groups:
                group["lr"] = lr * lr_scale(step, steps)
            batch = model.generate_batch(batch_size)
            out = model(batch)
            loss = model.calculate_loss(out, batch)
            optimizer_step(optimizer, loss, step, lr)
            if step % log_freq == 0 or step + 1 == steps:
                # Per-instance loss, for the bar: recomputed without the sum over instances.
                with torch.no_grad():
                    per_inst = (model.importance * (batch - out) ** 2).mean(dim=(0, 2))
                bar.set_postfix(loss=[round(x, 4) for x in per_inst.tolist()[:8]])

# %% tags=["given"] reference="toy_model:constant_lr"
def constant_lr(step: int, steps: int) -> float:
    return 1.0

# %% tags=["given"] reference="toy_model:linear_lr"
def linear_lr(step: int, steps: int) -> float:
    """Decay the learning rate linearly to zero (the schedule the paper's figures use)."""
    return 1 - step / steps

# %% [markdown]
# ## Experiment 1: five features in two dimensions
#
# Eight instances of a 5 → 2 → 5 model. Feature *i* has importance $0.9^i$ (feature 0 matters most).
# Instance 0 sees dense features (present with probability 1); each next instance sees sparser ones,
# down to probability 1/50 for instance 7. Training all eight takes about 15 seconds on a laptop CPU.

# %% tags=["experiment"]
utils.set_seed(0)
cfg = ToyModelConfig(n_instances=8, n_features=5, n_hidden=2)
importance = (0.9 ** torch.arange(cfg.n_features))[None, :]  # [1, feat]: the same for every instance
feature_probability = 50 ** -torch.linspace(0, 1, cfg.n_instances)  # [inst]: 1 down to 1/50
model = ToyModel(cfg, feature_probability=feature_probability, importance=importance)
optimize(model, steps=10_000, lr_scale=linear_lr)

with torch.no_grad():
    batch = model.generate_batch(10_000)
    per_instance_loss = (model.importance * (batch - model(batch)) ** 2).mean(dim=(0, 2))
for i in range(cfg.n_instances):
    print(f"instance {i}: feature probability {feature_probability[i]:.3f}, loss {per_instance_loss[i]:.4f}")

# %% [markdown]
# Each subplot is one instance; each line is one feature's direction in the 2D hidden space, a column
# of `W` (colour: importance, yellow = most important).

# %% tags=["experiment"]
titles = [f"p = {p:.3f}" for p in feature_probability]
utils.plot_features_in_2d(model.W, colors=importance / importance.max(), subplot_titles=titles,
                          title="Features in 2D: dense (left) to sparse (right)").show()

# %% [markdown]
# **What to see.** With dense features (left), the model keeps the **two most important features, at a
# right angle**, and drops the others: two dimensions, two features, no interference, just like PCA.
# As features get sparser (right), more features get a direction, until all five sit in a **pentagon**.
# Five directions in two dimensions cannot all be orthogonal, so they interfere; but when features are
# rarely present together the interference rarely happens, and the negative bias plus the ReLU clip the
# small leak-through away. Sparsity is what makes superposition pay.
#
# ### Reading $W^\top W$
#
# Entry $(i, j)$ of $W^\top W$ is the dot product $W_i \cdot W_j = \lVert W_i\rVert\,\lVert W_j\rVert \cos\theta_{ij}$
# of features $i$ and $j$'s directions (columns of `W`). Divide by the norms and it *is* their cosine
# similarity: how much writing feature $i$ into the hidden space also "looks like" feature $j$ when it is
# read back. That is why people loosely call $W^\top W$ a "correlation" matrix: it is not a correlation
# between data but the overlap between the features' directions.
#
# - **Diagonal** $\lVert W_i\rVert^2$: is feature $i$ represented at all (≈ 1) or dropped (≈ 0)?
# - **Off-diagonal**: interference. 0 = orthogonal (white), negative = pointing away (blue), positive =
#   overlapping (red). In the pentagon, neighbours have cosine $\cos 72° \approx 0.31$ and the others
#   $\cos 144° \approx -0.81$ (times the squared norm, here about 1.3: longer directions make up for the
#   negative bias).

# %% tags=["experiment"]
utils.plot_WtW(model.W, subplot_titles=titles, title="W^T W per instance (dense → sparse)").show()
WtW = einops.einsum(model.W, model.W, "inst hidden i, inst hidden j -> inst i j").detach()
print("diagonal (is each feature represented?)")
print("  densest instance:", [round(x, 2) for x in WtW[0].diagonal().tolist()])
print("  sparsest instance:", [round(x, 2) for x in WtW[-1].diagonal().tolist()])
norms = WtW[-1].diagonal().sqrt()
print("cosine similarity of feature 0 with the others (sparsest):",
      [round(x, 2) for x in (WtW[-1, 0] / (norms[0] * norms)).tolist()])

# %% [markdown]
# ### Exercise 4: `compute_dimensionality`
#
# > **Difficulty** 3/5 · **Estimated time** 15 min · **Why it matters:** $D_i$ says how much of a dimension each feature gets; section 1c's geometry is read off it.
#
# How much of a dimension does each feature get? The paper's **feature dimensionality** is
#
# $$D_i = \frac{\lVert W_i\rVert^2}{\sum_j (\hat W_i\cdot W_j)^2},$$
#
# where $W_i$ is feature $i$'s column of `W`, $\hat W_i = W_i / \lVert W_i\rVert$ its direction, and $j$ runs
# over **every** feature, $i$ included (the $j = i$ term is $\lVert W_i\rVert^2$, so $D_i \le 1$). The numerator
# is how strongly feature $i$ is represented; the denominator adds up how much of every feature lands on
# $i$'s direction. So $D_i = 1$ for a feature with a dimension of its own, 1/2 for each of two features
# sharing one (antipodal), 2/5 for each corner of a pentagon in two dimensions, and 0 for a dropped feature.
#
# Take `W` of shape `[inst, hidden, feat]` and return `[inst, feat]` in `W`'s dtype, one $D_i$ per instance and
# feature. Do not change `W` (the experiments pass `model.W.detach()`, which shares memory with the model's
# weights).
#
# *Hint:* normalise the columns (`W.norm(dim=1, keepdim=True)`), then one
# `einops.einsum(W_hat, W, "inst hidden i, inst hidden j -> inst i j")` gives every $\hat W_i\cdot W_j$ at once;
# square it and sum over $j$. A dropped feature has a zero column, and 0/0 is NaN twice over (in $\hat W_i$ and
# in $D_i$): clamp both the norms and the denominator away from 0, with a tiny bound such as `1e-8`, so that it
# gets $D = 0$ while short features keep their true $D$.

# %% tags=["exercise"] reference="toy_model:compute_dimensionality"
def compute_dimensionality(W: Float[Tensor, "inst hidden feat"]) -> Float[Tensor, "inst feat"]:
    """The paper's feature dimensionality D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2, per instance.

    W_i is feature i's direction (a column of W), W_i_hat = W_i / ||W_i||, and the sum runs over every
    feature j, i itself included. A feature with its own dimension has D = 1; two features sharing one
    dimension (antipodal) have D = 1/2 each; a pentagon in two dimensions has D = 2/5 each; a dropped
    feature (W_i = 0) has D = 0. W is not changed.
    """
    raise NotImplementedError("compute_dimensionality: not implemented yet")

# %% tags=["check"]
check_compute_dimensionality(compute_dimensionality)

# %% [markdown]
# The five features of experiment 1, densest and sparsest instance:

# %% tags=["experiment"]
dims = compute_dimensionality(model.W.detach())
for i in [0, cfg.n_instances - 1]:
    print(f"instance {i}: feature dimensionalities", [round(x, 2) for x in dims[i].tolist()])

# %% [markdown]
# ## Experiment 2: 80 features in 20 dimensions
#
# With more room, the pattern becomes a law. Eight instances of an 80 → 20 model, importance decaying
# from 1 to 1/100 across features, feature probability from 1 (dense) down to 1/20. For `n_hidden > 2`
# we cannot draw the directions, so we look at each feature's **norm** $\lVert W_i\rVert$ (is it
# represented?) coloured by its **superposition** $\sum_{j\ne i} (\hat W_i \cdot W_j)^2$ (dark: it has a
# dimension to itself; yellow: it shares). Training takes about 30 seconds.

# %% tags=["experiment"]
utils.set_seed(0)
cfg_big = ToyModelConfig(n_instances=8, n_features=80, n_hidden=20)
feature_probability_big = 20 ** -torch.linspace(0, 1, cfg_big.n_instances)
model_big = ToyModel(cfg_big, feature_probability=feature_probability_big,
                     importance=(100 ** -torch.linspace(0, 1, cfg_big.n_features))[None, :])
optimize(model_big, batch_size=512, steps=5_000, lr_scale=linear_lr)

# %% tags=["experiment"]
titles_big = [f"p = {p:.2f}" for p in feature_probability_big]
utils.plot_feature_norms(model_big.W, subplot_titles=titles_big,
                         title="Feature norms (bar length) and superposition (colour), dense → sparse").show()
norms = model_big.W.detach().norm(dim=1)
for i in range(cfg_big.n_instances):
    print(f"p = {feature_probability_big[i]:.3f}: {(norms[i] > 0.5).sum().item():2d} of 80 features"
          f" represented in 20 dimensions")

# %% [markdown]
# Dense: about 20 features, one per dimension, no superposition (dark bars). Sparse: far more than 20
# features are represented, most of them sharing directions (yellow). The paper's "dimensions per
# feature", $n_\text{hidden} / \lVert W\rVert_F^2$, falls from 1 as sparsity grows. The paper also
# found the individual features' dimensionalities (grey dots below) sticking to simple fractions (3/4,
# 2/3, 1/2, 2/5, 3/8, and it expects 1 as well, which in the dense regime it could not tell apart):
# superposition organises features into geometric shapes (antipodal pairs, triangles, pentagons,
# tetrahedra, ...). Does ours? The cell counts, over every represented feature of every instance, how
# many lie within 0.012 of each fraction (half the gap between 2/5 and 3/8), 1 included.

# %% tags=["experiment"]
utils.plot_dimensions_per_feature(model_big.W, feature_probability_big,
                                  title="Dimensions per feature vs. sparsity").show()
dims_big = compute_dimensionality(model_big.W.detach())[norms > 0.5].cpu()  # represented features only
fractions = {"1": 1, "3/4": 3 / 4, "2/3": 2 / 3, "1/2": 1 / 2, "2/5": 2 / 5, "3/8": 3 / 8}
near = (dims_big[:, None] - torch.tensor(list(fractions.values()))).abs() < 0.012  # [feature, fraction]
print(f"{len(dims_big)} represented features; within 0.012 of:")
for name, count in zip(fractions, near.sum(0).tolist(), strict=True):
    print(f"  {name:>3}: {count:3d}")
print(f"  none of these: {int((~near.any(-1)).sum())}")

# %% [markdown]
# Ours, only partly. Of the represented features, about a fifth sit at 1 (a dimension of their own) and
# a quarter at 1/2 (antipodal pairs), a handful at 2/5 and 3/8, none at 3/4 or 2/3, and about half at no
# simple fraction at all (the counts above; a feature near a band's edge may land on the other side of it
# on another machine): the plot's plateaus are at 1 and 1/2. The paper's plot gave every feature the same
# importance and used many more sparsity levels; here importance falls a hundredfold across the
# features, and features of unequal importance rarely settle into symmetric shapes. Section 1c gives
# every feature the same importance, adds sparsity levels, and counts again.

# %% [markdown]
# ## Summary
#
# - A model with fewer dimensions than features **drops** the least important features when features
#   are dense, and **superposes** them when they are sparse.
# - $W^\top W$ shows which features are represented (diagonal) and how they interfere (off-diagonal).
# - Features in superposition are not aligned with any basis direction (any neuron), so we cannot read
#   them off the hidden layer. **Section 2** trains a *sparse autoencoder* to find them again.
#
# **Questions to think about** (answers in the instructor guide):
# 1. Why does the densest instance keep features 0 and 1 and not, say, 0 and 4?
# 2. Why is `b_final` negative for the features in the pentagon?
# 3. What would happen without the ReLU? (Try it: the pentagon disappears. Why?)
