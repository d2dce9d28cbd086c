"""Realistic wrong implementations of section 3's exercises, each with words its hint must contain."""

import einops
import torch
from torch.nn import functional as F

from solutions.llm_sae import MLP_HOOK, get_mlp_activations, stop_layer
from tests.mutants import mutant

# ---------------------------------------------------------------------------- get_mlp_activations


def _acts(tokens, model, hook_name=MLP_HOOK, stop=True):
    stop_at = stop_layer(hook_name) if stop else None
    _, cache = model.run_with_cache(tokens, names_filter=hook_name, stop_at_layer=stop_at)
    return cache[hook_name]


@mutant("get_mlp_activations", "hook_post")
def hook_pre(tokens, model, n_instances, hook_name=MLP_HOOK):
    return einops.repeat(_acts(tokens, model, "blocks.0.mlp.hook_pre"), "b s d -> (b s) i d", i=n_instances)


@mutant("get_mlp_activations", "'(batch seq)'")
def seq_major(tokens, model, n_instances, hook_name=MLP_HOOK):
    return einops.repeat(_acts(tokens, model, hook_name), "b s d -> (s b) i d", i=n_instances)


@mutant("get_mlp_activations", "stop_at_layer")
def whole_model(tokens, model, n_instances, hook_name=MLP_HOOK):
    return einops.repeat(_acts(tokens, model, hook_name, stop=False), "b s d -> (b s) i d", i=n_instances)


@mutant("get_mlp_activations", "hook_name argument")
def hard_coded_hook(tokens, model, n_instances, hook_name=MLP_HOOK):
    acts = _acts(tokens, model, MLP_HOOK)
    return einops.repeat(acts[..., :8] if hook_name != MLP_HOOK else acts, "b s d -> (b s) i d", i=n_instances)


@mutant("get_mlp_activations", "[batch*seq, n_instances, d_mlp]")
def not_flattened(tokens, model, n_instances, hook_name=MLP_HOOK):
    return einops.repeat(_acts(tokens, model, hook_name), "b s d -> b s i d", i=n_instances)


@mutant("get_mlp_activations", "[batch*seq, n_instances, d_mlp]")
def no_instance_axis(tokens, model, n_instances, hook_name=MLP_HOOK):
    return einops.rearrange(_acts(tokens, model, hook_name), "b s d -> (b s) d")


@mutant("get_mlp_activations", "hook was left")
def hook_left_registered(tokens, model, n_instances, hook_name=MLP_HOOK):
    store = {}
    model.add_hook(hook_name, lambda act, hook: store.update(act=act))
    model(tokens, stop_at_layer=stop_layer(hook_name))
    return einops.repeat(store["act"], "b s d -> (b s) i d", i=n_instances)


# ------------------------------------------------------------------------- get_feature_probability


def _sae_acts(tokens, model, autoencoder):
    h = get_mlp_activations(tokens, model, autoencoder.cfg.n_instances)
    return h, autoencoder(h)[3]


@mutant("get_feature_probability", "mean activation")
def mean_activation(tokens, model, autoencoder):
    return _sae_acts(tokens, model, autoencoder)[1].mean(0)


@mutant("get_feature_probability", "count")
def count_not_fraction(tokens, model, autoencoder):
    return (_sae_acts(tokens, model, autoencoder)[1] > 0).float().sum(0)


@mutant("get_feature_probability", "> 0")
def greater_equal(tokens, model, autoencoder):
    return (_sae_acts(tokens, model, autoencoder)[1] >= 0).float().mean(0)


@mutant("get_feature_probability", "centre by b_dec")
def no_centring(tokens, model, autoencoder):
    h = get_mlp_activations(tokens, model, autoencoder.cfg.n_instances)
    pre = einops.einsum(h, autoencoder.W_enc, "b i d, i d h -> b i h") + autoencoder.b_enc
    return (F.relu(pre) > 0).float().mean(0)


@mutant("get_feature_probability", "b_enc")
def no_b_enc(tokens, model, autoencoder):
    h = get_mlp_activations(tokens, model, autoencoder.cfg.n_instances)
    pre = einops.einsum(h - autoencoder.b_dec, autoencoder.W_enc, "b i d, i d h -> b i h")
    return (F.relu(pre) > 0).float().mean(0)


