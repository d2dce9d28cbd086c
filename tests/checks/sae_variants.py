"""Checks for section 2b (notebooks/2b_sae_variants): TopK, JumpReLU and BatchTopK SAEs (their forward
passes, and the straight-through step JumpReLU learns its thresholds by).

As in section 2, each check judges one exercise alone: the learner's class gets the reference's random
parameters without running the learner's __init__ (`bare`), and where the exercise calls another one
(JumpReLU's forward calls Step) the reference's version stands in for it.
"""

from __future__ import annotations

import math
import types

import torch
from torch import nn
from torch.nn import functional as F

from solutions import sae as ref
from solutions import sae_variants as ref_v
from tests.checks.core import (
    CheckFailed,
    call_learner,
    close,
    compare,
    compare_gradients,
    exercise_check,
    expect_tensor,
)
from tests.checks.sae import CFG, TIED, bare

DECODE_CRASH = ("with tied_weights=True there is no W_dec: decode with what self.normalize_and_return_W_dec()"
                " returns, which handles both cases. (Otherwise, look at each tensor's shape.)")
#: W_dec's gradient is wrong while the values are right: the decoder was normalised by hand.
OWN_NORMALISATION = ("decode with self.normalize_and_return_W_dec() (it rescales W_dec's rows in place and returns"
                     " the parameter itself), not a normalisation of your own: dividing by the norm inside autograd"
                     " changes W_dec's gradient.")

def _copy_forward_globals(method, **replacements):
    """The learner's method with some global names (the notebook's Step, JumpReLU) replaced by the
    reference's, so a bug in one exercise does not show up as a failure of the next."""
    fn = getattr(method, "__func__", method)
    if not isinstance(fn, types.FunctionType):
        return method
    namespace = {**fn.__globals__, **replacements}
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


def _check_shapes(ex, result, batch, inst, d_in, d_hid, first="l1_loss"):
    if not isinstance(result, tuple) or len(result) != 5:
        length = f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""
        raise CheckFailed(ex, f"returned {type(result).__name__}{length}; expected 5 values.",
                          f"return {first}, l2_loss, loss, acts, h_reconstructed (in that order), as AutoEncoder does.")
    first_value, l2, loss, acts, h_rec = result
    expect_tensor(ex, acts, "acts", (batch, inst, d_hid), "batch, inst, d_hidden")
    expect_tensor(ex, h_rec, "h_reconstructed", (batch, inst, d_in), "batch, inst, d_in")
    expect_tensor(ex, first_value, first, (batch, inst), "batch, inst")
    expect_tensor(ex, l2, "l2_loss", (batch, inst), "batch, inst")
    expect_tensor(ex, loss, "loss", (), "")


@exercise_check("TopKAutoEncoder.forward")
def check_topk_forward(TopKAutoEncoder) -> None:
    for cfg in (CFG, TIED):
        _check_topk_forward_on(TopKAutoEncoder, cfg)


