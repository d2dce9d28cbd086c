"""Section 2 reference: a sparse autoencoder (SAE) trained on the toy model's hidden activations.

    z  = ReLU((h - b_dec) W_enc + b_enc)      (encode: which latents fire, and how strongly)
    h' = z W_dec_normalised + b_dec            (decode: a sparse sum of unit-norm directions)
    loss = L2(h, h') + l1_coeff * L1(z)        (reconstruct well, with few latents)

Like the toy model, `n_instances` independent SAEs train at once (one per toy-model instance).
Dead latents (that never fire) are brought back by resampling them, simply (random directions) or
as in Anthropic's Towards Monosemanticity (directions of inputs the SAE reconstructs worst).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import einops
import torch
from jaxtyping import Bool, Float
from torch import Tensor, nn
from torch.nn import functional as F

from solutions.toy_model import ToyModel, optimizer_step
from utils.device import get_device
from utils.progress import progress_bar
from utils.threads import threads_for, torch_threads

#: What learners write; the build replaces these bodies with `raise NotImplementedError`.
EXERCISES = (
    "AutoEncoder.__init__",
    "AutoEncoder.normalize_and_return_W_dec",
    "AutoEncoder.forward",
    "AutoEncoder.resample_neurons_simple",
    "AutoEncoder.resample_neurons_advanced",
)


@dataclass
class AutoEncoderConfig:
    n_instances: int
    n_input_ae: int
    n_hidden_ae: int
    l1_coeff: float = 0.5
    tied_weights: bool = False
    weight_normalize_eps: float = 1e-8


def xavier_normal(*shape: int) -> Tensor:
    """Xavier-normal init for a stack of [fan_in, fan_out] matrices (the last two dims)."""
    return torch.randn(*shape) * math.sqrt(2.0 / (shape[-2] + shape[-1]))


class AutoEncoder(nn.Module):
    W_enc: Float[Tensor, "inst d_in d_hidden"]
    W_dec: Float[Tensor, "inst d_hidden d_in"]
    b_enc: Float[Tensor, "inst d_hidden"]
    b_dec: Float[Tensor, "inst d_in"]

    def __init__(self, cfg: AutoEncoderConfig, device: str | torch.device | None = None):
        """Create the parameters (Xavier-normal weights via `xavier_normal`, zero biases):

        W_enc: [n_instances, n_input_ae, n_hidden_ae]
        W_dec: [n_instances, n_hidden_ae, n_input_ae], only when cfg.tied_weights is False
        b_enc: [n_instances, n_hidden_ae]
        b_dec: [n_instances, n_input_ae]
        Call super().__init__() first, store cfg as self.cfg, and finally move the module to
        `get_device(device)`.
        """
        super().__init__()
        self.cfg = cfg
        inst, d_in, d_hidden = cfg.n_instances, cfg.n_input_ae, cfg.n_hidden_ae
        self.W_enc = nn.Parameter(xavier_normal(inst, d_in, d_hidden))
        if not cfg.tied_weights:
            self.W_dec = nn.Parameter(xavier_normal(inst, d_hidden, d_in))
        self.b_enc = nn.Parameter(torch.zeros(inst, d_hidden))
        self.b_dec = nn.Parameter(torch.zeros(inst, d_in))
        self.to(get_device(device))

    def normalize_and_return_W_dec(self) -> Float[Tensor, "inst d_hidden d_in"]:
        """The decoder with every row (one latent's direction, over d_in) scaled to unit norm.

        Untied: normalise W_dec's rows in place (on .data, so W_dec itself stays unit-norm) and
        return W_dec. Tied: return W_enc transposed to [inst, d_hidden, d_in], rows normalised
        (W_enc itself is left alone). Add cfg.weight_normalize_eps to the norms.
        """
        eps = self.cfg.weight_normalize_eps
        if self.cfg.tied_weights:
            W_enc_T = self.W_enc.transpose(-1, -2)  # [inst, d_hidden, d_in]: row j is latent j's direction
            return W_enc_T / (W_enc_T.norm(dim=-1, keepdim=True) + eps)
        self.W_dec.data = self.W_dec.data / (self.W_dec.data.norm(dim=-1, keepdim=True) + eps)
        return self.W_dec

    def forward(self, h: Float[Tensor, "batch inst d_in"]) -> tuple[
        Float[Tensor, "batch inst"],
        Float[Tensor, "batch inst"],
        Float[Tensor, ""],
        Float[Tensor, "batch inst d_hidden"],
        Float[Tensor, "batch inst d_in"],
    ]:
        """Encode, decode, and score one batch.

        acts = ReLU((h - b_dec) @ W_enc + b_enc)              [batch, inst, d_hidden]
        h_reconstructed = acts @ W_dec_normalised + b_dec    [batch, inst, d_in]
        l1_loss = acts summed over d_hidden                  [batch, inst]
        l2_loss = squared error averaged over d_in           [batch, inst]
        loss = (l1_coeff * l1_loss + l2_loss), mean over batch, summed over instances (a scalar)
        returns (l1_loss, l2_loss, loss, acts, h_reconstructed)
        """
        # Centre the input by b_dec: the encoder then sees deviations from the data's typical point.
        h_centred = h - self.b_dec
        acts = F.relu(
            einops.einsum(h_centred, self.W_enc, "batch inst d_in, inst d_in d_hidden -> batch inst d_hidden")
            + self.b_enc
        )
        W_dec = self.normalize_and_return_W_dec()
        h_reconstructed = (
            einops.einsum(acts, W_dec, "batch inst d_hidden, inst d_hidden d_in -> batch inst d_in") + self.b_dec
        )
        l1_loss = acts.abs().sum(-1)
        l2_loss = (h_reconstructed - h).pow(2).mean(-1)
        loss = (self.cfg.l1_coeff * l1_loss + l2_loss).mean(0).sum()
        return l1_loss, l2_loss, loss, acts, h_reconstructed

    @torch.no_grad()
    def resample_neurons_simple(
        self,
        h: Float[Tensor, "batch inst d_in"],
        frac_active_in_window: Float[Tensor, "window inst d_hidden"],
        neuron_resample_scale: float,
    ) -> Bool[Tensor, "inst d_hidden"]:
        """Give every dead latent (one that never fired in the window) a fresh random direction.

        For each dead latent: a random unit vector v (torch.randn, normalised) becomes its decoder
        row (W_dec[inst, latent, :] = v, untied only), v * neuron_resample_scale its encoder column
        (W_enc[inst, :, latent]), and its b_enc is set to 0. Live latents are left alone.
        returns: which latents were resampled, [n_instances, n_hidden_ae] bool
        """
        dead = frac_active_in_window.sum(0) < 1e-8  # [inst, d_hidden]
        n_dead = int(dead.sum())
        if n_dead == 0:
            return dead
        directions = torch.randn(n_dead, self.cfg.n_input_ae, device=self.W_enc.device)
        directions = directions / directions.norm(dim=-1, keepdim=True)
        inst_idx, latent_idx = torch.nonzero(dead, as_tuple=True)
        self.W_enc.data[inst_idx, :, latent_idx] = directions * neuron_resample_scale
        if not self.cfg.tied_weights:
            self.W_dec.data[inst_idx, latent_idx, :] = directions
        self.b_enc.data[inst_idx, latent_idx] = 0.0
        return dead

    @torch.no_grad()
    def resample_neurons_advanced(
        self,
        h: Float[Tensor, "batch inst d_in"],
        frac_active_in_window: Float[Tensor, "window inst d_hidden"],
        neuron_resample_scale: float,
    ) -> Bool[Tensor, "inst d_hidden"]:
        """Anthropic's resampling: point dead latents at the inputs the SAE reconstructs worst.

        For each instance with dead latents and a nonzero reconstruction loss:
        1. sample one input per dead latent, with probability proportional to the *square* of
           its l2_loss (torch.multinomial, with replacement);
        2. centre it by b_dec and normalise it: that unit vector is the latent's decoder row;
        3. its encoder column is the same vector times neuron_resample_scale times the mean norm
           of the instance's live encoder columns (1.0 if none is alive);
        4. its b_enc is 0.
        Instances with no dead latents, or zero loss on every input, are left alone.
        returns: which latents were resampled, [n_instances, n_hidden_ae] bool
        """
        _, l2_loss, _, _, _ = self.forward(h)  # [batch, inst]
        dead = frac_active_in_window.sum(0) < 1e-8  # [inst, d_hidden]
        resampled = torch.zeros_like(dead)
        for inst in range(self.cfg.n_instances):
            dead_latents = torch.nonzero(dead[inst]).squeeze(-1)
            loss_sq = l2_loss[:, inst].pow(2)
            if len(dead_latents) == 0 or loss_sq.sum() < 1e-12:
                continue
            picks = torch.multinomial(loss_sq / loss_sq.sum(), len(dead_latents), replacement=True)
            directions = h[picks, inst] - self.b_dec[inst]  # [n_dead, d_in]
            directions = directions / (directions.norm(dim=-1, keepdim=True) + self.cfg.weight_normalize_eps)
            live_norms = self.W_enc[inst].norm(dim=0)[~dead[inst]]  # encoder columns' norms
            scale = neuron_resample_scale * (live_norms.mean() if len(live_norms) else 1.0)
            self.W_enc.data[inst][:, dead_latents] = (directions * scale).T
            if not self.cfg.tied_weights:
                self.W_dec.data[inst][dead_latents, :] = directions
            self.b_enc.data[inst][dead_latents] = 0.0
            resampled[inst, dead_latents] = True
        return resampled

    def after_step(self, sparsity: Float[Tensor, "batch inst"]) -> None:
        """Called by `optimize` after each optimizer step with the batch's sparsity term (forward's first
        output). Nothing to do here; section 2b's JumpReLU SAE keeps its thresholds in range and steers its
        L0 coefficient in it."""

    def optimize(
        self,
        source: ToyModel | Callable[[int], Float[Tensor, "batch inst d_in"]],
        batch_size: int = 1024,
        steps: int = 10_000,
        lr: float = 1e-3,
        log_freq: int = 100,
        neuron_resample_window: int | None = None,
        dead_neuron_window: int | None = None,
        neuron_resample_scale: float = 0.2,
        resample_method: str = "advanced",
        log_weights: bool = True,
        resample_pool_batches: int = 16,
    ) -> dict[str, Tensor]:
        """Train on activations: the frozen toy model's hidden layer h = W x, or, when `source` is a
        function of the batch size, whatever it returns (a language model's MLP activations in
        sections 3 and 4).

        Every `neuron_resample_window` steps (but not in the final window, which resampled latents
        would have no time to use), latents that never fired in the last `dead_neuron_window` steps
        (default: the whole resample window) are resampled, and Adam's running averages for them
        are reset. Advanced resampling chooses its inputs from a pool of `resample_pool_batches` fresh
        batches (16 x 1,024 = 16,384 inputs by default; Anthropic drew from 819,200): one batch of a
        sparse dataset holds too few badly reconstructed inputs, and dead latents would share them.
        Returns a log for plotting, one entry per `log_freq`
        steps: `steps`, `W_dec` [time, inst, d_hidden, d_in], `frac_active` [time, inst, d_hidden]
        (mean over the last log_freq steps), `resampled` [time, inst, d_hidden], `l1_loss`,
        `l2_loss` [time, inst]. (`log_weights=False` leaves out W_dec: large for a language model's SAE.)
        """
        if resample_method not in ("simple", "advanced"):
            raise ValueError(f"resample_method must be 'simple' or 'advanced', not {resample_method!r}")
        self.train()  # a module left in eval mode (BatchTopK) would otherwise train through its inference path
        sample = toy_model_hidden(source, self.cfg) if isinstance(source, ToyModel) else source
        dead_neuron_window = dead_neuron_window or neuron_resample_window
        resample = self.resample_neurons_simple if resample_method == "simple" else self.resample_neurons_advanced
        optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        # Firing fractions of recent steps: enough for the dead-latent window and for logging.
        frac_active_history: deque[Tensor] = deque(maxlen=max(dead_neuron_window or 1, log_freq))
        log: dict[str, list] = {k: [] for k in ("steps", "W_dec", "frac_active", "resampled", "l1_loss", "l2_loss")}
        resampled_since_log = torch.zeros(self.cfg.n_instances, self.cfg.n_hidden_ae, dtype=torch.bool)

        bar = progress_bar(range(steps), desc=f"Training SAE ({resample_method} resampling)"
                           if neuron_resample_window else "Training SAE")
        # Small SAEs (the toy model's) run on one CPU thread, which does not stall when the machine is busy;
        # a language model's SAE keeps every core (utils/threads.py explains why).
        cfg = self.cfg
        with torch_threads(threads_for(batch_size * cfg.n_instances * cfg.n_input_ae * cfg.n_hidden_ae)):
            for step in bar:
                with torch.no_grad():  # the model is frozen: we only read its activations
                    h = sample(batch_size)
                if step == 0:
                    check_activations(h, self.cfg, batch_size)
                l1_loss, l2_loss, loss, acts, _ = self.forward(h)
                optimizer_step(optimizer, loss, step, lr)
                self.after_step(l1_loss.detach())
                frac_active_history.append((acts.detach() > 0).float().mean(0).cpu())

                # Resample every window, except in the last one: a latent needs steps to learn its new direction.
                window_ends = neuron_resample_window and (step + 1) % neuron_resample_window == 0
                if window_ends and step + neuron_resample_window < steps:
                    window = torch.stack(list(frac_active_history)[-dead_neuron_window:])
                    with torch.no_grad():
                        pool = h if resample_method == "simple" else resample_pool(sample, batch_size,
                                                                                   resample_pool_batches)
                    resampled = resample(pool, window.to(h.device), neuron_resample_scale).cpu()
                    reset_adam_state(optimizer, self, resampled)
                    resampled_since_log |= resampled

                if step % log_freq == 0 or step + 1 == steps:
                    recent = torch.stack(list(frac_active_history)[-log_freq:]).mean(0)
                    log["steps"].append(step)
                    if log_weights:
                        log["W_dec"].append(self.normalize_and_return_W_dec().detach().cpu().clone())
                    log["frac_active"].append(recent)
                    log["resampled"].append(resampled_since_log.clone())
                    log["l1_loss"].append(l1_loss.detach().mean(0).cpu())
                    log["l2_loss"].append(l2_loss.detach().mean(0).cpu())
                    resampled_since_log.zero_()
                    bar.set_postfix(l1=f"{log['l1_loss'][-1].mean():.3f}", l2=f"{log['l2_loss'][-1].mean():.4f}",
                                    dead=f"{(recent == 0).float().mean():.0%}")
        return {k: (torch.tensor(v) if k == "steps" else torch.stack(v)) for k, v in log.items() if v}


def resample_pool(sample: Callable[[int], Tensor], batch_size: int, n_batches: int
                  ) -> Float[Tensor, "pool inst d_in"]:
    """Fresh inputs for advanced resampling: `n_batches` batches from the training source, stacked."""
    if n_batches < 1:
        raise ValueError(f"resample_pool_batches must be at least 1, not {n_batches}")
    return torch.cat([sample(batch_size) for _ in range(n_batches)])


def toy_model_hidden(model: ToyModel, cfg: AutoEncoderConfig) -> Callable[[int], Float[Tensor, "batch inst hidden"]]:
    """A sampler of the toy model's hidden activations h = W x, for fresh random feature vectors x."""
    if model.cfg.n_hidden != cfg.n_input_ae or model.cfg.n_instances != cfg.n_instances:
        raise ValueError(
            f"the SAE (n_instances={cfg.n_instances}, n_input_ae={cfg.n_input_ae}) does not fit the"
            f" toy model (n_instances={model.cfg.n_instances}, n_hidden={model.cfg.n_hidden})"
        )

    def sample(batch_size: int) -> Float[Tensor, "batch inst hidden"]:
        features = model.generate_batch(batch_size)
        h = einops.einsum(features, model.W, "batch inst feat, inst hidden feat -> batch inst hidden")
        if not torch.isfinite(h).all():
            raise ValueError("the toy model's hidden activations contain NaN or inf: retrain the toy model"
                             " (its own training probably diverged) before training an SAE on it")
        return h

    return sample


def check_activations(h: Tensor, cfg: AutoEncoderConfig, batch_size: int) -> None:
    """Stop before training on activations of the wrong shape, or on NaN."""
    expected = (batch_size, cfg.n_instances, cfg.n_input_ae)
    if not isinstance(h, Tensor) or tuple(h.shape) != expected:
        got = tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__
        raise ValueError(f"the activations should be [batch, n_instances, n_input_ae] = {expected}, not {got}")
    if not torch.isfinite(h).all():
        raise ValueError("the activations contain NaN or inf: check the model they come from before training an SAE")


def reset_adam_state(optimizer: torch.optim.Adam, sae: "AutoEncoder", resampled: Bool[Tensor, "inst d_hidden"]) -> None:
    """Forget Adam's running gradient averages for resampled latents: they belong to the old direction,
    and would push the new one straight back."""
    if not resampled.any():
        return
    inst_idx, latent_idx = torch.nonzero(resampled.to(sae.W_enc.device), as_tuple=True)
    for param, index in [(sae.W_enc, (inst_idx, slice(None), latent_idx)), (sae.b_enc, (inst_idx, latent_idx))] + (
        [] if sae.cfg.tied_weights else [(sae.W_dec, (inst_idx, latent_idx, slice(None)))]
    ) + ([(sae.threshold, (inst_idx, latent_idx))] if isinstance(getattr(sae, "threshold", None), nn.Parameter)
         else []):  # a JumpReLU SAE's learned thresholds (section 2b)
        state = optimizer.state.get(param, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key][index] = 0.0


def feature_recovery(
    model: ToyModel, sae: AutoEncoder, threshold: float = 0.95, min_norm: float = 0.5
) -> Float[Tensor, " inst"]:
    """Per instance, the fraction of the toy model's represented features (||W_i|| > min_norm) that
    are matched, one to one, by a distinct SAE latent whose decoder row has cosine similarity above
    `threshold` with the feature's direction. (The best one-to-one matching, by the Hungarian method.)"""
    from scipy.optimize import linear_sum_assignment

    W = model.W.detach().cpu()  # [inst, hidden, feat]
    W_dec = sae.normalize_and_return_W_dec().detach().cpu()  # [inst, d_hidden, d_in]
    fractions = []
    for inst in range(W.shape[0]):
        features = W[inst].T  # [feat, hidden]
        represented = features.norm(dim=-1) > min_norm
        if not represented.any():
            fractions.append(1.0)
            continue
        feature_dirs = F.normalize(features[represented], dim=-1)
        cos = feature_dirs @ W_dec[inst].T  # [represented feat, d_hidden]
        rows, cols = linear_sum_assignment(-cos.numpy())
        matched = (cos[rows, cols] > threshold).sum().item()
        fractions.append(matched / int(represented.sum()))
    return torch.tensor(fractions)
