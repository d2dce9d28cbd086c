"""Checks for section 4 (notebooks/4_feature_interpretation): reading and removing single latents,
and training an SAE on a hook point of the learner's choice.

As in section 3, every check runs on the tiny random HookedTransformer and SAE of
tests/checks/llm_sae.py (random biases everywhere, so a forgotten bias shows), and uses instance 1
of the SAE, so code that always reads instance 0 is caught.
"""

from __future__ import annotations

import contextlib
import inspect

import einops
import torch
from torch.nn import functional as F

from solutions import interpretation as ref
from solutions.llm_sae import ActivationBuffer
from solutions.sae import AutoEncoder
from tests.checks.core import CheckFailed, call_learner, close, compare, exercise_check, expect_tensor
from tests.checks.llm_sae import D_MLP, HOOK, N_HIDDEN, SEQ, _untouched, tiny_model, tiny_sae, tiny_tokens

INSTANCE = 1
N_ROWS = 7  # sequences of tiny tokens: more than one batch of BATCH_SIZE
BATCH_SIZE = 2


def _latent_acts(model, sae, tokens, instance: int = INSTANCE) -> torch.Tensor:
    """Every latent of one instance at every token, from the SAE's own forward: [batch, seq, n_hidden]."""
    with torch.no_grad():
        h = model.run_with_cache(tokens)[1][HOOK]
        acts = sae(einops.repeat(h, "b s d -> (b s) i d", i=sae.cfg.n_instances))[3][:, instance]
    return acts.reshape(*tokens.shape, -1)


def _pick_latents(acts: torch.Tensor, k: int) -> tuple[int, int]:
    """A latent that fires on many tokens (so its top k are distinct), and one that fires on fewer
    than k (so the ReLU's zeros are among its top k), both below D_MLP (for the 'zeroed a neuron'
    mistake)."""
    fires = (acts[..., :D_MLP] > 0).flatten(0, 1).sum(0)
    frequent = int(fires.argmax())
    rare = [i for i in range(D_MLP) if 0 < fires[i] < k]
    if not rare:
        raise RuntimeError("the tiny SAE has no rarely firing latent: change its seed")  # the check's own bug
    return frequent, rare[0]


class _NoForward(AutoEncoder):
    """The tiny SAE with its forward disabled: highest_activating_tokens must compute one latent."""

    def forward(self, h):
        raise CheckFailed("highest_activating_tokens", "you ran the whole SAE (every latent) on the activations.",
                          "compute only this latent: relu((h - b_dec) @ W_enc[instance_idx, :, feature_idx] + b_enc).")


class _OneLatentOnly(torch.Tensor):
    """W_enc that refuses to be multiplied whole: a product whose result has a latent axis computed every
    latent of the instance, which is what exercise 1 asks learners not to do."""

    PRODUCTS = {torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.Tensor.__rmatmul__, torch.einsum,
                torch.mm, torch.Tensor.mm, torch.bmm, torch.Tensor.bmm, torch.tensordot, F.linear}

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        result = super().__torch_function__(func, types, args, kwargs or {})
        if func in cls.PRODUCTS and isinstance(result, torch.Tensor) and result.ndim >= 2 \
                and result.shape[-1] == N_HIDDEN:
            raise CheckFailed("highest_activating_tokens", "you multiplied by all of W_enc[instance_idx], computing"
                              " every latent to keep one.", "multiply by the one column W_enc[instance_idx, :,"
                              " feature_idx]: on the bundled SAE that is 4096 times less work and memory.")
        return result


def _no_forward_sae() -> AutoEncoder:
    sae = tiny_sae()
    blocked = _NoForward(sae.cfg, device="cpu")
    blocked.load_state_dict(sae.state_dict())
    blocked.W_enc = torch.nn.Parameter(blocked.W_enc.detach().as_subclass(_OneLatentOnly), requires_grad=False)
    return blocked.eval()


#: "Changed W_dec" means more than float rounding. The bundled SAE's decoder rows are unit norm, and
#: normalize_and_return_W_dec() re-normalises them in place: a correct answer that calls it moves W_dec by
#: about 1e-7, which is not a change; an in-place abs_, division or assignment moves it by far more.
UNCHANGED = {"rtol": 1e-5, "atol": 1e-6}