@mutant("get_feature_probability", "[n_instances, n_hidden_ae]")
def wrong_axis(tokens, model, autoencoder):
    return (_sae_acts(tokens, model, autoencoder)[1] > 0).float().mean(1)


@mutant("get_feature_probability", "float32")
def bool_any(tokens, model, autoencoder):
    return (_sae_acts(tokens, model, autoencoder)[1] > 0).any(0)


# --------------------------------------------------------------------------- max_cosine_similarity


def _unit(x, dim=-1):
    return x / x.norm(dim=dim, keepdim=True)


@mutant("max_cosine_similarity", "largest dot product")
def unnormalised(directions_A, directions_B):
    return (directions_A @ directions_B.T).max(-1).values


@mutant("max_cosine_similarity", "both sets")
def only_A_normalised(directions_A, directions_B):
    return (_unit(directions_A) @ directions_B.T).max(-1).values


@mutant("max_cosine_similarity", "absolute value")
def absolute(directions_A, directions_B):
    return (_unit(directions_A) @ _unit(directions_B).T).abs().max(-1).values


@mutant("max_cosine_similarity", "not the mean")
def mean_not_max(directions_A, directions_B):
    return (_unit(directions_A) @ _unit(directions_B).T).mean(-1)


@mutant("max_cosine_similarity", "over the d axis")
def columns_normalised(directions_A, directions_B):
    return (_unit(directions_A, 0) @ _unit(directions_B, 0).T).max(-1).values


@mutant("max_cosine_similarity", "one per row of A")
def max_over_A(directions_A, directions_B):
    return (_unit(directions_A) @ _unit(directions_B).T).max(0).values


@mutant("max_cosine_similarity", "changed its inputs")
def normalises_in_place(directions_A, directions_B):
    directions_A /= directions_A.norm(dim=-1, keepdim=True)
    directions_B /= directions_B.norm(dim=-1, keepdim=True)
    return (directions_A @ directions_B.T).max(-1).values


# ------------------------------------------------------------------------- get_reconstruction_loss


def _forward(tokens, model, autoencoder):
    h = get_mlp_activations(tokens, model, autoencoder.cfg.n_instances)
    return h, autoencoder(h)


@mutant("get_reconstruction_loss", "average it")
def summed_over_d(tokens, model, autoencoder):
    h, (_, _, _, _, h_rec) = _forward(tokens, model, autoencoder)
    return (h_rec - h).pow(2).sum(-1).mean(0), F.cosine_similarity(h, h_rec, dim=-1).mean(0)


@mutant("get_reconstruction_loss", "square the error")
def error_norm(tokens, model, autoencoder):
    h, (_, _, _, _, h_rec) = _forward(tokens, model, autoencoder)
    return (h_rec - h).norm(dim=-1).mean(0), F.cosine_similarity(h, h_rec, dim=-1).mean(0)


@mutant("get_reconstruction_loss", "b_dec back")
def manual_decode_without_b_dec(tokens, model, autoencoder):
    h, (_, _, _, acts, _) = _forward(tokens, model, autoencoder)
    h_rec = einops.einsum(acts, autoencoder.W_dec, "b i h, i h d -> b i d")
    return (h_rec - h).pow(2).mean(-1).mean(0), F.cosine_similarity(h, h_rec, dim=-1).mean(0)


@mutant("get_reconstruction_loss", "dim=-1")
def cosine_wrong_axis(tokens, model, autoencoder):
    h, (_, l2, _, _, h_rec) = _forward(tokens, model, autoencoder)
    return l2.mean(0), F.cosine_similarity(h, h_rec, dim=0).mean(-1)


@mutant("get_reconstruction_loss", "[n_instances]")
def not_averaged_over_tokens(tokens, model, autoencoder):
    h, (_, l2, _, _, h_rec) = _forward(tokens, model, autoencoder)
    return l2, F.cosine_similarity(h, h_rec, dim=-1)


@mutant("get_reconstruction_loss", "expected 2 values")
def returns_only_loss(tokens, model, autoencoder):
    return _forward(tokens, model, autoencoder)[1][1].mean(0)


@mutant("get_reconstruction_loss", "activations themselves")
def activation_norm(tokens, model, autoencoder):
    h, (_, _, _, _, h_rec) = _forward(tokens, model, autoencoder)
    return h.pow(2).mean(-1).mean(0), F.cosine_similarity(h, h_rec, dim=-1).mean(0)