def _check_topk_forward_on(TopKAutoEncoder, cfg: ref.AutoEncoderConfig) -> None:
    ex = "TopKAutoEncoder.forward"
    tied = " (tied_weights=True)" if cfg.tied_weights else ""
    k = 2  # of 6 latents: not the default anything, and small enough that the choice matters
    reference = ref_v.TopKAutoEncoder(cfg, k=k, device="cpu")
    with torch.no_grad():
        # Negative enough biases that some inputs' k largest pre-activations are negative: the ReLU shows.
        reference.b_enc.copy_(0.3 * torch.randn_like(reference.b_enc) - 0.5)
        reference.b_dec.copy_(0.5 * torch.randn_like(reference.b_dec))
        if not cfg.tied_weights:
            reference.W_dec.mul_(2 * torch.rand(cfg.n_instances, cfg.n_hidden_ae, 1) + 0.5)
    learner = bare(TopKAutoEncoder, reference, use_reference_for=("normalize_and_return_W_dec",))
    learner.k = k
    batch, inst, d_in, d_hid = 16, cfg.n_instances, cfg.n_input_ae, cfg.n_hidden_ae
    h = torch.randn(batch, inst, d_in) + reference.b_dec.detach()
    result = call_learner(ex, learner, h, crash_hint=DECODE_CRASH)
    _check_shapes(ex, result, batch, inst, d_in, d_hid)
    l1, l2, loss, acts, h_rec = result
    ref_l1, ref_l2, ref_loss, ref_acts, ref_h_rec = reference(h)
    with torch.no_grad():
        W_enc, b_enc, b_dec = reference.W_enc.detach(), reference.b_enc.detach(), reference.b_dec.detach()
        pre = torch.einsum("bid,idh->bih", h - b_dec, W_enc) + b_enc

        def keep(scores, values=pre, dim=-1):
            idx = scores.topk(k, dim=dim).indices
            return torch.zeros_like(values).scatter(dim, idx, values.gather(dim, idx))

    assert (ref_acts.detach() == 0).logical_and(keep(pre) < 0).any(), "the check's data must exercise the ReLU"
    compare(ex, acts, ref_acts, "acts" + tied, mistakes={
        "the ReLU is missing: a kept pre-activation can be negative, and a latent's activation never is."
        " Apply F.relu to the k values you keep.": keep(pre),
        "you kept the k largest *in absolute value*; keep the k largest pre-activations (pre.topk(k)), then ReLU.":
            F.relu(keep(pre.abs())),
        "you took the top k over the batch axis; take it over the latents (dim=-1), per input.":
            F.relu(keep(pre, dim=0)),
        "you took the ReLU of every pre-activation and kept them all: keep only each input's k largest"
        " (pre.topk(self.k, dim=-1)), zero the rest.": F.relu(pre),
        "you forgot to centre the input: encode h - b_dec, not h.":
            F.relu(keep(torch.einsum("bid,idh->bih", h, W_enc) + b_enc,
                        torch.einsum("bid,idh->bih", h, W_enc) + b_enc)),
        "each instance encodes its own input h[:, i]: you gave every instance instance 0's, h[:, 0].":
            F.relu(keep(torch.einsum("bid,idh->bih", h[:, :1] - b_dec, W_enc) + b_enc,
                        torch.einsum("bid,idh->bih", h[:, :1] - b_dec, W_enc) + b_enc)),
    }, generic_hint="acts = ReLU of the k largest entries of (h - b_dec) @ W_enc + b_enc, per input; 0 elsewhere.")
    compare(ex, h_rec, ref_h_rec, "h_reconstructed" + tied,
            generic_hint="decode as AutoEncoder does: acts @ self.normalize_and_return_W_dec() + b_dec.")
    compare(ex, l1, ref_l1, "l1_loss" + tied, generic_hint="l1_loss = acts.abs().sum(-1), returned for logging.")
    compare(ex, l2, ref_l2, "l2_loss" + tied, generic_hint="l2_loss = (h_reconstructed - h)^2 averaged over d_in.")
    compare(ex, loss, ref_loss, "loss" + tied, mistakes={
        "the loss has an L1 term: a TopK SAE's sparsity is set by k, so its loss is the reconstruction error"
        " alone, l2_loss.mean(0).sum().": (cfg.l1_coeff * ref_l1 + ref_l2).mean(0).sum(),
        "you averaged over instances; sum over them (each instance is its own SAE).": ref_loss / inst,
    }, generic_hint="loss = l2_loss.mean(0).sum().")
    mine, theirs = dict(learner.named_parameters()), dict(reference.named_parameters())
    compare_gradients(ex, loss, ref_loss, "loss" + tied, mine, theirs, hints={
        None: "gradients must reach the kept latents: build acts from the pre-activations themselves (scatter or a"
              " mask times pre), not from detached values or .data.",
        **({} if cfg.tied_weights else {"W_dec": OWN_NORMALISATION})})


# ------------------------------------------------------------------------------------- Step.backward

def _sums_to(shape: torch.Size, target: torch.Size) -> bool:
    """Whether a gradient of `shape` can be summed down to `target` (target broadcasts to it), as autograd does."""
    try:
        return torch.broadcast_shapes(shape, target) == shape
    except RuntimeError:
        return False


