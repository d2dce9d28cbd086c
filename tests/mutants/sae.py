"""Realistic wrong implementations of section 2's exercises, each with words its hint must contain."""

import re

import einops
import torch
from torch import nn
from torch.nn import functional as F

from solutions.sae import AutoEncoder, xavier_normal
from tests.mutants import alternative, mutant
from utils.device import get_device

# ------------------------------------------------------------------------------------------ __init__


def _init(self, cfg, device, make=xavier_normal, param=nn.Parameter, dec_shape=None, with_dec=None, bias=torch.zeros,
          bias_instance_axis=True, move=True):
    nn.Module.__init__(self)
    self.cfg = cfg
    inst, d_in, d_hid = cfg.n_instances, cfg.n_input_ae, cfg.n_hidden_ae
    self.W_enc = param(make(inst, d_in, d_hid))
    if (not cfg.tied_weights) if with_dec is None else with_dec:
        self.W_dec = param(make(*(dec_shape or (inst, d_hid, d_in))))
    lead = (inst,) if bias_instance_axis else ()
    self.b_enc = param(bias(*lead, d_hid))
    self.b_dec = param(bias(*lead, d_in))
    if move:
        self.to(get_device(device))


@mutant("AutoEncoder.__init__", "Module.__init__")
class NoSuperInit(AutoEncoder):
    def __init__(self, cfg, device=None):
        self.cfg = cfg
        self.W_enc = nn.Parameter(xavier_normal(cfg.n_instances, cfg.n_input_ae, cfg.n_hidden_ae))


@mutant("AutoEncoder.__init__", "wrap it: self.W_enc = nn.Parameter")
class PlainTensors(AutoEncoder):
    def __init__(self, cfg, device=None):
        _init(self, cfg, device, param=lambda t: t)


@mutant("AutoEncoder.__init__", "expected [3, 6, 4]")
class DecoderShapedLikeEncoder(AutoEncoder):
    def __init__(self, cfg, device=None):
        _init(self, cfg, device, dec_shape=(cfg.n_instances, cfg.n_input_ae, cfg.n_hidden_ae))


@mutant("AutoEncoder.__init__", "no W_dec parameter")
class TiedStillHasDecoder(AutoEncoder):
    def __init__(self, cfg, device=None):
        _init(self, cfg, device, with_dec=True)


@mutant("AutoEncoder.__init__", "counts the instance axis")
class TorchXavierOn3D(AutoEncoder):
    def __init__(self, cfg, device=None):
        _init(self, cfg, device, make=lambda *s: nn.init.xavier_normal_(torch.empty(*s)))


@mutant("AutoEncoder.__init__", "standard deviation")
class UnscaledRandn(AutoEncoder):
    def __init__(self, cfg, device=None):
        _init(self, cfg, device, make=torch.randn)


@mutant("AutoEncoder.__init__", "same W_enc")
class SameForEveryInstance(AutoEncoder):
    def __init__(self, cfg, device=None):
        _init(self, cfg, device, make=lambda inst, a, b: xavier_normal(a, b).repeat(inst, 1, 1))


@mutant("AutoEncoder.__init__", "does not start at zero")
class RandomBiases(AutoEncoder):
    def __init__(self, cfg, device=None):
        _init(self, cfg, device, bias=torch.randn)


@mutant("AutoEncoder.__init__", "never negative")
class UniformWeights(AutoEncoder):
    def __init__(self, cfg, device=None):
        _init(self, cfg, device, make=torch.rand)


@mutant("AutoEncoder.__init__", "W_enc has requires_grad=False")
class FrozenEncoder(AutoEncoder):
    def __init__(self, cfg, device=None):
        # "the weights are set by hand, not by autograd" (in the spirit of the .data assignments elsewhere)
        _init(self, cfg, device, param=lambda t: nn.Parameter(t, requires_grad=False))


@mutant("AutoEncoder.__init__", "b_dec has requires_grad=False")
class FrozenDecoderBias(AutoEncoder):
    def __init__(self, cfg, device=None):
        _init(self, cfg, device)
        self.b_dec.requires_grad_(False)  # "b_dec is only a centring offset"


# ------------------------------------------------------------------------------ normalize_and_return_W_dec


@mutant("AutoEncoder.normalize_and_return_W_dec", "normalised over the latents")
class NormalisedWrongAxis(AutoEncoder):
    def normalize_and_return_W_dec(self):
        if self.cfg.tied_weights:
            return AutoEncoder.normalize_and_return_W_dec(self)
        self.W_dec.data = self.W_dec.data / (self.W_dec.data.norm(dim=1, keepdim=True) + self.cfg.weight_normalize_eps)
        return self.W_dec


