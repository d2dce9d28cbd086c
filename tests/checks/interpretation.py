"""Checks for section 4 (notebooks/4_feature_interpretation): reading and removing single latents,
and training an SAE on a hook point of the learner's choice.

As in section 3, every check runs on the tiny random HookedTransformer and SAE of
tests/checks/llm_sae.py (random biases everywhere, so a forgotten bias shows), and uses instance 1
of the SAE, so code that always reads instance 0 is caught.
"""

from __future__ import annotations

import contextlib
import inspect
import math

import einops
import torch
from torch.nn import functional as F

from solutions import interpretation as ref
from solutions import sae as sae_module
from solutions.llm_sae import ActivationBuffer
from solutions.sae import AutoEncoder
from solutions.sae_variants import TopKAutoEncoder
from tests.checks.core import CheckFailed, call_learner, close, compare, exercise_check, expect_tensor
from tests.checks.llm_sae import (
    D_MLP,
    HOOK,
    INSTANCES_HINT,
    N_HIDDEN,
    N_INST,
    SEQ,
    _untouched,
    tiny_model,
    tiny_sae,
    tiny_tokens,
)

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


TOPK = 4  # latents a tiny TopK SAE keeps per token (of N_HIDDEN)
ROWS = BATCH_SIZE * SEQ  # tokens in one batch of BATCH_SIZE sequences


class _OneBatchOfLatents(torch.Tensor):
    """The SAE's latents for one batch, refusing to be joined with other batches' latents: keeping every
    batch's [tokens, n_instances, n_hidden] is the memory that exercise 1's batches exist to avoid."""

    JOINS = {torch.cat, torch.concat, torch.concatenate, torch.stack, torch.vstack, torch.row_stack}

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        result = super().__torch_function__(func, types, args, kwargs or {})
        if func in cls.JOINS and isinstance(result, torch.Tensor) and result.ndim >= 2 \
                and result.shape[-1] == N_HIDDEN and result.numel() > ROWS * N_HIDDEN * N_INST:
            raise CheckFailed("highest_activating_tokens", "you kept every batch's latents and joined them.",
                              "from each batch keep only this latent's best k (values and positions), then merge"
                              " those: on the bundled SAE every batch's latents together are 2 GB.")
        return result


@contextlib.contextmanager
def _watched(sae: AutoEncoder, calls: list[int]):
    """The SAE, recording how many rows each call gets, and returning latents that refuse to be gathered up
    (its hooks are removed afterwards: the check's SAE serves several calls)."""

    def record(module, args):
        calls.append(args[0].shape[0])

    def tag(module, args, output):
        l1, l2, loss, acts, h_rec = output
        return l1, l2, loss, acts.as_subclass(_OneBatchOfLatents), h_rec

    handles = [sae.register_forward_pre_hook(record), sae.register_forward_hook(tag)]
    try:
        yield sae
    finally:
        for handle in handles:
            handle.remove()




def _topk_twin(sae: AutoEncoder) -> TopKAutoEncoder:
    """The tiny SAE's weights in a TopK SAE: the same latents, but each token keeps only its TOPK largest,
    so a latent's activation can be zero where its own formula relu((h - b_dec) @ W_enc[:, f] + b_enc[f])
    is not."""
    twin = TopKAutoEncoder(sae.cfg, k=TOPK, device="cpu")
    twin.load_state_dict(sae.state_dict())
    return twin.eval()


#: "Changed W_dec" means more than float rounding. The bundled SAE's decoder rows are unit norm, and
#: normalize_and_return_W_dec() re-normalises them in place: a correct answer that calls it moves W_dec by
#: about 1e-7, which is not a change; an in-place abs_, division or assignment moves it by far more.
UNCHANGED = {"rtol": 1e-5, "atol": 1e-6}

# ---------------------------------------------------------------------------- top activations


def _largest_batch_seen(model) -> tuple[list[int], object]:
    seen: list[int] = []
    handle = model.embed.register_forward_hook(lambda module, args, out: seen.append(out.shape[0]))
    return seen, handle