@exercise_check("Step.backward")
def check_step_backward(Step) -> None:
    ex = "Step.backward"
    batch, inst, d_hid, bandwidth = 64, 2, 5, 0.5  # a wide window (not the default 1e-3): many inputs fall in it
    z = torch.randn(batch, inst, d_hid).requires_grad_(True)  # raw pre-activations, negative ones too
    threshold = (0.3 + 0.4 * torch.rand(inst, d_hid)).requires_grad_(True)
    weights = torch.randn(batch, inst, d_hid)  # the loss's gradient for the output: not all ones
    backward_hint = ("backward returns one gradient per input of forward: (grad_z, grad_threshold, None), None for"
                     " the bandwidth (a plain number).")
    # First backward on its own, as autograd will call it: what it returns is checked here, not inside torch.
    ctx = types.SimpleNamespace(saved_tensors=(z.detach(), threshold.detach()), bandwidth=bandwidth,
                                needs_input_grad=(True, True, False))
    grads = call_learner(ex, Step.backward, ctx, weights, crash_hint=backward_hint)
    if not isinstance(grads, tuple) or len(grads) != 3:
        length = f" of length {len(grads)}" if isinstance(grads, (tuple, list)) else ""
        raise CheckFailed(ex, f"backward returned {type(grads).__name__}{length}; expected a tuple of 3 gradients.",
                          backward_hint)
    # A gradient autograd can sum down to the threshold's shape (one per input, [batch, inst, d_hidden]) is fine;
    # any other shape (summed over the latents, say) makes autograd fail with a message about index 1.
    if isinstance(grads[1], torch.Tensor) and not _sums_to(grads[1].shape, threshold.shape):
        raise CheckFailed(ex, f"the threshold's gradient has shape {list(grads[1].shape)}; expected"
                              f" {list(threshold.shape)} (inst, d_hidden), the threshold's own.",
                          "the threshold is shared by every input of the batch: sum its gradient over the batch"
                          " (.sum(0), or .sum_to_size(threshold.shape)) so that it has the threshold's shape.")
    out = call_learner(ex, Step.apply, z, threshold, bandwidth)
    expect_tensor(ex, out, "Step.apply(z, threshold, bandwidth)", (batch, inst, d_hid), "batch, inst, d_hidden")
    compare(ex, out, (z > threshold).float(), "the step's output",
            generic_hint="forward returns (z > threshold) as floats (given: leave it as it was).")
    call_learner(ex, lambda: (out * weights).sum().backward(), crash_hint=backward_hint)
    window = ref_v.rectangle((z.detach() - threshold.detach()) / bandwidth)
    want = (-weights * window / bandwidth).sum(0)
    got_z = torch.zeros_like(z) if z.grad is None else z.grad
    if got_z.abs().max() > 0:
        raise CheckFailed(ex, "z gets a gradient from the step.",
                          "the step is flat in z (its true derivative is 0 away from the jump): return zeros for z."
                          " Only the threshold gets the straight-through pseudo-gradient.")
    if threshold.grad is None:
        raise CheckFailed(ex, "the threshold gets no gradient.",
                          "return grad_output * -(1/bandwidth) * rectangle((z - threshold) / bandwidth) as its"
                          " gradient.")
    compare(ex, threshold.grad, want, "the threshold's gradient", mistakes={
        "multiply by grad_output (the chain rule): the step's pseudo-derivative is only one factor of the loss's"
        " gradient.": (-window / bandwidth).sum(0),
        "the sign is wrong: raising the threshold switches inputs *off*, so d step / d threshold is negative.":
            -want,
        "divide by the bandwidth: the ramp the estimator pretends is there rises by 1 over a width of bandwidth.":
            want * bandwidth,
        "the window is rectangle((z - threshold) / bandwidth): divide the distance by the bandwidth first.":
            (-weights * ref_v.rectangle(z.detach() - threshold.detach()) / bandwidth).sum(0),
        "use ctx.bandwidth (the one forward was given), not a number written in.":
            (-weights * ref_v.rectangle((z.detach() - threshold.detach()) / 1e-3) / 1e-3).sum(0),
        "you averaged over the batch: the threshold is shared by every input, so its gradient is the sum.":
            want / batch,
    }, generic_hint="d step / d threshold = -(1/bandwidth) * rectangle((z - threshold) / bandwidth), times grad_output,"
                    " summed over the batch.")


# --------------------------------------------------------------------------------- JumpReLU forward

def _reference_jumprelu(cfg: ref.AutoEncoderConfig) -> ref_v.JumpReLUAutoEncoder:
    reference = ref_v.JumpReLUAutoEncoder(cfg, l0_coeff=0.07, threshold=0.2, bandwidth=0.3, device="cpu")
    with torch.no_grad():
        reference.b_enc.copy_(0.2 * torch.randn_like(reference.b_enc))
        reference.b_dec.copy_(0.5 * torch.randn_like(reference.b_dec))
        reference.threshold.copy_(0.1 + 0.4 * torch.rand_like(reference.threshold))
        # One latent per instance with a threshold below bandwidth / 2 (0.15): 0 lies inside its window, so
        # estimators fed ReLU(pre) instead of pre get other threshold gradients there.
        reference.threshold[:, 0] = 0.05
        # A coefficient of its own for each instance (as an L0 target gives them), so one shared number shows.
        reference.l0_coeff.copy_(torch.linspace(0.05, 0.1, cfg.n_instances))
        if not cfg.tied_weights:
            reference.W_dec.mul_(2 * torch.rand(cfg.n_instances, cfg.n_hidden_ae, 1) + 0.5)
    return reference