@mutant("AutoEncoder.normalize_and_return_W_dec", "weight_normalize_eps")
class NoEps(AutoEncoder):
    def normalize_and_return_W_dec(self):
        if self.cfg.tied_weights:
            return AutoEncoder.normalize_and_return_W_dec(self)
        self.W_dec.data = self.W_dec.data / self.W_dec.data.norm(dim=-1, keepdim=True)
        return self.W_dec


@mutant("AutoEncoder.normalize_and_return_W_dec", "W_dec would never train")
class ReturnsData(AutoEncoder):
    def normalize_and_return_W_dec(self):
        if self.cfg.tied_weights:
            return AutoEncoder.normalize_and_return_W_dec(self)
        self.W_dec.data = self.W_dec.data / (self.W_dec.data.norm(dim=-1, keepdim=True) + self.cfg.weight_normalize_eps)
        return self.W_dec.data


@mutant("AutoEncoder.normalize_and_return_W_dec", "normalise in place")
class NotInPlace(AutoEncoder):
    def normalize_and_return_W_dec(self):
        if self.cfg.tied_weights:
            return AutoEncoder.normalize_and_return_W_dec(self)
        return self.W_dec / (self.W_dec.norm(dim=-1, keepdim=True) + self.cfg.weight_normalize_eps)


@mutant("AutoEncoder.normalize_and_return_W_dec", "the rows are not normalised")
class NotNormalised(AutoEncoder):
    def normalize_and_return_W_dec(self):
        return self.W_enc.transpose(-1, -2) if self.cfg.tied_weights else self.W_dec


@mutant("AutoEncoder.normalize_and_return_W_dec", "transpose W_enc")
class TiedWithoutTranspose(AutoEncoder):
    def normalize_and_return_W_dec(self):
        if not self.cfg.tied_weights:
            return AutoEncoder.normalize_and_return_W_dec(self)
        return self.W_enc / (self.W_enc.norm(dim=1, keepdim=True) + self.cfg.weight_normalize_eps)


@mutant("AutoEncoder.normalize_and_return_W_dec", "W_enc was changed")
class TiedNormalisesEncoderInPlace(AutoEncoder):
    def normalize_and_return_W_dec(self):
        if not self.cfg.tied_weights:
            return AutoEncoder.normalize_and_return_W_dec(self)
        self.W_enc.data = self.W_enc.data / (self.W_enc.data.norm(dim=1, keepdim=True) + self.cfg.weight_normalize_eps)
        return self.W_enc.transpose(-1, -2)


# -------------------------------------------------------------------------------------------- forward


def _forward(self, h, centre=True, b_enc=True, relu=True, normalised=True, add_b_dec=True,
             l1=lambda acts: acts.abs().sum(-1), l2=lambda err: err.pow(2).mean(-1),
             loss=lambda l1, l2, c: (c * l1 + l2).mean(0).sum()):
    x = h - self.b_dec if centre else h
    pre = einops.einsum(x, self.W_enc, "batch inst d_in, inst d_in d_hidden -> batch inst d_hidden")
    pre = pre + self.b_enc if b_enc else pre
    acts = F.relu(pre) if relu else pre
    W_dec = self.normalize_and_return_W_dec() if normalised else self.W_dec
    h_rec = einops.einsum(acts, W_dec, "batch inst d_hidden, inst d_hidden d_in -> batch inst d_in")
    h_rec = h_rec + self.b_dec if add_b_dec else h_rec
    l1_loss, l2_loss = l1(acts), l2(h_rec - h)
    return l1_loss, l2_loss, loss(l1_loss, l2_loss, self.cfg.l1_coeff), acts, h_rec


def _forward_mutant(hint, **kwargs):
    class Mutant(AutoEncoder):
        def forward(self, h):
            return _forward(self, h, **kwargs)

    return mutant("AutoEncoder.forward", hint)(type(f"Forward_{hint[:20]}", (Mutant,), {}))


