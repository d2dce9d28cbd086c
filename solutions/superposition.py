"""Section 1b reference: more of Toy Models of Superposition.

Section 1's toy model, taken three steps further:

1. **Correlated and anticorrelated features.** The same model, fed data whose features come in pairs
   that always fire together (correlated) or never do (anticorrelated).
2. **A privileged basis.** `NeuronModel` puts a ReLU on the hidden layer, so its hidden dimensions are
   *neurons* and we can ask which features each neuron serves.
3. **Computation in superposition.** `NeuronComputationModel` has two weight matrices and computes |x|
   rather than copying x: the hidden layer has to do work, not just store.

The exercises (see EXERCISES) are written by learners in notebooks/1b_superposition_more; the build
(`python -m utils.build`) turns their bodies into stubs there and copies this file's code into the
solution notebook, so this file is the one source of truth.
"""

from __future__ import annotations

import math

import einops
import torch
from jaxtyping import Float
from torch import Tensor, nn
from torch.nn import functional as F

from solutions import toy_model
from solutions.toy_model import ToyModelConfig

#: What learners write; the build replaces these bodies with `raise NotImplementedError`.
EXERCISES = (
    "ToyModel.generate_correlated_features",
    "ToyModel.generate_anticorrelated_features",
    "NeuronModel.forward",
    "NeuronComputationModel.forward",
    "NeuronComputationModel.generate_batch",
    "NeuronComputationModel.calculate_loss",
)


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
        n_inst = self.cfg.n_instances
        p = self.feature_probability[:, 0:2 * n_correlated_pairs:2]  # [inst, pair]: one p per pair
        values = torch.rand(batch_size, n_inst, 2 * n_correlated_pairs, device=self.W.device)
        pair_fires = torch.rand(batch_size, n_inst, n_correlated_pairs, device=self.W.device) < p
        # Both features of a pair share its draw: repeat each pair's decision for its two features.
        fires = einops.repeat(pair_fires, "batch inst pair -> batch inst (pair two)", two=2)
        return torch.where(fires, values, 0.0)

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
        n_inst, start = self.cfg.n_instances, 2 * self.cfg.n_correlated_pairs
        p = self.feature_probability[:, start:start + 2 * n_anticorrelated_pairs:2]  # [inst, pair]
        shape = (batch_size, n_inst, n_anticorrelated_pairs)
        one_fires = torch.rand(shape, device=self.W.device) < 2 * p
        first = torch.rand(shape, device=self.W.device) < 0.5  # which one, independent of whether
        fires = torch.stack([one_fires & first, one_fires & ~first], dim=-1)  # [batch, inst, pair, 2]
        fires = einops.rearrange(fires, "batch inst pair two -> batch inst (pair two)")
        values = torch.rand(batch_size, n_inst, 2 * n_anticorrelated_pairs, device=self.W.device)
        return torch.where(fires, values, 0.0)

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


class NeuronModel(ToyModel):
    """The toy model with a ReLU on its hidden layer too: out = ReLU(W^T ReLU(W x) + b_final).

    The ReLU makes the hidden basis *privileged*: a hidden dimension now has a meaning of its own
    (a neuron that fires or not), so we can ask which features each neuron represents."""

    def forward(self, features: Float[Tensor, "... inst feat"]) -> Float[Tensor, "... inst feat"]:
        """ReLU(W^T ReLU(W x) + b_final).

        features: [..., n_instances, n_features]
        returns:  [..., n_instances, n_features]
        """
        hidden = F.relu(einops.einsum(features, self.W, "... inst feat, inst hidden feat -> ... inst hidden"))
        out = einops.einsum(hidden, self.W, "... inst hidden, inst hidden feat -> ... inst feat")
        return F.relu(out + self.b_final)


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
        hidden = F.relu(einops.einsum(features, self.W1, "... inst feat, inst hidden feat -> ... inst hidden"))
        out = einops.einsum(hidden, self.W2, "... inst hidden, inst feat hidden -> ... inst feat")
        return F.relu(out + self.b_final)

    def generate_batch(self, batch_size: int) -> Float[Tensor, "batch inst feat"]:
        """Each feature is present with probability feature_probability[inst, feat], and then uniform
        in [-1, 1); absent features are 0.

        returns: [batch_size, n_instances, n_features], on the model's device (self.b_final.device)
        """
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        values = 2 * torch.rand(shape, device=self.b_final.device) - 1
        fires = torch.rand(shape, device=self.b_final.device) < self.feature_probability
        return torch.where(fires, values, 0.0)

    def calculate_loss(
        self,
        out: Float[Tensor, "batch inst feat"],
        batch: Float[Tensor, "batch inst feat"],
    ) -> Float[Tensor, ""]:
        """Importance-weighted squared error against the target |x|: mean over batch and features,
        summed over instances.
        """
        error = self.importance * (batch.abs() - out) ** 2
        return einops.reduce(error, "batch inst feat -> inst", "mean").sum()


def pair_cosines(W: Float[Tensor, "inst hidden feat"], first: int, n_pairs: int) -> Float[Tensor, "inst pair"]:
    """The cosine between the two features of each pair, for pairs laid out side by side from feature `first`."""
    W_hat = W / W.norm(dim=1, keepdim=True).clamp(min=1e-8)
    block = W_hat[:, :, first:first + 2 * n_pairs]
    return (block[:, :, 0::2] * block[:, :, 1::2]).sum(1)