@exercise_check("JumpReLUAutoEncoder.forward")
def check_jumprelu_forward(JumpReLUAutoEncoder) -> None:
    for cfg in (CFG, TIED):
        _check_jumprelu_forward_on(JumpReLUAutoEncoder, cfg)


def _check_jumprelu_forward_on(JumpReLUAutoEncoder, cfg: ref.AutoEncoderConfig) -> None:
    ex = "JumpReLUAutoEncoder.forward"
    tied = " (tied_weights=True)" if cfg.tied_weights else ""
    reference = _reference_jumprelu(cfg)
    learner = bare(JumpReLUAutoEncoder, reference, use_reference_for=("normalize_and_return_W_dec",))
    learner.l0_coeff, learner.bandwidth, learner.initial_threshold = reference.l0_coeff, reference.bandwidth, 0.2
    learner.l0_target, learner.l0_coeff_lr = None, reference.l0_coeff_lr
    # The learner's own Step and JumpReLU are checked by their own exercise; here the reference's stand in.
    learner.forward = types.MethodType(
        _copy_forward_globals(JumpReLUAutoEncoder.forward, Step=ref_v.Step, JumpReLU=ref_v.JumpReLU), learner)
    batch, inst, d_in, d_hid = 32, cfg.n_instances, cfg.n_input_ae, cfg.n_hidden_ae
    h = torch.randn(batch, inst, d_in) + reference.b_dec.detach()
    result = call_learner(ex, learner.forward, h, crash_hint=DECODE_CRASH)
    _check_shapes(ex, result, batch, inst, d_in, d_hid, first="l0_loss")
    l0, l2, loss, acts, h_rec = result
    ref_l0, ref_l2, ref_loss, ref_acts, ref_h_rec = reference(h)
    with torch.no_grad():
        W_enc, b_enc, b_dec = reference.W_enc.detach(), reference.b_enc.detach(), reference.b_dec.detach()
        z = torch.einsum("bid,idh->bih", h - b_dec, W_enc) + b_enc  # the raw pre-activations
        threshold = reference.threshold.detach()
    assert ((z > 0) & (z <= threshold)).any(), "the check's data must exercise the threshold"
    compare(ex, acts, ref_acts, "acts" + tied, mistakes={
        "the threshold cuts nothing: that is a plain ReLU. Pass z through JumpReLU.apply(z, self.threshold,"
        " self.bandwidth).": F.relu(z),
        "you cut at the initial threshold, a number; cut at each latent's learned self.threshold (a parameter,"
        " [inst, d_hidden]).": z * (z > 0.2).float(),
        "you forgot to centre the input: encode h - b_dec, not h.":
            (lambda z_: z_ * (z_ > threshold).float())(torch.einsum("bid,idh->bih", h, W_enc) + b_enc),
    }, generic_hint="acts = JumpReLU.apply(z, self.threshold, self.bandwidth) with"
                    " z = (h - b_dec) @ W_enc + b_enc.")
    compare(ex, h_rec, ref_h_rec, "h_reconstructed" + tied,
            generic_hint="decode as AutoEncoder does: acts @ self.normalize_and_return_W_dec() + b_dec.")
    compare(ex, l0, ref_l0, "l0_loss" + tied, mistakes={
        "yours is an L1 term (the sum of the activations), but a JumpReLU SAE penalises how many latents fire:"
        " l0_loss = Step.apply(z, self.threshold, self.bandwidth).sum(-1).": ref_acts.detach().sum(-1),
        "count the latents above the threshold, not every latent with a positive pre-activation.":
            (z > 0).float().sum(-1),
    }, generic_hint="l0_loss = Step.apply(z, self.threshold, self.bandwidth).sum(-1): how many latents fire.")
    compare(ex, l2, ref_l2, "l2_loss" + tied, generic_hint="l2_loss = (h_reconstructed - h)^2 averaged over d_in.")
    compare(ex, loss, ref_loss, "loss" + tied, mistakes={
        "weigh the L0 term by self.l0_coeff, not cfg.l1_coeff (that is the L1 SAE's coefficient).":
            (cfg.l1_coeff * ref_l0 + ref_l2).mean(0).sum(),
        "you forgot to multiply the L0 term by self.l0_coeff.": (ref_l0 + ref_l2).mean(0).sum(),
        "self.l0_coeff holds one coefficient per instance ([inst], so each can find its own L0): multiply"
        " l0_loss [batch, inst] by all of it, not by its first entry.": (reference.l0_coeff[0] * ref_l0 + ref_l2
                                                                        ).mean(0).sum(),
        "self.l0_coeff holds one coefficient per instance: multiply l0_loss [batch, inst] by it as it is"
        " (it broadcasts over the batch), not by its mean.": (reference.l0_coeff.mean() * ref_l0 + ref_l2
                                                               ).mean(0).sum(),
        "the loss has no sparsity term: add self.l0_coeff * l0_loss.": ref_l2.mean(0).sum(),
        "you averaged over instances; sum over them (each instance is its own SAE).": ref_loss / inst,
    }, generic_hint="loss = (self.l0_coeff * l0_loss + l2_loss).mean(0).sum().")
    # The values can all be right while the thresholds learn nothing: a plain comparison (z > threshold) has no
    # gradient. Both terms must pass the straight-through gradients to the threshold.
    mine, theirs = dict(learner.named_parameters()), dict(reference.named_parameters())
    _refuse_estimators_fed_relu(ex, reference, h, l0, l2, mine["threshold"], tied)
    compare_gradients(ex, l0, ref_l0, "l0_loss" + tied, mine, theirs, hints={
        None: "count with Step.apply(z, self.threshold, self.bandwidth) on z, the raw pre-activations (not on acts:"
              " the estimate needs the inputs just below the threshold too), and not with (z > threshold), which has"
              " no gradient; pass self.threshold itself (not a detached copy) and self.bandwidth, not a number"
              " written in."})
    compare_gradients(ex, l2, ref_l2, "l2_loss" + tied, mine, theirs, hints={
        "threshold": "the thresholds get no (or the wrong) reconstruction gradient: compute acts with"
                         " JumpReLU.apply(z, self.threshold, self.bandwidth), not z * (z > threshold), and pass"
                         " self.bandwidth, not a number written in.",
        None: "compute l2_loss from h_reconstructed and acts as they are, with nothing detached on the way.",
        **({} if cfg.tied_weights else {"W_dec": OWN_NORMALISATION})})
    compare_gradients(ex, loss, ref_loss, "loss" + tied, mine, theirs, hints=(
        "build the loss from l0_loss and l2_loss themselves, not from detached copies or .item()."))