_forward_mutant("centre the input", centre=False)
_forward_mutant("forgot b_enc", b_enc=False)
_forward_mutant("forgot the ReLU", relu=False)
_forward_mutant("normalised decoder", normalised=False)
_forward_mutant("add b_dec back", add_b_dec=False)
_forward_mutant("averaged the L1", l1=lambda acts: acts.mean(-1))
_forward_mutant("summed the squared error", l2=lambda err: err.pow(2).sum(-1))
_forward_mutant("mean squared error, not the norm", l2=lambda err: err.norm(dim=-1))
_forward_mutant("averaged over instances", loss=lambda l1, l2, c: (c * l1 + l2).mean())
_forward_mutant("l1_coeff", loss=lambda l1, l2, c: (l1 + l2).mean(0).sum())


@mutant("AutoEncoder.forward", "that looks like l2_loss")
class SwappedOutputs(AutoEncoder):
    def forward(self, h):
        l1, l2, loss, acts, h_rec = AutoEncoder.forward(self, h)
        return l2, l1, loss, acts, h_rec


@mutant("AutoEncoder.forward", "changed its input h in place")
class CentresInPlace(AutoEncoder):
    def forward(self, h):
        original = h.clone()
        h -= self.b_dec.detach()
        acts = F.relu(einops.einsum(h, self.W_enc, "b i d, i d h -> b i h") + self.b_enc)
        h_rec = einops.einsum(acts, self.normalize_and_return_W_dec(), "b i h, i h d -> b i d") + self.b_dec
        l1, l2 = acts.sum(-1), (h_rec - original).pow(2).mean(-1)
        return l1, l2, (self.cfg.l1_coeff * l1 + l2).mean(0).sum(), acts, h_rec


@mutant("AutoEncoder.forward", "expected 5 values")
class ReturnsOnlyLoss(AutoEncoder):
    def forward(self, h):
        return AutoEncoder.forward(self, h)[2]


@mutant("AutoEncoder.forward", "you gave every instance instance 0's")
class EveryInstanceReadsInstanceZero(AutoEncoder):
    def forward(self, h):
        return super().forward(h[:, :1].expand_as(h))  # "the instances all see the same data"


# ---------------------------------------------------------------------------------- resampling, simple


def _class_name(prefix: str, hint: str) -> str:
    """A class name from the hint, with every non-word character replaced: the name turns up in crash
    messages, and must not contain the hint itself (a crash would then pass for the named hint)."""
    return f"{prefix}_" + re.sub(r"\W", "_", hint)[:24]


def _simple(self, frac, scale, dead=None, normalise=True, scaled=True, reset_b_enc=True, one_direction=False,
            mask_dtype=None):
    dead = frac.sum(0) < 1e-8 if dead is None else dead
    with torch.no_grad():
        for inst, latent in zip(*torch.nonzero(dead, as_tuple=True), strict=True):
            if not one_direction or not hasattr(self, "_direction"):
                v = torch.randn(self.cfg.n_input_ae)
                self._direction = v / v.norm() if normalise else v
            if not self.cfg.tied_weights:
                self.W_dec[inst, latent] = self._direction
            self.W_enc[inst, :, latent] = self._direction * (scale if scaled else 1.0)
            if reset_b_enc:
                self.b_enc[inst, latent] = 0.0
    return dead if mask_dtype is None else dead.to(mask_dtype)


def _simple_mutant(hint, **kwargs):
    class Mutant(AutoEncoder):
        def resample_neurons_simple(self, h, frac_active_in_window, neuron_resample_scale):
            return _simple(self, frac_active_in_window, neuron_resample_scale, **kwargs)

    return mutant("AutoEncoder.resample_neurons_simple", hint)(type(_class_name("Simple", hint), (Mutant,), {}))


_simple_mutant("not scaled", scaled=False)
_simple_mutant("b_enc of resampled latents is not 0", reset_b_enc=False)
_simple_mutant("unit norm", normalise=False)
_simple_mutant("the same direction", one_direction=True)
_simple_mutant("expected torch.bool", mask_dtype=torch.float32)


@mutant("AutoEncoder.resample_neurons_simple", "never fired in the whole window")
class DeadInLastStepOnly(AutoEncoder):
    def resample_neurons_simple(self, h, frac_active_in_window, neuron_resample_scale):
        return _simple(self, frac_active_in_window, neuron_resample_scale, dead=frac_active_in_window[-1] == 0)


@mutant("AutoEncoder.resample_neurons_simple", "no latent was dead")
class CrashesWhenNothingIsDead(AutoEncoder):
    @torch.no_grad()
    def resample_neurons_simple(self, h, frac_active_in_window, neuron_resample_scale):
        dead = frac_active_in_window.sum(0) == 0
        directions = torch.stack([F.normalize(torch.randn(self.cfg.n_input_ae), dim=0) for _ in range(int(dead.sum()))])
        inst, latent = torch.nonzero(dead, as_tuple=True)
        self.W_dec[inst, latent] = directions
        self.W_enc[inst, :, latent] = directions * neuron_resample_scale
        self.b_enc[inst, latent] = 0.0
        return dead