# -------------------------------------------------------------------------- get_substitution_loss


def _reconstructions(tokens, model, autoencoder, order="(b s) i d -> i b s d"):
    h = get_mlp_activations(tokens, model, autoencoder.cfg.n_instances)
    h_rec = autoencoder(h)[4]
    if order.startswith("(s b)"):
        return einops.rearrange(h_rec, order, s=tokens.shape[1]).contiguous()
    return einops.rearrange(h_rec, order, b=tokens.shape[0]).contiguous()


def _patched_losses(tokens, model, replacements, hook_name=MLP_HOOK, **kwargs):
    return [model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(hook_name, lambda a, hook, r=r: r(a))],
                                 **kwargs) for r in replacements]


@mutant("get_substitution_loss", "every position")
def last_position_only(tokens, model, autoencoder):
    h_rec = _reconstructions(tokens, model, autoencoder)

    def last(i):
        def replace(a):
            a = a.clone()
            a[:, -1] = h_rec[i][:, -1]
            return a
        return replace

    clean = model(tokens, return_type="loss")
    rec = _patched_losses(tokens, model, [last(i) for i in range(len(h_rec))])
    zero = _patched_losses(tokens, model, [torch.zeros_like])[0]
    return clean, torch.stack(rec), zero


@mutant("get_substitution_loss", "not hook_pre")
def patches_hook_pre(tokens, model, autoencoder):
    h_rec = _reconstructions(tokens, model, autoencoder)
    clean = model(tokens, return_type="loss")
    rec = _patched_losses(tokens, model, [lambda a, r=r: r for r in h_rec], "blocks.0.mlp.hook_pre")
    zero = _patched_losses(tokens, model, [torch.zeros_like])[0]
    return clean, torch.stack(rec), zero


@mutant("get_substitution_loss", "same order")
def seq_major_unflatten(tokens, model, autoencoder):
    h_rec = _reconstructions(tokens, model, autoencoder, "(s b) i d -> i b s d")
    clean = model(tokens, return_type="loss")
    rec = _patched_losses(tokens, model, [lambda a, r=r: r for r in h_rec])
    zero = _patched_losses(tokens, model, [torch.zeros_like])[0]
    return clean, torch.stack(rec), zero


@mutant("get_substitution_loss", "instance 0")
def same_instance(tokens, model, autoencoder):
    h_rec = _reconstructions(tokens, model, autoencoder)
    clean = model(tokens, return_type="loss")
    rec = _patched_losses(tokens, model, [lambda a: h_rec[0]] * len(h_rec))
    zero = _patched_losses(tokens, model, [torch.zeros_like])[0]
    return clean, torch.stack(rec), zero


@mutant("get_substitution_loss", "not the sum")
def summed_losses(tokens, model, autoencoder):
    h_rec = _reconstructions(tokens, model, autoencoder)
    clean = model(tokens, return_type="loss", loss_per_token=True).sum()
    rec = [x.sum() for x in _patched_losses(tokens, model, [lambda a, r=r: r for r in h_rec], loss_per_token=True)]
    zero = _patched_losses(tokens, model, [torch.zeros_like], loss_per_token=True)[0].sum()
    return clean, torch.stack(rec), zero


@mutant("get_substitution_loss", "a scalar")
def per_token_losses(tokens, model, autoencoder):
    h_rec = _reconstructions(tokens, model, autoencoder)
    clean = model(tokens, return_type="loss", loss_per_token=True)
    rec = _patched_losses(tokens, model, [lambda a, r=r: r for r in h_rec], loss_per_token=True)
    zero = _patched_losses(tokens, model, [torch.zeros_like], loss_per_token=True)[0]
    return clean, torch.stack(rec), zero


@mutant("get_substitution_loss", "every position")
def zero_ablates_last_position(tokens, model, autoencoder):
    h_rec = _reconstructions(tokens, model, autoencoder)
    clean = model(tokens, return_type="loss")
    rec = _patched_losses(tokens, model, [lambda a, r=r: r for r in h_rec])

    def zero_last(a):
        a = a.clone()
        a[:, -1] = 0
        return a

    zero = _patched_losses(tokens, model, [zero_last])[0]
    return clean, torch.stack(rec), zero


