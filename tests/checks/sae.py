"""Checks for section 2 (notebooks/2_sae_training): the AutoEncoder's five exercises. (Section 2b's
architectures, TopK, JumpReLU and BatchTopK, are checked in tests/checks/sae_variants.py.)

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


class _Snapshot(dict):
    """Copies of the parameters' values, by name, and in `.objects` the parameter objects themselves: replacing
    one (self.W_enc = nn.Parameter(...)) instead of writing into it must show."""

    objects: dict[str, nn.Parameter]


def _params(obj) -> _Snapshot:
    snapshot = _Snapshot({name: p.detach().clone() for name, p in obj.named_parameters()})
    snapshot.objects = dict(obj.named_parameters())
    return snapshot


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
            if not params[name].requires_grad:
                raise CheckFailed(ex, f"{name} has requires_grad=False, so the optimizer would never change it.",
                                  f"create it with nn.Parameter(...) as it is (requires_grad=True): no"
                                  f" requires_grad=False or .requires_grad_(False) on self.{name}.")
            if tuple(params[name].shape) != shape:
                raise CheckFailed(ex, f"{name} has shape {list(params[name].shape)}; expected {list(shape)}.",
                                  "every parameter has the instance axis first: b_enc is [inst, d_hidden], b_dec"
                                  " [inst, d_in] (one bias per instance)." if name.startswith("b_") else
                                  "W_enc is [inst, d_in, d_hidden], W_dec is [inst, d_hidden, d_in].")
        for name in ("b_enc", "b_dec"):
            if params[name].abs().max() > 0:
                raise CheckFailed(ex, f"{name} does not start at zero.", "initialise both biases with torch.zeros.")
        if getattr(sae, "cfg", None) is not cfg:
            raise CheckFailed(ex, "self.cfg is not the config passed in.", "store it: self.cfg = cfg.")

    # The device argument is used (a machine without a GPU can still tell: the "meta" device).
    sae = call_learner(ex, AutoEncoder, CFG, device="meta")
    if isinstance(sae, nn.Module) and any(p.device.type != "meta" for p in sae.parameters()):
        raise CheckFailed(ex, "AutoEncoder(cfg, device='meta') put its parameters on the CPU.",
                          "finish __init__ with self.to(get_device(device)), so the SAE lands on the device asked for.")

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

    # Untied: unit-norm rows, normalised in place, still the trainable parameter. (The default eps, 1e-8: any
    # eps that small gives the same decoder, F.normalize's clamp included; what the eps is for, a zero row that
    # must not become NaN, is checked.)
    cfg = CFG
    reference = reference_sae(cfg)
    with torch.no_grad():
        reference.W_dec[1, 2] = 0.0  # a zero row: only the eps keeps it from becoming NaN
    learner = bare(AutoEncoder, reference)
    parameter = learner.W_dec
    raw = reference.W_dec.detach().clone()
    out = call_learner(ex, learner.normalize_and_return_W_dec)
    if isinstance(out, torch.Tensor) and out.shape == shape and torch.isnan(out).any():
        raise CheckFailed(ex, "a zero row became NaN.", "add cfg.weight_normalize_eps to the norms before dividing.")
    expect_tensor(ex, out, "the returned decoder", shape, dims)
    eps = cfg.weight_normalize_eps
    expected = raw / (raw.norm(dim=-1, keepdim=True) + eps)
    W_enc_T = reference.W_enc.detach().transpose(-1, -2)
    compare(ex, out, expected, "the returned decoder", mistakes={
        "you normalised over the latents (dim 1); normalise each latent's row over d_in (the last dim).":
            raw / (raw.norm(dim=1, keepdim=True) + eps),
        "the rows are not normalised: divide W_dec by its rows' norms.": raw,
        "normalise each latent's row on its own, .norm(dim=-1, keepdim=True), not the whole matrix by one norm.":
            raw / (raw.norm(dim=(1, 2), keepdim=True) + eps),
        "divide by the rows' Euclidean (L2) norms, .norm(dim=-1), not the sum of their absolute values.":
            raw / (raw.abs().sum(-1, keepdim=True) + eps),
        "with tied_weights=False, return the normalised W_dec, not W_enc's transpose.":
            W_enc_T / (W_enc_T.norm(dim=-1, keepdim=True) + eps),
    })
    if learner.W_dec is not parameter:
        raise CheckFailed(ex, "self.W_dec was replaced by a new object.",
                          "the optimizer holds the original parameter, so a new nn.Parameter would never train:"
                          " write the normalised values into self.W_dec.data instead.")
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
        "with tied weights, the rows you returned are not normalised: divide W_enc's transpose by its rows' norms.":
            W_T,
    })
    if not torch.equal(learner.W_enc.detach(), W_enc):
        raise CheckFailed(ex, "with tied weights, W_enc was changed.",
                          "leave W_enc alone: return a normalised copy of its transpose.")
    if not out.requires_grad:
        raise CheckFailed(ex, "the tied decoder has no gradient.", "compute it from self.W_enc, not self.W_enc.data.")
    # The tied decoder is trained through: W_enc's gradient must flow through the norm too.
    compare_gradients(ex, out, reference.normalize_and_return_W_dec(), "the tied decoder",
                      dict(learner.named_parameters()), dict(reference.named_parameters()), hints=(
                          "divide by the norm as it is, not by norm.detach(): the norm depends on W_enc, and the"
                          " gradient through it keeps the decoder's rows from just growing."))


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
        "each instance encodes its own input h[:, i]: you gave every instance instance 0's, h[:, 0].":
            F.relu(torch.einsum("bid,idh->bih", h[:, :1] - b_dec, W_enc) + b_enc),
    }, generic_hint="acts = ReLU((h - b_dec) @ W_enc + b_enc).")
    compare(ex, h_rec, ref_h_rec, "h_reconstructed" + tied, mistakes={
        "decode with the normalised decoder, self.normalize_and_return_W_dec(), not the raw W_dec"
        + (" (with tied weights: not the raw W_enc transposed)." if tied else "."):
            torch.einsum("bih,ihd->bid", ref_acts.detach(), raw_W_dec) + b_dec,
        "you forgot to add b_dec back after decoding.": torch.einsum("bih,ihd->bid", ref_acts.detach(), W_dec),
        **({} if tied else {
            "with tied_weights=False, decode with W_dec (self.normalize_and_return_W_dec()), not W_enc's transpose.":
                torch.einsum("bih,ihd->bid", ref_acts.detach(), W_enc.transpose(-1, -2) / (
                    W_enc.transpose(-1, -2).norm(dim=-1, keepdim=True) + cfg.weight_normalize_eps)) + b_dec,
        }),
    }, generic_hint="h_reconstructed = acts @ W_dec_normalised + b_dec.")
    compare(ex, l1, ref_l1, "l1_loss" + tied, mistakes={
        "that looks like l2_loss: return (l1_loss, l2_loss, ...) in that order.": ref_l2,
        "you averaged the L1 over the latents; sum it (every active latent costs).": ref_acts.mean(-1),
        "the L1 penalty is the sum of |acts|, not of acts squared.": ref_acts.pow(2).sum(-1),
    })
    compare(ex, l2, ref_l2, "l2_loss" + tied, mistakes={
        "you summed the squared error over d_in; average it.": (ref_h_rec - h).pow(2).sum(-1),
        "l2_loss is the mean squared error, not the norm of the error.": (ref_h_rec - h).norm(dim=-1),
        "compare the reconstruction with h itself, not with the centred h - b_dec: h_reconstructed already"
        " includes b_dec.": (ref_h_rec - (h - b_dec)).pow(2).mean(-1),
    })
    # A coefficient written in (0.5, the default, or 1e-3 from a paper) instead of cfg.l1_coeff shows as a
    # round number that the loss implies for the L1 term.
    with torch.no_grad():
        implied = ((loss.detach() - ref_l2.mean(0).sum()) / ref_l1.mean(0).sum()).item()
    written_in = {}
    if math.isfinite(implied) and implied > 0 and abs(implied - cfg.l1_coeff) > 1e-4 * cfg.l1_coeff \
            and abs(implied - float(f"{implied:.2g}")) < 1e-4 * implied:
        written_in[f"the L1 term was weighted by {float(f'{implied:.2g}'):g}, not cfg.l1_coeff ({cfg.l1_coeff}):"
                   " use self.cfg.l1_coeff, not a number written in."] = loss.detach()
    compare(ex, loss, ref_loss, "loss" + tied, mistakes={
        **written_in,
        "you averaged over instances; sum over them (each instance is its own SAE).": ref_loss / inst,
        "you forgot to multiply the L1 term by cfg.l1_coeff.": (ref_l1 + ref_l2).mean(0).sum(),
        "you summed over the batch; take the mean over the batch.": ref_loss * batch,
    }, generic_hint="loss = (l1_coeff * l1_loss + l2_loss).mean(0).sum().")
    if not loss.requires_grad:
        raise CheckFailed(ex, "the loss has no gradient.", "avoid .item(), .detach() and .data on the way.")

    # The values are right; training follows the gradients. Each loss term is checked on its own, so that a
    # term computed from a detached tensor shows even when the total's gradient is dominated by the other.
    mine, theirs = dict(learner.named_parameters()), dict(reference.named_parameters())
    centring_hint = ("centre the input with self.b_dec itself, h - self.b_dec, not a detached copy: b_dec learns"
                     " from the encoder's side too.")
    compare_gradients(ex, l1, ref_l1, "l1_loss" + tied, mine, theirs, hints={
        None: "compute l1_loss from acts as they are, not acts.detach(): the L1 penalty's gradient is what pushes"
              " latents towards zero; without it latents fire on most inputs.",
        "b_dec": centring_hint})
    l2_hint = ("compute l2_loss from h_reconstructed (and acts) as they are, not detached: the reconstruction"
               " error's gradient is what teaches the SAE to reconstruct; without it the L1 penalty kills every"
               " latent.")
    decoder_hint = ("the decoder's weights get no reconstruction gradient: call self.normalize_and_return_W_dec()"
                    " outside torch.no_grad() and decode with what it returns (not .data or a detached copy).")
    l2_hints = {None: l2_hint}
    if not cfg.tied_weights:
        l2_hints["W_dec"] = decoder_hint
    elif l2.requires_grad:
        # Tied: W_enc is the decoder too. If acts' path is right but the decoder's is cut, say so.
        l2_hints["W_enc"] = ("with tied weights W_enc is the decoder too, and the gradient through one of its two"
                             " uses is wrong. Decode with self.normalize_and_return_W_dec(), outside torch.no_grad(),"
                             " with nothing detached on the way (not .data, not the norm): or, if you did, "
                             + l2_hint)
    l2_hints["b_dec"] = centring_hint + " (Or h_reconstructed was detached.)"
    compare_gradients(ex, l2, ref_l2, "l2_loss" + tied, mine, theirs, hints=l2_hints)
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
    frac[:, 1, 3] = 0.0
    frac[2, 1, 3] = 1 / 1024  # fired once in a batch of 1024, once in the window: rare, and alive
    return frac, dead


ZERO_ROWS_HINT = ("inputs with zero loss must never be picked: sample with torch.multinomial(probabilities, n_dead,"
                  " replacement=True). Without replacement (or with topk) the picks are distinct inputs, so when"
                  " fewer inputs have a loss than latents are dead, zero-loss inputs are taken.")
TIED_CRASH_HINT = ("with tied_weights=True there is no W_dec: the decoder is W_enc's transpose. Write the new"
                   " direction into W_dec only when the weights are untied; the encoder column carries it otherwise.")


def _new_directions(learner, dead: torch.Tensor, cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """(decoder rows, encoder columns) of the dead latents, each [n_dead, d_in]. Tied: the decoder row is
    the normalised encoder column, as normalize_and_return_W_dec makes it."""
    cols = learner.W_enc.detach().transpose(1, 2)[dead]
    rows = F.normalize(cols, dim=-1) if cfg.tied_weights else learner.W_dec.detach()[dead]
    return rows, cols


def _check_resampled_params(ex, learner, before, dead, cfg, zero_rows_hint: str | None = None) -> None:
    """Live latents untouched; dead ones: unit decoder rows, zero b_enc. `zero_rows_hint` names the likely
    cause when a new decoder row is zero (the input it came from had no reconstruction error)."""
    replaced = [name for name, param in before.objects.items() if learner._parameters.get(name) is not param]
    if replaced:
        verb = "was replaced by a new object" if len(replaced) == 1 else "were replaced by new objects"
        raise CheckFailed(ex, f"{', '.join(replaced)} {verb}.",
                          "the optimizer holds the original parameters, so new nn.Parameters would never train (and"
                          " Adam's reset finds nothing): write into .data, e.g."
                          " self.W_enc.data[inst, :, latent] = ... .")
    W_enc, b_enc = learner.W_enc.detach(), learner.b_enc.detach()
    live = ~dead
    if dead.any() and all(torch.equal(v, before[k]) for k, v in _params(learner).items()):
        raise CheckFailed(ex, "no parameter changed.", "write into the parameters themselves, indexing once:"
                          " self.W_enc.data[inst, :, latent] = ... . A chain like W_enc[inst][:, latents][...] = ..."
                          " or a copy (.clone(), a local variable) changes a copy that is then thrown away.")
    if not close(W_enc.transpose(1, 2)[live], before["W_enc"].transpose(1, 2)[live], atol=1e-6) or \
            not close(b_enc[live], before["b_enc"][live], atol=1e-6) or \
            (not cfg.tied_weights and not close(learner.W_dec.detach()[live], before["W_dec"][live], atol=1e-6)):
        raise CheckFailed(ex, "parameters of live latents changed.", "only touch the dead latents' rows and columns.")
    if not close(learner.b_dec.detach(), before["b_dec"], atol=1e-6):
        raise CheckFailed(ex, "b_dec changed.", "resampling leaves b_dec alone.")
    if (b_enc[dead] != 0).any():
        raise CheckFailed(ex, "b_enc of resampled latents is not 0.", "set b_enc[inst, latent] = 0 for each of them.")
    if cfg.tied_weights:
        return  # the decoder rows are normalised encoder columns: the callers check those columns
    rows = learner.W_dec.detach()[dead]
    if close(rows, before["W_dec"][dead], atol=1e-6):
        raise CheckFailed(ex, "the decoder rows of resampled latents did not change.",
                          "write each new unit direction into W_dec[inst, latent, :] as well as W_enc's column.")
    if zero_rows_hint and (torch.isnan(rows).any() or (rows.norm(dim=-1) < 1e-3).any()):
        raise CheckFailed(ex, "some resampled latents got a zero (or NaN, from 0 / 0) decoder row: they were"
                              " pointed at inputs with zero reconstruction loss.", zero_rows_hint)
    if torch.isnan(rows).any() or not torch.allclose(rows.norm(dim=-1), torch.ones(len(rows)), atol=1e-4):
        cols = W_enc.transpose(1, 2)[dead]
        if not torch.isnan(rows).any() and close(cols.norm(dim=-1), torch.ones(len(rows)), atol=1e-4):
            raise CheckFailed(ex, "decoder rows of resampled latents do not have unit norm, but their encoder"
                                  " columns do.", "the scale belongs on the encoder column; the decoder row is the"
                              " unit direction itself.")
        raise CheckFailed(ex, "decoder rows of resampled latents do not have unit norm.",
                          "normalise each new direction before writing it into W_dec.")


def _expect_mask(ex, got, dead) -> None:
    expect_tensor(ex, got, "the returned mask", tuple(dead.shape), "inst, d_hidden", dtype=torch.bool)
    if (got & ~dead).any():
        raise CheckFailed(ex, "latents that fired in the window were resampled.",
                          "a latent is dead only if it never fired in the whole window: frac_active.sum(0) == 0,"
                          " over the window axis (dim 0). One that fired rarely (once in 5,000 inputs) is alive:"
                          " resampling it would wipe out a rare feature.")
    if (dead & ~got).any():
        raise CheckFailed(ex, "some dead latents were not resampled.", "resample every latent with zero firing.")


@exercise_check("AutoEncoder.resample_neurons_simple")
def check_resample_neurons_simple(AutoEncoder) -> None:
    # Both branches the spec names: untied (W_dec gets the direction) and tied (only W_enc exists).
    for cfg in (CFG, TIED):
        _check_resample_simple_on(AutoEncoder, cfg)


def _check_resample_simple_on(AutoEncoder, cfg) -> None:
    ex = "AutoEncoder.resample_neurons_simple"
    tied = " (tied_weights=True)" if cfg.tied_weights else ""
    scale = 0.3
    reference = reference_sae(cfg)
    learner = bare(AutoEncoder, reference, use_reference_for=("forward", "normalize_and_return_W_dec"))
    frac, dead = _dead_pattern()
    h = torch.randn(16, cfg.n_instances, cfg.n_input_ae)
    before = _params(learner)
    mask = call_learner(ex, learner.resample_neurons_simple, h, frac, scale,
                        crash_hint=TIED_CRASH_HINT if cfg.tied_weights else None)
    _expect_mask(ex, mask, dead)
    _check_resampled_params(ex, learner, before, dead, cfg)
    rows, cols = _new_directions(learner, dead, cfg)
    if cfg.tied_weights:
        norms = cols.norm(dim=-1)
        if close(norms, torch.ones_like(norms), atol=1e-4):
            raise CheckFailed(ex, f"encoder columns of resampled latents are not scaled{tied}.",
                              "with tied weights too, W_enc[inst, :, latent] = direction * neuron_resample_scale"
                              " (the tied decoder normalises it back to the direction).")
        if not close(norms, torch.full_like(norms, scale), atol=1e-4):
            raise CheckFailed(ex, f"encoder columns of resampled latents have norm {norms.min():.3g} to"
                                  f" {norms.max():.3g}; expected neuron_resample_scale = {scale}{tied}.",
                              "W_enc[inst, :, latent] = unit direction * neuron_resample_scale.")
    else:
        if close(cols, rows):
            raise CheckFailed(ex, "encoder columns of resampled latents are not scaled.",
                              "W_enc[inst, :, latent] = direction * neuron_resample_scale.")
        if not close(cols, scale * rows, atol=1e-4):
            ratio = (cols.norm(dim=-1) / rows.norm(dim=-1)).mean().item()
            parallel = close(F.normalize(cols, dim=-1), F.normalize(rows, dim=-1), atol=1e-4)
            raise CheckFailed(ex, "encoder columns are not neuron_resample_scale times the decoder rows" + (
                f" (they are {ratio:.3g} times them; neuron_resample_scale is {scale})." if parallel else "."),
                "use the neuron_resample_scale argument, not a number written in." if parallel else
                "use the same unit direction for both, scaled by neuron_resample_scale in the encoder.")
    if close(rows[0], rows[1]):
        raise CheckFailed(ex, f"every resampled latent got the same direction{tied}.",
                          "draw one random vector per latent.")
    if (rows >= 0).all():
        raise CheckFailed(ex, f"every new direction has only positive coordinates{tied}.",
                          "torch.rand draws from [0, 1), so all directions crowd into one corner; draw them with"
                          " torch.randn, which points every way.")

    # Nothing dead: nothing changes, and nothing crashes.
    learner = bare(AutoEncoder, reference, use_reference_for=("forward", "normalize_and_return_W_dec"))
    before = _params(learner)
    mask = call_learner(ex, learner.resample_neurons_simple, h, torch.rand(5, cfg.n_instances, cfg.n_hidden_ae) + 0.01,
                        scale, crash_hint="it crashed when no latent was dead: return the all-False mask early.")
    _expect_mask(ex, mask, torch.zeros_like(dead))
    if any(not torch.equal(before[k], v) for k, v in _params(learner).items()):
        raise CheckFailed(ex, "parameters changed although no latent was dead.", "only resample dead latents.")


@exercise_check("AutoEncoder.resample_neurons_advanced")
def check_resample_neurons_advanced(AutoEncoder) -> None:
    for cfg in (CFG, TIED):
        _check_resample_advanced_on(AutoEncoder, cfg)
    _check_more_dead_than_inputs(AutoEncoder, every_latent_dead=False)
    _check_more_dead_than_inputs(AutoEncoder, every_latent_dead=True)
    _check_squared_loss_weighting(AutoEncoder)


def _check_more_dead_than_inputs(AutoEncoder, every_latent_dead: bool) -> None:
    """One input with a reconstruction error, the rest exactly at b_dec (zero loss), three dead latents: all
    three must take that one input. With `every_latent_dead`, there are no live encoder norms to average
    (the spec's fallback is 1.0)."""
    ex = "AutoEncoder.resample_neurons_advanced"
    scale = 0.3
    cfg = ref.AutoEncoderConfig(n_instances=1, n_input_ae=4, n_hidden_ae=3 if every_latent_dead else 6)
    reference = reference_sae(cfg)
    with torch.no_grad():
        reference.b_enc.fill_(-100.0)
    reference.normalize_and_return_W_dec()
    learner = bare(AutoEncoder, reference, use_reference_for=("forward", "normalize_and_return_W_dec"))
    h = reference.b_dec.detach().expand(16, -1, -1).clone()
    planted = torch.randn(cfg.n_input_ae)
    h[5, 0] += planted
    frac = torch.full((4, 1, cfg.n_hidden_ae), 0.05)
    frac[:, 0, :3] = 0.0
    dead = frac.sum(0) == 0
    before = _params(learner)
    call_learner(ex, learner.resample_neurons_advanced, h, frac, scale, crash_hint=(
        "several dead latents may take the same input: torch.multinomial(..., replacement=True)."
        + (" And with every latent dead there are no live encoder columns to average: use 1.0." if every_latent_dead
           else "")))
    cols = learner.W_enc.detach().transpose(1, 2)[dead]
    if every_latent_dead and torch.isnan(cols).any():
        raise CheckFailed(ex, "with every latent of an instance dead, the new encoder columns are NaN.",
                          "the mean norm of no live columns is NaN: use 1.0 when none is alive, as the docstring says.")
    _check_resampled_params(ex, learner, before, dead, cfg, zero_rows_hint=ZERO_ROWS_HINT)
    rows = learner.W_dec.detach()[dead]
    if not close(rows, F.normalize(planted, dim=0).expand_as(rows), atol=1e-4):
        raise CheckFailed(ex, "with three dead latents and one input with nonzero loss, not every dead latent was"
                              " pointed at that input.", ZERO_ROWS_HINT)
    live_norm = 1.0 if every_latent_dead else before["W_enc"][0].norm(dim=0)[~dead[0]].mean()
    if not close(cols, rows * scale * live_norm, atol=1e-4):
        raise CheckFailed(ex, "encoder columns of resampled latents have the wrong scale" + (
            " when every latent is dead." if every_latent_dead else "."),
            "with no live latent, the mean live norm is 1.0: encoder column = direction * neuron_resample_scale."
            if every_latent_dead else
            "encoder column = decoder row * neuron_resample_scale * mean norm of live encoder columns.")


def _check_resample_advanced_on(AutoEncoder, cfg) -> None:
    ex = "AutoEncoder.resample_neurons_advanced"
    tied = " (tied_weights=True)" if cfg.tied_weights else ""
    scale = 0.3
    reference = reference_sae(cfg)
    frac, dead = _dead_pattern()
    b_dec = reference.b_dec.detach()
    # Instance 0's latent 0 is alive and reconstructs most inputs *exactly*: each is b_dec + 2 * its direction,
    # so it fires (L1 > 0) with zero reconstruction loss. Every other latent is silenced by b_enc = -100.
    # Weighing inputs by the reconstruction loss alone picks only the one planted input with an error; weighing
    # by the total loss (with the L1 term) picks the exactly reconstructed ones.
    with torch.no_grad():
        reference.b_enc.fill_(-100.0)
        reference.b_enc[0, 0] = 0.0
        live_direction = F.normalize(reference.W_enc[0, :, 0], dim=0)
        reference.W_enc[0, :, 0] = live_direction
        if not cfg.tied_weights:
            reference.W_dec[0, 0] = live_direction
    reference.normalize_and_return_W_dec()  # as forward (called inside) would: live rows must not move
    learner = bare(AutoEncoder, reference, use_reference_for=("forward", "normalize_and_return_W_dec"))
    # Instance 1 has dead latents but zero loss everywhere: it must be left alone. Instance 2: nothing dead.
    h = b_dec.expand(64, -1, -1).clone()
    h[:, 0] += 2 * live_direction
    planted = torch.randn(cfg.n_input_ae)
    h[37, 0] = h[38, 0] = b_dec[0] + planted  # two inputs with an error, one per dead latent of instance 0
    h[12, 2] += torch.randn(cfg.n_input_ae)
    expected_dead = dead.clone()
    expected_dead[1] = False
    before = _params(learner)
    mask = call_learner(ex, learner.resample_neurons_advanced, h, frac, scale, crash_hint=(
        TIED_CRASH_HINT if cfg.tied_weights else
        "skip instances with no dead latents, or with zero loss on every input (nothing to sample from)."))
    if isinstance(mask, torch.Tensor) and mask.shape == dead.shape and mask.dtype == torch.bool and mask[1].any():
        if all(close(v[1], before[k][1], atol=0) for k, v in _params(learner).items()):
            raise CheckFailed(ex, "the returned mask marks instance 1's dead latents as resampled, but they were"
                                  " (rightly) left alone: its loss is zero on every input.",
                              "return True only for the latents you actually changed.")
        raise CheckFailed(ex, "an instance whose loss is zero on every input was resampled.",
                          "skip instances whose squared losses sum to 0 (nothing to sample), and pick each"
                          " instance's inputs with probability proportional to their squared l2_loss,"
                          " l2_loss[:, inst] ** 2 (that instance's alone, not all instances' together), so zero-loss"
                          " inputs never are.")
    _expect_mask(ex, mask, expected_dead)
    _check_resampled_params(ex, learner, before, expected_dead, cfg, zero_rows_hint=ZERO_ROWS_HINT)

    rows, cols = _new_directions(learner, dead, cfg)
    rows, cols = rows[: int(dead[0].sum())], cols[: int(dead[0].sum())]  # instance 0's (nonzero() is row-major)
    want = F.normalize(planted, dim=0)
    if close(rows, F.normalize(h[37, 0], dim=0).expand_as(rows), atol=1e-4):
        raise CheckFailed(ex, f"the new directions point at the raw input{tied}.",
                          "centre the chosen inputs first: h[i, inst] - b_dec[inst].")
    if close(rows, live_direction.expand_as(rows), atol=1e-4) or (
            not cfg.tied_weights and close(rows, F.normalize(h[0, 0], dim=0).expand_as(rows), atol=1e-4)):
        raise CheckFailed(ex, f"the dead latents were pointed at inputs the SAE reconstructs exactly{tied}.",
                          "weigh inputs by their squared reconstruction loss, l2_loss ** 2, alone: not uniformly"
                          " (torch.randint) and not by the total loss with the L1 term, which both pick inputs the SAE"
                          " already handles.")
    if cfg.tied_weights and torch.isnan(rows).any():
        raise CheckFailed(ex, "some resampled encoder columns are NaN or zero (tied_weights=True).",
                          "inputs with zero loss must never be picked: use torch.multinomial(..., replacement=True).")
    if not close(rows, want.expand_as(rows), atol=1e-4):
        raise CheckFailed(ex, f"the dead latents of instance 0 were not pointed at its one input with nonzero"
                              f" loss{tied}.",
                          "sample inputs with probability proportional to their squared l2_loss (torch.multinomial).")
    live_norm = before["W_enc"][0].norm(dim=0)[~dead[0]].mean()
    all_norm = before["W_enc"][0].norm(dim=0).mean()
    if not close(cols, rows * scale * live_norm, atol=1e-4):
        factor = (cols.norm(dim=-1) / rows.norm(dim=-1)).mean().item() / live_norm.item()  # the scale used
        parallel = close(F.normalize(cols, dim=-1), rows, atol=1e-4)
        if parallel and abs(factor - float(f"{factor:.2g}")) < 1e-4 * factor:
            hint = (f"the encoder columns were scaled by {float(f'{factor:.2g}'):g} times the mean live norm: use the"
                    f" neuron_resample_scale argument ({scale}), not a number written in.")
        elif any(close(cols, rows * scale * W.norm(dim=1).mean(), atol=1e-4)
                 for W in (before["W_enc"][0], before["W_enc"][0][:, ~dead[0]])):
            hint = ("an encoder column's norm is over d_in: W_enc[inst].norm(dim=0), one per latent; you took"
                    " norms over the latent axis.")
        elif close(cols, rows * scale, atol=1e-4):
            hint = "scale the encoder columns by neuron_resample_scale times the mean norm of the live encoder columns."
        elif close(cols, rows * scale * all_norm, atol=1e-4):
            hint = "average the norms of the live latents' encoder columns only, not of all of them."
        elif close(cols, rows, atol=1e-4):
            hint = "the encoder columns are not scaled: direction * neuron_resample_scale * mean live norm."
        else:
            hint = "encoder column = decoder row * neuron_resample_scale * mean norm of live encoder columns."
        raise CheckFailed(ex, f"encoder columns of resampled latents have the wrong scale or direction{tied}.", hint)


def _check_squared_loss_weighting(AutoEncoder) -> None:
    """Two planted inputs whose losses differ by 2x are picked 4:1 when weighed by the squared loss, 2:1 when
    by the loss itself."""
    ex = "AutoEncoder.resample_neurons_advanced"
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
    call_learner(ex, learner.resample_neurons_advanced, h, frac, 0.3)
    rows = learner.W_dec.detach()[0, 1:]
    share = (rows[:, 1].abs() > 0.99).float().mean().item()
    if abs(share - 0.8) > 0.08:
        hint = ("the probabilities must be proportional to the squared loss (l2_loss ** 2), not the loss itself."
                if abs(share - 2 / 3) < 0.08 else "sample with probabilities proportional to l2_loss ** 2.")
        raise CheckFailed(ex, f"an input with twice the loss of another was chosen {share:.0%} of the time;"
                              " expected 80%.", hint)


# ------------------------------------------------------------------------------------- TopK forward

#: When a TopK or JumpReLU forward crashes: the likeliest cause is W_dec used directly (tied SAEs have none).
CHECKS = {
    "AutoEncoder.__init__": (check_init, "AutoEncoder"),
    "AutoEncoder.normalize_and_return_W_dec": (check_normalize_and_return_W_dec, "AutoEncoder"),
    "AutoEncoder.forward": (check_forward, "AutoEncoder"),
    "AutoEncoder.resample_neurons_simple": (check_resample_neurons_simple, "AutoEncoder"),
    "AutoEncoder.resample_neurons_advanced": (check_resample_neurons_advanced, "AutoEncoder"),
}
