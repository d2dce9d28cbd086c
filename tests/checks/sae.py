"""Checks for section 2 (notebooks/2_sae_training): the AutoEncoder's five exercises.

Each check judges one exercise alone: it builds the learner's object *without* the learner's
__init__ (the reference's random parameters are put in), and where the exercise calls another one
(resampling calls forward, forward calls normalize_and_return_W_dec) the reference's version
stands in for it. So a bug in one exercise never shows up as a failure of another.
"""

from __future__ import annotations

import math
import types

import torch
from torch import nn
from torch.nn import functional as F

from solutions import sae as ref
from tests.checks.core import (
    CheckFailed,
    call_learner,
    close,
    compare,
    compare_gradients,
    exercise_check,
    expect_tensor,
)

CFG = ref.AutoEncoderConfig(n_instances=3, n_input_ae=4, n_hidden_ae=6, l1_coeff=0.3)
TIED = ref.AutoEncoderConfig(n_instances=3, n_input_ae=4, n_hidden_ae=6, l1_coeff=0.3, tied_weights=True)


def reference_sae(cfg: ref.AutoEncoderConfig) -> ref.AutoEncoder:
    """The reference SAE with random biases (never zero, so a forgotten bias shows) and an
    un-normalised W_dec (so forgetting to normalise shows)."""
    sae = ref.AutoEncoder(cfg, device="cpu")
    with torch.no_grad():
        sae.b_enc.copy_(0.2 * torch.randn_like(sae.b_enc))
        sae.b_dec.copy_(0.5 * torch.randn_like(sae.b_dec))
        if not cfg.tied_weights:
            sae.W_dec.mul_(2 * torch.rand(cfg.n_instances, cfg.n_hidden_ae, 1) + 0.5)
    return sae


def bare(Learner, reference: ref.AutoEncoder, use_reference_for: tuple[str, ...] = ()) -> nn.Module:
    """The learner's class, with the reference's parameters, without running the learner's __init__."""
    obj = Learner.__new__(Learner)
    nn.Module.__init__(obj)
    obj.cfg = reference.cfg
    for name, param in reference.named_parameters():
        setattr(obj, name, nn.Parameter(param.detach().clone()))
    for method in use_reference_for:
        setattr(obj, method, types.MethodType(getattr(ref.AutoEncoder, method), obj))
    return obj


def _params(obj) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in obj.named_parameters()}


# ------------------------------------------------------------------------------------------ __init__

@exercise_check("AutoEncoder.__init__")
def check_init(AutoEncoder) -> None:
    ex = "AutoEncoder.__init__"
    for cfg in (CFG, TIED):
        sae = call_learner(ex, AutoEncoder, cfg, device="cpu")
        if not isinstance(sae, nn.Module) or not hasattr(sae, "_parameters"):
            raise CheckFailed(ex, "the object is not a working nn.Module.", "call super().__init__() first.")
        params = dict(sae.named_parameters())
        inst, d_in, d_hid = cfg.n_instances, cfg.n_input_ae, cfg.n_hidden_ae
        expected = {"W_enc": (inst, d_in, d_hid), "b_enc": (inst, d_hid), "b_dec": (inst, d_in)}
        if not cfg.tied_weights:
            expected["W_dec"] = (inst, d_hid, d_in)
        elif "W_dec" in params:
            raise CheckFailed(ex, "with tied_weights=True there should be no W_dec parameter.",
                              "the tied decoder is W_enc transposed; only create W_dec when the weights are untied.")
        for name, shape in expected.items():
            if name not in params:
                plain = isinstance(getattr(sae, name, None), torch.Tensor)
                raise CheckFailed(ex, f"{name} is not a parameter of the module.",
                                  f"wrap it: self.{name} = nn.Parameter(...), so the optimizer trains it." if plain
                                  else f"create self.{name} with shape {list(shape)}.")
            if tuple(params[name].shape) != shape:
                raise CheckFailed(ex, f"{name} has shape {list(params[name].shape)}; expected {list(shape)}.",
                                  "W_enc is [inst, d_in, d_hidden], W_dec is [inst, d_hidden, d_in].")
        for name in ("b_enc", "b_dec"):
            if params[name].abs().max() > 0:
                raise CheckFailed(ex, f"{name} does not start at zero.", "initialise both biases with torch.zeros.")
        if getattr(sae, "cfg", None) is not cfg:
            raise CheckFailed(ex, "self.cfg is not the config passed in.", "store it: self.cfg = cfg.")

    # The initial weights' scale, on a config big enough to measure it.
    big = ref.AutoEncoderConfig(n_instances=4, n_input_ae=32, n_hidden_ae=64)
    sae = call_learner(ex, AutoEncoder, big, device="cpu")
    want = math.sqrt(2 / (32 + 64))
    for name in ("W_enc", "W_dec"):
        W = getattr(sae, name).detach()
        if W.abs().max() == 0:
            raise CheckFailed(ex, f"{name} is all zeros.", "weights start random (xavier_normal), biases at zero.")
        if torch.equal(W[0], W[1]):
            raise CheckFailed(ex, f"every instance starts with the same {name}.",
                              "draw a separate random matrix for each instance (one randn of the full shape).")
        if abs(W.mean().item()) > 0.1 * want + 0.01 and W.min() >= 0:
            raise CheckFailed(ex, f"{name} is never negative.", "use a normal distribution (xavier_normal), not rand.")
        std = W.std().item()
        if not 0.85 * want < std < 1.15 * want:
            torch_3d = math.sqrt(2 / (W.shape[1] * W.shape[2] + W.shape[0] * W.shape[2]))
            hint = ("nn.init.xavier_normal_ on the stacked 3D tensor counts the instance axis into the fans;"
                    " use the given xavier_normal(*shape), which treats the last two dims as the matrix."
                    if abs(std - torch_3d) < 0.15 * torch_3d else
                    "use the given xavier_normal(*shape): std = sqrt(2 / (fan_in + fan_out)).")
            raise CheckFailed(ex, f"{name} has standard deviation {std:.3f}; expected about {want:.3f}.", hint)