@mutant("get_substitution_loss", "hook was left")
def add_hook_without_removing(tokens, model, autoencoder):
    h_rec = _reconstructions(tokens, model, autoencoder)
    clean = model(tokens, return_type="loss")
    rec = []
    for r in h_rec:
        model.reset_hooks()
        model.add_hook(MLP_HOOK, lambda a, hook, r=r: r)
        rec.append(model(tokens, return_type="loss"))
    model.reset_hooks()
    model.add_hook(MLP_HOOK, lambda a, hook: torch.zeros_like(a))
    zero = model(tokens, return_type="loss")
    return clean, torch.stack(rec), zero


# ---------------------------------------------------------------------------- loss_recovered


@mutant("loss_recovered", "fraction *lost*")
def fraction_lost(loss_clean, loss_reconstructed, loss_zero_ablation):
    return (loss_reconstructed - loss_clean) / (loss_zero_ablation - loss_clean)


@mutant("loss_recovered", "sign is flipped")
def sign_flipped(loss_clean, loss_reconstructed, loss_zero_ablation):
    return (loss_reconstructed - loss_zero_ablation) / (loss_zero_ablation - loss_clean)


@mutant("loss_recovered", "upside down")
def upside_down(loss_clean, loss_reconstructed, loss_zero_ablation):
    return (loss_zero_ablation - loss_clean) / (loss_zero_ablation - loss_reconstructed)


@mutant("loss_recovered", "not by zero alone")
def relative_to_zero(loss_clean, loss_reconstructed, loss_zero_ablation):
    return (loss_zero_ablation - loss_reconstructed) / loss_zero_ablation


@mutant("loss_recovered", "ratio of losses")
def ratio_of_losses(loss_clean, loss_reconstructed, loss_zero_ablation):
    return loss_clean / loss_reconstructed


@mutant("loss_recovered", "don't clamp to [0, 1]")
def clamped(loss_clean, loss_reconstructed, loss_zero_ablation):
    return ((loss_zero_ablation - loss_reconstructed) / (loss_zero_ablation - loss_clean)).clamp(0, 1)


@mutant("loss_recovered", "don't clamp at 0")
def clamped_below(loss_clean, loss_reconstructed, loss_zero_ablation):
    return torch.relu((loss_zero_ablation - loss_reconstructed) / (loss_zero_ablation - loss_clean))


@mutant("loss_recovered", "one fraction per SAE")
def averaged_over_saes(loss_clean, loss_reconstructed, loss_zero_ablation):
    return ((loss_zero_ablation - loss_reconstructed) / (loss_zero_ablation - loss_clean)).mean()


@mutant("loss_recovered", "not .item()")
def as_python_floats(loss_clean, loss_reconstructed, loss_zero_ablation):
    return [((loss_zero_ablation - r) / (loss_zero_ablation - loss_clean)).item() for r in loss_reconstructed]


@mutant("loss_recovered", "any shape of losses")
def one_dimensional_only(loss_clean, loss_reconstructed, loss_zero_ablation):
    """Works for [n_instances] but takes the first row of anything larger."""
    fraction = (loss_zero_ablation - loss_reconstructed) / (loss_zero_ablation - loss_clean)
    return fraction if fraction.ndim <= 1 else fraction[0].expand_as(fraction)


# ---------------------------------------------------------------------------- get_summary_metrics


def _metrics(tokens, model, autoencoder, l0=None, ev=None, dead=None, dense=None):
    h = get_mlp_activations(tokens, model, autoencoder.cfg.n_instances)
    _, _, _, acts, h_rec = autoencoder(h)
    firing = (acts > 0).float()
    frequency = firing.mean(0)
    residual = (h - h_rec).pow(2).sum(-1).sum(0)
    variance = (h - h.mean(0)).pow(2).sum(-1).sum(0)
    out = {
        "l0": firing.sum(-1).mean(0),
        "explained_variance": 1 - residual / variance,
        "dead_fraction": (frequency == 0).float().mean(-1),
        "dense_fraction": (frequency > 0.1).float().mean(-1),
    }
    local = dict(h=h, acts=acts, h_rec=h_rec, firing=firing, frequency=frequency, residual=residual,
                 variance=variance)
    for key, fn in (("l0", l0), ("explained_variance", ev), ("dead_fraction", dead), ("dense_fraction", dense)):
        if fn is not None:
            out[key] = fn(**local)
    return out


