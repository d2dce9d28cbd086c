# %% [markdown]
# # 1b. Superposition, further: correlated features, neurons, and computation
#
# *About 60–90 minutes. Prerequisites: section 1 (the toy model, `W^T W`, feature directions in 2D).*
#
# Section 1's features were independent, its hidden layer had no nonlinearity, and its job was only to copy
# its input. Real models break all three assumptions. This section relaxes them one at a time, following
# Anthropic's [Toy Models of Superposition](https://transformer-circuits.pub/2022/toy_model/index.html):
#
# 1. **Correlated and anticorrelated features.** Which features fire *together* changes the geometry: features
#    that co-occur cannot share a direction cheaply, features that never co-occur can.
# 2. **A privileged basis.** A ReLU on the hidden layer turns its dimensions into *neurons*. Now "which
#    features does this neuron serve?" has an answer, and we watch neurons go from one feature to many.
# 3. **Computation in superposition.** A model that computes |x| instead of copying x, with more features
#    than neurons.
#
# **What you will build:** the two data generators (`generate_correlated_features`,
# `generate_anticorrelated_features`), `NeuronModel.forward`, and `NeuronComputationModel`'s `forward`,
# `generate_batch` and `calculate_loss`. Every exercise has a check cell under it; to check the whole notebook
# from a terminal: `python -m tests.grade notebooks/1b_superposition_more.ipynb`.

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

import einops
import torch
from jaxtyping import Float
from torch import Tensor, nn
from torch.nn import functional as F

import utils
from solutions import toy_model
from solutions.toy_model import ToyModelConfig, linear_lr, optimize
from tests.checks.superposition import (
    check_computation_forward,
    check_computation_generate_batch,
    check_computation_loss,
    check_generate_anticorrelated_features,
    check_generate_correlated_features,
    check_neuron_model_forward,
)
from utils.device import get_device

utils.use_offline_renderer()
utils.set_seed(0)
device = get_device()
print("running on", device)


# %% [markdown]
# ## 1. Correlated and anticorrelated features
#
# `ToyModelConfig` has two more fields, `n_correlated_pairs` and `n_anticorrelated_pairs` (both 0 by
# default, which is section 1's data). With `a` correlated and `b` anticorrelated pairs, the features are laid
# out as
#
# | features | `0 … 2a−1` | `2a … 2a+2b−1` | the rest |
# |---|---|---|---|
# | kind | correlated pairs | anticorrelated pairs | independent, as in section 1 |
#
# and the two features of pair *k* sit side by side (features 2k and 2k+1 of their block).
#
# - A **correlated** pair fires *together*: one random draw decides, with probability p, whether both are
#   present. Each present feature still gets its own value, uniform in [0, 1).
# - An **anticorrelated** pair *never* fires together, yet each feature is present with probability p: with
#   probability 2p one of the two fires, and a fair coin says which. (So p can be at most 1/2.)
#
# A pair's p is the `feature_probability` of its features (both features of a pair must have the same one;
# the model refuses otherwise).
#
# The class below extends section 1's `ToyModel` (imported as `toy_model.ToyModel`: same weights, `forward`
# and loss). `generate_uncorrelated_features` is section 1's `generate_batch` restricted to the last features,
# and `generate_batch` glues the three blocks together; both are given.
#
# ### Exercise 1: `generate_correlated_features`
#
# > **Difficulty** 2/5 · **Estimated time** 10 min · **Why it matters:** real features fire together; correlated pairs show what superposition does when they do.
#
# Return `[batch_size, n_instances, 2 * n_correlated_pairs]`, on `self.W.device`. Use the argument
# `n_correlated_pairs` (not `self.cfg`'s: `generate_batch` passes the count it wants).
#
# *Hint:* one `torch.rand` of shape `[batch, inst, n_pairs]` compared with the pairs' probabilities
# (`self.feature_probability[:, 0:2 * n_pairs:2]`, one column per pair), then
# `einops.repeat(..., "batch inst pair -> batch inst (pair two)", two=2)` to give both features of a pair the
# same decision. The values are a second `torch.rand`, of the full shape.
#
# ### Exercise 2: `generate_anticorrelated_features`
#
# > **Difficulty** 3/5 · **Estimated time** 15 min · **Why it matters:** features that never fire together can share a direction at little cost: the experiment's antipodal pairs rest on this draw.
#
# Return `[batch_size, n_instances, 2 * n_anticorrelated_pairs]`. This block's probabilities start at feature
# `2 * self.cfg.n_correlated_pairs`.
#
# *Hint:* two draws per (row, instance, pair): `one_fires = rand < 2p`, `first = rand < 0.5`; then the first
# feature fires where `one_fires & first`, the second where `one_fires & ~first`. Interleave them with
# `torch.stack([...], dim=-1)` and `einops.rearrange(..., "batch inst pair two -> batch inst (pair two)")`.