TOP_CRASH = ("read the error: 'selected index k out of range' means topk was asked for more values than it was given"
             " (use the k argument, and min(k, ...) for a short last batch); a shape error, that acts was laid out"
             " wrong.")


def _call_top(ex, highest_activating_tokens, tokens, model, sae, latent, k, crash_hint=TOP_CRASH):
    """Call the learner's highest_activating_tokens and check the form of what it returns."""
    seen, handle = _largest_batch_seen(model)
    before = tokens.clone()
    rows: list[int] = []
    try:
        with _watched(sae, rows) as watched:
            result = call_learner(ex, highest_activating_tokens, tokens, model, watched, latent,
                                  instance_idx=INSTANCE, k=k, batch_size=BATCH_SIZE, crash_hint=crash_hint)
    finally:
        handle.remove()
    _untouched(ex, tokens, before, model)
    if rows and max(rows) > ROWS:
        raise CheckFailed(ex, f"ran the SAE on {max(rows)} tokens at once ({BATCH_SIZE} sequences of {SEQ} is"
                              f" {ROWS}).", "run the SAE on each batch's activations as you go, and keep only the"
                                            " best k of each: all the tokens' latents at once are 2 GB here.")
    if not isinstance(result, tuple) or len(result) != 2:
        raise CheckFailed(ex, f"returned {type(result).__name__}; expected 2 values.",
                          "return (indices, values): indices [k, 2] of (batch, seq), values [k].")
    indices, values = result
    if isinstance(values, torch.Tensor) and values.ndim == 1 and len(values) != k:
        raise CheckFailed(ex, f"returned {len(values)} values; k={k} were asked for.",
                          "use the k argument, not a number written in.")
    if isinstance(indices, torch.Tensor) and indices.is_floating_point():
        raise CheckFailed(ex, f"the indices are {indices.dtype} numbers, not integers.",
                          "divide with // (or call .long()): i / seq gives a float.")
    if isinstance(indices, torch.Tensor) and indices.dtype in (torch.int8, torch.int16, torch.int32, torch.uint8):
        indices = indices.long()  # any integer type indexes a tensor (Int[Tensor, "k 2"])
    expect_tensor(ex, indices, "indices", (k, 2), "k, 2 (batch, seq)", dtype=torch.long)
    expect_tensor(ex, values, "values", (k,), "k")
    if seen and max(seen) > BATCH_SIZE:
        raise CheckFailed(ex, f"ran the model on {max(seen)} sequences at once (batch_size was {BATCH_SIZE}).",
                          "loop over tokens[start : start + batch_size] and keep the best k found so far.")
    return indices, values


ONE_LATENT_FORMULA = ("on a TopK SAE a latent is zero unless it is among the token's k largest, so the formula for"
                      " one latent, relu((h - b_dec) @ W_enc[:, f] + b_enc[f]), is right for section 2's L1 SAE"
                      " only: run the SAE itself (autoencoder(h) returns acts) and keep column"
                      " [instance_idx, feature_idx].")


