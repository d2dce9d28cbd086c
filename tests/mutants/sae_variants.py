"""Section 2b's wrong answers: TopK, the straight-through step, JumpReLU and BatchTopK as learners get them
wrong, each with the hint its check must give."""

import math

import einops
import torch
from torch.nn import functional as F

from solutions.sae_variants import BatchTopKAutoEncoder, JumpReLU, JumpReLUAutoEncoder, Step, TopKAutoEncoder, rectangle
from tests.mutants import alternative, mutant
from tests.mutants.sae import _class_name


def _topk(self, h, relu=True, score=None, dim=-1, l1_term=False, centre=True, detach=False, mean_inst=False):
    pre = einops.einsum(h - self.b_dec if centre else h, self.W_enc, "b i d, i d h -> b i h") + self.b_enc
    idx = (score(pre) if score else pre).topk(self.k, dim=dim).indices
    values = pre.gather(dim, idx)
    values = F.relu(values) if relu else values
    acts = torch.zeros_like(pre).scatter(dim, idx, values.detach() if detach else values)
    h_rec = einops.einsum(acts, self.normalize_and_return_W_dec(), "b i h, i h d -> b i d") + self.b_dec
    l1, l2 = acts.abs().sum(-1), (h_rec - h).pow(2).mean(-1)
    per = (self.cfg.l1_coeff * l1 + l2) if l1_term else l2
    loss = per.mean(0).mean() if mean_inst else per.mean(0).sum()
    return l1, l2, loss, acts, h_rec


def _topk_mutant(hint, **kwargs):
    return mutant("TopKAutoEncoder.forward", hint)(type(_class_name("TopK", hint), (TopKAutoEncoder,), {
        "forward": lambda self, h: _topk(self, h, **kwargs)}))


_topk_mutant("Apply F.relu to the k values you keep", relu=False)
_topk_mutant("in absolute value", score=torch.abs)
_topk_mutant("over the batch axis", dim=0)
_topk_mutant("reconstruction error alone", l1_term=True)
_topk_mutant("forgot to centre the input", centre=False)
_topk_mutant("not from detached values", detach=True)
_topk_mutant("you averaged over instances", mean_inst=True)


@mutant("TopKAutoEncoder.forward", "keep only each input's k largest")
class TopKWithoutTheTopK(TopKAutoEncoder):
    """Copied AutoEncoder.forward and dropped the L1 term, but never kept only k."""

    def forward(self, h):
        acts = F.relu(einops.einsum(h - self.b_dec, self.W_enc, "b i d, i d h -> b i h") + self.b_enc)
        h_rec = einops.einsum(acts, self.normalize_and_return_W_dec(), "b i h, i h d -> b i d") + self.b_dec
        l2 = (h_rec - h).pow(2).mean(-1)
        return acts.sum(-1), l2, l2.mean(0).sum(), acts, h_rec


@alternative("TopKAutoEncoder.forward")
class TopKByMask(TopKAutoEncoder):
    """A mask of the k largest, times the ReLU'd pre-activations (no scatter)."""

    def forward(self, h):
        pre = einops.einsum(h - self.b_dec, self.W_enc, "b i d, i d h -> b i h") + self.b_enc
        kth = pre.topk(self.k, dim=-1).values[..., -1:]
        acts = F.relu(pre) * (pre >= kth)
        h_rec = einops.einsum(acts, self.normalize_and_return_W_dec(), "b i h, i h d -> b i d") + self.b_dec
        l2 = (h_rec - h).pow(2).mean(-1)
        return acts.abs().sum(-1), l2, l2.mean(0).sum(), acts, h_rec


@mutant("TopKAutoEncoder.forward", "you gave every instance instance 0's")
class TopKEveryInstanceReadsInstanceZero(TopKAutoEncoder):
    def forward(self, h):
        return super().forward(h[:, :1].expand_as(h))


# ------------------------------------------------------------------------------------- Step.backward

def _step_backward(ctx, grad_output, chain=True, sign=-1, scale=True, divide_distance=True, bandwidth=None,
                   grad_z=False, reduce="sum"):
    z, threshold = ctx.saved_tensors
    bw = bandwidth or ctx.bandwidth
    window = rectangle((z - threshold) / bw if divide_distance else z - threshold)
    g = sign * window * (grad_output if chain else 1.0) / (bw if scale else 1.0)
    reductions = {"mean": lambda: g.mean(0), "sum": lambda: g.sum_to_size(threshold.shape),
                  "latents": lambda: g.sum(-1)}
    g = reductions[reduce]()
    return (grad_output if grad_z else torch.zeros_like(z)), g, None