# %% tags=["exercise"] reference="superposition:ToyModel"
class ToyModel(toy_model.ToyModel):
    """Section 1's model (same weights, forward and loss), whose data may hold correlated and
    anticorrelated pairs of features. With `ToyModelConfig(..., n_correlated_pairs=a,
    n_anticorrelated_pairs=b)` the features are laid out as

        [2a correlated features | 2b anticorrelated features | the rest, independent]

    and the two features of pair k sit side by side (features 2k and 2k + 1 of their block).
    """

    def __init__(self, cfg: ToyModelConfig, feature_probability: float | Tensor = 1.0,
                 importance: float | Tensor = 1.0, device: str | torch.device | None = None):
        n_paired = 2 * (cfg.n_correlated_pairs + cfg.n_anticorrelated_pairs)
        if min(cfg.n_correlated_pairs, cfg.n_anticorrelated_pairs) < 0 or n_paired > cfg.n_features:
            raise ValueError(f"{cfg.n_correlated_pairs} correlated and {cfg.n_anticorrelated_pairs} anticorrelated"
                             f" pairs need {n_paired} features, but n_features is {cfg.n_features}")
        super().__init__(cfg, feature_probability, importance, device)
        pairs = self.feature_probability[:, :n_paired]
        if not torch.equal(pairs[:, 0::2], pairs[:, 1::2]):
            raise ValueError("the two features of a pair must have the same feature_probability")
        anti = self.feature_probability[:, 2 * cfg.n_correlated_pairs:n_paired]
        if (anti > 0.5).any():
            raise ValueError(f"an anticorrelated pair fires one of its features with probability 2p, so p must be at"
                             f" most 0.5; got {anti.max().item():.3f}")

    def generate_correlated_features(
        self, batch_size: int, n_correlated_pairs: int
    ) -> Float[Tensor, "batch inst 2*n_correlated_pairs"]:
        """Pairs of features that fire together: for each (row, instance, pair) one random draw
        decides whether *both* features are present (probability p, the pair's feature_probability);
        each present feature then takes its own uniform value in [0, 1).

        The probabilities are those of the first 2 * n_correlated_pairs features; pair k is features
        2k and 2k + 1 (so p = self.feature_probability[:, 2k]).
        returns: [batch_size, n_instances, 2 * n_correlated_pairs]
        """
        raise NotImplementedError("ToyModel.generate_correlated_features: not implemented yet")

    def generate_anticorrelated_features(
        self, batch_size: int, n_anticorrelated_pairs: int
    ) -> Float[Tensor, "batch inst 2*n_anticorrelated_pairs"]:
        """Pairs of features that never fire together, each present with probability p: for each
        (row, instance, pair), with probability 2p one of the two fires, and a fair coin says which.
        A present feature takes a uniform value in [0, 1).

        The probabilities are those of the features just after the correlated pairs (the
        anticorrelated block starts at 2 * self.cfg.n_correlated_pairs); pair k is that block's
        features 2k and 2k + 1.
        returns: [batch_size, n_instances, 2 * n_anticorrelated_pairs]
        """
        raise NotImplementedError("ToyModel.generate_anticorrelated_features: not implemented yet")

    def generate_uncorrelated_features(self, batch_size: int, n_uncorrelated: int) -> Float[Tensor, "batch inst n"]:
        """Section 1's data for the last n_uncorrelated features: each fires on its own."""
        p = self.feature_probability[:, self.cfg.n_features - n_uncorrelated:]
        shape = (batch_size, self.cfg.n_instances, n_uncorrelated)
        values = torch.rand(shape, device=self.W.device)
        return torch.where(torch.rand(shape, device=self.W.device) < p, values, 0.0)

    def generate_batch(self, batch_size: int) -> Float[Tensor, "batch inst feat"]:
        """Correlated pairs, then anticorrelated pairs, then independent features."""
        cfg = self.cfg
        n_uncorrelated = cfg.n_features - 2 * (cfg.n_correlated_pairs + cfg.n_anticorrelated_pairs)
        parts = [self.generate_correlated_features(batch_size, cfg.n_correlated_pairs),
                 self.generate_anticorrelated_features(batch_size, cfg.n_anticorrelated_pairs),
                 self.generate_uncorrelated_features(batch_size, n_uncorrelated)]
        return torch.cat(parts, dim=-1)


