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
    ("sequences at once", _top("one_big_batch", _score, ignore_batch_size=True)),
    ("TopK SAE", _top("one_latent_formula", _score)),  # the spec of the L1 SAE era: right for L1, wrong for TopK
    ("TopK SAE", _top("whole_sae_then_formula", _score, use_forward=True)),
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


@mutant("feature_logit_effect", "index the latent too")
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
    def impl(model, tokens, hook_name, n_hidden_ae, steps=600, batch_size=1024, l1_coeff=3e-3, lr=1e-3, seed=0):
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
def returns_log(model, tokens, hook_name, n_hidden_ae, steps=600, batch_size=1024, l1_coeff=3e-3, lr=1e-3, seed=0):
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
    ("TopK SAE", _top("every_latent_by_hand", _every_latent_by_hand)),
    ("TopK SAE", _top("every_latent_by_einsum", lambda h, ae, f, i: F.relu(
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
def size_read_off_the_buffer(model, tokens, hook_name, n_hidden_ae, steps=600, batch_size=1024, l1_coeff=3e-3,
                             lr=1e-3, seed=0):
    """Right: reads the input size off one batch of the buffer (as the prose suggests), before training."""
    buffer = ActivationBuffer(model, tokens, 1, hook_name, seed=seed)
    d_in = buffer(1).shape[-1]
    torch.manual_seed(seed)
    sae = AutoEncoder(AutoEncoderConfig(1, d_in, n_hidden_ae, l1_coeff=l1_coeff), device="cpu")
    sae.optimize(buffer, batch_size=batch_size, steps=steps, lr=lr, neuron_resample_window=steps // 4,
                 resample_method="advanced", log_weights=False)
    return sae


@mutant("highest_activating_tokens", "TopK SAE")
def one_column_by_einsum(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10, batch_size=64):
    """The one encoder column, applied with einsum, all scores kept then one topk: right for an L1 SAE only."""
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


# ------------------------------------------- issue 18: the SAE's own forward, and precision and recall of a label

def _by_forward(name: str, instance=None, seq_major: bool = False, one_instance: bool = False):
    """highest_activating_tokens through the SAE's forward (the spec's way), with one mistake switched on."""

    def impl(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10, batch_size=32):
        best_v, best_i = torch.empty(0), torch.empty((0, 2), dtype=torch.long)
        for start in range(0, len(tokens), batch_size):
            batch = tokens[start : start + batch_size]
            h = get_mlp_activations(batch, model, 1 if one_instance else autoencoder.cfg.n_instances)
            column = autoencoder(h)[3][:, instance_idx if instance is None else instance, feature_idx]
            if seq_major:  # "(seq batch)": rows and positions mixed up
                scores = column.view(batch.shape[1], batch.shape[0]).T
            else:
                scores = column.view(batch.shape)
            values, flat = scores.flatten().topk(min(k, scores.numel()))
            idx = torch.stack([flat // scores.shape[1] + start, flat % scores.shape[1]], dim=-1)
            best_v, best_i = torch.cat([best_v, values]), torch.cat([best_i, idx])
            keep = best_v.topk(min(k, len(best_v))).indices
            best_v, best_i = best_v[keep], best_i[keep]
        return best_i, best_v

    impl.__name__ = name
    return impl


mutant("highest_activating_tokens", "instance_idx")(_by_forward("forward_instance_0", instance=0))
mutant("highest_activating_tokens", "i // seq")(_by_forward("forward_seq_major", seq_major=True))
alternative("highest_activating_tokens")(_by_forward("forward_one_instance_broadcast", one_instance=True))


def _pr(name: str, fires=lambda a: a > 0, swap: bool = False, mass_by_count: bool = False,
        mass_of_means: bool = False, mass_over_class: bool = False, recall_over_all: bool = False,
        undefined=float("nan"), per_row: bool = False, recall_nan_when_silent: bool = False):
    """label_precision_recall with one of a learner's mistakes switched on."""

    def impl(activations, in_class):
        f = fires(activations)
        hits = (f & in_class).sum()
        if per_row:
            rows = [((r & c).sum() / r.sum()).item() for r, c in zip(f, in_class, strict=True) if r.any()]
            precision = sum(rows) / len(rows) if rows else undefined
        else:
            precision = (hits / f.sum()).item() if f.any() else undefined
        recall = (hits / (in_class.numel() if recall_over_all else in_class.sum())).item() if in_class.any() \
            else undefined
        if recall_nan_when_silent and not f.any():
            recall = float("nan")
        if mass_by_count:
            mass = precision
        elif mass_of_means:
            mass = (activations[in_class].mean() / activations.mean()).item() if f.any() else undefined
        elif mass_over_class:
            mass = (activations[in_class].sum() / activations[in_class].sum()).item() if f.any() else undefined
        else:
            mass = (activations[in_class].sum() / activations.sum()).item() if f.any() else undefined
        if swap:
            precision, recall = recall, precision
        return {"precision": precision, "mass_precision": mass, "recall": recall}

    impl.__name__ = name
    return impl


for _hint, _impl in [
    ("swapped", _pr("precision_recall_swapped", swap=True)),
    ("not >= 0", _pr("fires_at_zero", fires=lambda a: a >= 0)),
    ("not above a threshold", _pr("fires_above_mean", fires=lambda a: a > a[a > 0].mean())),
    ("weighs each firing", _pr("mass_counted", mass_by_count=True)),
    ("ratio of mean activations", _pr("mass_ratio_of_means", mass_of_means=True)),
    ("activation on the class only", _pr("mass_over_class_mass", mass_over_class=True)),
    ("not by the number of tokens", _pr("recall_over_every_token", recall_over_all=True)),
    ("return float('nan')", _pr("zero_when_undefined", undefined=0.0)),
    ("average of each sequence's precision", _pr("precision_per_sequence", per_row=True)),
    ("recall 0", _pr("recall_nan_for_a_silent_latent", recall_nan_when_silent=True)),
]:
    mutant("label_precision_recall", _hint)(_impl)


@mutant("label_precision_recall", "a share of nothing is nan")
def python_division(activations, in_class):
    """Counts as Python ints: 0 / 0 raises ZeroDivisionError instead of giving nan."""
    fires = activations > 0
    hits, n_fires, n_class = int((fires & in_class).sum()), int(fires.sum()), int(in_class.sum())
    mass = float(activations[in_class].sum()) / float(activations.sum())
    return {"precision": hits / n_fires, "mass_precision": mass, "recall": hits / n_class}


@mutant("label_precision_recall", "changed its inputs")
def zeroes_the_rest_in_place(activations, in_class):
    fires = activations > 0
    total = activations.sum()
    activations[~in_class] = 0.0  # "keep only the class's activations"
    nan = float("nan")
    return {"precision": float((fires & in_class).sum() / fires.sum()) if fires.any() else nan,
            "mass_precision": float(activations.sum() / total) if fires.any() else nan,
            "recall": float((fires & in_class).sum() / in_class.sum()) if in_class.any() else nan}


@mutant("label_precision_recall", "use exactly these keys")
def other_key_names(activations, in_class):
    result = _pr("x")(activations, in_class)
    return {"precision": result["precision"], "activation_precision": result["mass_precision"],
            "recall": result["recall"]}


@alternative("label_precision_recall")
def tensors_and_float_masks(activations, in_class):
    """Right: 0-d tensors (0 / 0 gives nan by itself) and the class as a float mask."""
    fires = (activations > 0).float()
    c = in_class.float()
    return {"precision": (fires * c).sum() / fires.sum(), "mass_precision": (activations * c).sum() / activations.sum(),
            "recall": (fires * c).sum() / c.sum()}


# ------------------------------------------------ issue 18, a learner's round on the new exercises 1 and 2

@mutant("highest_activating_tokens", "ran the SAE on")
def sae_once_on_every_token(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10, batch_size=32):
    """The model in batches, then the SAE once on every token's activations."""
    h = torch.cat([get_mlp_activations(tokens[s : s + batch_size], model, autoencoder.cfg.n_instances)
                   for s in range(0, len(tokens), batch_size)])
    values, flat = autoencoder(h)[3][:, instance_idx, feature_idx].topk(k)
    return torch.stack([flat // tokens.shape[1], flat % tokens.shape[1]], dim=-1), values


@mutant("highest_activating_tokens", "kept every batch's latents")
def keeps_every_batch_s_latents(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10, batch_size=32):
    acts = torch.cat([autoencoder(get_mlp_activations(tokens[s : s + batch_size], model,
                                                      autoencoder.cfg.n_instances))[3]
                      for s in range(0, len(tokens), batch_size)])
    values, flat = acts[:, instance_idx, feature_idx].topk(k)
    return torch.stack([flat // tokens.shape[1], flat % tokens.shape[1]], dim=-1), values


@mutant("highest_activating_tokens", "reorder the indices")
def indices_not_reordered(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10, batch_size=32):
    best_v, best_i = torch.empty(0), torch.empty((0, 2), dtype=torch.long)
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start : start + batch_size]
        scores = autoencoder(get_mlp_activations(batch, model, autoencoder.cfg.n_instances))[3][
            :, instance_idx, feature_idx].view(batch.shape)
        values, flat = scores.flatten().topk(min(k, scores.numel()))
        idx = torch.stack([flat // scores.shape[1] + start, flat % scores.shape[1]], dim=-1)
        candidates_v, candidates_i = torch.cat([best_v, values]), torch.cat([best_i, idx])
        best_v = candidates_v.topk(min(k, len(candidates_v))).values
        best_i = candidates_i[: len(best_v)]  # the values were sorted; the indices were not
    return best_i, best_v


@mutant("highest_activating_tokens", "divide with //")
def float_indices(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10, batch_size=32):
    indices, values = _by_forward("x")(tokens, model, autoencoder, feature_idx, instance_idx, k, batch_size)
    flat = (indices[:, 0] * tokens.shape[1] + indices[:, 1]).float()
    return torch.stack([torch.floor(flat / tokens.shape[1]), flat % tokens.shape[1]], dim=-1), values


@alternative("highest_activating_tokens")
def int32_indices(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10, batch_size=32):
    """Right: integer indices of another width (Int[Tensor, "k 2"] allows any)."""
    indices, values = _by_forward("x")(tokens, model, autoencoder, feature_idx, instance_idx, k, batch_size)
    return indices.int(), values


@mutant("label_precision_recall", "class's share of all tokens")
def class_share_as_precision(activations, in_class):
    result = _pr("x")(activations, in_class)
    return {**result, "precision": float(in_class.float().mean())}


@mutant("label_precision_recall", "float32")
def in_half_precision(activations, in_class):
    return _pr("x")(activations.half(), in_class)


# ------------------------------------------ issue 29: sizes written in, faint firings, pre-activations, indexing


@mutant("highest_activating_tokens", "not a number written in")
def two_instances_written_in(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10, batch_size=32):
    best_v, best_i = torch.empty(0), torch.empty((0, 2), dtype=torch.long)
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start : start + batch_size]
        scores = autoencoder(get_mlp_activations(batch, model, 2))[3][:, instance_idx, feature_idx].view(batch.shape)
        values, flat = scores.flatten().topk(min(k, scores.numel()))
        idx = torch.stack([flat // scores.shape[1] + start, flat % scores.shape[1]], dim=-1)
        best_v, best_i = torch.cat([best_v, values]), torch.cat([best_i, idx])
        keep = best_v.topk(min(k, len(best_v))).indices
        best_v, best_i = best_v[keep], best_i[keep]
    return best_i, best_v


@mutant("feature_ablation_effect", "not a number written in")
def ablation_for_two_instances(tokens, model, autoencoder, feature_idx, instance_idx=0):
    clean, cache = model.run_with_cache(tokens, names_filter=MLP_HOOK, return_type="loss", loss_per_token=True)
    h = einops.repeat(cache[MLP_HOOK], "b s d -> (b s) i d", i=2)  # SAE A and SAE B
    _, _, _, acts, h_rec = autoencoder(h)
    z = acts[:, instance_idx].clone()
    z[:, feature_idx] = 0
    new = z @ autoencoder.W_dec[instance_idx] + autoencoder.b_dec[instance_idx] + (h - h_rec)[:, instance_idx]
    new = einops.rearrange(new, "(b s) d -> b s d", b=tokens.shape[0]).contiguous()
    return model.run_with_hooks(tokens, return_type="loss", loss_per_token=True,
                                fwd_hooks=[(MLP_HOOK, lambda a, hook: new)]) - clean


@mutant("feature_ablation_effect", "not its pre-activation")
def subtracts_the_pre_activation(tokens, model, autoencoder, feature_idx, instance_idx=0):
    def replace(h, acts, h_rec):
        x = h[:, instance_idx]
        pre = (x - autoencoder.b_dec[instance_idx]) @ autoencoder.W_enc[instance_idx, :, feature_idx] \
            + autoencoder.b_enc[instance_idx, feature_idx]  # "the latent's value", ReLU forgotten
        return x - pre[:, None] * autoencoder.W_dec[instance_idx, feature_idx]
    return _ablated_run(tokens, model, autoencoder, feature_idx, instance_idx, replace)


mutant("label_precision_recall", "not above a small cut-off such as 1e-3")(
    _pr("fires_above_a_cut_off", fires=lambda a: a > 1e-3))


@mutant("neuron_shares", "index the latent too")
def every_latents_shares(autoencoder, feature_idx, instance_idx=0):
    magnitude = autoencoder.W_dec[instance_idx].detach().abs()
    return magnitude / magnitude.sum()


@mutant("neuron_shares", "keeps every instance")
def every_instances_shares(autoencoder, feature_idx, instance_idx=0):
    magnitude = autoencoder.W_dec[:, feature_idx].detach().abs()
    return magnitude / magnitude.sum()


@mutant("neuron_shares", "that is one neuron across latents")
def one_neuron_across_latents(autoencoder, feature_idx, instance_idx=0):
    magnitude = autoencoder.W_dec[instance_idx, :, feature_idx].detach().abs()
    return magnitude / magnitude.sum()