def _step_mutant(hint, **kwargs):
    return mutant("Step.backward", hint)(type(_class_name("Step", hint), (Step,), {
        "backward": staticmethod(lambda ctx, grad_output: _step_backward(ctx, grad_output, **kwargs))}))


_step_mutant("multiply by grad_output", chain=False)
_step_mutant("the sign is wrong", sign=1)
_step_mutant("divide by the bandwidth", scale=False)
_step_mutant("divide the distance by the bandwidth first", divide_distance=False)
_step_mutant("use ctx.bandwidth", bandwidth=1e-3)
_step_mutant("z gets a gradient from the step", grad_z=True)
_step_mutant("its gradient is the sum", reduce="mean")
_step_mutant("sum its gradient over the batch", reduce="latents")  # summed over the wrong axis


@mutant("Step.backward", "None for the bandwidth")
class StepTwoGradients(Step):
    @staticmethod
    def backward(ctx, grad_output):
        z, threshold = ctx.saved_tensors
        return torch.zeros_like(z), -grad_output * rectangle((z - threshold) / ctx.bandwidth) / ctx.bandwidth


@alternative("Step.backward")
class StepWithWhere(Step):
    """The window written with torch.where and abs, the sum over the batch left to autograd."""

    @staticmethod
    def backward(ctx, grad_output):
        z, threshold = ctx.saved_tensors
        inside = ((z - threshold).abs() < ctx.bandwidth / 2)
        return None, torch.where(inside, -grad_output / ctx.bandwidth, 0.0), None


# ---------------------------------------------------------------------------------- JumpReLU forward

def _jump(self, h, acts_fn="jumprelu", l0_fn="step", threshold="learned", coeff="l0", centre=True, mean_inst=False,
          bandwidth=None, relu_first=False):
    z = einops.einsum(h - self.b_dec if centre else h, self.W_enc, "b i d, i d h -> b i h") + self.b_enc
    if relu_first:  # as section 2's own first version did: the estimators then see ReLU(pre)
        z = F.relu(z)
    theta = self.initial_threshold if threshold == "initial" else self.threshold
    bw = bandwidth or self.bandwidth
    acts = {"jumprelu": lambda: JumpReLU.apply(z, theta, bw), "relu": lambda: F.relu(z),
            "compare": lambda: z * (z > theta).float()}[acts_fn]()
    l0 = {"step": lambda: Step.apply(z, theta, bw), "step_on_acts": lambda: Step.apply(acts, theta, bw),
          "count": lambda: (z > theta).float(), "l1": lambda: acts, "relu_count": lambda: (z > 0).float()}[l0_fn]()
    l0 = l0.sum(-1)
    h_rec = einops.einsum(acts, self.normalize_and_return_W_dec(), "b i h, i h d -> b i d") + self.b_dec
    l2 = (h_rec - h).pow(2).mean(-1)
    c = {"l0": self.l0_coeff, "l1": self.cfg.l1_coeff, "none": 1.0, "zero": 0.0,
         "first": self.l0_coeff[0], "mean": self.l0_coeff.mean()}[coeff]
    per = (c * l0 + l2).mean(0)
    return l0, l2, per.mean() if mean_inst else per.sum(), acts, h_rec


def _jump_mutant(hint, **kwargs):
    return mutant("JumpReLUAutoEncoder.forward", hint)(type(_class_name("Jump", hint), (JumpReLUAutoEncoder,), {
        "forward": lambda self, h: _jump(self, h, **kwargs)}))


_jump_mutant("that is a plain ReLU", acts_fn="relu")
_jump_mutant("not a number such as the initial threshold", threshold="initial")
_jump_mutant("not z * (z > threshold)", acts_fn="compare")
_jump_mutant("which has no gradient", l0_fn="count")
_jump_mutant("the estimate needs the inputs just below the threshold too", l0_fn="step_on_acts")
_jump_mutant("yours is an L1 term", l0_fn="l1")
_jump_mutant("not every latent with a positive pre-activation", l0_fn="relu_count")
_jump_mutant("feed Step and JumpReLU the raw pre-activations", relu_first=True)
_jump_mutant("not cfg.l1_coeff", coeff="l1")
_jump_mutant("forgot to multiply the L0 term", coeff="none")
_jump_mutant("the loss has no sparsity term", coeff="zero")
_jump_mutant("not by its first entry", coeff="first")
_jump_mutant("not by its mean", coeff="mean")
_jump_mutant("you forgot to centre the input", centre=False)
_jump_mutant("you averaged over instances", mean_inst=True)
_jump_mutant("not a number written in", bandwidth=1e-3)