# %% tags=["check"]
check_generate_correlated_features(ToyModel)

# %% tags=["check"]
check_generate_anticorrelated_features(ToyModel)


# %% [markdown]
# A helper for the experiments (given): the cosine between the two features of each pair, read off `W`'s
# columns.

# %% tags=["given"] reference="superposition:pair_cosines"
def pair_cosines(W: Float[Tensor, "inst hidden feat"], first: int, n_pairs: int) -> Float[Tensor, "inst pair"]:
    """The cosine between the two features of each pair, for pairs laid out side by side from feature `first`."""
    W_hat = W / W.norm(dim=1, keepdim=True).clamp(min=1e-8)
    block = W_hat[:, :, first:first + 2 * n_pairs]
    return (block[:, :, 0::2] * block[:, :, 1::2]).sum(1)


# %% [markdown]
# ### Experiment: correlated pairs
#
# Four features in two dimensions, as two correlated pairs, at sixteen sparsities from p = 0.05 down to
# 0.0025. (At the densest of these, the sparsest it trained, section 1's five *independent* features formed a pentagon.) Features of
# the same pair share a colour.

# %% tags=["experiment"]
utils.set_seed(0)
cfg_corr = ToyModelConfig(n_instances=16, n_features=4, n_hidden=2, n_correlated_pairs=2)
p_corr = 400 ** -torch.linspace(0.5, 1, cfg_corr.n_instances)
model_corr = ToyModel(cfg_corr, feature_probability=p_corr)
optimize(model_corr, steps=5_000, lr_scale=linear_lr)

pair_colours = ["#1f77b4", "#1f77b4", "#d62728", "#d62728"]
utils.plot_features_in_2d(model_corr.W, colors=pair_colours, subplot_titles=[f"p = {p:.4f}" for p in p_corr],
                          title="Two correlated pairs (blue, red) in 2D").show()
W = model_corr.W.detach()
within = pair_cosines(W, 0, 2)  # [inst, pair]
represented = W.norm(dim=1) > 0.5  # [inst, feat]
print(f"features represented: {int(represented.sum())} of {represented.numel()}")
print(f"pairs whose two features are orthogonal (|cos| < 0.2): {int((within.abs() < 0.2).sum())} of {within.numel()}")
W_hat = W / W.norm(dim=1, keepdim=True).clamp(min=1e-8)
# cos between each feature of pair 0 (features 0, 1) and each of pair 1 (features 2, 3): [inst, 2, 2]
across = einops.einsum(W_hat[:, :, :2], W_hat[:, :, 2:], "inst hidden a, inst hidden b -> inst a b")
antipodes = ((across < -0.8) & represented[:, :2, None] & represented[:, None, 2:]).sum((1, 2))  # [inst]
print("antipodal pairs across the two pairs (cos < -0.8), per instance:", antipodes.tolist())
print(f"instances whose four features form a square of two such antipodal pairs: {int((antipodes == 2).sum())}"
      f" of {cfg_corr.n_instances}")