@mutant("get_summary_metrics", "L1")
def l0_is_l1(tokens, model, autoencoder, dense_threshold=0.1):
    return _metrics(tokens, model, autoencoder, l0=lambda acts, **_: acts.sum(-1).mean(0))


@mutant("get_summary_metrics", "sum the firing latents")
def l0_averaged(tokens, model, autoencoder, dense_threshold=0.1):
    return _metrics(tokens, model, autoencoder, l0=lambda firing, **_: firing.mean(-1).mean(0))


@mutant("get_summary_metrics", "subtract h.mean(0)")
def variance_uncentred(tokens, model, autoencoder, dense_threshold=0.1):
    return _metrics(tokens, model, autoencoder, ev=lambda h, residual, **_: 1 - residual / h.pow(2).sum(-1).sum(0))


@mutant("get_summary_metrics", "unexplained")
def fraction_unexplained(tokens, model, autoencoder, dense_threshold=0.1):
    return _metrics(tokens, model, autoencoder, ev=lambda residual, variance, **_: residual / variance)


@mutant("get_summary_metrics", "never do")
def alive_fraction(tokens, model, autoencoder, dense_threshold=0.1):
    return _metrics(tokens, model, autoencoder, dead=lambda frequency, **_: (frequency > 0).float().mean(-1))


@mutant("get_summary_metrics", "not the mean activation")
def dense_by_mean_activation(tokens, model, autoencoder, dense_threshold=0.1):
    return _metrics(tokens, model, autoencoder, dense=lambda acts, **_: (acts.mean(0) > 0.1).float().mean(-1))


@mutant("get_summary_metrics", "dense_threshold=0.4 was ignored")
def dense_threshold_hard_coded(tokens, model, autoencoder, dense_threshold=0.1):
    return _metrics(tokens, model, autoencoder)  # 0.1 written in, whatever the argument says


@mutant("get_summary_metrics", "expected a dict")
def returns_a_tuple(tokens, model, autoencoder, dense_threshold=0.1):
    return tuple(_metrics(tokens, model, autoencoder).values())


# ---------------------------------------------- a second round of learners' answers (issue 17), section 3

@mutant("get_mlp_activations", "the first (BOS) included")
def drops_bos(tokens, model, n_instances, hook_name=MLP_HOOK):
    return einops.repeat(_acts(tokens, model, hook_name)[:, 1:], "b s d -> (b s) i d", i=n_instances)


@mutant("get_mlp_activations", "not a hook name written in")
def mlp_out_not_post(tokens, model, n_instances, hook_name=MLP_HOOK):
    return einops.repeat(_acts(tokens, model, "blocks.0.hook_mlp_out"), "b s d -> (b s) i d", i=n_instances)


@mutant("get_feature_probability", "not of sequences")
def per_sequence(tokens, model, autoencoder):
    return (_sae_acts(tokens, model, autoencoder)[1] > 0).float().sum(0) / tokens.shape[0]


@mutant("get_feature_probability", "the first (BOS) included")
def probability_without_bos(tokens, model, autoencoder):
    acts = _sae_acts(tokens, model, autoencoder)[1]
    acts = einops.rearrange(acts, "(b s) i h -> b s i h", b=tokens.shape[0])[:, 1:]
    return (acts > 0).float().mean((0, 1))


@mutant("get_feature_probability", "instance 0's")
def probability_of_instance_0(tokens, model, autoencoder):
    acts = _sae_acts(tokens, model, autoencoder)[1]
    return (acts[:, 0] > 0).float().mean(0).expand(autoencoder.cfg.n_instances, -1)


@mutant("get_reconstruction_loss", "no square root")
def root_mean_square(tokens, model, autoencoder):
    h, (_, l2, _, _, h_rec) = _forward(tokens, model, autoencoder)
    return l2.mean(0).sqrt(), F.cosine_similarity(h, h_rec, dim=-1).mean(0)


@mutant("get_reconstruction_loss", "the first (BOS) included")
def reconstruction_without_bos(tokens, model, autoencoder):
    h, (_, l2, _, _, h_rec) = _forward(tokens, model, autoencoder)
    l2 = einops.rearrange(l2, "(b s) i -> b s i", b=tokens.shape[0])[:, 1:]
    return l2.mean((0, 1)), F.cosine_similarity(h, h_rec, dim=-1).mean(0)


