"""Section 2b reference: SAE architectures beyond the L1 penalty, each a subclass of section 2's `AutoEncoder`
with the same config, parameters and 5-tuple `forward` (so `optimize`, resampling and every measurement work on
them unchanged):

- `TopKAutoEncoder` (Gao et al. 2024): each input keeps its k largest pre-activations; no sparsity penalty.
- `BatchTopKAutoEncoder` (Bussmann et al. 2024): the k x batch largest of the whole batch, so L0 is k on
  average; a fixed threshold stands in at inference.
- `JumpReLUAutoEncoder` (Rajamanoharan et al. 2024): a learned threshold per latent, trained through
  straight-through estimators (`Step`, `JumpReLU`), and an L0 penalty.

`utils/ground_truth.py` scores them against features whose truth is known.
"""

from __future__ import annotations

import math

import einops
import torch
from jaxtyping import Float
from torch import Tensor, nn
from torch.nn import functional as F

from solutions.sae import AutoEncoder, AutoEncoderConfig

#: What learners write; the build replaces these bodies with `raise NotImplementedError`.
EXERCISES = (
    "TopKAutoEncoder.forward",
    "Step.backward",
    "JumpReLUAutoEncoder.forward",
    "BatchTopKAutoEncoder.forward",
)


class TopKAutoEncoder(AutoEncoder):
    """An SAE whose sparsity is set, not bought: each input keeps its k largest pre-activations (after a
    ReLU) and every other latent is zero, so L0 <= k by construction (Gao et al. 2024, "Scaling and
    evaluating sparse autoencoders"). There is no L1 penalty to shrink the activations that remain, so the
    loss is the reconstruction error alone (l1_loss is still returned, for logging). The decoder starts as
    the encoder's transpose, which Gao et al. found keeps fewer latents from dying early.
    """

    def __init__(self, cfg: AutoEncoderConfig, k: int, device: str | torch.device | None = None):
        super().__init__(cfg, device)
        if not 0 < k <= cfg.n_hidden_ae:
            raise ValueError(f"k must be between 1 and n_hidden_ae = {cfg.n_hidden_ae}, not {k}")
        self.k = k
        if not cfg.tied_weights:
            with torch.no_grad():
                self.W_dec.copy_(self.W_enc.transpose(-1, -2))
            self.normalize_and_return_W_dec()

    def forward(self, h: Float[Tensor, "batch inst d_in"]) -> tuple[
        Float[Tensor, "batch inst"],
        Float[Tensor, "batch inst"],
        Float[Tensor, ""],
        Float[Tensor, "batch inst d_hidden"],
        Float[Tensor, "batch inst d_in"],
    ]:
        """Encode keeping only each input's k largest pre-activations, decode, and score.

        pre  = (h - b_dec) @ W_enc + b_enc                   [batch, inst, d_hidden]
        acts = ReLU of pre's k largest values (self.k, per input and instance), 0 everywhere else
        returns self.decode_and_score(h, acts) (given): h_reconstructed, l1_loss and l2_loss as in
        AutoEncoder.forward, and loss = l2_loss.mean(0).sum(), no L1 term (k sets the sparsity):
        (l1_loss, l2_loss, loss, acts, h_reconstructed)
        """
        pre = einops.einsum(h - self.b_dec, self.W_enc,
                            "batch inst d_in, inst d_in d_hidden -> batch inst d_hidden") + self.b_enc
        top = pre.topk(self.k, dim=-1)  # per input and instance, over the latents
        # scatter puts the kept values back in their latents' places; gradients flow to those k only.
        acts = torch.zeros_like(pre).scatter(-1, top.indices, F.relu(top.values))
        return self.decode_and_score(h, acts)

    def decode_and_score(self, h: Float[Tensor, "batch inst d_in"], acts: Float[Tensor, "batch inst d_hidden"]
                         ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Decode acts as AutoEncoder.forward does and score the reconstruction, with no sparsity penalty (the
        selection of latents sets the sparsity): (l1_loss, l2_loss, loss, acts, h_reconstructed)."""
        W_dec = self.normalize_and_return_W_dec()
        h_reconstructed = (
            einops.einsum(acts, W_dec, "batch inst d_hidden, inst d_hidden d_in -> batch inst d_in") + self.b_dec
        )
        l1_loss = acts.abs().sum(-1)  # for logging only
        l2_loss = (h_reconstructed - h).pow(2).mean(-1)
        loss = l2_loss.mean(0).sum()
        return l1_loss, l2_loss, loss, acts, h_reconstructed


class BatchTopKAutoEncoder(TopKAutoEncoder):
    """TopK with the budget shared across the batch (Bussmann et al. 2024, "BatchTopK sparse autoencoders"):
    in training each instance keeps the k x batch largest activations of the whole batch, so L0 is k on
    average, and an input with more going on may use more latents than one with less. That choice depends
    on the other inputs in the batch, which an input seen alone does not have; so in eval mode the SAE
    uses one fixed threshold instead (per instance), `threshold`, a running average (rate `threshold_lr`)
    of the smallest activation kept in training: acts = pre where pre > threshold, else 0 (a JumpReLU
    with one threshold for every latent, as SAELens saves a BatchTopK SAE).
    """

    threshold: Float[Tensor, " inst"]

    def __init__(self, cfg: AutoEncoderConfig, k: float, threshold_lr: float = 0.01,
                 device: str | torch.device | None = None):
        if not 0 < k <= cfg.n_hidden_ae:
            raise ValueError(f"k must be above 0 and at most n_hidden_ae = {cfg.n_hidden_ae}, not {k}")
        super().__init__(cfg, math.ceil(k), device)
        if not 0 < threshold_lr <= 1:
            raise ValueError(f"threshold_lr must be in (0, 1], not {threshold_lr}")
        self.k, self.threshold_lr = k, threshold_lr  # k may be fractional: k x batch is rounded down
        self.register_buffer("threshold", torch.zeros(cfg.n_instances, device=self.W_enc.device))

    def forward(self, h: Float[Tensor, "batch inst d_in"]) -> tuple[
        Float[Tensor, "batch inst"],
        Float[Tensor, "batch inst"],
        Float[Tensor, ""],
        Float[Tensor, "batch inst d_hidden"],
        Float[Tensor, "batch inst d_in"],
    ]:
        """Encode keeping each instance's k x batch largest activations of the whole batch (in training), or
        those above the fixed threshold (in eval mode), then decode and score as TopK does.

        pre = (h - b_dec) @ W_enc + b_enc                                   [batch, inst, d_hidden]
        training (self.training): per instance, the int(self.k * batch) largest entries of ReLU(pre) over
            every input and latent at once keep their values, every other entry is 0; then
            self._update_threshold(the kept values, [inst, kept]) moves the inference threshold
        eval mode: acts = ReLU(pre) where pre > self.threshold (one per instance), else 0
        returns self.decode_and_score(h, acts): (l1_loss, l2_loss, loss, acts, h_reconstructed)
        """
        pre = einops.einsum(h - self.b_dec, self.W_enc,
                            "batch inst d_in, inst d_in d_hidden -> batch inst d_hidden") + self.b_enc
        if not self.training:
            # An input seen alone has no batch to compete with: one fixed threshold per instance stands in.
            return self.decode_and_score(h, F.relu(pre) * (pre > self.threshold[:, None]))
        batch = pre.shape[0]
        # One budget per instance, shared by its inputs: the largest k x batch of all its batch's activations.
        flat = einops.rearrange(F.relu(pre), "batch inst d_hidden -> inst (batch d_hidden)")
        top = flat.topk(int(self.k * batch), dim=-1)
        acts = einops.rearrange(torch.zeros_like(flat).scatter(-1, top.indices, top.values),
                                "inst (batch d_hidden) -> batch inst d_hidden", batch=batch)
        self._update_threshold(top.values)
        return self.decode_and_score(h, acts)

    @torch.no_grad()
    def _update_threshold(self, kept: Float[Tensor, "inst kept"]) -> None:
        """Move each instance's threshold a step of threshold_lr towards the smallest positive activation it
        kept in this batch (SAELens's rule). Values of 0, kept where fewer than k x batch were positive, do
        not count."""
        smallest = kept.masked_fill(kept <= 0, float("inf")).min(-1).values
        found = torch.isfinite(smallest)
        self.threshold[found] += self.threshold_lr * (smallest[found] - self.threshold[found])


def rectangle(x: Tensor) -> Tensor:
    """The kernel of the straight-through estimators: 1 where |x| < 1/2, else 0."""
    return (x.abs() < 0.5).to(x.dtype)


class Step(torch.autograd.Function):
    """H(z - threshold): 1 where z > threshold, else 0, with a *pseudo*-gradient for the threshold.

    The true derivative of a step is 0 almost everywhere, so nothing could learn the threshold. The
    straight-through estimator (Rajamanoharan et al. 2024, "Jumping Ahead") pretends the step is a
    steep ramp of width `bandwidth` around the threshold:
        d/dz         := 0
        d/dthreshold := -(1 / bandwidth) * rectangle((z - threshold) / bandwidth)
    Only inputs z near the threshold (within bandwidth / 2) contribute. Averaged over a batch (as the loss's mean
    averages it), this counts them and divides by the batch size and the window's width: an estimate of how
    densely z lies at the threshold, which is what the true derivative of the *expected* loss depends on (the
    paper's section 4).
    """

    @staticmethod
    def forward(ctx, z: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(z, threshold)
        ctx.bandwidth = bandwidth
        return (z > threshold).to(z.dtype)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, Tensor, None]:
        """The gradients for (z, threshold, bandwidth), given the loss's gradient for the output:
        z gets zeros; threshold gets grad_output * -(1/bandwidth) * rectangle((z - threshold) / bandwidth),
        summed over every axis `threshold` was broadcast along (the batch), so it has threshold's shape;
        bandwidth, a plain number, gets None."""
        z, threshold = ctx.saved_tensors
        bandwidth = ctx.bandwidth
        grad_threshold = -grad_output * rectangle((z - threshold) / bandwidth) / bandwidth
        # threshold [inst, d_hidden] was broadcast over the batch: its gradient is the sum over the batch.
        return torch.zeros_like(z), grad_threshold.sum_to_size(threshold.shape), None


class JumpReLU(torch.autograd.Function):
    """z * H(z - threshold): z itself where it exceeds the threshold, else 0 (given).

        d/dz         := H(z - threshold)                 (the true derivative, away from the jump)
        d/dthreshold := -(threshold / bandwidth) * rectangle((z - threshold) / bandwidth)
    The jump at the threshold has height `threshold`, so its pseudo-gradient is the step's times it.
    """

    @staticmethod
    def forward(ctx, z: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(z, threshold)
        ctx.bandwidth = bandwidth
        return z * (z > threshold).to(z.dtype)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, Tensor, None]:
        z, threshold = ctx.saved_tensors
        bandwidth = ctx.bandwidth
        grad_z = grad_output * (z > threshold).to(z.dtype)
        grad_threshold = -grad_output * threshold * rectangle((z - threshold) / bandwidth) / bandwidth
        return grad_z, grad_threshold.sum_to_size(threshold.shape), None


class JumpReLUAutoEncoder(AutoEncoder):
    """An SAE whose latents switch on only above a learned per-latent threshold, and penalised by how
    many fire (L0), not by how strongly (Rajamanoharan et al. 2024). A latent that fires passes its
    pre-activation through unshrunk; the threshold, not a penalty on size, keeps weak noise out. The
    thresholds are learned through straight-through estimators (`Step`, `JumpReLU`), since the step has no
    useful true gradient.

    The threshold is a parameter in its own right, kept at 0 or above after each step, as SAELens trains it
    (and with SAELens's defaults: start 0.01, bandwidth 0.05). Stored as a logarithm instead, Adam would move it
    by about lr *in log space* per step: a threshold that starts at 0.01 would need about a thousand steps (at
    lr 3e-3) to reach the size of a typical activation. (The paper trains log-thresholds, over far longer
    runs.) With `l0_target`, the L0 coefficient is not fixed but steered towards the value that gives that L0
    (see `after_step`).
    """

    threshold: Float[Tensor, "inst d_hidden"]
    l0_coeff: Float[Tensor, " inst"]

    def __init__(self, cfg: AutoEncoderConfig, l0_coeff: float, threshold: float = 0.01, bandwidth: float = 0.05,
                 l0_target: float | None = None, l0_coeff_lr: float = 0.01,
                 device: str | torch.device | None = None):
        super().__init__(cfg, device)
        if l0_coeff <= 0 or threshold < 0 or bandwidth <= 0:
            raise ValueError(f"l0_coeff and bandwidth must be > 0, threshold >= 0; got l0_coeff={l0_coeff},"
                             f" threshold={threshold}, bandwidth={bandwidth}")
        if l0_target is not None and not 0 < l0_target <= cfg.n_hidden_ae:
            raise ValueError(f"l0_target must be above 0 and at most n_hidden_ae = {cfg.n_hidden_ae}, not {l0_target}")
        self.bandwidth, self.initial_threshold = bandwidth, threshold
        self.l0_target, self.l0_coeff_lr = l0_target, l0_coeff_lr
        self.threshold = nn.Parameter(torch.full((cfg.n_instances, cfg.n_hidden_ae), float(threshold),
                                                 device=self.W_enc.device))
        # One coefficient per instance: with an L0 target, each instance finds its own.
        self.register_buffer("l0_coeff", torch.full((cfg.n_instances,), float(l0_coeff), device=self.W_enc.device))

    @torch.no_grad()
    def after_step(self, l0_loss: Float[Tensor, "batch inst"]) -> None:
        """After each optimizer step: keep the thresholds at 0 or above (below 0 a latent would pass negative
        pre-activations), and, with an L0 target, move each instance's coefficient by a factor
        (L0 / target) ** l0_coeff_lr: up while the batch's L0 is above the target, down while below, and
        by little when near it. Adjusting in proportion to log(L0 / target), not to L0 - target, keeps the
        first steps (L0 in the hundreds while every threshold is near 0) from driving the coefficient so high
        that L0 then overshoots far below the target."""
        self.threshold.clamp_(min=0)
        if self.l0_target is not None:
            l0 = l0_loss.mean(0).clamp(min=1e-3)  # [inst]
            self.l0_coeff *= (l0 / self.l0_target) ** self.l0_coeff_lr

    # A resampled latent starts small; its old threshold, learned for another direction, could keep it
    # silent for good. Resampling therefore also puts its threshold back at the initial value.
    @torch.no_grad()
    def resample_neurons_simple(self, h, frac_active_in_window, neuron_resample_scale):
        resampled = super().resample_neurons_simple(h, frac_active_in_window, neuron_resample_scale)
        self.threshold[resampled] = self.initial_threshold
        return resampled

    @torch.no_grad()
    def resample_neurons_advanced(self, h, frac_active_in_window, neuron_resample_scale):
        resampled = super().resample_neurons_advanced(h, frac_active_in_window, neuron_resample_scale)
        self.threshold[resampled] = self.initial_threshold
        return resampled

    def forward(self, h: Float[Tensor, "batch inst d_in"]) -> tuple[
        Float[Tensor, "batch inst"],
        Float[Tensor, "batch inst"],
        Float[Tensor, ""],
        Float[Tensor, "batch inst d_hidden"],
        Float[Tensor, "batch inst d_in"],
    ]:
        """Encode through a learned threshold, decode, and score with an L0 penalty.

        z    = (h - b_dec) @ W_enc + b_enc, the raw pre-activations (no ReLU)   [batch, inst, d_hidden]
        acts = JumpReLU.apply(z, self.threshold, self.bandwidth)     z where z > threshold, else 0
        l0_loss = Step.apply(z, self.threshold, self.bandwidth) summed over d_hidden   [batch, inst]
        h_reconstructed and l2_loss as in AutoEncoder.forward
        loss = (self.l0_coeff * l0_loss + l2_loss), mean over batch, summed over instances
        returns (l0_loss, l2_loss, loss, acts, h_reconstructed): the sparsity term first, where
        AutoEncoder returns its l1_loss
        """
        # The estimators see the raw pre-activations, as in the paper and SAELens. No ReLU is needed (the
        # threshold is never negative, so acts >= 0 anyway), and one would do harm: it would put every negative
        # pre-activation at exactly 0, inside the threshold's window whenever threshold < bandwidth / 2 (at the
        # start, 0.01 < 0.025), where each would count as an input sitting at the threshold.
        z = einops.einsum(h - self.b_dec, self.W_enc,
                          "batch inst d_in, inst d_in d_hidden -> batch inst d_hidden") + self.b_enc
        acts = JumpReLU.apply(z, self.threshold, self.bandwidth)
        # L0 counts firing latents; through Step, its pseudo-gradient raises each threshold in proportion to how
        # many inputs sit near it (the estimator needs the true z on both sides of the threshold for that).
        l0_loss = Step.apply(z, self.threshold, self.bandwidth).sum(-1)
        W_dec = self.normalize_and_return_W_dec()
        h_reconstructed = (
            einops.einsum(acts, W_dec, "batch inst d_hidden, inst d_hidden d_in -> batch inst d_in") + self.b_dec
        )
        l2_loss = (h_reconstructed - h).pow(2).mean(-1)
        loss = (self.l0_coeff * l0_loss + l2_loss).mean(0).sum()
        return l0_loss, l2_loss, loss, acts, h_reconstructed