#: Estimators fed ReLU(pre): every value is the same, only the thresholds' gradients differ.
RELU_BEFORE_ESTIMATORS = (
    "feed Step and JumpReLU the raw pre-activations z = (h - b_dec) @ W_enc + b_enc, with no ReLU (as the paper and"
    " SAELens do): after a ReLU every negative pre-activation sits at exactly 0, which lies inside the window of"
    " any threshold below bandwidth / 2, so each one counts as an input at the threshold.")


def _refuse_estimators_fed_relu(ex, reference, h, l0, l2, threshold, tied) -> None:
    """Name the one mistake whose values are all right: the estimators given ReLU(pre). Its thresholds'
    gradients are those of a copy of the reference fed ReLU(pre), and not the reference's."""
    theta = reference.threshold
    pre = torch.einsum("bid,idh->bih", h - reference.b_dec, reference.W_enc) + reference.b_enc
    W_dec = reference.normalize_and_return_W_dec()
    for name, got, value in [
        ("l0_loss", l0, lambda z: ref_v.Step.apply(z, theta, reference.bandwidth).sum(-1)),
        ("l2_loss", l2, lambda z: (torch.einsum("bih,ihd->bid", ref_v.JumpReLU.apply(z, theta, reference.bandwidth),
                                                W_dec) + reference.b_dec - h).pow(2).mean(-1)),
    ]:
        if not got.requires_grad:
            continue  # compare_gradients says what is wrong
        weights = torch.randn(got.shape, generator=torch.Generator().manual_seed(2))
        mine = torch.autograd.grad((got * weights).sum(), threshold, allow_unused=True, retain_graph=True)[0]
        right, relu = (torch.autograd.grad((value(z) * weights).sum(), reference.threshold,
                                           retain_graph=True)[0] for z in (pre, F.relu(pre)))
        assert not close(right, relu), "the check's data must tell raw and ReLU'd pre-activations apart"
        if mine is not None and close(mine, relu) and not close(mine, right):
            raise CheckFailed(ex, f"the value of {name}{tied} is right, but the threshold gets the wrong gradient"
                                  " from it.", RELU_BEFORE_ESTIMATORS)


