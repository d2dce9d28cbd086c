"""Synthetic activations whose features are known: a benchmark for SAE architectures (issue 32, section 2b).

A language model has no answer key: nobody knows its true features, so nothing measured on it can say
whether an SAE found *the* features. Data built from known features can. Each input here is a sparse,
non-negative sum of known unit directions, more of them than the space has dimensions (as in the toy
model's hidden layer), with three properties real features are thought to have:

- **Zipf-like firing rates**: a few features fire often and most rarely; the r-th most frequent fires
  with probability `max_firing * r ** -zipf_exponent`.
- **Correlation**: in some pairs of features, the second also fires whenever the first does, with
  probability `pair_correlation`, on top of its own rate.
- **Hierarchy**: a child fires only when its parent fires (and at most one child of a parent at a time).
  This is where an SAE trained for sparsity can *absorb* the parent into the child's latent: one latent
  for "child and parent" costs less L0 than two, so the parent's latent goes quiet exactly where the child
  fires (Chanin et al. 2024, "A is for Absorption").

Measures, each against the truth (`features` [n_features, d], a dictionary `W_dec` [n_latents, d]):

- `match_latents`: the one-to-one pairing of features with latents that maximises the total cosine of
  their directions (the Hungarian algorithm, scipy's `linear_sum_assignment`); `mcc` is the mean matched
  cosine over features, and `recovered` which features' matched cosine reaches a threshold.
- `mean_max_cosine`: each feature's best cosine over all latents, averaged (no one-to-one constraint:
  two features may claim the same latent, so it is never below `mcc`).
- `absorption`: for each parent/child pair, how much more often the parent's matched latent is silent
  where the child fires than where the parent fires without any child; scored only where that latent is
  the parent (recovered), since a latent that is not the parent's, a dead one above all, says nothing.

    truth = GroundTruth(GroundTruthConfig(seed=0))
    x, codes = truth.sample(4096)                   # [4096, d_model], [4096, n_features]
    report = truth.evaluate(W_dec, encode)          # encode(x) -> latent activations [batch, n_latents]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from scipy.optimize import linear_sum_assignment
from torch import Tensor


@dataclass
class GroundTruthConfig:
    """The synthetic data's shape. Features are numbered parents first (the most frequent ranks), then
    their children (`children_per_parent` each, in order), then the independent features."""

    n_features: int = 256
    d_model: int = 32
    n_parents: int = 16
    children_per_parent: int = 4
    child_given_parent: float = 0.5  # the chance that a firing parent has (exactly one) child firing
    max_firing: float = 0.2  # the firing probability of the most frequent feature
    zipf_exponent: float = 0.5
    n_correlated_pairs: int = 16  # among the independent features
    pair_correlation: float = 0.5  # P(second fires | first fires), on top of the second's own rate
    magnitude_std: float = 0.2  # a firing feature's magnitude is 1 + magnitude_std * N(0, 1), at least 0.1
    seed: int = 0

    def __post_init__(self):
        for name in ("n_features", "d_model"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, not {getattr(self, name)!r}")
        n_independent = self.n_features - self.n_parents * (1 + self.children_per_parent)
        if n_independent < 2 * self.n_correlated_pairs:
            raise ValueError(
                f"n_features={self.n_features} leaves {n_independent} independent features after"
                f" {self.n_parents} parents with {self.children_per_parent} children each; the"
                f" {self.n_correlated_pairs} correlated pairs need {2 * self.n_correlated_pairs}")
        for name in ("child_given_parent", "max_firing", "pair_correlation"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} is a probability, in [0, 1], not {getattr(self, name)!r}")


class GroundTruth:
    """Known features, and a stream of inputs built from them (see the module's docstring)."""

    def __init__(self, cfg: GroundTruthConfig):
        self.cfg = cfg
        generator = torch.Generator().manual_seed(cfg.seed)
        features = torch.randn(cfg.n_features, cfg.d_model, generator=generator)
        self.features: Float[Tensor, "feat d_model"] = features / features.norm(dim=-1, keepdim=True)
        n_children = cfg.n_parents * cfg.children_per_parent
        self.parents: Int[Tensor, " parent"] = torch.arange(cfg.n_parents)
        self.children: Int[Tensor, "parent child"] = (cfg.n_parents + torch.arange(n_children)).reshape(
            cfg.n_parents, cfg.children_per_parent)
        independent = torch.arange(cfg.n_parents + n_children, cfg.n_features)
        # The Zipf ranks go to the parents first and then to the independent features; a child's own rate
        # is zero: it fires only through its parent.
        ranked = torch.cat([self.parents, independent])
        self.probability: Float[Tensor, " feat"] = torch.zeros(cfg.n_features)
        self.probability[ranked] = cfg.max_firing * torch.arange(1, len(ranked) + 1.0) ** -cfg.zipf_exponent
        pairs = independent[: 2 * cfg.n_correlated_pairs].reshape(-1, 2)
        self.pair_first, self.pair_second = pairs[:, 0], pairs[:, 1]
        self.generator = torch.Generator().manual_seed(cfg.seed + 1)  # the inputs' own stream
        # The inputs' root-mean-square length, measured once on a stream of its own: `same_norm` inputs keep it.
        x = self.sample(16_384, torch.Generator().manual_seed(cfg.seed + 3))[0]
        self.rms_norm = float(x.pow(2).sum(-1).mean().sqrt())

    def parent_of(self) -> Int[Tensor, " feat"]:
        """Each feature's parent, or -1."""
        parent = torch.full((self.cfg.n_features,), -1)
        parent[self.children.flatten()] = self.parents.repeat_interleave(self.cfg.children_per_parent)
        return parent

    def sample_codes(self, n: int, generator: torch.Generator | None = None) -> Float[Tensor, "n feat"]:
        """Which features fire in each of n inputs, and how strongly (0 where a feature is off)."""
        cfg, g = self.cfg, generator or self.generator
        fires = torch.rand(n, cfg.n_features, generator=g) < self.probability
        also = torch.rand(n, len(self.pair_first), generator=g) < cfg.pair_correlation
        fires[:, self.pair_second] |= also & fires[:, self.pair_first]
        # A firing parent has one child firing with probability child_given_parent, chosen uniformly.
        with_child = fires[:, self.parents] & (torch.rand(n, cfg.n_parents, generator=g) < cfg.child_given_parent)
        which = torch.randint(cfg.children_per_parent, (n, cfg.n_parents), generator=g)
        child = self.children[self.parents, which]  # [n, parent]: the child each parent would have
        fires.scatter_(1, child, with_child)
        magnitude = (1 + cfg.magnitude_std * torch.randn(n, cfg.n_features, generator=g)).clamp(min=0.1)
        return fires * magnitude

    def sample(self, n: int, generator: torch.Generator | None = None
               ) -> tuple[Float[Tensor, "n d_model"], Float[Tensor, "n feat"]]:
        """n inputs (codes @ features) and their codes."""
        codes = self.sample_codes(n, generator)
        return codes @ self.features, codes

    def same_norm(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        """Each input rescaled to the dataset's root-mean-square length (an input of all zeros stays zero): the
        inputs' directions, without the spread of their lengths (an input's length grows with how many features
        it has). Bussmann et al. train BatchTopK on inputs of one length."""
        norm = x.norm(dim=-1, keepdim=True)
        return torch.where(norm > 0, x * self.rms_norm / norm.clamp(min=1e-12), x)

    def sampler(self, n_instances: int = 1, seed: int | None = None, same_norm: bool = False
                ) -> Callable[[int], Float[Tensor, "batch inst d_model"]]:
        """What `AutoEncoder.optimize` takes as its source: batch_size -> inputs [batch, inst, d_model], each
        instance its own inputs. With a seed, the stream is its own (the same inputs in the same order for
        every SAE trained from such a sampler); without, it continues the dataset's shared stream. With
        `same_norm`, every input is rescaled to one length (`GroundTruth.same_norm`)."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None

        def sample(batch_size: int) -> Tensor:
            x = self.sample(batch_size * n_instances, generator)[0]
            x = self.same_norm(x) if same_norm else x
            return x.reshape(batch_size, n_instances, self.cfg.d_model)
        return sample

    def evaluate(self, W_dec: Float[Tensor, "latent d_model"], encode: Callable[[Tensor], Tensor],
                 n: int = 16_384, threshold: float = 0.9, same_norm: bool = False) -> dict[str, float]:
        """Every measure at once, on n fresh inputs from a fixed stream (the same for every dictionary),
        rescaled to one length if the dictionary was trained so (`same_norm`)."""
        x, codes = self.sample(n, torch.Generator().manual_seed(self.cfg.seed + 2))
        x = self.same_norm(x) if same_norm else x
        with torch.no_grad():
            acts = encode(x)
        latent, cosine = match_latents(self.features, W_dec)
        scores = absorption(self, codes, acts, latent, cosine, threshold)
        scored = ~scores.isnan()
        return {"mcc": float(cosine.mean()), "mean_max_cosine": mean_max_cosine(self.features, W_dec),
                "recovered": float((cosine >= threshold).float().mean()),
                "absorption": float(scores[scored].mean()) if scored.any() else float("nan"),
                "absorption_pairs": int(scored.sum()), "l0": float((acts > 0).sum(-1).float().mean()),
                "dead": float(((acts > 0).sum(0) == 0).float().mean())}


def cosine_matrix(features: Float[Tensor, "feat d"], W_dec: Float[Tensor, "latent d"]) -> Float[Tensor, "feat latent"]:
    def unit(v: Tensor) -> Tensor:
        return v / v.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    return unit(features.detach().float().cpu()) @ unit(W_dec.detach().float().cpu()).T


def match_latents(features: Float[Tensor, "feat d"], W_dec: Float[Tensor, "latent d"]
                  ) -> tuple[Int[Tensor, " feat"], Float[Tensor, " feat"]]:
    """The one-to-one pairing of features with latents of the largest total cosine: each feature's latent
    (-1 where there are fewer latents than features and it got none) and their cosine (0 there)."""
    cos = cosine_matrix(features, W_dec)
    rows, cols = linear_sum_assignment(cos.numpy(), maximize=True)
    latent = torch.full((len(features),), -1)
    latent[torch.as_tensor(rows)] = torch.as_tensor(cols)
    matched = torch.zeros(len(features))
    matched[torch.as_tensor(rows)] = cos[torch.as_tensor(rows), torch.as_tensor(cols)]
    return latent, matched


def mcc(features: Float[Tensor, "feat d"], W_dec: Float[Tensor, "latent d"]) -> float:
    """The mean cosine of features with their matched latents (one-to-one)."""
    return float(match_latents(features, W_dec)[1].mean())


def mean_max_cosine(features: Float[Tensor, "feat d"], W_dec: Float[Tensor, "latent d"]) -> float:
    """Each feature's best cosine over every latent, averaged over features."""
    return float(cosine_matrix(features, W_dec).max(dim=1).values.mean())


def recovered(features: Float[Tensor, "feat d"], W_dec: Float[Tensor, "latent d"], threshold: float = 0.9
              ) -> Bool[Tensor, " feat"]:
    """Which features have a matched latent whose cosine with them is at least `threshold`."""
    return match_latents(features, W_dec)[1] >= threshold


def absorption(truth: GroundTruth, codes: Float[Tensor, "n feat"], acts: Float[Tensor, "n latent"],
               latent: Int[Tensor, " feat"], cosine: Float[Tensor, " feat"] | None = None, threshold: float = 0.9
               ) -> Float[Tensor, "parent child"]:
    """For each parent/child pair: P(the parent's latent is silent | the child fires) minus P(it is silent
    | the parent fires with no child), floored at 0. Near 1: the child's latent has taken the parent's
    place wherever the child fires. NaN where the parent has no matched latent, where its matched latent's
    cosine (if given) is below `threshold` (that latent is not the parent's, and a dead one would score 0,
    silent everywhere alike), or where a case never occurs."""
    fires = codes > 0
    scores = torch.full(tuple(truth.children.shape), float("nan"))
    for i, parent in enumerate(truth.parents.tolist()):
        if latent[parent] < 0 or (cosine is not None and cosine[parent] < threshold):
            continue
        silent = acts[:, latent[parent]] <= 0
        any_child = fires[:, truth.children[i]].any(-1)
        alone = fires[:, parent] & ~any_child
        for j, child in enumerate(truth.children[i].tolist()):
            with_child = fires[:, child]
            if with_child.any() and alone.any():
                gap = silent[with_child].float().mean() - silent[alone].float().mean()
                scores[i, j] = gap.clamp(min=0)
    return scores


def train_and_evaluate(truth: GroundTruth, sae, steps: int = 600, lr: float = 3e-3, batch_size: int = 1024,
                       seed: int = 0, n_eval: int = 16_384, same_norm: bool = False) -> dict[str, float]:
    """Train a one-instance SAE (section 2's `AutoEncoder` or a subclass) on the dataset's inputs, from a stream
    of its own (`seed`: the same inputs for every SAE), then score it in eval mode (`GroundTruth.evaluate`).
    `same_norm`: train and score on inputs rescaled to one length."""
    if sae.cfg.n_instances != 1 or sae.cfg.n_input_ae != truth.cfg.d_model:
        raise ValueError(f"the SAE must have n_instances=1 and n_input_ae={truth.cfg.d_model} (the data's"
                         f" d_model), not {sae.cfg.n_instances} and {sae.cfg.n_input_ae}")
    sae.optimize(truth.sampler(1, seed=1_000 + seed, same_norm=same_norm), batch_size=batch_size, steps=steps,
                 lr=lr, log_freq=steps, log_weights=False)
    sae.eval()
    W_dec = sae.normalize_and_return_W_dec()[0].detach()
    return truth.evaluate(W_dec, lambda x: sae(x[:, None])[3][:, 0], n=n_eval, same_norm=same_norm)