@exercise_check("highest_activating_tokens")
def check_highest_activating_tokens(highest_activating_tokens) -> None:
    ex = "highest_activating_tokens"
    k = 5
    model, sae, tokens = tiny_model(), tiny_sae(), tiny_tokens(batch=N_ROWS)
    acts = _latent_acts(model, sae, tokens)  # [batch, seq, n_hidden]
    frequent, rare = _pick_latents(acts, k)
    W_enc, W_dec, b_enc, b_dec = (p.detach()[INSTANCE] for p in (sae.W_enc, sae.W_dec, sae.b_enc, sae.b_dec))
    h = model.run_with_cache(tokens)[1][HOOK]  # [batch, seq, d_mlp]

    def top(scores):  # the k best values of a [batch, seq] score
        return scores.flatten().topk(k).values

    # A latent whose strongest token is at position 0 of the last sequence: in the last, partial batch.
    peaks = acts.flatten(0, 1).argmax(0)
    edge = next((i for i in range(acts.shape[-1]) if peaks[i] == (N_ROWS - 1) * SEQ and (acts[..., i] > 0).sum() > k),
                None)
    if edge is None:
        raise RuntimeError("no tiny latent peaks at the last sequence's first position: change the seed")

    for latent in (frequent, rare, edge):  # section 2's L1 SAE
        indices, values = _call_top(ex, highest_activating_tokens, tokens, model, sae, latent, k)
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
                top(_latent_acts(model, sae, tokens, 0)[..., latent]),
            "those are the last batch's top values only: keep the best k over all batches.":
                top(column[-(N_ROWS % BATCH_SIZE or BATCH_SIZE):]),
            "the last, partial batch was left out: loop over range(0, len(tokens), batch_size), whose last"
            " slice may be shorter.": top(column[: N_ROWS // BATCH_SIZE * BATCH_SIZE]),
            "every position counts, the first included: the SAE's activation there is as real as anywhere.":
                top(column[:, 1:]),
        }, generic_hint="run the SAE on each batch (acts = autoencoder(h)[3]), keep column [instance_idx,"
                        " feature_idx], then topk over every (batch, seq).")
        if latent != frequent:
            continue
        expected = torch.stack(torch.unravel_index(column.flatten().topk(k).indices, column.shape), dim=-1)
        if torch.equal(indices, expected):
            continue
        if torch.equal(indices, expected.flip(-1)):
            raise CheckFailed(ex, "the indices are the wrong way round.", "each row is (batch, seq): sequence first.")
        if {tuple(i) for i in indices.tolist()} == {tuple(i) for i in expected.tolist()}:
            raise CheckFailed(ex, "the right positions in the wrong order: each index no longer sits by its value.",
                              "when you keep the best k, reorder the indices with the same topk order as the values"
                              " (best_indices = candidates[order]).")
        if torch.equal(indices[:, 1], expected[:, 1]) and torch.equal(indices[:, 0] % BATCH_SIZE,
                                                                        expected[:, 0] % BATCH_SIZE):
            raise CheckFailed(ex, "the sequence indices count from the start of each batch.",
                              "add the batch's start to the row index, so it indexes `tokens`.")
        raise CheckFailed(ex, f"indices {indices.tolist()} are not where those values are; expected"
                              f" {expected.tolist()}.",
                          "two usual causes. When you keep the best k, reorder the indices with the same topk order as"
                          " the values (best_indices = candidates[order]). And the SAE's rows are in (batch seq)"
                          " order: lay a batch's column out as .view(batch, seq), not (seq, batch); a flat index i of"
                          " that [batch, seq] tensor is at (i // seq, i % seq).")

    # The bundled SAEs are TopK SAEs: a latent's activation is what the SAE computes, not its formula alone.
    topk_sae = _topk_twin(sae)
    topk_acts = _latent_acts(model, topk_sae, tokens)
    formula = F.relu((h - b_dec) @ W_enc + b_enc)  # [batch, seq, n_hidden]: every latent by its own formula
    differs = [i for i in range(N_HIDDEN) if (topk_acts[..., i] > 0).sum() >= k
               and not close(top(topk_acts[..., i]), top(formula[..., i]))]
    if not differs:
        raise RuntimeError("no tiny latent is cut by the top k: change TOPK")  # the check's own bug
    _, values = _call_top(ex, highest_activating_tokens, tokens, model, topk_sae, differs[0], k)
    compare(ex, values, top(topk_acts[..., differs[0]]), "values (on a TopK SAE)",
            mistakes={ONE_LATENT_FORMULA: top(formula[..., differs[0]])},
            generic_hint="run the SAE on each batch (acts = autoencoder(h)[3]) and keep column [instance_idx,"
                         " feature_idx]: the SAE's own forward is right for every architecture.")

    three = tiny_sae(n_instances=3)  # the instance count comes from the SAE (the bundled one happens to have 2)
    _, values = _call_top(ex, highest_activating_tokens, tokens, model, three, frequent, k, crash_hint=INSTANCES_HINT)
    compare(ex, values, top(_latent_acts(model, three, tokens)[..., frequent]), "values (a 3-instance SAE)",
            generic_hint=INSTANCES_HINT)