# ------------------------------------------------------------------------------------- BatchTopK forward

BATCHTOPK_CRASH = ("look at the shapes: pre is [batch, inst, d_hidden] and self.threshold [inst], so compare pre"
                   " with self.threshold[:, None]; self.k may be a float, and topk needs an int: int(self.k * batch).")


def _reference_batchtopk(cfg: ref.AutoEncoderConfig, k: float) -> ref_v.BatchTopKAutoEncoder:
    reference = ref_v.BatchTopKAutoEncoder(cfg, k=k, threshold_lr=0.3, device="cpu")
    with torch.no_grad():
        reference.b_enc.copy_(0.3 * torch.randn_like(reference.b_enc) - 0.3)
        # Instance 0's latents rarely fire: fewer of its pre-activations are positive than its budget, so the
        # budget reaches negative ones, and whether the ReLU came before the top k shows.
        reference.b_enc[0] -= 1.5
        reference.b_enc[1:] += 0.3  # and the others fire often: together, more than their joint budget
        reference.b_dec.copy_(0.5 * torch.randn_like(reference.b_dec))
        reference.threshold.copy_(torch.linspace(0.2, 0.4, cfg.n_instances))  # one per instance, not 0
        if not cfg.tied_weights:
            reference.W_dec.mul_(2 * torch.rand(cfg.n_instances, cfg.n_hidden_ae, 1) + 0.5)
    return reference


def _learner_batchtopk(BatchTopKAutoEncoder, reference) -> nn.Module:
    learner = bare(BatchTopKAutoEncoder, reference, use_reference_for=("normalize_and_return_W_dec",))
    learner.k, learner.threshold_lr = reference.k, reference.threshold_lr
    learner.register_buffer("threshold", reference.threshold.detach().clone())
    if not hasattr(BatchTopKAutoEncoder, "decode_and_score"):  # a learner who subclassed something else
        learner.decode_and_score = types.MethodType(ref_v.TopKAutoEncoder.decode_and_score, learner)
    return learner


@exercise_check("BatchTopKAutoEncoder.forward")
def check_batchtopk_forward(BatchTopKAutoEncoder) -> None:
    for cfg in (CFG, TIED):
        _check_batchtopk_training(BatchTopKAutoEncoder, cfg)
    _check_batchtopk_eval(BatchTopKAutoEncoder, CFG)


def _batch_budget(pre, k, per="instance", relu=True):
    """The kept activations under a batch budget of int(k * batch): per instance, over all of it at once, or
    per input (TopK's rule, ceil(k) each)."""
    batch, inst, d_hid = pre.shape
    values = F.relu(pre) if relu else pre
    if per == "input":
        idx = values.topk(math.ceil(k), dim=-1).indices
        return torch.zeros_like(values).scatter(-1, idx, values.gather(-1, idx))
    if per == "all":  # one budget for every instance together
        flat = values.reshape(-1)
        idx = flat.topk(int(k * batch) * inst).indices
        return torch.zeros_like(flat).scatter(0, idx, flat[idx]).reshape(values.shape)
    if per == "no_permute":  # [batch, inst, d_hidden].reshape(inst, -1): rows that mix instances
        flat = values.reshape(inst, -1)
        idx = flat.topk(int(k * batch), dim=-1).indices
        return torch.zeros_like(flat).scatter(-1, idx, flat.gather(-1, idx)).reshape(values.shape)
    flat = values.permute(1, 0, 2).reshape(inst, -1)
    n = {"instance": int(k * batch), "ceil": math.ceil(k) * batch}[per] if isinstance(per, str) else per
    idx = flat.topk(n, dim=-1).indices
    kept = torch.zeros_like(flat).scatter(-1, idx, flat.gather(-1, idx))
    return kept.reshape(inst, batch, d_hid).permute(1, 0, 2)