@mutant("AutoEncoder.resample_neurons_simple", "live latents changed")
class ResetsEveryBias(AutoEncoder):
    def resample_neurons_simple(self, h, frac_active_in_window, neuron_resample_scale):
        dead = AutoEncoder.resample_neurons_simple(self, h, frac_active_in_window, neuron_resample_scale)
        self.b_enc.data.zero_()
        return dead


# -------------------------------------------------------------------------------- resampling, advanced


def _advanced(self, h, frac, scale, centre=True, power=2, uniform=False, enc_norm="live", reset_b_enc=True,
              skip_empty=True, replacement=True, pick="multinomial"):
    l2_loss = self.forward(h)[1]
    dead = frac.sum(0) < 1e-8
    resampled = torch.zeros_like(dead)
    with torch.no_grad():
        for inst in range(self.cfg.n_instances):
            latents = torch.nonzero(dead[inst]).squeeze(-1)
            weights = torch.ones_like(l2_loss[:, inst]) if uniform else l2_loss[:, inst] ** power
            if skip_empty and (len(latents) == 0 or weights.sum() == 0):
                continue
            if pick == "topk":  # "the worst-reconstructed inputs", deterministically
                picks = l2_loss[:, inst].topk(len(latents)).indices
            elif pick == "randint":  # any input will do
                picks = torch.randint(len(h), (len(latents),))
            else:
                picks = torch.multinomial(weights / weights.sum(), len(latents), replacement=replacement)
            x = h[picks, inst] - self.b_dec[inst] if centre else h[picks, inst]
            x = F.normalize(x, dim=-1)
            norms = self.W_enc[inst].norm(dim=0)
            live = norms[~dead[inst]]
            factor = {"live": live.mean() if len(live) else 1.0, "unguarded": live.mean(), "all": norms.mean(),
                      "rows": self.W_enc[inst].norm(dim=1).mean(), "none": 1.0}[enc_norm]
            self.W_enc[inst][:, latents] = (x * scale * factor).T
            if not self.cfg.tied_weights:
                self.W_dec[inst][latents] = x
            if reset_b_enc:
                self.b_enc[inst][latents] = 0.0
            resampled[inst, latents] = True
    return resampled


def _advanced_mutant(hint, **kwargs):
    class Mutant(AutoEncoder):
        def resample_neurons_advanced(self, h, frac_active_in_window, neuron_resample_scale):
            return _advanced(self, h, frac_active_in_window, neuron_resample_scale, **kwargs)

    return mutant("AutoEncoder.resample_neurons_advanced", hint)(type(_class_name("Advanced", hint), (Mutant,), {}))


_advanced_mutant("centre the chosen inputs", centre=False)
# "Two dead latents should not get the same input": but with fewer nonzero-loss inputs than dead latents,
# multinomial without replacement then draws inputs of probability 0 (silently, no error).
_advanced_mutant("replacement=True", replacement=False)
_advanced_mutant("use 1.0 when none is alive", enc_norm="unguarded")  # the mean of no norms is NaN
_advanced_mutant("not the loss itself", power=1)
_advanced_mutant("mean norm of the live encoder columns", enc_norm="none")
_advanced_mutant("live latents' encoder columns only", enc_norm="all")
_advanced_mutant("b_enc of resampled latents is not 0", reset_b_enc=False)
_advanced_mutant("zero loss on every input", skip_empty=False)


# ------------------------------------------------------------- what learners wrote, tried without reading tests/

def _forward_with(self, h, detach_acts_for_l1=False, detach_rec_for_l2=False):
    W_dec = self.normalize_and_return_W_dec()
    acts = F.relu(einops.einsum(h - self.b_dec, self.W_enc, "b i d, i d h -> b i h") + self.b_enc)
    h_rec = einops.einsum(acts, W_dec, "b i h, i h d -> b i d") + self.b_dec
    l1 = (acts.detach() if detach_acts_for_l1 else acts).abs().sum(-1)
    l2 = ((h_rec.detach() if detach_rec_for_l2 else h_rec) - h).pow(2).mean(-1)
    loss = (self.cfg.l1_coeff * l1 + l2).mean(0).sum()
    return l1, l2, loss, acts, h_rec