# %% [markdown]
# **What to see.** The two features of a correlated pair almost never share a direction: they sit at right
# angles, a **local orthogonal basis**. Features that fire together would interfere *every* time they fire.
# The interference the model does accept is between the pairs, which rarely fire at the same time: each
# feature points away from a feature of the *other* pair, so the four make a square whose diagonals join
# features of different pairs (in the per-instance counts above, 2 is a whole square; an instance that
# dropped a feature has at most 1). Which partner a feature takes (0 with 2, or 0 with 3) differs from
# instance to instance; that the partner is in the other pair does not.
#
# ### Experiment: anticorrelated pairs
#
# Now two *anticorrelated* pairs in two dimensions, eight instances at each of p = 0.1, 0.2, 0.3, 0.4.
# Four features fit in two dimensions as a square: each feature has one partner pointing the opposite way
# (antipodal) and two at right angles. Antipodal features interfere only when both fire, and the ReLU removes
# the negative leak otherwise. Which features will the model make antipodal?

# %% tags=["experiment"]
utils.set_seed(0)
levels = torch.tensor([0.1, 0.2, 0.3, 0.4])
cfg_anti = ToyModelConfig(n_instances=32, n_features=4, n_hidden=2, n_anticorrelated_pairs=2)
p_anti = levels.repeat_interleave(8)  # eight instances at each level
model_anti = ToyModel(cfg_anti, feature_probability=p_anti)
optimize(model_anti, steps=5_000, lr_scale=linear_lr)

W = model_anti.W.detach()
antipodal = (pair_cosines(W, 0, 2) < -0.9) & (W.norm(dim=1).reshape(32, 2, 2).min(-1).values > 0.5)  # [inst, pair]
for level, rows in zip(levels, antipodal.reshape(4, 8, 2), strict=True):
    print(f"p = {level:.1f}: antipodal pairs {int(rows.sum()):2d} of 16; instances with both pairs antipodal"
          f" {int(rows.all(-1).sum())} of 8")
at_03 = (p_anti == 0.3).nonzero().squeeze(-1)
utils.plot_features_in_2d(W[at_03], colors=pair_colours, subplot_titles=[f"instance {i}" for i in at_03.tolist()],
                          title="Two anticorrelated pairs (blue, red) in 2D, p = 0.3").show()

# %% [markdown]
# **What to see.** Both arrangements are squares: either each anticorrelated pair is **antipodal** (the model
# stores the two features on one line, in opposite directions), or each pair is at right angles and features
# of *different* pairs are antipodal. The first costs nothing: a pair never fires together, so the negative
# leak of one into the other never meets a present feature, and the ReLU clips it. The second pays whenever
# features of different pairs fire together, with probability about p². So the denser the data, the more the
# antipodal square is worth, and the printout shows it winning more often as p grows: most pairs at p = 0.3
# and 0.4 are antipodal, fewer than half at p = 0.1, where the other square costs almost nothing. Why does the
# antipodal square not win every time, even at p = 0.4? Our guess, not measured here: both squares are local
# minima, so an instance stays in whichever it reaches first. Question 2 at the end asks you to test it.
#
# ### Experiment: one of each, and a correlated pair that collapses
#
# One correlated pair (features 0 and 1, blue) and one anticorrelated pair (2 and 3, red), from sparse
# (p = 0.05) to dense (p = 0.4).

# %% tags=["experiment"]
utils.set_seed(0)
cfg_mixed = ToyModelConfig(n_instances=8, n_features=4, n_hidden=2, n_correlated_pairs=1, n_anticorrelated_pairs=1)
p_mixed = torch.linspace(0.05, 0.4, cfg_mixed.n_instances)
model_mixed = ToyModel(cfg_mixed, feature_probability=p_mixed)
optimize(model_mixed, steps=5_000, lr_scale=linear_lr)

W = model_mixed.W.detach()
utils.plot_features_in_2d(W, colors=pair_colours, subplot_titles=[f"p = {p:.2f}" for p in p_mixed],
                          title="A correlated pair (blue) and an anticorrelated pair (red)").show()
cos = pair_cosines(W, 0, 2)
for i in range(cfg_mixed.n_instances):
    print(f"p = {p_mixed[i]:.2f}: correlated pair cos {cos[i, 0]:+.2f} (norms {W[i].norm(dim=0)[0]:.2f},"
          f" {W[i].norm(dim=0)[1]:.2f}); anticorrelated pair cos {cos[i, 1]:+.2f}")