# ------------------------------------------------------------------------- precision and recall

PR_KEYS = ("precision", "mass_precision", "recall")


def _pr_data() -> tuple[torch.Tensor, torch.Tensor]:
    """A latent's activations on 6 sequences of 10 tokens and a class, built so that every mistake below gives
    its own numbers: the latent fires on about half the tokens, at many strengths, the class is a third of
    the tokens, and the sequences differ (per-sequence averages are not the pooled share)."""
    generator = torch.Generator().manual_seed(5)
    activations = 3 * torch.rand(6, 10, generator=generator) ** 2
    activations[torch.rand(6, 10, generator=generator) < 0.5] = 0.0
    activations[0, :8] = 0.0  # a sequence where it hardly fires
    in_class = torch.rand(6, 10, generator=generator) < 0.35
    in_class[1] = True  # a sequence entirely of the class
    # Faint firings, two on the class and one off it: firings all the same, which a cut-off such as > 1e-3 drops.
    silent = activations == 0
    for on_class, row in ((True, 2), (True, 3), (False, 4)):
        pos = next(q for q in (silent[row] & (in_class[row] == on_class)).nonzero().flatten().tolist())
        activations[row, pos] = 5e-4
    return activations, in_class


def _as_numbers(ex: str, result) -> dict[str, float]:
    if not isinstance(result, dict):
        raise CheckFailed(ex, f"returned {type(result).__name__}; expected a dict.",
                          "return {'precision': ..., 'mass_precision': ..., 'recall': ...} (plain floats).")
    missing = [key for key in PR_KEYS if key not in result]
    if missing:
        raise CheckFailed(ex, f"the dict has no {', '.join(map(repr, missing))} (its keys: {sorted(result)}).",
                          f"use exactly these keys: {', '.join(map(repr, PR_KEYS))}.")
    numbers = {}
    for key in PR_KEYS:
        value = result[key]
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise CheckFailed(ex, f"{key} is {type(value).__name__}; expected a number.",
                              "one share over every token: a plain float (float(tensor) turns a 0-d tensor into one).")
        numbers[key] = float(value)
    return numbers


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7)


def _pr_mistakes(activations: torch.Tensor, in_class: torch.Tensor) -> dict[str, dict[str, float]]:
    """What each realistic mistake returns, key by key: {hint: {key: value}}."""
    fires = activations > 0
    hits = (fires & in_class).sum()

    def share(n, d):
        return float(n / d)

    per_row = [share((f & c).sum(), f.sum()) for f, c in zip(fires, in_class, strict=True) if f.any()]
    every = torch.ones_like(fires)
    strong = activations > 1e-3
    faint_hint = ("a latent fires when its activation is > 0, not above a small cut-off such as 1e-3: a faint"
                  " activation is still a firing.")
    return {
        "precision": {
            faint_hint: share((strong & in_class).sum(), strong.sum()),
            "precision and recall are swapped: precision is the share of the latent's firings that are on the"
            " class (divide by how often it fires); recall is the share of the class it fires on.":
                share(hits, in_class.sum()),
            "that is the class's share of all tokens: precision counts only the tokens where the latent fires"
            " (activation > 0, not >= 0).": share((every & in_class).sum(), every.sum()),
            "that is an average of each sequence's precision: pool every token of every sequence, then divide once.":
                sum(per_row) / len(per_row),
            "firing means activation > 0, not above a threshold such as the mean activation.":
                share(((activations > activations[fires].mean()) & in_class).sum(),
                      (activations > activations[fires].mean()).sum()),
        },
        "mass_precision": {
            "mass_precision weighs each firing by its activation: the sum of the activations on the class over the"
            " sum of all its activations (counting firings is `precision`).": share(hits, fires.sum()),
            "that is a ratio of mean activations (on the class against overall): divide the sums, not the means.":
                share(activations[in_class].mean(), activations.mean()),
            "that divides by the activation on the class only: divide by the latent's total activation.":
                1.0,
        },
        "recall": {
            "precision and recall are swapped: recall is the share of the class's tokens on which the latent fires"
            " (divide by the size of the class).": share(hits, fires.sum()),
            "firing means activation > 0: with >= 0 the latent fires on every token of the class.": 1.0,
            "recall divides by the size of the class, not by the number of tokens.": share(hits, in_class.numel()),
            faint_hint: share((strong & in_class).sum(), in_class.sum()),
        },
    }