@mutant("get_substitution_loss", "add b_dec back when decoding")
def decoded_by_hand_without_b_dec(tokens, model, autoencoder):
    h = get_mlp_activations(tokens, model, autoencoder.cfg.n_instances)
    acts = autoencoder(h)[3]
    h_rec = einops.einsum(acts, autoencoder.W_dec, "t i h, i h d -> i t d")
    h_rec = einops.rearrange(h_rec, "i (b s) d -> i b s d", b=tokens.shape[0]).contiguous()
    clean = model(tokens, return_type="loss")
    rec = _patched_losses(tokens, model, [lambda a, r=r: r for r in h_rec])
    zero = _patched_losses(tokens, model, [torch.zeros_like])[0]
    return clean, torch.stack(rec), zero


@mutant("get_substitution_loss", "changed the model's weights")
def zero_ablates_by_editing_W_out(tokens, model, autoencoder):
    h_rec = _reconstructions(tokens, model, autoencoder)
    clean = model(tokens, return_type="loss")
    rec = _patched_losses(tokens, model, [lambda a, r=r: r for r in h_rec])
    with torch.no_grad():
        model.blocks[0].mlp.W_out.zero_()  # "no MLP output": but the model stays broken afterwards
        model.blocks[0].mlp.b_out.zero_()
    zero = model(tokens, return_type="loss")
    return clean, torch.stack(rec), zero


@mutant("max_cosine_similarity", ".values")
def values_and_indices(directions_A, directions_B):
    return (_unit(directions_A) @ _unit(directions_B).T).max(-1)