# %% [markdown]
# **What to see.** When sparse (p = 0.05, 0.1), the correlated pair is orthogonal, as before. As the data get denser the correlated pair **collapses** into a single direction
# (cosine +1) with shorter vectors (norm about 0.7 ≈ 1/√2): the model stores the pair's sum, its principal
# component, and reads back the average for both, because two directions that fire together would interfere
# every time. That frees the other axis for the anticorrelated pair, which becomes antipodal (cosine −1) in the
# middle of the range. The densest instance shows that this is not the only outcome: read the printout
# before trusting a picture. The paper describes this as correlated features collapsing into their principal
# component (equivalent to PCA when the features are dense).

# %% [markdown]
# ## 2. A privileged basis: `NeuronModel`
#
# Section 1's hidden layer was linear, so any rotation of it was as good as any other: no direction of it
# means more than another, and asking "what does hidden dimension 3 represent?" had no answer. Put a ReLU on
# it and that changes: the ReLU acts on each dimension separately, so the dimensions become **neurons**, each
# firing or not. This is a **privileged basis**, the situation of a real MLP layer.
#
# $$h = \mathrm{ReLU}(W x), \qquad x' = \mathrm{ReLU}(W^\top h + b).$$
#
# ### Exercise 3: `NeuronModel.forward`
#
# > **Difficulty** 1/5 · **Estimated time** 5 min · **Why it matters:** one ReLU on the hidden layer makes the neuron basis special, and the question whether a neuron means one thing starts here.
#
# `NeuronModel` subclasses the `ToyModel` above; only `forward` changes. Input `[..., inst, feat]`, output
# the same shape.

# %% tags=["exercise"] reference="superposition:NeuronModel"
class NeuronModel(ToyModel):
    """The toy model with a ReLU on its hidden layer too: out = ReLU(W^T ReLU(W x) + b_final).

    The ReLU makes the hidden basis *privileged*: a hidden dimension now has a meaning of its own
    (a neuron that fires or not), so we can ask which features each neuron represents."""

    def forward(self, features: Float[Tensor, "... inst feat"]) -> Float[Tensor, "... inst feat"]:
        """ReLU(W^T ReLU(W x) + b_final).

        features: [..., n_instances, n_features]
        returns:  [..., n_instances, n_features]
        """
        raise NotImplementedError("NeuronModel.forward: not implemented yet")


# %% tags=["check"]
check_neuron_model_forward(NeuronModel)

# %% [markdown]
# ### Experiment: from monosemantic to polysemantic neurons
#
# Ten features, five neurons, importance $0.75^i$, seven instances from dense (p = 0.75) to sparse (p = 0.01).
# Each heatmap is one instance's `W`: a row per neuron, a column per feature (red positive, blue negative).
# A **monosemantic** neuron is a row with one strong entry.

# %% tags=["experiment"]
utils.set_seed(0)
p_neuron = torch.tensor([0.75, 0.35, 0.15, 0.1, 0.06, 0.02, 0.01])
cfg_neuron = ToyModelConfig(n_instances=len(p_neuron), n_features=10, n_hidden=5)
model_neuron = NeuronModel(cfg_neuron, feature_probability=p_neuron,
                           importance=(0.75 ** torch.arange(cfg_neuron.n_features))[None, :])
optimize(model_neuron, steps=10_000, lr_scale=linear_lr)

W = model_neuron.W.detach()
utils.plot_neuron_weights(W, subplot_titles=[f"p = {p:.2f}" for p in p_neuron],
                          title="NeuronModel: neurons (rows) × features (columns), dense → sparse").show()
excitatory = W.clamp(min=0) ** 2  # a neuron fires on a feature through its positive weights
share = excitatory.max(-1).values / excitatory.sum(-1).clamp(min=1e-12)  # [inst, neuron]: the top feature's share
for i, p in enumerate(p_neuron):
    print(f"p = {p:.2f}: {int((W[i].norm(dim=0) > 0.5).sum()):2d} features represented;"
          f" {int((share[i] > 0.9).sum())} of 5 neurons monosemantic (one feature holds > 90% of its positive weight)")
print("features represented in the densest instance:", (W[0].norm(dim=0) > 0.5).nonzero().squeeze(-1).tolist())