@mutant("AutoEncoder.forward", "not acts.detach()")
class L1OnDetachedActs(AutoEncoder):
    def forward(self, h):  # "the penalty is only a number to log"
        return _forward_with(self, h, detach_acts_for_l1=True)


@mutant("AutoEncoder.forward", "compute l2_loss from h_reconstructed")
class L2OnDetachedReconstruction(AutoEncoder):
    def forward(self, h):
        return _forward_with(self, h, detach_rec_for_l2=True)


@mutant("AutoEncoder.forward", "tied_weights=True")
class TiedBranchUsesRawEncoder(AutoEncoder):
    def forward(self, h):  # the untied branch is right; the tied one decodes with W_enc's raw transpose
        if not self.cfg.tied_weights:
            return AutoEncoder.forward(self, h)
        acts = F.relu(einops.einsum(h - self.b_dec, self.W_enc, "b i d, i d h -> b i h") + self.b_enc)
        h_rec = einops.einsum(acts, self.W_enc.transpose(-1, -2), "b i h, i h d -> b i d") + self.b_dec
        l1, l2 = acts.abs().sum(-1), (h_rec - h).pow(2).mean(-1)
        return l1, l2, (self.cfg.l1_coeff * l1 + l2).mean(0).sum(), acts, h_rec


# --------------------------------------------------------------- right answers, written differently

@alternative("AutoEncoder.forward")
class ForwardWithMatmulAndNorm(AutoEncoder):
    def forward(self, h):  # torch ops instead of einops, L1 as a 1-norm: the same maths
        W_dec = self.normalize_and_return_W_dec()
        acts = torch.relu(((h - self.b_dec).unsqueeze(-2) @ self.W_enc).squeeze(-2) + self.b_enc)
        h_rec = (acts.unsqueeze(-2) @ W_dec).squeeze(-2) + self.b_dec
        l1 = acts.norm(p=1, dim=-1)
        l2 = F.mse_loss(h_rec, h, reduction="none").mean(-1)
        return l1, l2, (self.cfg.l1_coeff * l1 + l2).mean(0).sum(), acts, h_rec


@mutant("AutoEncoder.normalize_and_return_W_dec", "in-place operation")
class InPlaceDivideOnParameter(AutoEncoder):
    def normalize_and_return_W_dec(self):
        if self.cfg.tied_weights:
            return AutoEncoder.normalize_and_return_W_dec(self)
        self.W_dec /= self.W_dec.norm(dim=-1, keepdim=True) + self.cfg.weight_normalize_eps
        return self.W_dec


# ------------------------------------------------ a second round of learners' answers (issue 17), resampling

def _random_directions(self, n: int, draw=torch.randn) -> torch.Tensor:
    return F.normalize(draw(n, self.cfg.n_input_ae), dim=-1)


@mutant("AutoEncoder.resample_neurons_simple", "no W_dec")
class SimpleWritesDecoderWhenTied(AutoEncoder):
    @torch.no_grad()
    def resample_neurons_simple(self, h, frac_active_in_window, neuron_resample_scale):
        dead = frac_active_in_window.sum(0) == 0
        for inst, latent in dead.nonzero().tolist():
            v = _random_directions(self, 1)[0]
            self.W_enc[inst, :, latent] = v * neuron_resample_scale
            self.W_dec[inst, latent, :] = v  # forgot the tied branch: there is no W_dec
            self.b_enc[inst, latent] = 0.0
        return dead


@mutant("AutoEncoder.resample_neurons_simple", "torch.randn")
class SimpleDrawsWithRand(AutoEncoder):
    def resample_neurons_simple(self, h, frac_active_in_window, neuron_resample_scale):
        return _simple_with(self, frac_active_in_window, neuron_resample_scale, draw=torch.rand)


def _simple_with(self, frac, scale, draw=torch.randn, dead=None, on_decoder=False, decoder=True):
    dead = frac.sum(0) == 0 if dead is None else dead
    inst, latent = torch.nonzero(dead, as_tuple=True)
    v = _random_directions(self, len(inst), draw)
    with torch.no_grad():
        self.W_enc[inst, :, latent] = v if on_decoder else v * scale
        if decoder and not self.cfg.tied_weights:
            self.W_dec[inst, latent, :] = v * scale if on_decoder else v
        self.b_enc[inst, latent] = 0.0
    return dead