@alternative("JumpReLUAutoEncoder.forward")
class JumpThroughStep(JumpReLUAutoEncoder):
    """The same maths in another order: torch.einsum, the threshold read once, L2 first."""

    def forward(self, h):
        z = torch.einsum("bid,idh->bih", h - self.b_dec, self.W_enc) + self.b_enc
        theta = self.threshold
        acts = JumpReLU.apply(z, theta, self.bandwidth)
        h_rec = einops.einsum(acts, self.normalize_and_return_W_dec(), "b i h, i h d -> b i d") + self.b_dec
        l2 = (h_rec - h).pow(2).mean(-1)
        l0 = Step.apply(z, theta, self.bandwidth).sum(-1)
        loss = (l2 + self.l0_coeff * l0).mean(0).sum()
        return l0, l2, loss, acts, h_rec


def _own_normalisation(self):
    """The learner normalises the decoder inline, inside autograd (not with normalize_and_return_W_dec)."""
    if self.cfg.tied_weights:
        W = self.W_enc.transpose(-1, -2)
    else:
        W = self.W_dec
    return W / (W.norm(dim=-1, keepdim=True) + self.cfg.weight_normalize_eps)


@mutant("TopKAutoEncoder.forward", "not a normalisation of your own")
class TopKOwnNormalisation(TopKAutoEncoder):
    def forward(self, h):
        self.normalize_and_return_W_dec = lambda: _own_normalisation(self)
        return _topk(self, h)


@mutant("JumpReLUAutoEncoder.forward", "not a normalisation of your own")
class JumpOwnNormalisation(JumpReLUAutoEncoder):
    def forward(self, h):
        self.normalize_and_return_W_dec = lambda: _own_normalisation(self)
        return _jump(self, h)


@mutant("TopKAutoEncoder.forward", "with tied_weights=True there is no W_dec")
class TopKRawDecoderAttribute(TopKAutoEncoder):
    def forward(self, h):
        self.normalize_and_return_W_dec()
        W_dec = self.W_dec
        self.normalize_and_return_W_dec = lambda: W_dec
        return _topk(self, h)


@mutant("JumpReLUAutoEncoder.forward", "not a detached copy")
class JumpDetachedThreshold(JumpReLUAutoEncoder):
    def forward(self, h):
        z = einops.einsum(h - self.b_dec, self.W_enc, "b i d, i d h -> b i h") + self.b_enc
        theta = self.threshold.detach()
        acts = JumpReLU.apply(z, theta, self.bandwidth)
        h_rec = einops.einsum(acts, self.normalize_and_return_W_dec(), "b i h, i h d -> b i d") + self.b_dec
        l2 = (h_rec - h).pow(2).mean(-1)
        l0 = Step.apply(z, theta, self.bandwidth).sum(-1)
        return l0, l2, (self.l0_coeff * l0 + l2).mean(0).sum(), acts, h_rec


# ---------------------------------------------------------------------------------- BatchTopK forward

