"""Realistic wrong implementations of section 6's exercises, each with words its hint must contain."""

import torch
from torch.nn import functional as F

from solutions import circuits as ref
from solutions.circuits import Transcoder, centred
from tests.checks.circuits import _de_embedding, _direction, _influence, _normalised, _replacement, _sources
from tests.mutants import alternative, mutant


def _variant(wrong, name, **how):
    """A learner's function: one of the check's own wrong versions, `wrong`, with the mistakes `how` made."""
    def learner(*args, **kwargs):
        return wrong(*args, **kwargs, **how)

    learner.__name__ = name
    return learner

# ---------------------------------------------------------------------------- Transcoder.encode


def _encoder(name, **how):
    def encode(self, x):
        pre = x @ self.W_enc + (0 if how.get("no_bias") else self.b_enc)
        if how.get("all_positive"):
            return F.relu(pre)
        if how.get("detach"):
            pre = pre.detach()
        k = how.get("k") or self.cfg.k
        top = (pre.abs() if how.get("by_abs") else pre).topk(k, dim=-1)
        values = pre.gather(-1, top.indices)
        kept = values if how.get("no_relu") else F.relu(values)
        return torch.zeros_like(pre).scatter(-1, top.indices, kept)

    return type(name, (Transcoder,), {"encode": encode})


for _hint, _how in [
    ("not every positive one", {"all_positive": True}),
    ("ReLU", {"no_relu": True}),
    ("add b_enc", {"no_bias": True}),
    ("absolute value", {"by_abs": True}),
    ("not a number written in", {"k": 4}),
    ("gradients must flow", {"detach": True}),
]:
    mutant("Transcoder.encode", _hint)(_encoder("Encode_" + "_".join(_how), **_how))


@alternative("Transcoder.encode")
class EncodeWithAMask(Transcoder):
    """Right, written another way: a mask of the top k, multiplied in."""

    def encode(self, x):
        pre = x @ self.W_enc + self.b_enc
        threshold = pre.topk(self.cfg.k, dim=-1).values[..., -1:]
        return F.relu(pre) * (pre >= threshold)


# ---------------------------------------------------------------------------- Transcoder.decode


def _decoder(name, **how):
    def decode(self, acts, x):
        out = acts @ self.W_dec + (0 if how.get("no_bias") else self.b_dec)
        if how.get("no_skip"):
            return out
        if how.get("always_skip"):
            return out + x @ self.W_skip
        if how.get("detach"):
            out = out.detach()
        return out + x @ self.W_skip if self.W_skip is not None else out

    return type(name, (Transcoder,), {"decode": decode})


for _hint, _how in [
    ("add b_dec", {"no_bias": True}),
    ("add the skip connection", {"no_skip": True}),
    ("W_skip is None", {"always_skip": True}),
    ("no .detach()", {"detach": True}),
]:
    mutant("Transcoder.decode", _hint)(_decoder("Decode_" + "_".join(_how), **_how))


@mutant("Transcoder.decode", "plus x @ W_skip")
class DecodeSkipOnTheLatents(Transcoder):
    """The skip connection read from the output side (a learner who thinks it adds the MLP's output)."""

    def decode(self, acts, x):
        out = acts @ self.W_dec + self.b_dec
        return out + out @ self.W_skip[: out.shape[-1], : out.shape[-1]] if self.W_skip is not None else out


# ---------------------------------------------------------------------------- replacement_logits


def _replace(name, **how):
    return _variant(_replacement, name, **how)


for _hint, _how in [
    ("add the error node", {"error": "none"}),
    ("positional embeddings", {"positional": False}),
    ("ln1's weight and bias", {"ln1_weights": False}),
    ("b_V", {"value_bias": False}),
    ("ln_final's bias", {"ln_final_bias": False}),
    ("attention is not frozen", {"attention": "model"}),
    ("ln1's scale was recomputed", {"ln1": "recomputed"}),
    ("ln2's scale was recomputed", {"ln2": "recomputed"}),
    ("ln_final's scale was recomputed", {"ln_final": "recomputed"}),
    ("cancels the edit", {"error": "edited"}),
]:
    _name = "replacement_" + "_".join(f"{k}_{v}" for k, v in _how.items())
    mutant("replacement_logits", _hint)(_replace(_name, **_how))


@mutant("replacement_logits", "latent_hook was not used")
def replacement_hook_ignored(model, transcoder, frozen, latent_hook=None):
    return _replacement(model, transcoder, frozen)