@exercise_check("label_precision_recall")
def check_label_precision_recall(label_precision_recall) -> None:
    ex = "label_precision_recall"
    activations, in_class = _pr_data()
    kept = activations.clone(), in_class.clone()
    got = _as_numbers(ex, call_learner(ex, label_precision_recall, activations, in_class,
                                       crash_hint="a share of nothing is nan: guard the divisions (or divide tensors,"
                                                  " which gives nan for 0 / 0)."))
    if not (torch.equal(activations, kept[0]) and torch.equal(in_class, kept[1])):
        raise CheckFailed(ex, "your function changed its inputs.", "work on copies: no in-place edits"
                          " (activations[...] = 0 or in_class &= ...) of what you were given.")
    expected = ref.label_precision_recall(activations, in_class)
    mistakes = _pr_mistakes(activations, in_class)
    for key in PR_KEYS:
        if _same(got[key], expected[key]):
            continue
        for hint, wrong in mistakes[key].items():
            if _same(got[key], wrong):
                raise CheckFailed(ex, f"{key} is {got[key]:.4f}, expected {expected[key]:.4f}.", hint)
        if math.isclose(got[key], expected[key], rel_tol=2e-3):
            raise CheckFailed(ex, f"{key} is {got[key]:.7f}, expected {expected[key]:.7f}: nearly.",
                              "the formula is right but precision was lost: compute in float32 (no .half()).")
        raise CheckFailed(ex, f"{key} is {got[key]:.4f}, expected {expected[key]:.4f}.",
                          "precision: firings on the class / firings; mass_precision: activation on the class /"
                          " all activation; recall: class tokens where it fires / class tokens. Firing: > 0.")

    # The edges: a latent that never fires has no precision; an empty class has no recall.
    silent = torch.zeros_like(activations)
    edge_cases = [
        ("a latent that never fires", silent, in_class, {"precision": math.nan, "mass_precision": math.nan,
                                                         "recall": 0.0}),
        ("an empty class", activations, torch.zeros_like(in_class), {"precision": 0.0, "mass_precision": 0.0,
                                                                     "recall": math.nan}),
    ]
    for what, acts, cls, want in edge_cases:
        got = _as_numbers(ex, call_learner(ex, label_precision_recall, acts.clone(), cls.clone(),
                                           crash_hint=f"it crashed on {what}: a share of nothing is nan, so guard the"
                                                      " division (or divide tensors: 0 / 0 gives nan)."))
        for key in PR_KEYS:
            if _same(got[key], want[key]):
                continue
            if math.isnan(want[key]):
                raise CheckFailed(ex, f"for {what}, {key} is {got[key]}; expected nan.",
                                  f"a share of nothing is undefined: return float('nan'), not {got[key]:g}"
                                  " (0 would read as 'always wrong', 1 as 'always right').")
            raise CheckFailed(ex, f"for {what}, {key} is {got[key]}; expected {want[key]:g}.",
                              "only a share of nothing is nan: "
                              + ("a latent that never fires has recall 0 (the class is there; it fires on none of it)."
                                 if key == "recall" else "a latent that fires, none of it on the class, has 0."))


