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
              leave_hook: bool = False, error_against_ablated: bool = False):
    def impl(tokens, model, autoencoder, feature_idx, instance_idx=0):
        inst = 0 if instance0 else instance_idx
        clean, cache = model.run_with_cache(tokens, names_filter=MLP_HOOK, return_type="loss", loss_per_token=True)
        h = einops.repeat(cache[MLP_HOOK], "b s d -> (b s) i d", i=autoencoder.cfg.n_instances)
        _, _, _, acts, h_rec = autoencoder(h)
        z = acts[:, inst].clone()
        z[:, feature_idx] = 0
        new = z @ autoencoder.W_dec[inst] + autoencoder.b_dec[inst]
        if error_term:
            new = new + (h[:, inst] - new if error_against_ablated else (h - h_rec)[:, inst])
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
    ("at every position", _ablation("last_position_only", last_only=True)),
    ("'(batch seq) -> batch seq'", _ablation("seq_major_unflatten", seq_major=True)),
    ("hook was left", _ablation("hook_left_registered", leave_hook=True)),
    ("against the ablated reconstruction", _ablation("error_against_ablated", error_against_ablated=True)),
]:
    mutant("feature_ablation_effect", _hint)(_impl)


@mutant("feature_ablation_effect", "[batch, seq - 1]")
def mean_over_tokens(tokens, model, autoencoder, feature_idx, instance_idx=0):
    return _ablation("per_token")(tokens, model, autoencoder, feature_idx, instance_idx).mean()


# ----------------------------------------------------------------------------------- train_sae