@mutant("replacement_logits", "nothing is frozen")
def replacement_through_the_model(model, transcoder, frozen, latent_hook=None):
    """The model run with hooks: the transcoder spliced in, but the model recomputes attention and every scale."""
    error = ref.error_node(transcoder, frozen)

    def splice(mlp_out, hook):
        acts = transcoder.encode(frozen.mlp_in.flatten(0, 1)).reshape(*frozen.tokens.shape, -1)
        acts = latent_hook(acts) if latent_hook is not None else acts
        return transcoder.decode(acts.flatten(0, 1), frozen.mlp_in.flatten(0, 1)).reshape(mlp_out.shape) + error

    return model.run_with_hooks(frozen.tokens, fwd_hooks=[(ref.MLP_OUT_HOOK, splice)])


@alternative("replacement_logits")
def replacement_with_the_models_own_layers(model, transcoder, frozen, latent_hook=None):
    """Right, written another way: the model's embedding modules, and LayerNorm's maths spelt out."""
    block, tokens = model.blocks[0], frozen.tokens
    resid_pre = model.embed(tokens) + model.pos_embed(tokens)
    ln1 = (resid_pre - resid_pre.mean(-1, keepdim=True)) / frozen.ln1_scale * block.ln1.w + block.ln1.b
    v = torch.einsum("bkd,hde->bkhe", ln1, block.attn.W_V) + block.attn.b_V
    z = torch.einsum("bhqk,bkhe->bqhe", frozen.pattern, v)
    resid_mid = resid_pre + torch.einsum("bqhe,hed->bqd", z, block.attn.W_O) + block.attn.b_O
    mlp_in = centred(resid_mid) / frozen.ln2_scale
    acts = torch.stack([transcoder.encode(mlp_in[b]) for b in range(len(tokens))])
    if latent_hook is not None:
        acts = latent_hook(acts)
    predicted = torch.stack([transcoder.decode(acts[b], mlp_in[b]) for b in range(len(tokens))])
    resid_post = resid_mid + predicted + ref.error_node(transcoder, frozen)
    return model.unembed(centred(resid_post) / frozen.ln_final_scale * model.ln_final.w + model.ln_final.b)


# ---------------------------------------------------------------------------- logit_direction


def _dir(name, **how):
    return _variant(_direction, name, **how)


for _hint, _how in [
    ("centre the direction", {"centre": False}),
    ("divide by the frozen ln_final scale", {"divide": False}),
    ("multiply by ln_final.w", {"weight": False}),
    ("ln_final.b @ u and b_U[token]: both", {"unembed_bias": False, "ln_bias": False}),
    ("needs ln_final.b @ u", {"ln_bias": False}),
    ("needs b_U[token]", {"unembed_bias": False}),
    ("subtract the other token", {"use_other": False}),
]:
    mutant("logit_direction", _hint)(_dir("direction_" + "_".join(_how), **_how))


@mutant("logit_direction", "not a pair")
def direction_as_a_tensor(model, frozen, row, position, token, other=None):
    g, c = ref.logit_direction(model, frozen, row, position, token, other)
    return torch.cat([g, torch.tensor([c])])


@alternative("logit_direction")
def direction_with_a_centring_matrix(model, frozen, row, position, token, other=None):
    """Right, written another way: the centring as a matrix, the biases as tensors."""
    d = model.cfg.d_model
    centring = torch.eye(d) - torch.full((d, d), 1 / d)
    u = model.W_U[:, token] - (model.W_U[:, other] if other is not None else torch.zeros(d))
    b = model.b_U[token] - (model.b_U[other] if other is not None else 0.0)
    g = centring @ (model.ln_final.w * u) / frozen.ln_final_scale[row, position, 0]
    return g, model.ln_final.b @ u + b


# ---------------------------------------------------------------------------- source_vectors


def _src(name, **how):
    return _variant(_sources, name, **how)


for _hint, _how in [
    ("only the sources at `position` itself", {"residual_everywhere": True}),
    ("positional embeddings are sources too", {"positional": False}),
    ("at its own position q", {"query_scale": True}),
    ("multiply by ln1.w", {"weight": False}),
    ("pattern[row, h, position, q]", {"transposed": True}),
    ("each head has its own pattern", {"one_head": True}),
]:
    mutant("source_vectors", _hint)(_src("sources_" + "_".join(_how), **_how))


@alternative("source_vectors")
def sources_one_head_at_a_time(model, frozen, row, position):
    """Right, written another way: a loop over heads and positions, as a learner might first write it."""
    n, block = position + 1, model.blocks[0]
    out = torch.zeros(2 * n, 1 + model.cfg.n_heads, model.cfg.d_model)
    for half, vectors in enumerate((model.W_E[frozen.tokens[row, :n]], model.W_pos[:n])):
        for q in range(n):
            e = vectors[q]
            if q == position:
                out[half * n + q, 0] = e
            read = (e - e.mean()) / frozen.ln1_scale[row, q, 0] * block.ln1.w
            for h in range(model.cfg.n_heads):
                ov = read @ model.W_V[0, h] @ model.W_O[0, h]
                out[half * n + q, 1 + h] = frozen.pattern[row, h, position, q] * ov
    return out