# ------------------------------------------------------------------------------ normalize_and_return_W_dec

@exercise_check("AutoEncoder.normalize_and_return_W_dec")
def check_normalize_and_return_W_dec(AutoEncoder) -> None:
    ex = "AutoEncoder.normalize_and_return_W_dec"
    shape, dims = (CFG.n_instances, CFG.n_hidden_ae, CFG.n_input_ae), "inst, d_hidden, d_in"

    # Untied: unit-norm rows, normalised in place, still the trainable parameter.
    reference = reference_sae(CFG)
    with torch.no_grad():
        reference.W_dec[1, 2] = 0.0  # a zero row: only the eps keeps it from becoming NaN
    learner = bare(AutoEncoder, reference)
    raw = reference.W_dec.detach().clone()
    out = call_learner(ex, learner.normalize_and_return_W_dec)
    if isinstance(out, torch.Tensor) and out.shape == shape and torch.isnan(out).any():
        raise CheckFailed(ex, "a zero row became NaN.", "add cfg.weight_normalize_eps to the norms before dividing.")
    expect_tensor(ex, out, "the returned decoder", shape, dims)
    expected = raw / (raw.norm(dim=-1, keepdim=True) + CFG.weight_normalize_eps)
    compare(ex, out, expected, "the returned decoder", mistakes={
        "you normalised over the latents (dim 1); normalise each latent's row over d_in (the last dim).":
            raw / (raw.norm(dim=1, keepdim=True) + CFG.weight_normalize_eps),
        "the rows are not normalised: divide W_dec by its rows' norms.": raw,
    })
    if not out.requires_grad:
        raise CheckFailed(ex, "the returned decoder has no gradient, so W_dec would never train.",
                          "return the parameter self.W_dec (after normalising self.W_dec.data), not a .data tensor.")
    if not close(learner.W_dec, expected):
        raise CheckFailed(ex, "self.W_dec itself was not normalised.",
                          "normalise in place, self.W_dec.data = ..., so the stored decoder stays unit-norm.")

    # Tied: W_enc's transpose, rows normalised, W_enc untouched.
    reference = reference_sae(TIED)
    learner = bare(AutoEncoder, reference)
    W_enc = reference.W_enc.detach().clone()
    out = call_learner(ex, learner.normalize_and_return_W_dec)
    if isinstance(out, torch.Tensor) and out.shape == W_enc.shape:
        raise CheckFailed(ex, f"with tied weights the decoder has shape {list(W_enc.shape)}; expected [{dims}].",
                          "transpose W_enc: W_enc.transpose(-1, -2).")
    expect_tensor(ex, out, "the tied decoder", shape, dims)
    W_T = W_enc.transpose(-1, -2)
    compare(ex, out, W_T / (W_T.norm(dim=-1, keepdim=True) + TIED.weight_normalize_eps), "the tied decoder", mistakes={
        "with tied weights, normalise each row of W_enc's transpose (over d_in), not over the latents.":
            W_T / (W_T.norm(dim=1, keepdim=True) + TIED.weight_normalize_eps),
        "with tied weights the rows are not normalised.": W_T,
    })
    if not torch.equal(learner.W_enc.detach(), W_enc):
        raise CheckFailed(ex, "with tied weights, W_enc was changed.",
                          "leave W_enc alone: return a normalised copy of its transpose.")
    if not out.requires_grad:
        raise CheckFailed(ex, "the tied decoder has no gradient.", "compute it from self.W_enc, not self.W_enc.data.")