# %% [markdown]
# **What to see.** With dense features each neuron carries exactly one feature, the five most important
# (features 0 to 4, as the last line printed):
# the model has five neurons and spends one on each, like section 1's dense instances but now aligned with
# the neurons. As features get sparser the model represents more of them than it has neurons, and the
# neurons become **polysemantic**: each fires for several features. This is the smallest picture of what we
# will meet in a language model's MLP in section 3, and why we will need sparse autoencoders there: reading
# neurons one at a time shows mixtures.

# %% [markdown]
# ## 3. Computation in superposition: `NeuronComputationModel`
#
# So far the models only stored features. Now the model must *compute* with them. Inputs are uniform in
# [-1, 1) (when present) and the target is **|x|**:
#
# $$h = \mathrm{ReLU}(W_1 x), \qquad y = \mathrm{ReLU}(W_2 h + b), \qquad
#   L = \sum_\text{inst} \frac{1}{B F}\sum_{b,f} I_f\,(|x_{b,f}| - y_{b,f})^2.$$
#
# `W1` is `[inst, hidden, feat]` (features into neurons) and `W2` is `[inst, feat, hidden]` (neurons back out to
# features); they are separate matrices now. Without superposition |x| costs two neurons per feature,
# |x| = ReLU(x) + ReLU(−x): one for each sign. With fewer neurons than twice the features, the model has to
# share.
#
# ### Exercises 4–6: `forward`, `generate_batch`, `calculate_loss`
#
# > **Difficulty** 3/5 · **Estimated time** 20 min · **Why it matters:** a model that must compute $|x|$, not just pass $x$ on, shows superposition in computation, which is what an MLP faces.
#
# - `forward`: $\mathrm{ReLU}(W_2\,\mathrm{ReLU}(W_1 x) + b)$. Mind `W2`'s axis order in your einsum pattern.
# - `generate_batch`: like section 1's, but present values are uniform on [-1, 1): `2 * torch.rand(...) - 1`.
#   (There is no `W` any more: put new tensors on `self.b_final.device`.)
# - `calculate_loss`: section 1's loss with the target `batch.abs()`.

# %% tags=["exercise"] reference="superposition:NeuronComputationModel"
class NeuronComputationModel(ToyModel):
    """A model that computes: out = ReLU(W2 ReLU(W1 x) + b_final) should equal |x|.

    Inputs are uniform in [-1, 1] (when present), so a single weight cannot do it: |x| = ReLU(x) +
    ReLU(-x) needs two neurons per feature, or neurons shared between features (superposition)."""

    W1: Float[Tensor, "inst hidden feat"]
    W2: Float[Tensor, "inst feat hidden"]

    def __init__(self, cfg: ToyModelConfig, feature_probability: float | Tensor = 1.0,
                 importance: float | Tensor = 1.0, device: str | torch.device | None = None):
        super().__init__(cfg, feature_probability, importance, device)
        del self.W  # two matrices instead of one shared W
        std = math.sqrt(2.0 / (cfg.n_hidden + cfg.n_features))  # Xavier-normal, per instance
        self.W1 = nn.Parameter(torch.randn(cfg.n_instances, cfg.n_hidden, cfg.n_features, device=self.b_final.device)
                               * std)
        self.W2 = nn.Parameter(torch.randn(cfg.n_instances, cfg.n_features, cfg.n_hidden, device=self.b_final.device)
                               * std)

    def forward(self, features: Float[Tensor, "... inst feat"]) -> Float[Tensor, "... inst feat"]:
        """ReLU(W2 ReLU(W1 x) + b_final).

        features: [..., n_instances, n_features]
        returns:  [..., n_instances, n_features]
        """
        raise NotImplementedError("NeuronComputationModel.forward: not implemented yet")

    def generate_batch(self, batch_size: int) -> Float[Tensor, "batch inst feat"]:
        """Each feature is present with probability feature_probability[inst, feat], and then uniform
        in [-1, 1); absent features are 0.

        returns: [batch_size, n_instances, n_features], on the model's device (self.b_final.device)
        """
        raise NotImplementedError("NeuronComputationModel.generate_batch: not implemented yet")

    def calculate_loss(
        self,
        out: Float[Tensor, "batch inst feat"],
        batch: Float[Tensor, "batch inst feat"],
    ) -> Float[Tensor, ""]:
        """Importance-weighted squared error against the target |x|: mean over batch and features,
        summed over instances.
        """
        raise NotImplementedError("NeuronComputationModel.calculate_loss: not implemented yet")