def _check_batchtopk_training(BatchTopKAutoEncoder, cfg: ref.AutoEncoderConfig) -> None:
    ex = "BatchTopKAutoEncoder.forward"
    tied = " (tied_weights=True)" if cfg.tied_weights else ""
    k = 1.65  # fractional, as BatchTopK allows: a batch of 15 keeps int(1.65 x 15) = 24 per instance, not 25
    reference = _reference_batchtopk(cfg, k)
    learner = _learner_batchtopk(BatchTopKAutoEncoder, reference)
    batch, inst, d_in, d_hid = 15, cfg.n_instances, cfg.n_input_ae, cfg.n_hidden_ae
    h = torch.randn(batch, inst, d_in) + reference.b_dec.detach()
    if not learner.training:
        learner.train()
    result = call_learner(ex, learner, h, crash_hint=BATCHTOPK_CRASH)
    _check_shapes(ex, result, batch, inst, d_in, d_hid)
    l1, l2, loss, acts, h_rec = result
    threshold = reference.threshold.clone()  # before the reference's own training step moves it
    ref_l1, ref_l2, ref_loss, ref_acts, ref_h_rec = reference(h)
    with torch.no_grad():
        W_enc, b_enc, b_dec = reference.W_enc.detach(), reference.b_enc.detach(), reference.b_dec.detach()
        pre = torch.einsum("bid,idh->bih", h - b_dec, W_enc) + b_enc
        uncentred = torch.einsum("bid,idh->bih", h, W_enc) + b_enc
        per_input = (ref_acts.detach() > 0).sum(-1)
    assert per_input.min() < k < per_input.max(), "the check's data must let inputs differ in L0"
    assert ((pre > 0).sum((0, 2)) < int(k * batch)).any(), "the check's data must run out of positives"
    assert ((pre > 0).sum((0, 2)) > int(k * batch)).any(), "the check's data must have more positives than budget"
    assert (pre > 0).sum() > inst * int(k * batch), "one budget for all instances must not keep every positive"
    compare(ex, acts, ref_acts, "acts" + tied, mistakes={
        "you kept each input's k largest (TopK's rule). BatchTopK shares one budget across the batch: flatten"
        " each instance's batch and latents together (einops.rearrange(..., 'batch inst d_hidden -> inst (batch"
        " d_hidden)')) and keep the int(self.k * batch) largest of them.": _batch_budget(pre, k, "input"),
        "the budget is per instance (each instance is its own SAE): you took the largest over every instance"
        " at once. Rearrange to [inst, batch * d_hidden] and take topk over the last axis.":
            _batch_budget(pre, k, "all"),
        "the budget is k per input *on average*: keep int(self.k * batch) of the batch's activations, not"
        " self.k.": _batch_budget(pre, k, int(k)),
        "the budget is k per input *on average*: keep int(self.k * batch) of the batch's activations, not"
        " math.ceil(self.k).": _batch_budget(pre, k, math.ceil(k)),
        "k may be fractional (1.65 here): the budget is int(self.k * batch), not math.ceil(self.k) * batch.":
            _batch_budget(pre, k, "ceil"),
        "k may be fractional (1.65 here): the budget is int(self.k * batch), not int(self.k) * batch.":
            _batch_budget(pre, k, int(k) * batch),
        "round the budget down, as int(self.k * batch) does (24 of 24.75 here; SAELens does the same), not up"
        " or to the nearest (math.ceil, round).": _batch_budget(pre, k, math.ceil(k * batch)),
        "batch is the first axis, h.shape[0] (the number of inputs); h.shape[1] is the number of instances.":
            _batch_budget(pre, k, int(k * inst)),
        "rearrange to [inst, batch * d_hidden] with the instance axis first: [batch, inst, d_hidden].reshape(inst,"
        " -1) makes rows that mix instances. Use einops.rearrange(x, 'batch inst d_hidden -> inst (batch"
        " d_hidden)'), or permute(1, 0, 2) before reshaping.": _batch_budget(pre, k, "no_permute"),
        "in training mode (self.training is True) keep the batch's top k x batch; the fixed threshold is for eval"
        " mode only. Are your two branches swapped?": F.relu(pre) * (pre > threshold[:, None]),
        "you forgot to centre the input: encode h - b_dec, not h.": _batch_budget(uncentred, k),
        "you took the ReLU of every pre-activation and kept them all: keep only the batch's int(self.k * batch)"
        " largest.": F.relu(pre),
        "take the ReLU before the top k: when fewer than k x batch pre-activations are positive (as in instance 0"
        " here), the budget reaches negative ones, and a latent's activation is never negative.":
            _batch_budget(pre, k, relu=False),
    }, generic_hint="acts: per instance, the int(self.k * batch) largest entries of ReLU((h - b_dec) @ W_enc +"
                    " b_enc) over the whole batch and every latent; 0 elsewhere.")
    compare(ex, h_rec, ref_h_rec, "h_reconstructed" + tied,
            generic_hint="return self.decode_and_score(h, acts) (given): it decodes and scores as TopK does.")
    compare(ex, l2, ref_l2, "l2_loss" + tied, generic_hint="return self.decode_and_score(h, acts).")
    compare(ex, l1, ref_l1, "l1_loss" + tied, generic_hint="return self.decode_and_score(h, acts).")
    compare(ex, loss, ref_loss, "loss" + tied, mistakes={
        "the loss has an L1 term: the budget sets BatchTopK's sparsity, so the loss is the reconstruction error"
        " alone (return self.decode_and_score(h, acts)).": (cfg.l1_coeff * ref_l1 + ref_l2).mean(0).sum(),
    }, generic_hint="return self.decode_and_score(h, acts).")
    mine, theirs = dict(learner.named_parameters()), dict(reference.named_parameters())
    compare_gradients(ex, loss, ref_loss, "loss" + tied, mine, theirs, hints={
        None: "gradients must reach the kept activations: build acts from the pre-activations themselves (scatter"
              " the top values back, or a mask times ReLU(pre)), not from detached values or .data.",
        **({} if cfg.tied_weights else {"W_dec": OWN_NORMALISATION})})
    # The inference threshold: each training batch moves it towards the smallest activation kept.
    fresh = _reference_batchtopk(cfg, k)
    learner = _learner_batchtopk(BatchTopKAutoEncoder, fresh)
    start = learner.threshold.clone()
    with torch.no_grad():
        call_learner(ex, learner, h, crash_hint=BATCHTOPK_CRASH)
        fresh(h)
    if torch.equal(learner.threshold, start):
        raise CheckFailed(ex, f"in training mode the inference threshold did not move{tied}.",
                          "after choosing the batch's top values, call self._update_threshold(top.values) (given):"
                          " in eval mode the SAE has no batch, and uses the threshold learned this way.")
    compare(ex, learner.threshold, fresh.threshold, "the threshold after one training batch" + tied,
            generic_hint="call self._update_threshold once per training batch, with the values you kept"
                         " ([inst, kept]: the topk values, per instance).")