# ---------------------------------------------------------------------------- compute_influence


def _infl(name, **how):
    return _variant(_influence, name, **how)


for _hint, _how in [
    ("absolute values", {"absolute": False}),
    ("normalise each row", {"normalise": "none"}),
    ("not columns", {"normalise": "columns"}),
    ("direct edges only", {"steps": 1}),
    ("subtract the identity", {"identity": True}),
    ("stops too early", {"steps": 2}),
]:
    mutant("compute_influence", _hint)(_infl("influence_" + "_".join(f"{k}_{v}" for k, v in _how.items()), **_how))


@alternative("compute_influence")
def influence_by_power_iteration(A, target=-1):
    """Right, written another way: circuit-tracer's power iteration, until the paths stop adding."""
    weights = A.abs()
    weights = weights / weights.sum(-1, keepdim=True).clamp(min=1e-30)
    row = torch.zeros(len(A), dtype=A.dtype)
    row[target] = 1.0
    total = torch.zeros_like(row)
    for _ in range(len(A)):
        row = row @ weights
        total = total + row
    return total


# ---------------------------------------------------------------------------- more learners' mistakes (a trial run)

for _hint, _how in [
    ("each query position sums over key positions", {"transposed": True}),
    ("output bias b_O", {"output_bias": False}),
    ("without ln2.w and ln2.b", {"ln2_weights": True}),
    ("centre resid_post", {"centre_final": False}),
    ("latent_hook takes the latents shaped", {"flat_hook": True}),
    ("not frozen.mlp_in", {"encode_clean": True}),
]:
    _name = "replacement_" + "_".join(f"{k}_{v}" for k, v in _how.items())
    mutant("replacement_logits", _hint)(_replace(_name, **_how))

for _hint, _how in [
    ("centre the product", {"centre_first": True}),
    ("do not multiply", {"multiply": True}),
    ("subtract b_U[other]", {"other_bias": False}),
]:
    mutant("logit_direction", _hint)(_dir("direction_" + "_".join(_how), **_how))

for _hint, _how in [
    ("leave ln1.b out", {"ln_bias": True}),
    ("leave b_V out", {"value_bias": True}),
    ("centre each embedding", {"centre": False}),
]:
    mutant("source_vectors", _hint)(_src("sources_" + "_".join(_how), **_how))


@mutant("source_vectors", "position included")
def sources_off_by_one(model, frozen, row, position):
    """Sources at positions before `position` only: range(position) where range(position + 1) was meant."""
    return _sources(model, frozen, row, position)[torch.tensor([q for q in range(2 * (position + 1))
                                                                if q % (position + 1) != position])] \
        if position > 0 else _sources(model, frozen, row, position)[:1]


@mutant("compute_influence", "use the target argument")
def influence_target_ignored(A, target=-1):
    return _influence(A)


@mutant("compute_influence", "not its column")
def influence_column(A, target=-1):
    eye = torch.eye(len(A))
    return (torch.linalg.inv(eye - _normalised(A)) - eye)[:, target]


@mutant("Transcoder.decode", "no transpose")
class DecodeSkipTransposed(Transcoder):
    def decode(self, acts, x):
        out = acts @ self.W_dec + self.b_dec
        return out + x @ self.W_skip.T if self.W_skip is not None else out


# ---------------------------------------------------------------------------- de_embedding


def _de(name, **how):
    return _variant(_de_embedding, name, **how)


for _hint, _how in [
    ("centre each embedding over d_model first", {"centre": None}),
    ("not over the vocabulary", {"centre": "vocab"}),
    ("divide by the scale: the", {"scaling": "ignore"}),
    ("do not multiply", {"scaling": "multiply"}),
    ("W_dec[latent] is what the latent writes", {"read": "W_dec"}),
    ("leave b_enc out", {"bias": True}),
    ("no ln2.w here", {"ln_weight": "ln2"}),
    ("no ln2.w and ln2.b here", {"ln_weight": "ln2_affine"}),
    ("no ln1.w here", {"ln_weight": "ln1"}),
    ("no ReLU", {"relu": True}),
    ("not transcoder.encode", {"encode": True}),
    ("not by each embedding's own norm", {"scaling": "own"}),
    ("W_U is what the logits read", {"embedding": "W_U"}),
]:
    mutant("de_embedding", _hint)(_de("de_embedding_" + "_".join(f"{k}_{v}" for k, v in _how.items()), **_how))


@alternative("de_embedding")
def de_embedding_with_einsum(model, transcoder, latent, scale):
    """Right, written another way: the mean subtracted by hand, the read as an einsum, the scale last."""
    import einops

    E = model.W_E - model.W_E.mean(-1, keepdim=True)
    return einops.einsum(E, transcoder.W_enc[:, latent], "vocab d, d -> vocab") / scale