# %% tags=["check"]
check_computation_forward(NeuronComputationModel)

# %% tags=["check"]
check_computation_generate_batch(NeuronComputationModel)

# %% tags=["check"]
check_computation_loss(NeuronComputationModel)

# %% [markdown]
# ### Experiment: computing |x| with too few neurons
#
# Ten features, five neurons, importance $0.75^i$, six instances from dense (p = 1) to sparse (p = 0.003).
# The printout counts, for each instance, the
# features that some neuron reads with a weight of size 0.5 or more, the neurons that read exactly one
# feature (every other weight under 0.3 in size), and the features that have two such neurons of their own,
# one for each sign, and the heatmaps below it show `W1` (how each neuron reads the features).

# %% tags=["experiment"]
utils.set_seed(0)
p_comp = torch.tensor([1.0, 0.3, 0.1, 0.03, 0.01, 0.003])
cfg_comp = ToyModelConfig(n_instances=len(p_comp), n_features=10, n_hidden=5)
model_comp = NeuronComputationModel(cfg_comp, feature_probability=p_comp,
                                    importance=(0.75 ** torch.arange(cfg_comp.n_features))[None, :])
optimize(model_comp, steps=10_000, lr_scale=linear_lr)

W1, W2 = model_comp.W1.detach().cpu(), model_comp.W2.detach().cpu()  # on the CPU for the analysis below
with torch.no_grad():  # each instance's loss on fresh data, relative to the loss of always answering 0
    batch = model_comp.generate_batch(10_000)
    weighted = lambda err: (model_comp.importance * err.pow(2)).mean((0, 2)).cpu()  # noqa: E731
    relative_loss = weighted(batch.abs() - model_comp(batch)) / weighted(batch.abs())
for i, p in enumerate(p_comp):
    strong = W1[i].abs() >= 0.3  # [neuron, feat]
    single = strong.sum(-1) == 1  # neurons that read exactly one feature
    # features read by a single-feature neuron of each sign: |x| = ReLU(x) + ReLU(-x), exactly
    positive = (strong & single[:, None] & (W1[i] > 0)).any(0)
    negative = (strong & single[:, None] & (W1[i] < 0)).any(0)
    print(f"p = {p:<5g}: {int((W1[i].abs() >= 0.5).any(0).sum()):2d} features read by some neuron;"
          f" {int(single.sum())} of 5 neurons read one feature; {int((positive & negative).sum())} features have"
          f" a neuron of their own for each sign; loss {relative_loss[i]:.2f} of answering 0")
strongest = W1[0].abs().argmax(-1)  # [neuron]: the feature each neuron of the densest instance reads
print("p = 1, the feature each neuron reads (and the sign of its weight):",
      [f"{int(f)}{'+' if W1[0, n, f] > 0 else '-'}" for n, f in enumerate(strongest)])

# %% [markdown]
# The heatmaps of `W1`. (Their small weights differ from machine to machine: a change in the last bits of the
# arithmetic moves where this chaotic training ends up in detail. So the course's verification does not
# compare this figure; it compares the counts printed above, which hold.)

# %% tags=["experiment", "nbval-ignore-output"]
utils.plot_neuron_weights(W1, subplot_titles=[f"p = {p:g}" for p in p_comp],
                          title="NeuronComputationModel: W1, neurons (rows) × features (columns)").show()