@mutant("AutoEncoder.resample_neurons_simple", "fired rarely")
class SimpleCallsRareLatentsDead(AutoEncoder):
    def resample_neurons_simple(self, h, frac_active_in_window, neuron_resample_scale):  # "rarely firing = dead"
        return _simple_with(self, frac_active_in_window, neuron_resample_scale,
                            dead=frac_active_in_window.mean(0) < 1e-3)


@mutant("AutoEncoder.resample_neurons_simple", "scale belongs on the encoder column")
class SimpleScaleOnDecoder(AutoEncoder):
    def resample_neurons_simple(self, h, frac_active_in_window, neuron_resample_scale):
        return _simple_with(self, frac_active_in_window, neuron_resample_scale, on_decoder=True)


@mutant("AutoEncoder.resample_neurons_simple", "decoder rows of resampled latents did not change")
class SimpleForgetsDecoder(AutoEncoder):
    def resample_neurons_simple(self, h, frac_active_in_window, neuron_resample_scale):
        return _simple_with(self, frac_active_in_window, neuron_resample_scale, decoder=False)


@mutant("AutoEncoder.resample_neurons_simple", "not a number written in")
class SimpleScaleWrittenIn(AutoEncoder):
    def resample_neurons_simple(self, h, frac_active_in_window, neuron_resample_scale):
        return _simple_with(self, frac_active_in_window, 0.2)  # the default, whatever was passed


@mutant("AutoEncoder.resample_neurons_simple", "no parameter changed")
class SimpleWritesIntoACopy(AutoEncoder):
    @torch.no_grad()
    def resample_neurons_simple(self, h, frac_active_in_window, neuron_resample_scale):
        dead = frac_active_in_window.sum(0) == 0
        for inst in range(self.cfg.n_instances):
            latents = dead[inst].nonzero().squeeze(-1)
            v = _random_directions(self, len(latents))
            self.W_enc[inst][:, latents][...] = (v * neuron_resample_scale).T  # advanced indexing: a copy
            if not self.cfg.tied_weights:
                self.W_dec[inst][latents][...] = v
            self.b_enc[inst][latents][...] = 0.0
        return dead


@mutant("AutoEncoder.resample_neurons_advanced", "no W_dec")
class AdvancedWritesDecoderWhenTied(AutoEncoder):
    @torch.no_grad()
    def resample_neurons_advanced(self, h, frac_active_in_window, neuron_resample_scale):
        W_dec = self.W_dec  # read for both branches: there is no W_dec when the weights are tied
        return _advanced(self, h, frac_active_in_window, neuron_resample_scale) if W_dec is not None else None


@mutant("AutoEncoder.resample_neurons_advanced", "not by the total loss")
class AdvancedWeighsByTotalLoss(AutoEncoder):
    @torch.no_grad()
    def resample_neurons_advanced(self, h, frac_active_in_window, neuron_resample_scale):
        l1_loss, l2_loss, _, _, _ = self.forward(h)
        total = self.cfg.l1_coeff * l1_loss + l2_loss  # "the loss the SAE is trained on"
        original, self.forward = self.forward, lambda x: (l1_loss, total, None, None, None)
        try:
            return _advanced(self, h, frac_active_in_window, neuron_resample_scale)
        finally:
            self.forward = original


@mutant("AutoEncoder.resample_neurons_advanced", "replacement=True")
class AdvancedTakesTopLosses(AutoEncoder):
    def resample_neurons_advanced(self, h, frac_active_in_window, neuron_resample_scale):
        return _advanced(self, h, frac_active_in_window, neuron_resample_scale, pick="topk")


@mutant("AutoEncoder.resample_neurons_advanced", "return True only for the latents you actually changed")
class AdvancedMarksSkippedInstances(AutoEncoder):
    def resample_neurons_advanced(self, h, frac_active_in_window, neuron_resample_scale):
        _advanced(self, h, frac_active_in_window, neuron_resample_scale)
        return frac_active_in_window.sum(0) == 0  # every dead latent, including those left alone


# ----------------------------------------- a second round of learners' answers: normalize_and_return_W_dec

def _normalize_untied(name: str, hint: str, rows):
    """A mutant whose untied branch writes `rows(self)` into W_dec.data (the tied branch is right)."""
    def normalize_and_return_W_dec(self):
        if self.cfg.tied_weights:
            return AutoEncoder.normalize_and_return_W_dec(self)
        self.W_dec.data = rows(self)
        return self.W_dec

    return mutant("AutoEncoder.normalize_and_return_W_dec", hint)(
        type(name, (AutoEncoder,), {"normalize_and_return_W_dec": normalize_and_return_W_dec}))