# ---------------------------------------------------------------------------- top activations


def _largest_batch_seen(model) -> tuple[list[int], object]:
    seen: list[int] = []
    handle = model.embed.register_forward_hook(lambda module, args, out: seen.append(out.shape[0]))
    return seen, handle


@exercise_check("highest_activating_tokens")
def check_highest_activating_tokens(highest_activating_tokens) -> None:
    ex = "highest_activating_tokens"
    k = 5
    model, sae, tokens = tiny_model(), _no_forward_sae(), tiny_tokens(batch=N_ROWS)
    before = tokens.clone()
    acts = _latent_acts(model, tiny_sae(), tokens)  # [batch, seq, n_hidden]
    frequent, rare = _pick_latents(acts, k)
    W_enc, W_dec, b_enc, b_dec = (p.detach().as_subclass(torch.Tensor)[INSTANCE]
                                  for p in (sae.W_enc, sae.W_dec, sae.b_enc, sae.b_dec))
    h = model.run_with_cache(tokens)[1][HOOK]  # [batch, seq, d_mlp]

    # A latent whose strongest token is at position 0 of the last sequence: in the last, partial batch.
    peaks = acts.flatten(0, 1).argmax(0)
    edge = next((i for i in range(acts.shape[-1]) if peaks[i] == (N_ROWS - 1) * SEQ and (acts[..., i] > 0).sum() > k),
                None)
    if edge is None:
        raise RuntimeError("no tiny latent peaks at the last sequence's first position: change the seed")

    for latent in (frequent, rare, edge):
        seen, handle = _largest_batch_seen(model)
        try:
            result = call_learner(ex, highest_activating_tokens, tokens, model, sae, latent, instance_idx=INSTANCE,
                                  k=k, batch_size=BATCH_SIZE)
        finally:
            handle.remove()
        _untouched(ex, tokens, before, model)
        if not isinstance(result, tuple) or len(result) != 2:
            raise CheckFailed(ex, f"returned {type(result).__name__}; expected 2 values.",
                              "return (indices, values): indices [k, 2] of (batch, seq), values [k].")
        indices, values = result
        if isinstance(values, torch.Tensor) and values.ndim == 1 and len(values) != k:
            raise CheckFailed(ex, f"returned {len(values)} values; k={k} were asked for.",
                              "use the k argument, not a number written in.")
        expect_tensor(ex, indices, "indices", (k, 2), "k, 2 (batch, seq)", dtype=torch.long)
        expect_tensor(ex, values, "values", (k,), "k")
        if seen and max(seen) > BATCH_SIZE:
            raise CheckFailed(ex, f"ran the model on {max(seen)} sequences at once (batch_size was {BATCH_SIZE}).",
                              "loop over tokens[start : start + batch_size] and keep the best k found so far.")

        def top(scores):  # the k best values of a [batch, seq] score
            return scores.flatten().topk(k).values

        column = acts[..., latent]
        compare(ex, values, top(column), "values", mistakes={
            "the values are in the wrong order: return them highest first (topk's order, or sort descending).":
                top(column).flip(0),
            "you forgot b_enc, the latent's bias: add b_enc[instance_idx, feature_idx].":
                top(F.relu((h - b_dec) @ W_enc[:, latent])),
            "you forgot the ReLU: a latent's activation is never negative.": top((h - b_dec) @ W_enc[:, latent]
                                                                                 + b_enc[latent]),
            "you forgot to centre the activations by b_dec before encoding.":
                top(F.relu(h @ W_enc[:, latent] + b_enc[latent])),
            "that is the decoder's direction (W_dec): what a latent reads is its encoder column, W_enc[i, :, f].":
                top(F.relu((h - b_dec) @ W_dec[latent] + b_enc[latent])),
            "use instance_idx: those are instance 0's activations.":
                top(_latent_acts(model, tiny_sae(), tokens, 0)[..., latent]),
            "those are the last batch's top values only: keep the best k over all batches.":
                top(column[-(N_ROWS % BATCH_SIZE or BATCH_SIZE):]),
            "the last, partial batch was left out: loop over range(0, len(tokens), batch_size), whose last"
            " slice may be shorter.": top(column[: N_ROWS // BATCH_SIZE * BATCH_SIZE]),
            "every position counts, the first included: the SAE's activation there is as real as anywhere.":
                top(column[:, 1:]),
        }, generic_hint="relu((h - b_dec) @ W_enc[instance_idx, :, feature_idx] + b_enc[instance_idx, feature_idx]),"
                        " then topk over every (batch, seq).")
        if latent != frequent:
            continue
        expected = torch.stack(torch.unravel_index(column.flatten().topk(k).indices, column.shape), dim=-1)
        if torch.equal(indices, expected):
            continue
        if torch.equal(indices, expected.flip(-1)):
            raise CheckFailed(ex, "the indices are the wrong way round.", "each row is (batch, seq): sequence first.")
        if torch.equal(indices[:, 1], expected[:, 1]) and torch.equal(indices[:, 0] % BATCH_SIZE,
                                                                        expected[:, 0] % BATCH_SIZE):
            raise CheckFailed(ex, "the sequence indices count from the start of each batch.",
                              "add the batch's start to the row index, so it indexes `tokens`.")
        raise CheckFailed(ex, f"indices {indices.tolist()} are not where those values are; expected"
                              f" {expected.tolist()}.",
                          "a flat index i of a [batch, seq] tensor is at (i // seq, i % seq).")


# ---------------------------------------------------------------------------- logit effect


@exercise_check("feature_logit_effect")
def check_feature_logit_effect(feature_logit_effect) -> None:
    ex = "feature_logit_effect"
    model, sae = tiny_model(), tiny_sae()
    latent = 3
    W_before = sae.W_dec.detach().clone()
    got = call_learner(ex, feature_logit_effect, model, sae, latent, instance_idx=INSTANCE)
    if not close(sae.W_dec.detach(), W_before, **UNCHANGED):
        raise CheckFailed(ex, "your function changed the SAE's W_dec.", "compute with it, don't assign to it.")
    d_vocab = model.cfg.d_vocab
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (model.cfg.n_layers, d_vocab):
        raise CheckFailed(ex, f"the logit effect has shape {list(got.shape)}: a layer axis too many.",
                          "model.W_out is stacked over layers, [n_layers, d_mlp, d_model]: use block 0's, W_out[0].")
    expect_tensor(ex, got, "the logit effect", (d_vocab,), "d_vocab")
    W_dec, W_enc = sae.W_dec.detach(), sae.W_enc.detach()
    W_out, W_in, W_U = model.W_out[0].detach(), model.W_in[0].detach(), model.W_U.detach()
    expected = W_dec[INSTANCE, latent] @ W_out @ W_U
    compare(ex, got, expected, "the logit effect", mistakes={
        "that is the encoder's column (what the latent reads): its effect is its decoder row, W_dec[i, f].":
            W_enc[INSTANCE, :, latent] @ W_out @ W_U,
        "use instance_idx: that is instance 0's latent.": W_dec[0, latent] @ W_out @ W_U,
        "leave out the unembedding's bias b_U: it is the same whatever the latent does.":
            W_dec[INSTANCE, latent] @ W_out @ W_U + model.b_U.detach(),
        "that went through W_in (the MLP's input weights, transposed): the MLP writes its output through W_out.":
            W_dec[INSTANCE, latent] @ W_in.T @ W_U,
        "that is a log-probability: return the raw effect on the logits, before any softmax.":
            F.log_softmax(expected, dim=-1),
    }, generic_hint="W_dec[instance_idx, feature_idx] @ model.W_out[0] @ model.W_U.")


# ---------------------------------------------------------------------------- neuron shares


@exercise_check("neuron_shares")
def check_neuron_shares(neuron_shares) -> None:
    ex = "neuron_shares"
    sae = tiny_sae()
    latent = 5
    W_before = sae.W_dec.detach().clone()
    got = call_learner(ex, neuron_shares, sae, latent, instance_idx=INSTANCE)
    if not close(sae.W_dec.detach(), W_before, **UNCHANGED):
        raise CheckFailed(ex, "your function changed the SAE's W_dec (an in-place abs_ or division?).",
                          "work on a copy: W_dec[i, f].abs(), not .abs_().")
    expect_tensor(ex, got, "the shares", (D_MLP,), "d_mlp")
    w = sae.W_dec.detach()[INSTANCE, latent]
    compare(ex, got, w.abs() / w.abs().sum(), "the shares", mistakes={
        "take absolute values first: a neuron with a large negative weight carries a large share too.": w / w.sum(),
        "divide by the sum, so the shares add up to 1.": w.abs(),
        "that is the share of the squared weights: the spec asks for the share of |W_dec|.": w.pow(2) / w.pow(2).sum(),
        "divide by the sum of |W_dec[i, f]|, not by its largest value.": w.abs() / w.abs().max(),
        "use instance_idx: that is instance 0's latent.":
            sae.W_dec.detach()[0, latent].abs() / sae.W_dec.detach()[0, latent].abs().sum(),
        "that is the encoder's column: the latent's direction in neuron space is its decoder row, W_dec[i, f].":
            sae.W_enc.detach()[INSTANCE, :, latent].abs() / sae.W_enc.detach()[INSTANCE, :, latent].abs().sum(),
    }, generic_hint="|W_dec[instance_idx, feature_idx]| / |W_dec[instance_idx, feature_idx]|.sum().")


# ---------------------------------------------------------------------------- ablation


@exercise_check("feature_ablation_effect")
def check_feature_ablation_effect(feature_ablation_effect) -> None:
    ex = "feature_ablation_effect"
    model, sae, tokens = tiny_model(), tiny_sae(), tiny_tokens(batch=N_ROWS)
    before = tokens.clone()
    acts = _latent_acts(model, sae, tokens)
    latent, _ = _pick_latents(acts, 5)
    got = call_learner(ex, feature_ablation_effect, tokens, model, sae, latent, instance_idx=INSTANCE)
    _untouched(ex, tokens, before, model)
    expect_tensor(ex, got, "the change in loss", (N_ROWS, SEQ - 1), "batch, seq - 1")
    expected = ref.feature_ablation_effect(tokens, model, sae, latent, instance_idx=INSTANCE)

    with torch.no_grad():
        clean = model(tokens, return_type="loss", loss_per_token=True)
        h = model.run_with_cache(tokens)[1][HOOK]
        W_dec, b_dec = sae.W_dec.detach(), sae.b_dec.detach()

        def patched(replacement, hook=HOOK):
            return model.run_with_hooks(tokens, return_type="loss", loss_per_token=True,
                                        fwd_hooks=[(hook, lambda a, hook: replacement.contiguous())])

        def removed(instance=INSTANCE):
            """h minus the latent's contribution."""
            a = _latent_acts(model, sae, tokens, instance)[..., latent]
            return h - a[..., None] * W_dec[instance, latent]

        z = acts.clone()
        z[..., latent] = 0
        acts0 = _latent_acts(model, sae, tokens, 0)
        W_enc = sae.W_enc.detach()
        no_error = z @ W_dec[INSTANCE] + b_dec[INSTANCE]  # the ablated reconstruction alone
        full_rec = acts @ W_dec[INSTANCE] + b_dec[INSTANCE]
        neuron_zeroed = h.clone()
        neuron_zeroed[..., latent] = 0
        seq_major = einops.rearrange(einops.rearrange(removed(), "b s d -> (b s) d"), "(s b) d -> b s d", s=SEQ)

    compare(ex, got, expected, "the change in loss", mistakes={
        "put the SAE's error term (h - h_reconstructed) back: without it you also removed everything the SAE"
        " fails to reconstruct.": patched(no_error) - clean,
        "nothing changed. Two mistakes do that: the error term taken against the ablated reconstruction (it"
        " puts the latent back: take error = h - decode(z) with the full z), or the latent removed at the last"
        " position only (which predicts no token: ablate at every position).":
            patched(h) - clean,
        "that is clean minus ablated: return loss_ablated - loss_clean (positive where the latent helped).":
            clean - patched(removed()),
        "compare with the clean model's loss, not with the loss with the SAE's reconstruction patched in.":
            patched(no_error) - patched(full_rec),
        "that zeroed the MLP neuron feature_idx, not the SAE's latent: encode, zero z[:, feature_idx], decode.":
            patched(neuron_zeroed) - clean,
        "use instance_idx: that removed instance 0's latent.": patched(removed(instance=0)) - clean,
        "the error term must come from the same instance: h - h_reconstructed[:, instance_idx], not instance 0's.":
            patched(z @ W_dec[INSTANCE] + b_dec[INSTANCE] + (h - (acts0 @ W_dec[0] + b_dec[0]))) - clean,
        "decode with b_dec: the ablated reconstruction is z @ W_dec + b_dec (plus the error term).":
            patched(z @ W_dec[INSTANCE] + h - full_rec) - clean,
        "subtract the latent's decoder direction, W_dec[i, f] (what it writes), not its encoder column.":
            patched(h - acts[..., latent, None] * W_enc[INSTANCE, :, latent]) - clean,
        "the reconstruction's (batch seq) axis must be unflattened in the same order: '(batch seq) -> batch seq'.":
            patched(seq_major) - clean,
    }, generic_hint="loss_per_token=True for both runs; patch hook_post with decode(z with the latent zeroed)"
                    " + (h - decode(z)).")


# ---------------------------------------------------------------------------- training your own


def _explained_variance(sae, model, tokens, hook_name) -> float:
    from solutions.llm_sae import get_mlp_activations

    with torch.no_grad():
        h = get_mlp_activations(tokens, model, 1, hook_name)
        h_rec = sae(h)[4]
        return float(1 - (h - h_rec).pow(2).sum() / (h - h.mean(0)).pow(2).sum())


#: What the tiny training is asked for. Fewer latents (6) than dimensions (8): only an SAE that learnt
#: the activations' own main directions reconstructs them well. The reference explains 91% of the
#: held-out variance; one trained on Gaussian noise instead of the activations, 18%; an untrained one, < 0.
TRAIN_ARGS = {"n_hidden_ae": 6, "steps": 200, "batch_size": 64, "l1_coeff": 1e-4, "lr": 1e-2}
MIN_EXPLAINED_VARIANCE = 0.7


class _TrainingWatch:
    """What a train_sae call actually did, recorded from inside section 2's and 3's code: the buffers it
    built (their hook and seed), the batches drawn from them, torch's seed when each SAE was created,
    the optimize call's arguments and every resampling (its method and window). The spec asks for
    behaviour, so the check observes behaviour instead of trusting the result alone."""

    def __init__(self):
        self.buffers, self.batches, self.init_seeds, self.optimize_calls, self.resamples = [], [], [], [], []
        self.training = False

    @contextlib.contextmanager
    def watching(self):
        patches = {
            (ActivationBuffer, "__init__"): self._record_buffer,
            (ActivationBuffer, "__call__"): self._record_batch,
            (AutoEncoder, "__init__"): self._record_init,
            (AutoEncoder, "optimize"): self._record_optimize,
            (AutoEncoder, "resample_neurons_simple"): self._record_resample("simple"),
            (AutoEncoder, "resample_neurons_advanced"): self._record_resample("advanced"),
        }
        originals = {key: key[0].__dict__[key[1]] for key in patches}
        try:
            for (cls, name), make in patches.items():
                setattr(cls, name, make(originals[(cls, name)]))
            yield self
        finally:
            for (cls, name), original in originals.items():
                setattr(cls, name, original)

    def _record_buffer(self, original):
        def __init__(buffer, *args, **kwargs):
            bound = inspect.signature(original).bind(buffer, *args, **kwargs)
            bound.apply_defaults()
            self.buffers.append(dict(bound.arguments))
            original(buffer, *args, **kwargs)
        return __init__

    def _record_batch(self, original):
        def __call__(buffer, batch_size):
            if self.training:  # a batch drawn to read the input size, before training, is not a step
                self.batches.append(batch_size)
            return original(buffer, batch_size)
        return __call__

    def _record_init(self, original):
        def __init__(sae, *args, **kwargs):
            self.init_seeds.append(torch.initial_seed())
            original(sae, *args, **kwargs)
        return __init__

    def _record_optimize(self, original):
        def optimize(sae, *args, **kwargs):
            bound = inspect.signature(original).bind(sae, *args, **kwargs)
            bound.apply_defaults()
            self.optimize_calls.append(dict(bound.arguments))
            self.training = True
            try:
                return original(sae, *args, **kwargs)
            finally:
                self.training = False
        return optimize

    def _record_resample(self, method):
        def make(original):
            def resample(sae, h, frac_active_in_window, *args, **kwargs):
                self.resamples.append((method, len(frac_active_in_window)))
                return original(sae, h, frac_active_in_window, *args, **kwargs)
            return resample
        return make

    def timeout_hint(self) -> str | None:
        asked = self.optimize_calls[-1]["steps"] if self.optimize_calls else None
        if asked is not None and asked != TRAIN_ARGS["steps"]:
            return (f"optimize was asked for {asked} steps, not the {TRAIN_ARGS['steps']} passed to train_sae:"
                    " pass steps (and batch_size, lr) on to optimize; its own default is 10,000 steps.")
        return None


def _judge_training(ex: str, watch: _TrainingWatch, hook: str, seed: int) -> None:
    """Fail, naming the mistake, unless the call trained as the spec says (TRAIN_ARGS, `hook`, `seed`)."""
    steps, batch_size = TRAIN_ARGS["steps"], TRAIN_ARGS["batch_size"]
    if not watch.buffers:
        raise CheckFailed(ex, "no ActivationBuffer was created.",
                          "train on ActivationBuffer(model, tokens, 1, hook_name, seed=seed), passed to optimize.")
    buffer = watch.buffers[-1]
    if buffer["seed"] != seed:
        raise CheckFailed(ex, f"the ActivationBuffer got seed={buffer['seed']}, but train_sae was called with"
                              f" seed={seed}.", "pass the seed on: ActivationBuffer(..., seed=seed).")
    if not watch.optimize_calls:
        raise CheckFailed(ex, "AutoEncoder.optimize was never called.",
                          "train with section 2's sae.optimize(buffer, ...): it also resamples dead latents.")
    if watch.init_seeds and watch.init_seeds[-1] != seed:
        raise CheckFailed(ex, f"train_sae was called with seed={seed}, but when the SAE was created torch's seed was"
                              f" {watch.init_seeds[-1]}" + (" (the check's own: was torch seeded at all?)."
                                                            if watch.init_seeds[-1] == 0 else "."),
                          "call torch.manual_seed(seed), with the argument, just before creating the SAE.")
    call = watch.optimize_calls[-1]
    drawn = len(watch.batches)
    if drawn == 0:
        raise CheckFailed(ex, "optimize never drew a batch from the ActivationBuffer.",
                          "pass the buffer itself as optimize's source: sae.optimize(buffer, ...).")
    if drawn != steps or call["steps"] != steps:
        raise CheckFailed(ex, f"training ran {drawn} steps; train_sae was asked for steps={steps}.",
                          "pass steps on to optimize(..., steps=steps).")
    if set(watch.batches) != {batch_size}:
        raise CheckFailed(ex, f"training drew batches of {sorted(set(watch.batches))}; train_sae was asked for"
                              f" batch_size={batch_size}.",
                          "pass batch_size on to optimize(..., batch_size=batch_size).")
    if call["lr"] != TRAIN_ARGS["lr"]:
        raise CheckFailed(ex, f"optimize was called with lr={call['lr']}; train_sae was asked for"
                              f" lr={TRAIN_ARGS['lr']}.", "pass lr on to optimize(..., lr=lr).")
    window = max(1, steps // 4)
    expected = [("advanced", window)] * (steps // window - 1)  # every window but the last
    if watch.resamples == expected:
        return
    if not watch.resamples:
        raise CheckFailed(ex, "dead latents were never resampled.",
                          f"pass neuron_resample_window=steps // 4 to optimize (with steps={steps}: {window}); with"
                          " no window, or a window as long as training, optimize never resamples.")
    methods = {m for m, _ in watch.resamples}
    if methods != {"advanced"}:
        raise CheckFailed(ex, f"dead latents were resampled with the {'/'.join(sorted(methods))} method.",
                          "resample the Anthropic way: resample_method='advanced'.")
    windows = sorted({w for _, w in watch.resamples})
    raise CheckFailed(ex, f"dead latents were resampled {len(watch.resamples)} times, judged over windows of"
                          f" {windows} steps; with steps={steps} and a window of steps // 4 = {window}, expected"
                          f" {len(expected)} times over {window} steps.",
                      "pass neuron_resample_window=steps // 4 and leave dead_neuron_window at its default.")


@exercise_check("train_sae")
def check_train_sae(train_sae) -> None:
    ex = "train_sae"
    model = tiny_model()
    hook = "blocks.0.hook_resid_mid"  # d_model = 8, not the MLP's 12: the hook must be used
    seed = 3  # not the default: a seed that is never passed on shows
    generator = torch.Generator().manual_seed(5)
    tokens = torch.randint(0, model.cfg.d_vocab, (64, SEQ), generator=generator)
    held_out = torch.randint(0, model.cfg.d_vocab, (16, SEQ), generator=generator)
    before = tokens.clone()
    sizes = "read the activations at hook_name (not the MLP's), and size the SAE from them."
    watch = _TrainingWatch()
    with watch.watching():
        sae = call_learner(ex, train_sae, model, tokens, hook, seed=seed, crash_hint=sizes,
                           timeout_hint=watch.timeout_hint, **TRAIN_ARGS)
    _untouched(ex, tokens, before, model)
    if not isinstance(sae, AutoEncoder):
        raise CheckFailed(ex, f"returned {type(sae).__name__}; expected the trained AutoEncoder.",
                          "return the AutoEncoder you trained.")
    d_model, n_hidden = model.cfg.d_model, TRAIN_ARGS["n_hidden_ae"]
    if sae.cfg.n_instances != 1:
        raise CheckFailed(ex, f"the SAE has n_instances={sae.cfg.n_instances}; expected 1.", "train one SAE.")
    if sae.cfg.n_input_ae != d_model:
        raise CheckFailed(ex, f"the SAE's input size is {sae.cfg.n_input_ae}, but the activations at {hook} have"
                              f" {d_model} dimensions.",
                          sizes)
    if sae.cfg.n_hidden_ae != n_hidden:
        raise CheckFailed(ex, f"the SAE has {sae.cfg.n_hidden_ae} latents; expected n_hidden_ae = {n_hidden}.",
                          "pass n_hidden_ae to the AutoEncoderConfig.")
    if sae.cfg.l1_coeff != TRAIN_ARGS["l1_coeff"]:
        raise CheckFailed(ex, f"the SAE has l1_coeff={sae.cfg.l1_coeff}; train_sae was asked for"
                              f" l1_coeff={TRAIN_ARGS['l1_coeff']}.", "pass l1_coeff to the AutoEncoderConfig.")
    if watch.buffers and watch.buffers[-1]["hook_name"] != hook:
        raise CheckFailed(ex, f"the ActivationBuffer reads {watch.buffers[-1]['hook_name']}, not hook_name={hook}.",
                          sizes)
    _judge_training(ex, watch, hook, seed)
    explained = _explained_variance(sae, model, held_out, hook)
    if explained < MIN_EXPLAINED_VARIANCE:
        raise CheckFailed(ex, f"the trained SAE explains {explained:.0%} of the activations' variance on held-out"
                              f" tokens; the reference reaches 91% with these settings.",
                          "train on ActivationBuffer(model, tokens, 1, hook_name) for `steps` steps with the given"
                          " batch_size, l1_coeff and lr.")
    again = call_learner(ex, train_sae, model, tokens, hook, seed=seed, crash_hint=sizes, **TRAIN_ARGS)
    if not torch.equal(again.W_enc.detach(), sae.W_enc.detach()):
        raise CheckFailed(ex, "two runs with the same seed gave different SAEs.",
                          "call torch.manual_seed(seed) before creating the SAE, and pass seed to the buffer.")


CHECKS = {
    "highest_activating_tokens": (check_highest_activating_tokens, "highest_activating_tokens"),
    "feature_logit_effect": (check_feature_logit_effect, "feature_logit_effect"),
    "neuron_shares": (check_neuron_shares, "neuron_shares"),
    "feature_ablation_effect": (check_feature_ablation_effect, "feature_ablation_effect"),
    "train_sae": (check_train_sae, "train_sae"),
}