# %% [markdown]
# **What to see.** Dense: every neuron reads one feature, and the features it reads come in sign pairs: one
# neuron with a positive weight (it fires for x > 0), one with a negative weight (for x < 0), so that
# |x| = ReLU(x) + ReLU(−x). At p = 1 the five neurons serve just two features this way (the last line
# printed: one feature gets three neurons, the other two), and the other eight features are given up.
# Sparser (p = 0.1 and below): no neuron reads just one feature any more, and more features are read than the
# five neurons could serve in sign pairs: **computation in superposition**. (How many, instance by instance,
# changes with the random numbers: read the printout for this run.) The sparsest instance reads fewer
# features than p = 0.1 does, and has the highest loss relative to answering 0. Is that a property of
# sparse features, or a shortage of training? At p = 0.003 a feature is present in about 3 of a batch's
# 1,024 inputs, so 10,000 steps show it few examples of each. Question 4 asks you to find out.
#
# How can a shared neuron compute |x| for two features without mixing them up? The paper's answer is an
# **asymmetric** motif: a neuron reads one feature with a large weight and another with a small one, and
# writes back with the reverse proportions, so feature b's output gets most of the neuron. Feature a's
# interference on b is then large, and a *second* neuron, also driven by a, writes a negative weight to b that
# cancels it. The cell below looks for that pattern in every instance: a neuron whose two strongest inputs
# differ by at least a factor of 2, and the net effect on the weaker feature's output when only the stronger
# feature is present (+1), through that neuron alone and through all neurons.

# %% tags=["experiment"]
found, cancelled = 0, 0
for i, p in enumerate(p_comp):
    for n in range(cfg_comp.n_hidden):
        weights = W1[i, n]
        a, b = weights.abs().topk(2).indices.tolist()  # the neuron's strongest and second-strongest feature
        if weights[b].abs() < 0.3 or weights[a].abs() < 2 * weights[b].abs():
            continue
        x = torch.zeros(cfg_comp.n_features)
        x[a] = 1.0 if weights[a] > 0 else -1.0  # feature a alone, with the sign that fires the neuron
        hidden = F.relu(W1[i] @ x)  # [neuron]
        through_n = (W2[i, b, n] * hidden[n]).item()
        through_all = (W2[i, b] @ hidden).item()
        found += 1
        cancelled += through_all < 0.5 * through_n  # the other neurons take back at least half of it
        print(f"p = {p:<5g} neuron {n}: feature {a} (weight {weights[a]:+.2f}) and feature {b} ({weights[b]:+.2f});"
              f" feature {a} alone moves feature {b}'s output by {through_n:+.2f} through neuron {n},"
              f" {through_all:+.2f} through all neurons")
print(f"{found} asymmetric neurons; in {cancelled} of them the other neurons cancel at least half of the interference")

# %% [markdown]
# Read each line as: the strong feature *a* pushes the weak feature *b*'s output through the shared neuron
# (the first number), and the "all neurons" number is what is left once every neuron has had its say. In
# most lines the second is much smaller than the first, or negative (where the output ReLU clips it): other
# neurons driven by *a* write the opposite weight to *b* and cancel the interference. That is the asymmetric
# motif, found by the code rather than by eye. Which neurons, and how many, depend on the random numbers of
# this run; the last line counts, for this run, how many of them have their interference cancelled.

# %% [markdown]
# ## Summary
#
# - Features that fire **together** get orthogonal directions (a local orthogonal basis) while they are sparse;
#   as the data get denser (p ≥ 0.2 here) the pair collapses into its common direction. Features that
#   **never** fire together are stored antipodally, more often the denser the data.
# - A ReLU on the hidden layer gives it a **privileged basis**: neurons. Dense features get a neuron each;
#   sparse features share neurons, which become polysemantic.
# - A model can **compute** on features in superposition, not just store them: with sparse inputs, five
#   neurons read more features than two neurons per feature (|x| = ReLU(x) + ReLU(−x)) would allow, and the
#   asymmetric motif is one way they keep those features apart.
#
# **Questions to think about:**
# 1. Why would a language model's features more often be anticorrelated than correlated? (Think of tokens:
#    "this word is French" and "this word is German".)
# 2. In the anticorrelated experiment, some instances settled in the other square. Would a learning rate
#    schedule or more steps get them out? Try it.
# 3. `NeuronModel`'s dense instance gives each of its five neurons one of the features 0 to 4. Why those five,
#    and not five others?
# 4. Train `NeuronComputationModel` four times as long (`steps=40_000`). Does the sparsest instance's loss fall,
#    and does it read more features? Does p = 0.1's count go up or down, and what does that say about
#    counting "features read" in a model that has not finished training?