_normalize_untied("DividedByL1Norm", "Euclidean (L2) norms",
                  lambda self: self.W_dec.data / (self.W_dec.data.abs().sum(-1, keepdim=True)
                                                  + self.cfg.weight_normalize_eps))


@mutant("AutoEncoder.normalize_and_return_W_dec", "not W_enc's transpose")
class AlwaysTheEncoder(AutoEncoder):
    def normalize_and_return_W_dec(self):  # "the decoder is the encoder's transpose": true only when tied
        W = self.W_enc.transpose(-1, -2)
        return W / (W.norm(dim=-1, keepdim=True) + self.cfg.weight_normalize_eps)


@mutant("AutoEncoder.normalize_and_return_W_dec", "replaced by a new object")
class NewParameterEachCall(AutoEncoder):
    def normalize_and_return_W_dec(self):
        if self.cfg.tied_weights:
            return AutoEncoder.normalize_and_return_W_dec(self)
        W = self.W_dec.data
        self.W_dec = nn.Parameter(W / (W.norm(dim=-1, keepdim=True) + self.cfg.weight_normalize_eps))
        return self.W_dec


# ------------------------------------------------------------- a second round of learners' answers: forward

def _forward_variant(self, h, decoder=None, target=None, l1_coeff=None):
    W_dec = self.normalize_and_return_W_dec() if decoder is None else decoder(self)
    acts = F.relu(einops.einsum(h - self.b_dec, self.W_enc, "b i d, i d h -> b i h") + self.b_enc)
    h_rec = einops.einsum(acts, W_dec, "b i h, i h d -> b i d") + self.b_dec
    l1 = acts.abs().sum(-1)
    l2 = (h_rec - (h if target is None else target(self, h))).pow(2).mean(-1)
    coeff = self.cfg.l1_coeff if l1_coeff is None else l1_coeff
    return l1, l2, (coeff * l1 + l2).mean(0).sum(), acts, h_rec


def _no_grad_decoder(self):
    with torch.no_grad():  # "normalising is bookkeeping, not part of the model"
        return self.normalize_and_return_W_dec()


@mutant("AutoEncoder.forward", "outside torch.no_grad()")
class DecoderNormalisedWithoutGradient(AutoEncoder):
    def forward(self, h):
        return _forward_variant(self, h, decoder=_no_grad_decoder)


@mutant("AutoEncoder.forward", "not with the centred h - b_dec")
class L2AgainstCentredInput(AutoEncoder):
    def forward(self, h):
        return _forward_variant(self, h, target=lambda self, h: h - self.b_dec)


@mutant("AutoEncoder.forward", "weighted by 0.5, not cfg.l1_coeff")
class L1CoefficientWrittenIn(AutoEncoder):
    def forward(self, h):
        return _forward_variant(self, h, l1_coeff=0.5)


@mutant("AutoEncoder.forward", "not W_enc's transpose")
class AlwaysDecodesWithEncoder(AutoEncoder):
    def forward(self, h):
        return _forward_variant(self, h, decoder=lambda self: F.normalize(self.W_enc.transpose(-1, -2), dim=-1))


@mutant("AutoEncoder.__init__", "one bias per instance")
class BiasesWithoutInstanceAxis(AutoEncoder):
    def __init__(self, cfg, device=None):  # "a bias per latent" (but one SAE per instance)
        _init(self, cfg, device, bias_instance_axis=False)


@alternative("AutoEncoder.normalize_and_return_W_dec")
class NormalizeWithFunctional(AutoEncoder):
    def normalize_and_return_W_dec(self):  # F.normalize clamps the norm at 1e-12 instead of adding 1e-8: same rows
        if self.cfg.tied_weights:
            return F.normalize(self.W_enc.transpose(-1, -2), dim=-1)
        self.W_dec.data = F.normalize(self.W_dec.data, dim=-1)
        return self.W_dec


@mutant("AutoEncoder.resample_neurons_advanced", "not a number written in")
class AdvancedScaleWrittenIn(AutoEncoder):
    def resample_neurons_advanced(self, h, frac_active_in_window, neuron_resample_scale):
        return _advanced(self, h, frac_active_in_window, 0.2)  # the optimizer's default, whatever was passed


@mutant("AutoEncoder.resample_neurons_advanced", "norms over the latent axis")
class AdvancedNormsOverLatents(AutoEncoder):
    def resample_neurons_advanced(self, h, frac_active_in_window, neuron_resample_scale):
        return _advanced(self, h, frac_active_in_window, neuron_resample_scale, enc_norm="rows")