# -------------------------------------------------------------------------------------------- forward

@exercise_check("AutoEncoder.forward")
def check_forward(AutoEncoder) -> None:
    # Both branches the spec names: untied (W_dec) and tied (the decoder is W_enc's transpose).
    for cfg in (CFG, TIED):
        _check_forward_on(AutoEncoder, cfg)


def _check_forward_on(AutoEncoder, cfg: ref.AutoEncoderConfig) -> None:
    ex = "AutoEncoder.forward"
    tied = " (tied_weights=True)" if cfg.tied_weights else ""
    reference = reference_sae(cfg)
    learner = bare(AutoEncoder, reference, use_reference_for=("normalize_and_return_W_dec",))
    batch, inst, d_in, d_hid = 8, cfg.n_instances, cfg.n_input_ae, cfg.n_hidden_ae
    h = torch.randn(batch, inst, d_in) + reference.b_dec.detach()
    h_before = h.clone()
    raw_W_dec = (reference.W_enc.transpose(-1, -2) if cfg.tied_weights else reference.W_dec).detach().clone()
    result = call_learner(ex, learner, h)
    if not isinstance(result, tuple) or len(result) != 5:
        length = f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""
        raise CheckFailed(ex, f"returned {type(result).__name__}{length}; expected 5 values.",
                          "return l1_loss, l2_loss, loss, acts, h_reconstructed (in that order).")
    l1, l2, loss, acts, h_rec = result
    if not torch.equal(h, h_before):
        raise CheckFailed(ex, "forward changed its input h in place.", "use h - self.b_dec, not h -= self.b_dec.")
    expect_tensor(ex, acts, "acts", (batch, inst, d_hid), "batch, inst, d_hidden")
    expect_tensor(ex, h_rec, "h_reconstructed", (batch, inst, d_in), "batch, inst, d_in")
    expect_tensor(ex, l1, "l1_loss", (batch, inst), "batch, inst")
    expect_tensor(ex, l2, "l2_loss", (batch, inst), "batch, inst")
    expect_tensor(ex, loss, "loss", (), "")

    ref_l1, ref_l2, ref_loss, ref_acts, ref_h_rec = reference(h)  # with gradients, compared below
    with torch.no_grad():
        W_enc, b_enc, b_dec = reference.W_enc.detach(), reference.b_enc.detach(), reference.b_dec.detach()
        W_dec = reference.normalize_and_return_W_dec().detach()
        pre = torch.einsum("bid,idh->bih", h - b_dec, W_enc)
    compare(ex, acts, ref_acts, "acts" + tied, mistakes={
        "you forgot to centre the input: encode h - b_dec, not h.":
            F.relu(torch.einsum("bid,idh->bih", h, W_enc) + b_enc),
        "you forgot b_enc in the encoder.": F.relu(pre),
        "you forgot the ReLU on the latents.": pre + b_enc,
    }, generic_hint="acts = ReLU((h - b_dec) @ W_enc + b_enc).")
    compare(ex, h_rec, ref_h_rec, "h_reconstructed" + tied, mistakes={
        "decode with the normalised decoder, self.normalize_and_return_W_dec(), not the raw W_dec"
        + (" (with tied weights: not the raw W_enc transposed)." if tied else "."):
            torch.einsum("bih,ihd->bid", ref_acts.detach(), raw_W_dec) + b_dec,
        "you forgot to add b_dec back after decoding.": torch.einsum("bih,ihd->bid", ref_acts.detach(), W_dec),
    }, generic_hint="h_reconstructed = acts @ W_dec_normalised + b_dec.")
    compare(ex, l1, ref_l1, "l1_loss" + tied, mistakes={
        "that looks like l2_loss: return (l1_loss, l2_loss, ...) in that order.": ref_l2,
        "you averaged the L1 over the latents; sum it (every active latent costs).": ref_acts.mean(-1),
        "the L1 penalty is the sum of |acts|, not of acts squared.": ref_acts.pow(2).sum(-1),
    })
    compare(ex, l2, ref_l2, "l2_loss" + tied, mistakes={
        "you summed the squared error over d_in; average it.": (ref_h_rec - h).pow(2).sum(-1),
        "l2_loss is the mean squared error, not the norm of the error.": (ref_h_rec - h).norm(dim=-1),
    })
    compare(ex, loss, ref_loss, "loss" + tied, mistakes={
        "you averaged over instances; sum over them (each instance is its own SAE).": ref_loss / inst,
        "you forgot to multiply the L1 term by cfg.l1_coeff.": (ref_l1 + ref_l2).mean(0).sum(),
        "you summed over the batch; take the mean over the batch.": ref_loss * batch,
    }, generic_hint="loss = (l1_coeff * l1_loss + l2_loss).mean(0).sum().")
    if not loss.requires_grad:
        raise CheckFailed(ex, "the loss has no gradient.", "avoid .item(), .detach() and .data on the way.")

    # The values are right; training follows the gradients. Each loss term is checked on its own, so that a
    # term computed from a detached tensor shows even when the total's gradient is dominated by the other.
    mine, theirs = dict(learner.named_parameters()), dict(reference.named_parameters())
    compare_gradients(ex, l1, ref_l1, "l1_loss" + tied, mine, theirs, hints=(
        "compute l1_loss from acts as they are, not acts.detach(): the L1 penalty's gradient is what pushes"
        " latents towards zero; without it latents fire on most inputs."))
    compare_gradients(ex, l2, ref_l2, "l2_loss" + tied, mine, theirs, hints=(
        "compute l2_loss from h_reconstructed (and acts) as they are, not detached: the reconstruction error's"
        " gradient is what teaches the SAE to reconstruct; without it the L1 penalty kills every latent."))
    compare_gradients(ex, loss, ref_loss, "loss" + tied, mine, theirs, hints=(
        "build the loss from l1_loss and l2_loss themselves, not from detached copies or .item()."))