def _one_latents_row(ex: str, got, width: int, name: str) -> None:
    """A wrong shape from indexing W_dec ([inst, n_hidden, d_mlp]) with too few or misplaced indices."""
    if not isinstance(got, torch.Tensor):
        return
    shape = tuple(got.shape)
    hint = {(N_HIDDEN, width): "W_dec[instance_idx] is every latent's row: index the latent too,"
                               " W_dec[instance_idx, feature_idx].",
            (N_INST, width): "W_dec[:, feature_idx] (or W_dec[feature_idx]) keeps every instance: index both,"
                             " W_dec[instance_idx, feature_idx].",
            (N_HIDDEN,): "W_dec is [inst, n_hidden, d_mlp]: a latent's row is W_dec[instance_idx, feature_idx],"
                         " not W_dec[instance_idx, :, feature_idx] (that is one neuron across latents)."}.get(shape)
    if hint:
        raise CheckFailed(ex, f"{name} has shape {list(shape)}.", hint)


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
    _one_latents_row(ex, got, d_vocab, "the logit effect")
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
    _one_latents_row(ex, got, D_MLP, "the shares")
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
    # A latent that fires on about half the tokens (below D_MLP, for the 'zeroed a neuron' mistake): where it is
    # silent, its pre-activation is negative, so removing the pre-activation instead of the activation shows.
    latent = int(((acts[..., :D_MLP] > 0).float().mean((0, 1)) - 0.5).abs().argmin())
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
        pre = (h - b_dec[INSTANCE]) @ W_enc[INSTANCE, :, latent] + sae.b_enc.detach()[INSTANCE, latent]
        without_pre = h - pre[..., None] * W_dec[INSTANCE, latent]  # no ReLU: negative where it does not fire
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
        "remove the latent's activation (after the ReLU), not its pre-activation: where it does not fire there is"
        " nothing to remove, and a negative pre-activation would add its direction.": patched(without_pre) - clean,
    }, generic_hint="loss_per_token=True for both runs; patch hook_post with decode(z with the latent zeroed)"
                    " + (h - decode(z)).")
    # An SAE with 3 instances: the instance count comes from the SAE (the bundled one happens to have 2).
    three = tiny_sae(n_instances=3)
    got = call_learner(ex, feature_ablation_effect, tokens, model, three, latent, instance_idx=INSTANCE,
                       crash_hint=INSTANCES_HINT)
    expect_tensor(ex, got, "the change in loss with a 3-instance SAE", (N_ROWS, SEQ - 1), "batch, seq - 1")
    compare(ex, got, ref.feature_ablation_effect(tokens, model, three, latent, instance_idx=INSTANCE),
            "the change in loss with a 3-instance SAE", generic_hint=INSTANCES_HINT)


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
        self.pooling = False  # advanced resampling draws its pool of inputs from the buffer too: not steps

    @contextlib.contextmanager
    def watching(self):
        patches = {
            (ActivationBuffer, "__init__"): self._record_buffer,
            (ActivationBuffer, "__call__"): self._record_batch,
            (AutoEncoder, "__init__"): self._record_init,
            (AutoEncoder, "optimize"): self._record_optimize,
            (AutoEncoder, "resample_neurons_simple"): self._record_resample("simple"),
            (AutoEncoder, "resample_neurons_advanced"): self._record_resample("advanced"),
            (sae_module, "resample_pool"): self._record_pool,
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
            if self.training and not self.pooling:  # batches to read the input size, or to resample from, are not steps
                self.batches.append(batch_size)
            return original(buffer, batch_size)
        return __call__

    def _record_pool(self, original):
        def resample_pool(*args, **kwargs):
            self.pooling = True
            try:
                return original(*args, **kwargs)
            finally:
                self.pooling = False
        return resample_pool

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


def _judge_training(ex: str, watch: _TrainingWatch, seed: int) -> None:
    """Fail, naming the mistake, unless the call trained as the spec says (TRAIN_ARGS, `seed`)."""
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
    _judge_training(ex, watch, seed)
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
    "label_precision_recall": (check_label_precision_recall, "label_precision_recall"),
    "feature_logit_effect": (check_feature_logit_effect, "feature_logit_effect"),
    "neuron_shares": (check_neuron_shares, "neuron_shares"),
    "feature_ablation_effect": (check_feature_ablation_effect, "feature_ablation_effect"),
    "train_sae": (check_train_sae, "train_sae"),
}
