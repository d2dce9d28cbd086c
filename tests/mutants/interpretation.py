"""Realistic wrong implementations of section 4's exercises, each with words its hint must contain."""

import einops
import torch
from torch.nn import functional as F

from solutions.llm_sae import MLP_HOOK, ActivationBuffer, get_mlp_activations, stop_layer
from solutions.sae import AutoEncoder, AutoEncoderConfig
from tests.mutants import alternative, mutant

# ---------------------------------------------------------------------- highest_activating_tokens


def _top(name: str, score_fn, per_batch: bool = True, offset: bool = True, swap: bool = False,
         use_forward: bool = False, ignore_batch_size: bool = False):
    """A highest_activating_tokens built from `score_fn(h, autoencoder, feature_idx, instance_idx)` ->
    [batch, seq], with one of the mistakes switched on by the other arguments."""

    def impl(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10, batch_size=64):
        step = len(tokens) if ignore_batch_size else batch_size
        best_v, best_i = torch.empty(0), torch.empty((0, 2), dtype=torch.long)
        for start in range(0, len(tokens), step):
            _, cache = model.run_with_cache(tokens[start : start + step], names_filter=MLP_HOOK,
                                            stop_at_layer=stop_layer(MLP_HOOK))
            h = cache[MLP_HOOK]
            if use_forward:  # every latent, then pick one
                autoencoder(einops.repeat(h, "b s d -> (b s) i d", i=autoencoder.cfg.n_instances))
            scores = score_fn(h, autoencoder, feature_idx, instance_idx)
            values, flat = scores.flatten().topk(min(k, scores.numel()))
            idx = torch.stack([flat // scores.shape[1] + (start if offset else 0), flat % scores.shape[1]], dim=-1)
            idx = idx.flip(-1) if swap else idx
            best_v, best_i = (torch.cat([best_v, values]), torch.cat([best_i, idx])) if per_batch else (values, idx)
            keep = best_v.topk(min(k, len(best_v))).indices
            best_v, best_i = best_v[keep], best_i[keep]
        return best_i, best_v

    impl.__name__ = name
    return impl


def _score(h, ae, f, i):
    return F.relu((h - ae.b_dec[i]) @ ae.W_enc[i, :, f] + ae.b_enc[i, f])


for _hint, _impl in [
    ("b_enc", _top("no_b_enc", lambda h, ae, f, i: F.relu((h - ae.b_dec[i]) @ ae.W_enc[i, :, f]))),
    ("ReLU", _top("no_relu", lambda h, ae, f, i: (h - ae.b_dec[i]) @ ae.W_enc[i, :, f] + ae.b_enc[i, f])),
    ("centre the activations by b_dec", _top("no_centring", lambda h, ae, f, i: F.relu(
        h @ ae.W_enc[i, :, f] + ae.b_enc[i, f]))),
    ("W_enc[i, :, f]", _top("decoder_row", lambda h, ae, f, i: F.relu(
        (h - ae.b_dec[i]) @ ae.W_dec[i, f] + ae.b_enc[i, f]))),
    ("instance_idx", _top("instance_0", lambda h, ae, f, i: _score(h, ae, f, 0))),
    ("last batch", _top("last_batch_only", _score, per_batch=False)),
    ("start of each batch", _top("row_within_batch", _score, offset=False)),
    ("wrong way round", _top("seq_batch_swapped", _score, swap=True)),
    ("whole SAE", _top("every_latent", _score, use_forward=True)),
    ("sequences at once", _top("one_big_batch", _score, ignore_batch_size=True)),
]:
    mutant("highest_activating_tokens", _hint)(_impl)


_first_answer: dict = {}


@mutant("highest_activating_tokens", "values do not match")
def remembers_its_first_answer(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10, batch_size=64):
    """Computes once, then returns that answer whatever latent is asked for (a stale cache)."""
    key = id(autoencoder)
    if key not in _first_answer:
        _first_answer.clear()
        _first_answer[key] = _top("x", _score)(tokens, model, autoencoder, feature_idx, instance_idx, k, batch_size)
    return _first_answer[key]


# --------------------------------------------------------------------------- feature_logit_effect


@mutant("feature_logit_effect", "encoder's column")
def encoder_column(model, autoencoder, feature_idx, instance_idx=0):
    return autoencoder.W_enc[instance_idx, :, feature_idx] @ model.W_out[0] @ model.W_U


@mutant("feature_logit_effect", "instance_idx")
def logit_instance_0(model, autoencoder, feature_idx, instance_idx=0):
    return autoencoder.W_dec[0, feature_idx] @ model.W_out[0] @ model.W_U


@mutant("feature_logit_effect", "b_U")
def with_unembed_bias(model, autoencoder, feature_idx, instance_idx=0):
    return autoencoder.W_dec[instance_idx, feature_idx] @ model.W_out[0] @ model.W_U + model.b_U


@mutant("feature_logit_effect", "W_out")
def through_W_in(model, autoencoder, feature_idx, instance_idx=0):
    return autoencoder.W_dec[instance_idx, feature_idx] @ model.W_in[0].T @ model.W_U


@mutant("feature_logit_effect", "log-probability")
def log_softmaxed(model, autoencoder, feature_idx, instance_idx=0):
    return (autoencoder.W_dec[instance_idx, feature_idx] @ model.W_out[0] @ model.W_U).log_softmax(-1)


@mutant("feature_logit_effect", "[d_vocab]")
def every_latent(model, autoencoder, feature_idx, instance_idx=0):
    return autoencoder.W_dec[instance_idx] @ model.W_out[0] @ model.W_U


@mutant("feature_logit_effect", "changed the SAE's W_dec")
def normalises_in_place(model, autoencoder, feature_idx, instance_idx=0):
    w = autoencoder.W_dec.data[instance_idx, feature_idx]
    w /= w.norm() * 1.5
    return w @ model.W_out[0] @ model.W_U


# --------------------------------------------------------------------------------- neuron_shares


def _row(autoencoder, feature_idx, instance_idx):
    return autoencoder.W_dec.detach()[instance_idx, feature_idx]


@mutant("neuron_shares", "absolute values")
def signed(autoencoder, feature_idx, instance_idx=0):
    w = _row(autoencoder, feature_idx, instance_idx)
    return w / w.sum()


@mutant("neuron_shares", "add up to 1")
def not_normalised(autoencoder, feature_idx, instance_idx=0):
    return _row(autoencoder, feature_idx, instance_idx).abs()


@mutant("neuron_shares", "squared")
def squared(autoencoder, feature_idx, instance_idx=0):
    w = _row(autoencoder, feature_idx, instance_idx)
    return w.pow(2) / w.pow(2).sum()


@mutant("neuron_shares", "largest value")
def by_max(autoencoder, feature_idx, instance_idx=0):
    w = _row(autoencoder, feature_idx, instance_idx).abs()
    return w / w.max()


@mutant("neuron_shares", "instance_idx")
def shares_instance_0(autoencoder, feature_idx, instance_idx=0):
    w = _row(autoencoder, feature_idx, 0).abs()
    return w / w.sum()


@mutant("neuron_shares", "encoder's column")
def encoder_shares(autoencoder, feature_idx, instance_idx=0):
    w = autoencoder.W_enc.detach()[instance_idx, :, feature_idx].abs()
    return w / w.sum()


@mutant("neuron_shares", "in-place")
def in_place_abs(autoencoder, feature_idx, instance_idx=0):
    w = autoencoder.W_dec.data[instance_idx, feature_idx].abs_()
    return w / w.sum()


# ----------------------------------------------------------------------- feature_ablation_effect


def _ablation(name: str, error_term: bool = True, against_reconstruction: bool = False, sign: int = 1,
              neuron: bool = False, instance0: bool = False, last_only: bool = False, seq_major: bool = False,
              leave_hook: bool = False):
    def impl(tokens, model, autoencoder, feature_idx, instance_idx=0):
        inst = 0 if instance0 else instance_idx
        clean, cache = model.run_with_cache(tokens, names_filter=MLP_HOOK, return_type="loss", loss_per_token=True)
        h = einops.repeat(cache[MLP_HOOK], "b s d -> (b s) i d", i=autoencoder.cfg.n_instances)
        _, _, _, acts, h_rec = autoencoder(h)
        z = acts[:, inst].clone()
        z[:, feature_idx] = 0
        new = z @ autoencoder.W_dec[inst] + autoencoder.b_dec[inst]
        if error_term:
            new = new + (h - h_rec)[:, inst]
        if neuron:
            new = h[:, inst].clone()
            new[:, feature_idx] = 0
        pattern = "(s b) d -> b s d" if seq_major else "(b s) d -> b s d"
        new = einops.rearrange(new, pattern, b=tokens.shape[0]).contiguous()
        if last_only:
            new = torch.cat([cache[MLP_HOOK][:, :-1], new[:, -1:]], dim=1)
        if leave_hook:
            model.add_hook(MLP_HOOK, lambda a, hook: new)
            ablated = model(tokens, return_type="loss", loss_per_token=True)
        else:
            ablated = model.run_with_hooks(tokens, return_type="loss", loss_per_token=True,
                                           fwd_hooks=[(MLP_HOOK, lambda a, hook: new)])
        if against_reconstruction:
            rec = einops.rearrange(h_rec[:, inst], "(b s) d -> b s d", b=tokens.shape[0]).contiguous()
            clean = model.run_with_hooks(tokens, return_type="loss", loss_per_token=True,
                                         fwd_hooks=[(MLP_HOOK, lambda a, hook: rec)])
        return sign * (ablated - clean)

    impl.__name__ = name
    return impl


for _hint, _impl in [
    ("error term", _ablation("no_error_term", error_term=False)),
    ("loss_ablated - loss_clean", _ablation("clean_minus_ablated", sign=-1)),
    ("not with the loss with the SAE's reconstruction", _ablation("against_reconstruction", error_term=False,
                                                                   against_reconstruction=True)),
    ("zeroed the MLP neuron", _ablation("zeroed_neuron", neuron=True)),
    ("instance_idx", _ablation("ablation_instance_0", instance0=True)),
    ("every position", _ablation("last_position_only", last_only=True)),
    ("'(batch seq) -> batch seq'", _ablation("seq_major_unflatten", seq_major=True)),
    ("hook was left", _ablation("hook_left_registered", leave_hook=True)),
]:
    mutant("feature_ablation_effect", _hint)(_impl)


@mutant("feature_ablation_effect", "[batch, seq - 1]")
def mean_over_tokens(tokens, model, autoencoder, feature_idx, instance_idx=0):
    return _ablation("per_token")(tokens, model, autoencoder, feature_idx, instance_idx).mean()


# ----------------------------------------------------------------------------------- train_sae


def _train(name: str, hook: str | None = None, n_instances: int = 1, d_in: int | None = None,
           n_hidden: int | None = None, train: bool = True, noise: bool = False, seeded: bool = True):
    def impl(model, tokens, hook_name, n_hidden_ae, steps=600, batch_size=1024, l1_coeff=5e-4, lr=1e-3, seed=0):
        hook_name = hook or hook_name
        buffer = ActivationBuffer(model, tokens, n_instances, hook_name, seed=seed)
        size = d_in or get_mlp_activations(tokens[:1], model, 1, hook_name).shape[-1]
        if seeded:
            torch.manual_seed(seed)
        sae = AutoEncoder(AutoEncoderConfig(n_instances, size, n_hidden or n_hidden_ae, l1_coeff=l1_coeff),
                          device="cpu")
        source = (lambda b: torch.randn(b, n_instances, size)) if noise else buffer
        if train:
            sae.optimize(source, batch_size=batch_size, steps=steps, lr=lr, neuron_resample_window=max(1, steps // 4),
                         log_weights=False)
        return sae

    impl.__name__ = name
    return impl


for _hint, _impl in [
    ("read the activations at hook_name", _train("mlp_hook_hard_coded", hook=MLP_HOOK)),
    ("read the activations at hook_name", _train("d_mlp_hard_coded", d_in=12)),
    ("expected 1", _train("two_instances", n_instances=2)),
    ("n_hidden_ae =", _train("n_hidden_hard_coded", n_hidden=7)),
    ("variance", _train("never_trained", train=False)),
    ("variance", _train("trained_on_noise", noise=True)),
    ("same seed", _train("not_seeded", seeded=False)),
]:
    mutant("train_sae", _hint)(_impl)


@mutant("train_sae", "expected the trained AutoEncoder")
def returns_log(model, tokens, hook_name, n_hidden_ae, steps=600, batch_size=1024, l1_coeff=5e-4, lr=1e-3, seed=0):
    sae = _train("x")(model, tokens, hook_name, n_hidden_ae, 1, batch_size, l1_coeff, lr, seed)
    return sae, {}


# --------------------------------------------------------------- right answers, written differently

@alternative("feature_logit_effect")
def logit_effect_via_normalised_decoder(model, autoencoder, feature_idx, instance_idx=0):
    """Right: the bundled decoder is unit norm already, so normalising it first changes nothing that matters
    (but rewrites W_dec in place, in the last bit)."""
    W_dec = autoencoder.normalize_and_return_W_dec()
    return W_dec[instance_idx, feature_idx] @ model.W_out[0] @ model.W_U