def _batchtopk(self, h, per="instance", relu=True, centre=True, l1_term=False, detach=False, update="kept",
               eval_rule="threshold"):
    """BatchTopKAutoEncoder.forward as a learner might write it, one choice at a time."""
    pre = einops.einsum(h - self.b_dec if centre else h, self.W_enc, "b i d, i d h -> b i h") + self.b_enc
    if not self.training and eval_rule != "batch":
        theta = {"threshold": self.threshold[:, None], "first": self.threshold[0], "none": 0.0}[eval_rule]
        acts = F.relu(pre) * (pre > theta)
        if update == "always":  # the threshold moved on every call, eval mode included
            self._update_threshold(einops.rearrange(acts, "b i h -> i (b h)"))
        return self.decode_and_score(h, acts)
    batch, inst, _ = pre.shape
    values = F.relu(pre) if relu else pre
    if per == "input":  # TopK's rule, k rounded up, for every input
        top = values.topk(math.ceil(self.k), dim=-1)
        acts = torch.zeros_like(values).scatter(-1, top.indices, top.values)
        kept = einops.rearrange(top.values, "b i k -> i (b k)")
    elif per == "all":  # one budget shared by every instance
        flat = values.reshape(-1)
        top = flat.topk(int(self.k * batch) * inst)
        acts = torch.zeros_like(flat).scatter(0, top.indices, top.values).reshape(values.shape)
        kept = acts.permute(1, 0, 2).reshape(inst, -1)
    elif per == "everything":
        acts = values
        kept = einops.rearrange(values, "b i h -> i (b h)")
    elif per == "no_permute":  # reshape(inst, -1) straight from [batch, inst, d_hidden]: rows mix instances
        flat = values.reshape(inst, -1)
        top = flat.topk(int(self.k * batch), dim=-1)
        acts = torch.zeros_like(flat).scatter(-1, top.indices, top.values).reshape(values.shape)
        kept = top.values
    elif per == "swapped":  # the two branches the wrong way round: the threshold in training
        acts = F.relu(pre) * (pre > self.threshold[:, None])
        kept = einops.rearrange(acts, "b i h -> i (b h)")
    else:
        n = {"instance": int(self.k * batch), "k": int(self.k), "ceil": math.ceil(self.k) * batch,
             "round": round(self.k * batch), "int_k": int(self.k) * batch, "inst": int(self.k * inst)}[per]
        flat = einops.rearrange(values, "b i h -> i (b h)")
        top = flat.topk(n, dim=-1)
        acts = einops.rearrange(torch.zeros_like(flat).scatter(-1, top.indices, top.values), "i (b h) -> b i h",
                                b=batch)
        kept = top.values if update != "everything" else flat
    if detach:
        acts = acts.detach()
    if update in ("kept", "always", "everything"):
        self._update_threshold(kept)
    result = self.decode_and_score(h, acts)
    if l1_term:
        l1, l2, _, acts, h_rec = result
        return l1, l2, (self.cfg.l1_coeff * l1 + l2).mean(0).sum(), acts, h_rec
    return result


def _batchtopk_mutant(hint, **kwargs):
    forward = {"forward": lambda self, h: _batchtopk(self, h, **kwargs)}
    return mutant("BatchTopKAutoEncoder.forward", hint)(type(_class_name("BatchTopK", hint), (BatchTopKAutoEncoder,),
                                                             forward))


_batchtopk_mutant("you kept each input's k largest (TopK's rule)", per="input")
_batchtopk_mutant("you took the largest over every instance at once", per="all")
_batchtopk_mutant("keep int(self.k * batch) of the batch's activations, not self.k", per="k")
_batchtopk_mutant("not math.ceil(self.k) * batch", per="ceil")
_batchtopk_mutant("round the budget down", per="round")
_batchtopk_mutant("not int(self.k) * batch", per="int_k")
_batchtopk_mutant("batch is the first axis", per="inst")
_batchtopk_mutant("makes rows that mix instances", per="no_permute")
_batchtopk_mutant("Are your two branches swapped?", per="swapped", update="never")
_batchtopk_mutant("you forgot to centre the input", centre=False)
_batchtopk_mutant("you took the ReLU of every pre-activation and kept them all", per="everything")
_batchtopk_mutant("take the ReLU before the top k", relu=False)
_batchtopk_mutant("the loss has an L1 term", l1_term=True)
_batchtopk_mutant("gradients must reach the kept activations", detach=True)
_batchtopk_mutant("the inference threshold did not move", update="never")
_batchtopk_mutant("with the values you kept", update="everything")
_batchtopk_mutant("an input has no batch to share a budget with", eval_rule="batch")
_batchtopk_mutant("in eval mode the threshold must cut", eval_rule="none")
_batchtopk_mutant("instance 0's threshold applied to all", eval_rule="first")
_batchtopk_mutant("the threshold changed in eval mode", update="always")


@alternative("BatchTopKAutoEncoder.forward")
class BatchTopKByCutoff(BatchTopKAutoEncoder):
    """The same rule written as a cutoff: each instance's (k x batch)-th largest value, and a mask at or above it
    (ties are impossible with random floats); the threshold fed the kept values as a masked tensor."""

    def forward(self, h):
        pre = torch.einsum("bid,idh->bih", h - self.b_dec, self.W_enc) + self.b_enc
        if self.training:
            relu = F.relu(pre)
            n = int(self.k * pre.shape[0])
            cutoff = relu.transpose(0, 1).reshape(pre.shape[1], -1).topk(n, dim=-1).values[:, -1]  # [inst]
            acts = relu * (relu >= cutoff[:, None])
            self._update_threshold(acts.transpose(0, 1).reshape(pre.shape[1], -1))
        else:
            acts = torch.where(pre > self.threshold[:, None], pre, torch.zeros_like(pre))
        return self.decode_and_score(h, acts)
