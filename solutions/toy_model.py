"""Section 1 reference: Anthropic's toy model of superposition.

n_features sparse features are squeezed through a linear map W into n_hidden < n_features
dimensions and read back out with the same map transposed:

    h   = W x                     (compress)
    out = ReLU(W^T h + b_final)   (reconstruct)

Many independent models ("instances") are trained at once, each with its own feature
probability and importance, so a single training run sweeps a whole range of sparsities.

The exercises (see EXERCISES) are written by learners in notebooks/1_toy_bottleneck; the build
(`python -m utils.build`) turns their bodies into stubs there, and copies this file's code into
the solution notebook, so this file is the one source of truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import einops
import torch
from jaxtyping import Float
from torch import Tensor, nn
from torch.nn import functional as F

from utils.device import get_device
from utils.progress import progress_bar
from utils.threads import threads_for, torch_threads

#: What learners write; the build replaces these bodies with `raise NotImplementedError`.
EXERCISES = ("ToyModel.forward", "ToyModel.generate_batch", "ToyModel.calculate_loss", "compute_dimensionality")


@dataclass
class ToyModelConfig:
    n_instances: int
    n_features: int = 5
    n_hidden: int = 2
    # Section 1b's data: pairs of features that fire together, or never together. This section's
    # generate_batch treats every feature as independent; section 1b's ToyModel uses these.
    n_correlated_pairs: int = 0
    n_anticorrelated_pairs: int = 0


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
        hidden = einops.einsum(features, self.W, "... inst feat, inst hidden feat -> ... inst hidden")
        out = einops.einsum(hidden, self.W, "... inst hidden, inst hidden feat -> ... inst feat")
        return F.relu(out + self.b_final)

    def generate_batch(self, batch_size: int) -> Float[Tensor, "batch inst feat"]:
        """Sparse random features: each one is present with probability `feature_probability`
        (per instance and feature), and when present its value is uniform in [0, 1).

        returns: [batch_size, n_instances, n_features]
        """
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        values = torch.rand(shape, device=self.W.device)
        # A second, independent draw decides which features fire. Reusing `values` for this
        # would tie a feature's value to whether it fires (values would only ever be < p).
        fires = torch.rand(shape, device=self.W.device) < self.feature_probability
        return torch.where(fires, values, 0.0)

    def calculate_loss(
        self,
        out: Float[Tensor, "batch inst feat"],
        batch: Float[Tensor, "batch inst feat"],
    ) -> Float[Tensor, ""]:
        """Importance-weighted squared error: mean over batch and features, summed over instances.

        Instances are independent models that merely share a tensor: summing their losses gives each
        one exactly the gradient it would get if trained alone (a mean would divide it by n_instances).
        """
        error = self.importance * (batch - out) ** 2
        loss_per_instance = einops.reduce(error, "batch inst feat -> inst", "mean")
        return loss_per_instance.sum()


def optimizer_step(optimizer: torch.optim.Optimizer, loss: Tensor, step: int, lr: float) -> None:
    """One optimizer step; stops with a clear message instead of training on NaN once the loss diverges."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the loss became {loss.item()} at step {step}: try a smaller learning rate (lr={lr})")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


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


def constant_lr(step: int, steps: int) -> float:
    return 1.0


def linear_lr(step: int, steps: int) -> float:
    """Decay the learning rate linearly to zero (the schedule the paper's figures use)."""
    return 1 - step / steps


def compute_dimensionality(W: Float[Tensor, "inst hidden feat"]) -> Float[Tensor, "inst feat"]:
    """The paper's feature dimensionality D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2, per instance.

    W_i is feature i's direction (a column of W), W_i_hat = W_i / ||W_i||, and the sum runs over every
    feature j, i itself included. A feature with its own dimension has D = 1; two features sharing one
    dimension (antipodal) have D = 1/2 each; a pentagon in two dimensions has D = 2/5 each; a dropped
    feature (W_i = 0) has D = 0. W is not changed.
    """
    norms = W.norm(dim=1, keepdim=True)  # [inst, 1, feat]: each feature's length
    W_hat = W / norms.clamp(min=1e-8)  # a dropped feature's zero column stays zero, not NaN
    # interference[inst, i, j] = (W_hat_i . W_j)^2: how much of feature j lands on feature i's direction
    interference = einops.einsum(W_hat, W, "inst hidden i, inst hidden j -> inst i j") ** 2
    return norms.squeeze(1) ** 2 / interference.sum(dim=-1).clamp(min=1e-8)