def _check_batchtopk_eval(BatchTopKAutoEncoder, cfg: ref.AutoEncoderConfig) -> None:
    ex = "BatchTopKAutoEncoder.forward"
    k = 1.5
    reference = _reference_batchtopk(cfg, k)
    learner = _learner_batchtopk(BatchTopKAutoEncoder, reference)
    reference.eval()
    learner.eval()
    batch, inst, d_in = 16, cfg.n_instances, cfg.n_input_ae
    h = torch.randn(batch, inst, d_in) + reference.b_dec.detach()
    start = learner.threshold.clone()
    with torch.no_grad():
        result = call_learner(ex, learner, h, crash_hint=BATCHTOPK_CRASH)
        _check_shapes(ex, result, batch, inst, d_in, cfg.n_hidden_ae)
        acts, ref_acts = result[3], reference(h)[3]
        pre = torch.einsum("bid,idh->bih", h - reference.b_dec, reference.W_enc) + reference.b_enc
    compare(ex, acts, ref_acts, "acts in eval mode", mistakes={
        "in eval mode (self.training is False) an input has no batch to share a budget with: keep the"
        " activations above the fixed threshold, F.relu(pre) * (pre > self.threshold[:, None]), instead of the"
        " batch's top k.": _batch_budget(pre, k),
        "in eval mode the threshold must cut: keep F.relu(pre) only where pre > self.threshold[:, None].": F.relu(pre),
        "the threshold is one number per instance, [inst]: compare pre with self.threshold[:, None] (a column per"
        " instance), so that it broadcasts over [batch, inst, d_hidden]; instance 0's threshold applied to all"
        " would be self.threshold[0].": F.relu(pre) * (pre > reference.threshold[0]),
    }, generic_hint="in eval mode, acts = F.relu(pre) * (pre > self.threshold[:, None]).")
    if not torch.equal(learner.threshold, start):
        raise CheckFailed(ex, "the threshold changed in eval mode.",
                          "only training batches update it (call self._update_threshold inside the training branch):"
                          " evaluating an SAE must not change it.")


CHECKS = {
    "TopKAutoEncoder.forward": (check_topk_forward, "TopKAutoEncoder"),
    "Step.backward": (check_step_backward, "Step"),
    "JumpReLUAutoEncoder.forward": (check_jumprelu_forward, "JumpReLUAutoEncoder"),
    "BatchTopKAutoEncoder.forward": (check_batchtopk_forward, "BatchTopKAutoEncoder"),
}