@mutant("AutoEncoder.forward", "one of its two uses is wrong")
class TiedDecoderWithoutGradient(AutoEncoder):
    def forward(self, h):
        return _forward_variant(self, h, decoder=_no_grad_decoder)  # untied: harmless (W_dec is returned itself)


# ----------------------------------------------------------- a third round of learners' answers (issue 17)

@mutant("AutoEncoder.resample_neurons_simple", "replaced by new objects")
class SimpleReplacesParameters(AutoEncoder):
    @torch.no_grad()
    def resample_neurons_simple(self, h, frac_active_in_window, neuron_resample_scale):
        dead = frac_active_in_window.sum(0) == 0
        inst, latent = torch.nonzero(dead, as_tuple=True)
        v = _random_directions(self, len(inst))
        W_enc, b_enc = self.W_enc.detach().clone(), self.b_enc.detach().clone()
        W_enc[inst, :, latent], b_enc[inst, latent] = v * neuron_resample_scale, 0.0
        self.W_enc, self.b_enc = nn.Parameter(W_enc), nn.Parameter(b_enc)  # new objects: Adam still holds the old
        if not self.cfg.tied_weights:
            W_dec = self.W_dec.detach().clone()
            W_dec[inst, latent] = v
            self.W_dec = nn.Parameter(W_dec)
        return dead


@mutant("AutoEncoder.resample_neurons_advanced", "replaced by new objects")
class AdvancedReplacesParameters(AutoEncoder):
    def resample_neurons_advanced(self, h, frac_active_in_window, neuron_resample_scale):
        copy = AutoEncoder.__new__(AutoEncoder)
        nn.Module.__init__(copy)
        copy.cfg = self.cfg
        for name, p in self.named_parameters():
            setattr(copy, name, nn.Parameter(p.detach().clone()))
        resampled = AutoEncoder.resample_neurons_advanced(copy, h, frac_active_in_window, neuron_resample_scale)
        for name, p in copy.named_parameters():
            setattr(self, name, p)  # the resampled copy's parameters, as new objects
        return resampled


@mutant("AutoEncoder.normalize_and_return_W_dec", "not by norm.detach()")
class TiedNormDetached(AutoEncoder):
    def normalize_and_return_W_dec(self):
        if not self.cfg.tied_weights:
            return AutoEncoder.normalize_and_return_W_dec(self)
        W = self.W_enc.transpose(-1, -2)
        return W / (W.norm(dim=-1, keepdim=True).detach() + self.cfg.weight_normalize_eps)


@mutant("AutoEncoder.__init__", "self.to(get_device(device))")
class DeviceIgnored(AutoEncoder):
    def __init__(self, cfg, device=None):  # ... and never moved to `device`
        _init(self, cfg, device, move=False)


@mutant("AutoEncoder.forward", "h - self.b_dec, not a detached copy")
class CentresWithDetachedBias(AutoEncoder):
    def forward(self, h):  # "b_dec is the data's mean, a constant"
        W_dec = self.normalize_and_return_W_dec()
        acts = F.relu(einops.einsum(h - self.b_dec.detach(), self.W_enc, "b i d, i d h -> b i h") + self.b_enc)
        h_rec = einops.einsum(acts, W_dec, "b i h, i h d -> b i d") + self.b_dec
        l1, l2 = acts.abs().sum(-1), (h_rec - h).pow(2).mean(-1)
        return l1, l2, (self.cfg.l1_coeff * l1 + l2).mean(0).sum(), acts, h_rec


@mutant("AutoEncoder.resample_neurons_advanced", "not uniformly (torch.randint)")
class AdvancedPicksUniformly(AutoEncoder):
    def resample_neurons_advanced(self, h, frac_active_in_window, neuron_resample_scale):
        return _advanced(self, h, frac_active_in_window, neuron_resample_scale, pick="randint")


@mutant("AutoEncoder.normalize_and_return_W_dec", "not the whole matrix by one norm")
class WholeMatrixNorm(AutoEncoder):
    def normalize_and_return_W_dec(self):
        if self.cfg.tied_weights:
            return AutoEncoder.normalize_and_return_W_dec(self)
        W = self.W_dec.data
        self.W_dec.data = W / (W.norm(dim=(1, 2), keepdim=True) + self.cfg.weight_normalize_eps)
        return self.W_dec