@mutant("max_cosine_similarity", "partial chunk")
def drops_the_last_chunk(directions_A, directions_B, chunk=1024):
    A, B = _unit(directions_A), _unit(directions_B)
    n = len(A)
    return torch.cat([(A[i * chunk:(i + 1) * chunk] @ B.T).max(-1).values for i in range(max(1, n // chunk))])


@mutant("max_cosine_similarity", "don't exclude the diagonal")
def best_other_match(directions_A, directions_B, chunk=1024):
    A, B = _unit(directions_A), _unit(directions_B)
    best = []
    for start in range(0, len(A), chunk):
        cos = A[start : start + chunk] @ B.T
        if len(A) == len(B):  # "a latent is trivially its own best match": skip it
            rows = torch.arange(len(cos))
            cos[rows, rows + start] = -float("inf")
        best.append(cos.max(-1).values)
    return torch.cat(best)


@mutant("get_summary_metrics", "pooled every instance's latents")
def dead_pooled_over_instances(tokens, model, autoencoder, dense_threshold=0.1):
    def pooled(frequency, **_):
        return (frequency == 0).float().mean().expand(autoencoder.cfg.n_instances)
    return _metrics(tokens, model, autoencoder, dead=pooled)


# ---------------------------------------------- a third round of learners' answers (issue 17), section 3

@mutant("max_cosine_similarity", "a broadcast [n_A, n_B, d] product is 34 GB")
def broadcast_without_chunks(directions_A, directions_B, chunk=1024):
    return F.cosine_similarity(directions_A[:, None, :], directions_B[None, :, :], dim=-1).max(-1).values


@mutant("max_cosine_similarity", "use the chunk argument")
def chunk_ignored(directions_A, directions_B, chunk=1024):
    return (_unit(directions_A) @ _unit(directions_B).T).max(-1).values


@mutant("loss_recovered", "keep the denominator's sign")
def absolute_denominator(loss_clean, loss_reconstructed, loss_zero_ablation):
    return (loss_zero_ablation - loss_reconstructed) / (loss_zero_ablation - loss_clean).abs()


@mutant("loss_recovered", "don't clamp the denominator")
def clamped_denominator(loss_clean, loss_reconstructed, loss_zero_ablation):
    return (loss_zero_ablation - loss_reconstructed) / (loss_zero_ablation - loss_clean).clamp(min=1e-8)


@mutant("loss_recovered", "changed the losses it was given")
def subtracts_in_place(loss_clean, loss_reconstructed, loss_zero_ablation):
    gap = loss_zero_ablation.sub_(loss_clean)
    return (gap + loss_clean - loss_reconstructed) / gap


@mutant("get_feature_probability", "autoencoder.cfg.n_instances")
def two_instances_written_in(tokens, model, autoencoder):
    h = get_mlp_activations(tokens, model, 2)
    return (autoencoder(h)[3] > 0).float().mean(0)


@mutant("get_summary_metrics", "count of dead latents")
def dead_as_count(tokens, model, autoencoder, dense_threshold=0.1):
    return _metrics(tokens, model, autoencoder, dead=lambda frequency, **_: (frequency == 0).float().sum(-1))


@mutant("get_mlp_activations", "n_instances times, the argument")
def two_instances_always(tokens, model, n_instances, hook_name=MLP_HOOK):
    return einops.repeat(_acts(tokens, model, hook_name), "b s d -> (b s) i d", i=2)


# ------------------------------------ sizes the bundled model happens to have, and thresholds (issue 29)


@mutant("get_mlp_activations", "stop_at_layer=1 is right for a block-0 hook only")
def stops_after_block_zero(tokens, model, n_instances, hook_name=MLP_HOOK):
    _, cache = model.run_with_cache(tokens, names_filter=hook_name, stop_at_layer=1)  # "only block 0 is needed"
    return einops.repeat(cache[hook_name], "b s d -> (b s) i d", i=n_instances)


@mutant("get_feature_probability", "not above a small cut-off such as 1e-3")
def fires_above_a_cut_off(tokens, model, autoencoder):
    h = get_mlp_activations(tokens, model, autoencoder.cfg.n_instances)
    return (autoencoder(h)[3] > 1e-3).float().mean(0)  # "ignore numerical noise"


@mutant("get_reconstruction_loss", "not a number written in")
def reconstruction_for_two_instances(tokens, model, autoencoder):
    h = get_mlp_activations(tokens, model, 2)  # the bundled SAEs: A and B
    _, l2_loss, _, _, h_rec = autoencoder(h)
    return l2_loss.mean(0), F.cosine_similarity(h, h_rec, dim=-1).mean(0)


@mutant("get_substitution_loss", "not a number written in")
def two_reconstructions_written_in(tokens, model, autoencoder):
    clean, cache = model.run_with_cache(tokens, names_filter=MLP_HOOK, return_type="loss")
    h = einops.repeat(cache[MLP_HOOK], "b s d -> (b s) i d", i=autoencoder.cfg.n_instances)
    h_rec = einops.rearrange(autoencoder(h)[4], "(b s) i d -> i b s d", b=tokens.shape[0]).contiguous()

    def loss_with(replacement):
        return model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(MLP_HOOK, lambda a, hook: replacement)])

    rec = torch.stack([loss_with(h_rec[0]), loss_with(h_rec[1])])  # "SAE A, then SAE B"
    return clean, rec, loss_with(torch.zeros_like(cache[MLP_HOOK]))


@mutant("get_summary_metrics", "not a number written in")
def summary_for_two_instances(tokens, model, autoencoder, dense_threshold=0.1):
    h = get_mlp_activations(tokens, model, 2)
    _, _, _, acts, h_rec = autoencoder(h)
    frequency = (acts > 0).float().mean(0)
    return {"l0": (acts > 0).float().sum(-1).mean(0),
            "explained_variance": 1 - (h - h_rec).pow(2).sum((0, 2)) / (h - h.mean(0)).pow(2).sum((0, 2)),
            "dead_fraction": (frequency == 0).float().mean(-1),
            "dense_fraction": (frequency > dense_threshold).float().mean(-1)}


@mutant("get_summary_metrics", "frequency > dense_threshold, not >=")
def dense_at_or_above_threshold(tokens, model, autoencoder, dense_threshold=0.1):
    return _metrics(tokens, model, autoencoder,
                    dense=lambda frequency, **_: (frequency >= dense_threshold).float().mean(-1))


@mutant("get_summary_metrics", "not above a small cut-off such as 1e-3")
def summary_fires_above_a_cut_off(tokens, model, autoencoder, dense_threshold=0.1):
    out = _metrics(tokens, model, autoencoder,
                   dense=lambda frequency, **_: (frequency > dense_threshold).float().mean(-1))
    acts = autoencoder(get_mlp_activations(tokens, model, autoencoder.cfg.n_instances))[3]
    firing = (acts > 1e-3).float()  # "a tiny activation is noise"
    out["l0"], out["dead_fraction"] = firing.sum(-1).mean(0), (firing.mean(0) == 0).float().mean(-1)
    return out
