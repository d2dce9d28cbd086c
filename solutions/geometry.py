"""Section 1c reference: the phase change of the smallest model with superposition.

Two features, one hidden dimension: ReLU(W^T W x + b) with W of shape [inst, 1, 2]. Feature 0 has
importance 1, feature 1 (the "extra" feature) a relative importance r. Depending on r and on how often the
features are present, training ends in one of three solutions (the paper's phase diagram):

    not represented       W = [w, 0]    the extra feature is dropped
    dedicated dimension   W = [0, w]    the extra feature takes the one dimension, feature 0 is dropped
    superposition         W = [w, -v]   both share it (antipodal: opposite signs)

Two things make the diagram cheap and clean enough for a laptop:
  * `PhaseModel.expected_loss` averages the loss over every presence pattern (neither feature, only one,
    both) weighted by its probability, instead of sampling which features are present. At p = 0.01 a
    sampled batch of 1,024 holds both features together about once in ten batches, and that rare event is
    exactly what superposition pays for.
  * Every cell is trained from several starts, and the lowest final loss wins: a random start often stops in
    a local minimum (section 1c's notebook counts how often).

The exercise (see EXERCISES) is written by learners in notebooks/1c_geometry_and_phases; the build
(`python -m utils.build`) turns its body into a stub there and copies this file's code into the solution
notebook, so this file is the one source of truth.
"""

from __future__ import annotations

import itertools
import math

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor
from torch.nn import functional as F

from solutions.toy_model import ToyModel, linear_lr, optimizer_step
from utils.progress import progress_bar
from utils.threads import torch_threads

#: What learners write; the build replaces these bodies with `raise NotImplementedError`.
EXERCISES = ("classify_phase",)

#: The names of classify_phase's codes 0, 1, 2.
PHASES = ("not represented", "dedicated dimension", "superposition")


def classify_phase(W: Float[Tensor, "inst 1 2"], threshold: float = 0.5) -> Int[Tensor, " inst"]:
    """Which solution each instance of a 2-feature, 1-dimension model found, named after what happened to
    the extra feature (feature 1). A feature is represented when the length of its weight, |W[inst, 0, i]|,
    is above `threshold`.

    returns one code per instance (int64):
        0  not represented: feature 1 is not represented (whatever feature 0 does)
        1  dedicated dimension: feature 1 is represented and feature 0 is not
        2  superposition: both are represented
    """
    represented = W[:, 0, :].abs() > threshold  # [inst, 2]
    first, extra = represented[:, 0], represented[:, 1]
    return torch.where(extra, torch.where(first, 2, 1), 0)


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


# ----------------------------------------------------------------------------------------- double descent


def normalised_sparse_data(n_points: int, n_features: int, p: float,
                           generator: torch.Generator | None = None) -> Float[Tensor, "point feat"]:
    """Section 1's sparse features (present with probability p, uniform in [0, 1) when present), each data
    point scaled to length 1 as in the double descent paper (a point with no feature present stays 0)."""
    values = torch.rand(n_points, n_features, generator=generator)
    x = torch.where(torch.rand(n_points, n_features, generator=generator) < p, values, 0.0)
    return x / x.norm(dim=-1, keepdim=True).clamp(min=1e-8)


def warmup_cosine_lr(step: int, steps: int, warmup: float = 0.05) -> float:
    """Linear warmup over the first `warmup` share of the steps, then cosine decay to 0."""
    n_warmup = max(1, int(warmup * steps))
    if step < n_warmup:
        return (step + 1) / n_warmup
    return 0.5 * (1 + math.cos(math.pi * (step - n_warmup) / max(1, steps - n_warmup)))


def reconstruct(W: Float[Tensor, "inst hidden feat"], b: Float[Tensor, "inst feat"],
                x: Float[Tensor, "point feat"]) -> Float[Tensor, "point inst feat"]:
    """The toy model's ReLU(W^T W x + b) for points shared by every instance (no copy of x per instance)."""
    hidden = einops.einsum(x, W, "point feat, inst hidden feat -> point inst hidden")
    return F.relu(einops.einsum(hidden, W, "point inst hidden, inst hidden feat -> point inst feat") + b)


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


def loss_on(model: ToyModel, points: Float[Tensor, "point feat"], chunk: int = 2_000) -> Float[Tensor, " inst"]:
    """Each instance's mean squared error (over points and features) on `points`, e.g. a test set."""
    total = torch.zeros(model.cfg.n_instances, device=model.W.device)
    with torch.no_grad():
        for start in range(0, len(points), chunk):
            x = points[start:start + chunk].to(model.W.device)
            total += ((reconstruct(model.W, model.b_final, x) - x[:, None, :]) ** 2).mean(-1).sum(0)
    return total / len(points)