# ---------------------------------------------------------------------------------------- resampling

def _dead_pattern(window: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """frac_active_in_window with some dead latents, one that fired only early in the window (alive),
    and instance 2 with none dead."""
    frac = torch.rand(window, CFG.n_instances, CFG.n_hidden_ae) * 0.1 + 0.01
    dead = torch.zeros(CFG.n_instances, CFG.n_hidden_ae, dtype=torch.bool)
    dead[0, [1, 4]] = True
    dead[1, [0, 2, 5]] = True
    frac[:, dead] = 0.0
    frac[1:, 0, 3] = 0.0  # fired in the first step only: alive
    return frac, dead


def _check_resampled_params(ex, learner, before, dead, cfg, zero_rows_hint: str | None = None) -> None:
    """Live latents untouched; dead ones: unit decoder rows, zero b_enc. `zero_rows_hint` names the likely
    cause when a new decoder row is zero (the input it came from had no reconstruction error)."""
    W_enc, b_enc = learner.W_enc.detach(), learner.b_enc.detach()
    live = ~dead
    if not close(W_enc.transpose(1, 2)[live], before["W_enc"].transpose(1, 2)[live], atol=1e-6) or \
            not close(b_enc[live], before["b_enc"][live], atol=1e-6) or \
            (not cfg.tied_weights and not close(learner.W_dec.detach()[live], before["W_dec"][live], atol=1e-6)):
        raise CheckFailed(ex, "parameters of live latents changed.", "only touch the dead latents' rows and columns.")
    if not close(learner.b_dec.detach(), before["b_dec"], atol=1e-6):
        raise CheckFailed(ex, "b_dec changed.", "resampling leaves b_dec alone.")
    if (b_enc[dead] != 0).any():
        raise CheckFailed(ex, "b_enc of resampled latents is not 0.", "set b_enc[inst, latent] = 0 for each of them.")
    rows = learner.W_dec.detach()[dead]
    if zero_rows_hint and not torch.isnan(rows).any() and (rows.norm(dim=-1) < 1e-3).any():
        raise CheckFailed(ex, "some resampled latents got a zero decoder row: they were pointed at inputs with"
                              " zero reconstruction loss.", zero_rows_hint)
    if torch.isnan(rows).any() or not torch.allclose(rows.norm(dim=-1), torch.ones(len(rows)), atol=1e-4):
        raise CheckFailed(ex, "decoder rows of resampled latents do not have unit norm.",
                          "normalise each new direction before writing it into W_dec.")


def _expect_mask(ex, got, dead) -> None:
    expect_tensor(ex, got, "the returned mask", tuple(dead.shape), "inst, d_hidden", dtype=torch.bool)
    if (got & ~dead).any():
        raise CheckFailed(ex, "latents that fired in the window were resampled.",
                          "a latent is dead only if it never fired in the whole window: frac_active.sum(0) == 0,"
                          " over the window axis (dim 0).")
    if (dead & ~got).any():
        raise CheckFailed(ex, "some dead latents were not resampled.", "resample every latent with zero firing.")


@exercise_check("AutoEncoder.resample_neurons_simple")
def check_resample_neurons_simple(AutoEncoder) -> None:
    ex = "AutoEncoder.resample_neurons_simple"
    reference = reference_sae(CFG)
    learner = bare(AutoEncoder, reference, use_reference_for=("forward", "normalize_and_return_W_dec"))
    frac, dead = _dead_pattern()
    h = torch.randn(16, CFG.n_instances, CFG.n_input_ae)
    before = _params(learner)
    mask = call_learner(ex, learner.resample_neurons_simple, h, frac, 0.3)
    _expect_mask(ex, mask, dead)
    _check_resampled_params(ex, learner, before, dead, CFG)
    rows = learner.W_dec.detach()[dead]
    cols = learner.W_enc.detach().transpose(1, 2)[dead]
    if close(cols, rows):
        raise CheckFailed(ex, "encoder columns of resampled latents are not scaled.",
                          "W_enc[inst, :, latent] = direction * neuron_resample_scale.")
    if not close(cols, 0.3 * rows, atol=1e-4):
        raise CheckFailed(ex, "encoder columns are not neuron_resample_scale times the decoder rows.",
                          "use the same unit direction for both, scaled by neuron_resample_scale in the encoder.")
    if close(rows[0], rows[1]):
        raise CheckFailed(ex, "every resampled latent got the same direction.", "draw one random vector per latent.")

    # Nothing dead: nothing changes, and nothing crashes.
    learner = bare(AutoEncoder, reference, use_reference_for=("forward", "normalize_and_return_W_dec"))
    before = _params(learner)
    mask = call_learner(ex, learner.resample_neurons_simple, h, torch.rand(5, CFG.n_instances, CFG.n_hidden_ae) + 0.01,
                        0.3, crash_hint="it crashed when no latent was dead: return the all-False mask early.")
    _expect_mask(ex, mask, torch.zeros_like(dead))
    if any(not torch.equal(before[k], v) for k, v in _params(learner).items()):
        raise CheckFailed(ex, "parameters changed although no latent was dead.", "only resample dead latents.")


@exercise_check("AutoEncoder.resample_neurons_advanced")
def check_resample_neurons_advanced(AutoEncoder) -> None:
    ex = "AutoEncoder.resample_neurons_advanced"
    scale = 0.3
    reference = reference_sae(CFG)
    with torch.no_grad():
        reference.b_enc.fill_(-100.0)  # every latent silent: the loss on an input is exactly mean((h - b_dec)^2)
    reference.normalize_and_return_W_dec()  # as forward (called inside) would: live rows must not move
    learner = bare(AutoEncoder, reference, use_reference_for=("forward", "normalize_and_return_W_dec"))
    frac, dead = _dead_pattern()
    b_dec = reference.b_dec.detach()
    # Every input sits at b_dec (zero loss), except one planted input of instance 0 and one of instance 2.
    # Instance 1 has dead latents but zero loss everywhere: it must be left alone.
    h = b_dec.expand(64, -1, -1).clone()
    planted = torch.randn(CFG.n_input_ae)
    h[37, 0] += planted
    h[12, 2] += torch.randn(CFG.n_input_ae)
    expected_dead = dead.clone()
    expected_dead[1] = False
    before = _params(learner)
    mask = call_learner(ex, learner.resample_neurons_advanced, h, frac, scale, crash_hint=(
        "skip instances with no dead latents, or with zero loss on every input (nothing to sample from)."))
    if isinstance(mask, torch.Tensor) and mask.shape == dead.shape and mask.dtype == torch.bool and mask[1].any():
        raise CheckFailed(ex, "an instance whose loss is zero on every input was resampled.",
                          "skip instances whose squared losses sum to 0 (nothing to sample); and pick inputs with"
                          " probability proportional to their squared l2_loss, so zero-loss inputs never are.")
    _expect_mask(ex, mask, expected_dead)
    _check_resampled_params(ex, learner, before, expected_dead, CFG, zero_rows_hint=(
        "inputs with zero loss must never be picked. torch.multinomial(..., replacement=False) draws distinct"
        " inputs, so with fewer nonzero-loss inputs than dead latents it silently takes zero-probability ones:"
        " use replacement=True."))

    rows = learner.W_dec.detach()[0, dead[0]]
    want = F.normalize(planted, dim=0)
    if close(rows, F.normalize(h[37, 0], dim=0).expand_as(rows), atol=1e-4):
        raise CheckFailed(ex, "the new directions point at the raw input.",
                          "centre the chosen inputs first: h[i, inst] - b_dec[inst].")
    if not close(rows, want.expand_as(rows), atol=1e-4):
        raise CheckFailed(ex, "the dead latents of instance 0 were not pointed at its one input with nonzero loss.",
                          "sample inputs with probability proportional to their squared l2_loss (torch.multinomial).")
    live_norm = before["W_enc"][0].norm(dim=0)[~dead[0]].mean()
    cols = learner.W_enc.detach()[0][:, dead[0]].T
    all_norm = before["W_enc"][0].norm(dim=0).mean()
    if not close(cols, rows * scale * live_norm, atol=1e-4):
        if close(cols, rows * scale, atol=1e-4):
            hint = "scale the encoder columns by neuron_resample_scale times the mean norm of the live encoder columns."
        elif close(cols, rows * scale * all_norm, atol=1e-4):
            hint = "average the norms of the live latents' encoder columns only, not of all of them."
        elif close(cols, rows, atol=1e-4):
            hint = "the encoder columns are not scaled: direction * neuron_resample_scale * mean live norm."
        else:
            hint = "encoder column = decoder row * neuron_resample_scale * mean norm of live encoder columns."
        raise CheckFailed(ex, "encoder columns of resampled latents have the wrong scale or direction.", hint)

    # Squared loss: two planted inputs whose losses differ by 2x are picked 4:1, not 2:1.
    many = ref.AutoEncoderConfig(n_instances=1, n_input_ae=4, n_hidden_ae=400)
    reference = ref.AutoEncoder(many, device="cpu")
    with torch.no_grad():
        reference.b_enc.fill_(-100.0)
    learner = bare(AutoEncoder, reference, use_reference_for=("forward", "normalize_and_return_W_dec"))
    h = torch.zeros(8, 1, 4)
    h[2, 0, 0] = 1.0  # l2_loss 1/4
    h[5, 0, 1] = math.sqrt(2.0)  # l2_loss 2/4: picked 4x as often as input 2 when p ~ loss^2
    frac = torch.zeros(3, 1, 400)
    frac[:, 0, 0] = 0.5
    call_learner(ex, learner.resample_neurons_advanced, h, frac, scale)
    rows = learner.W_dec.detach()[0, 1:]
    share = (rows[:, 1].abs() > 0.99).float().mean().item()
    if abs(share - 0.8) > 0.08:
        hint = ("the probabilities must be proportional to the squared loss (l2_loss ** 2), not the loss itself."
                if abs(share - 2 / 3) < 0.08 else "sample with probabilities proportional to l2_loss ** 2.")
        raise CheckFailed(ex, f"an input with twice the loss of another was chosen {share:.0%} of the time;"
                              " expected 80%.", hint)


CHECKS = {
    "AutoEncoder.__init__": (check_init, "AutoEncoder"),
    "AutoEncoder.normalize_and_return_W_dec": (check_normalize_and_return_W_dec, "AutoEncoder"),
    "AutoEncoder.forward": (check_forward, "AutoEncoder"),
    "AutoEncoder.resample_neurons_simple": (check_resample_neurons_simple, "AutoEncoder"),
    "AutoEncoder.resample_neurons_advanced": (check_resample_neurons_advanced, "AutoEncoder"),
}