def _train(name: str, hook: str | None = None, n_instances: int = 1, d_in: int | None = None,
           n_hidden: int | None = None, train: bool = True, noise: bool = False, seeded: bool = True,
           buffer_seed: int | None = None, torch_seed: int | None = None, pass_on: tuple[str, ...] = (
               "steps", "batch_size", "lr", "l1_coeff"), window=lambda steps: max(1, steps // 4),
           method: str = "advanced", dead_window=None):
    def impl(model, tokens, hook_name, n_hidden_ae, steps=600, batch_size=1024, l1_coeff=5e-4, lr=1e-3, seed=0):
        hook_name = hook or hook_name
        buffer = ActivationBuffer(model, tokens, n_instances, hook_name,
                                  seed=seed if buffer_seed is None else buffer_seed)
        size = d_in or get_mlp_activations(tokens[:1], model, 1, hook_name).shape[-1]
        if seeded:
            torch.manual_seed(seed if torch_seed is None else torch_seed)
        cfg = AutoEncoderConfig(n_instances, size, n_hidden or n_hidden_ae)
        if "l1_coeff" in pass_on:
            cfg.l1_coeff = l1_coeff
        sae = AutoEncoder(cfg, device="cpu")
        source = (lambda b: torch.randn(b, n_instances, size)) if noise else buffer
        passed = {k: v for k, v in dict(steps=steps, batch_size=batch_size, lr=lr).items() if k in pass_on}
        if train:
            sae.optimize(source, neuron_resample_window=window(steps), resample_method=method,
                         dead_neuron_window=dead_window, log_weights=False, **passed)
        return sae

    impl.__name__ = name
    return impl


for _hint, _impl in [
    ("read the activations at hook_name", _train("mlp_hook_hard_coded", hook=MLP_HOOK)),
    ("read the activations at hook_name", _train("d_mlp_hard_coded", d_in=12)),
    ("expected 1", _train("two_instances", n_instances=2)),
    ("n_hidden_ae =", _train("n_hidden_hard_coded", n_hidden=7)),
    ("optimize was never called", _train("never_trained", train=False)),
    ("pass the buffer itself", _train("trained_on_noise", noise=True)),
    ("torch.manual_seed(seed)", _train("not_seeded", seeded=False)),
    ("torch.manual_seed(seed)", _train("seed_hard_coded", torch_seed=0)),
    ("ActivationBuffer(..., seed=seed)", _train("buffer_seed_not_passed", buffer_seed=0)),
    ("pass steps on", _train("steps_not_passed", pass_on=("batch_size", "lr", "l1_coeff"))),
    ("pass batch_size on", _train("batch_size_not_passed", pass_on=("steps", "lr", "l1_coeff"))),
    ("pass lr on", _train("lr_not_passed", pass_on=("steps", "batch_size", "l1_coeff"))),
    ("pass l1_coeff", _train("l1_coeff_not_passed", pass_on=("steps", "batch_size", "lr"))),
    ("never resampled", _train("no_resampling", window=lambda steps: None)),
    ("never resampled", _train("window_is_all_of_training", window=lambda steps: steps)),
    ("resample_method='advanced'", _train("simple_resampling", method="simple")),
    ("expected 3 times", _train("window_of_half_the_steps", window=lambda steps: steps // 2)),
    ("dead_neuron_window at its default", _train("short_dead_window", dead_window=10)),
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


# ------------------------------------------------- a second round of learners' answers (issue 17), section 4

def _every_latent_by_hand(h, ae, f, i):
    return F.relu((h - ae.b_dec[i]) @ ae.W_enc[i] + ae.b_enc[i])[..., f]  # all latents, then one


for _hint, _impl in [
    ("all of W_enc[instance_idx]", _top("every_latent_by_hand", _every_latent_by_hand)),
    ("all of W_enc[instance_idx]", _top("every_latent_by_einsum", lambda h, ae, f, i: F.relu(
        einops.einsum(h - ae.b_dec[i], ae.W_enc[i], "b s d, d h -> b s h") + ae.b_enc[i])[..., f])),
]:
    mutant("highest_activating_tokens", _hint)(_impl)


@mutant("highest_activating_tokens", "highest first")
def lowest_first(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10, batch_size=64):
    indices, values = _top("x", _score)(tokens, model, autoencoder, feature_idx, instance_idx, k, batch_size)
    return indices.flip(0), values.flip(0)  # "sorted" ascending


@mutant("highest_activating_tokens", "use the k argument")
def k_written_in(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10, batch_size=64):
    return _top("x", _score)(tokens, model, autoencoder, feature_idx, instance_idx, 10, batch_size)


@mutant("feature_logit_effect", "W_out[0]")
def stacked_W_out(model, autoencoder, feature_idx, instance_idx=0):
    return autoencoder.W_dec[instance_idx, feature_idx] @ model.W_out @ model.W_U  # [n_layers, d_vocab]


def _ablated_run(tokens, model, autoencoder, feature_idx, instance_idx, replacement):
    """loss_ablated - loss_clean with hook_post replaced by replacement(h, acts, h_rec, W_dec, b_dec) [(b s), d]."""
    clean, cache = model.run_with_cache(tokens, names_filter=MLP_HOOK, return_type="loss", loss_per_token=True)
    h = einops.repeat(cache[MLP_HOOK], "b s d -> (b s) i d", i=autoencoder.cfg.n_instances)
    _, _, _, acts, h_rec = autoencoder(h)
    new = einops.rearrange(replacement(h, acts, h_rec), "(b s) d -> b s d", b=tokens.shape[0]).contiguous()
    ablated = model.run_with_hooks(tokens, return_type="loss", loss_per_token=True,
                                   fwd_hooks=[(MLP_HOOK, lambda a, hook: new)])
    return ablated - clean


@mutant("feature_ablation_effect", "from the same instance")
def error_term_of_instance_0(tokens, model, autoencoder, feature_idx, instance_idx=0):
    def replace(h, acts, h_rec):
        z = acts[:, instance_idx].clone()
        z[:, feature_idx] = 0
        return z @ autoencoder.W_dec[instance_idx] + autoencoder.b_dec[instance_idx] + (h - h_rec)[:, 0]
    return _ablated_run(tokens, model, autoencoder, feature_idx, instance_idx, replace)


@mutant("feature_ablation_effect", "decode with b_dec")
def decoded_without_b_dec(tokens, model, autoencoder, feature_idx, instance_idx=0):
    def replace(h, acts, h_rec):
        z = acts[:, instance_idx].clone()
        z[:, feature_idx] = 0
        return z @ autoencoder.W_dec[instance_idx] + (h - h_rec)[:, instance_idx]
    return _ablated_run(tokens, model, autoencoder, feature_idx, instance_idx, replace)


@mutant("feature_ablation_effect", "not its encoder column")
def subtracts_encoder_column(tokens, model, autoencoder, feature_idx, instance_idx=0):
    def replace(h, acts, h_rec):
        a = acts[:, instance_idx, feature_idx, None]
        return h[:, instance_idx] - a * autoencoder.W_enc[instance_idx, :, feature_idx]
    return _ablated_run(tokens, model, autoencoder, feature_idx, instance_idx, replace)


# --------------------------------------------------------------- right answers, written differently (round 2)

@alternative("train_sae")
def size_read_off_the_buffer(model, tokens, hook_name, n_hidden_ae, steps=600, batch_size=1024, l1_coeff=5e-4,
                             lr=1e-3, seed=0):
    """Right: reads the input size off one batch of the buffer (as the prose suggests), before training."""
    buffer = ActivationBuffer(model, tokens, 1, hook_name, seed=seed)
    d_in = buffer(1).shape[-1]
    torch.manual_seed(seed)
    sae = AutoEncoder(AutoEncoderConfig(1, d_in, n_hidden_ae, l1_coeff=l1_coeff), device="cpu")
    sae.optimize(buffer, batch_size=batch_size, steps=steps, lr=lr, neuron_resample_window=steps // 4,
                 resample_method="advanced", log_weights=False)
    return sae


@alternative("highest_activating_tokens")
def one_column_by_einsum(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10, batch_size=64):
    """Right: the one encoder column, applied with einsum, all scores kept then one topk (small inputs)."""
    w = autoencoder.W_enc[instance_idx][:, feature_idx]
    scores = []
    for start in range(0, len(tokens), batch_size):
        _, cache = model.run_with_cache(tokens[start : start + batch_size], names_filter=MLP_HOOK)
        h = cache[MLP_HOOK] - autoencoder.b_dec[instance_idx]
        scores.append(F.relu(einops.einsum(h, w, "b s d, d -> b s") + autoencoder.b_enc[instance_idx, feature_idx]))
    scores = torch.cat(scores)
    values, flat = scores.flatten().topk(k)
    return torch.stack([flat // scores.shape[1], flat % scores.shape[1]], dim=-1), values


# ---------------------------------------------------------- a third round of learners' answers (issue 17)

@mutant("highest_activating_tokens", "last, partial batch was left out")
def whole_batches_only(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10, batch_size=64):
    whole = tokens[: len(tokens) // batch_size * batch_size]  # "range(len // batch_size) batches"
    return _top("x", _score)(whole, model, autoencoder, feature_idx, instance_idx, k, batch_size)


@mutant("highest_activating_tokens", "the first included")
def first_position_skipped(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10, batch_size=64):
    def score(h, ae, f, i):  # "position 0 is BOS, not a real token"
        s = _score(h, ae, f, i).clone()
        s[:, 0] = -float("inf")
        return s
    return _top("x", score)(tokens, model, autoencoder, feature_idx, instance_idx, k, batch_size)
