"""Checks for section 6 (notebooks/6_circuits): a transcoder, the replacement model, and attribution graphs.

Every check runs on the tiny random one-layer HookedTransformer of tests/checks/llm_sae.py, with random
LayerNorm weights and biases as well (TransformerLens starts them at 1 and 0, so a forgotten w or b would
not show), and a tiny transcoder with random parameters everywhere. Where the exercise reads frozen
values, the check hands it a FrozenRun whose attention patterns and LayerNorm scales are *not* the ones
the model would compute (random causal patterns, scales moved by random factors): code that recomputes
them from the model instead of using what it is given gives another answer, which a clean run would hide.
"""

from __future__ import annotations

import dataclasses
import functools

import torch

from solutions import circuits as ref
from solutions.circuits import FrozenRun, Transcoder, TranscoderConfig, centred
from tests.checks.core import CheckFailed, call_learner, compare, compare_gradients, exercise_check, expect_tensor
from tests.checks.llm_sae import tiny_model, tiny_tokens

D_HIDDEN, K = 16, 4
ROWS = 3


def model_with_random_layer_norms():
    model = tiny_model()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if ".ln" in name or name.startswith("ln_final"):
                    p.add_(0.3 * torch.randn_like(p))
    return model.requires_grad_(False)


def tiny_transcoder(d_in: int = 8, d_out: int = 8, d_hidden: int = D_HIDDEN, k: int = K, skip: bool = True,
                    seed: int = 12) -> Transcoder:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transcoder = Transcoder(TranscoderConfig(d_in, d_out, d_hidden, k, skip), device="cpu")
        with torch.no_grad():
            for p in transcoder.parameters():
                p.add_(0.3 * torch.randn_like(p))
            transcoder.b_enc.sub_(0.4)  # some of each input's top k are negative: the ReLU must show
    return transcoder


def _learners(cls, reference: Transcoder, ex: str):
    """The learner's Transcoder with the reference's parameters."""
    made = call_learner(ex, cls, reference.cfg, device="cpu",
                        crash_hint="Transcoder(cfg, device) is given: only encode and decode are yours.")
    made.load_state_dict(reference.state_dict())
    return made


@functools.cache
def _inputs(n: int, d: int, seed: int = 13) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _altered(frozen: FrozenRun, seed: int = 14) -> FrozenRun:
    """The same run with other attention patterns (random, causal, rows summing to 1) and LayerNorm scales
    (each moved by a random factor between 0.5 and 1.5): what the exercise must use, not recompute."""
    generator = torch.Generator().manual_seed(seed)
    b, h, q, k = frozen.pattern.shape
    scores = torch.randn(b, h, q, k, generator=generator).masked_fill(torch.ones(q, k).triu(1).bool(), float("-inf"))

    def moved(scale):
        return scale * (0.5 + torch.rand(scale.shape, generator=generator))

    return dataclasses.replace(frozen, pattern=scores.softmax(-1), ln1_scale=moved(frozen.ln1_scale),
                               ln2_scale=moved(frozen.ln2_scale), ln_final_scale=moved(frozen.ln_final_scale))


def _setup():
    model, tokens = model_with_random_layer_norms(), tiny_tokens(batch=ROWS)
    frozen = ref.freeze(model, tokens)
    return model, tiny_transcoder(), tokens, frozen


# ---------------------------------------------------------------------------- Transcoder.encode / decode


def _encode(transcoder, x, relu=True, bias=True, by_abs=False, top_k=True, k=None):
    pre = x @ transcoder.W_enc + (transcoder.b_enc if bias else 0)
    if not top_k:
        return torch.relu(pre)
    top = (pre.abs() if by_abs else pre).topk(k or transcoder.cfg.k, dim=-1)
    values = pre.gather(-1, top.indices)
    return torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(values) if relu else values)


@exercise_check("Transcoder.encode")
def check_transcoder_encode(cls) -> None:
    ex = "Transcoder.encode"
    for reference in (tiny_transcoder(), tiny_transcoder(d_in=6, d_out=5, d_hidden=12, k=3, skip=False, seed=15)):
        transcoder = _learners(cls, reference, ex)
        x = _inputs(40, reference.cfg.d_in)
        got = call_learner(ex, transcoder.encode, x)
        expect_tensor(ex, got, "encode(x)", (40, reference.cfg.d_hidden), "batch, d_hidden")
        with torch.no_grad():
            expected = reference.encode(x)
            mistakes = {
                "keep only each input's k largest pre-activations (cfg.k of them), not every positive one.":
                    _encode(reference, x, top_k=False),
                "pass the kept values through a ReLU: a kept pre-activation below zero must become 0.":
                    _encode(reference, x, relu=False),
                "add b_enc: pre = x @ W_enc + b_enc.": _encode(reference, x, bias=False),
                "choose the k largest pre-activations, not the k largest in absolute value.":
                    _encode(reference, x, by_abs=True),
            }
            if reference.cfg.k != K:
                mistakes[f"use self.cfg.k ({reference.cfg.k} here), not a number written in."] = (
                    _encode(reference, x, k=K))
        compare(ex, got, expected, f"the latents (k={reference.cfg.k})", mistakes=mistakes,
                generic_hint="pre = x @ W_enc + b_enc; topk over the last axis; ReLU the kept values; zeros elsewhere.")
        names = ("W_enc", "b_enc")
        compare_gradients(ex, got, reference.encode(x), "the latents", {n: getattr(transcoder, n) for n in names},
                          {n: getattr(reference, n) for n in names},
                          "gradients must flow to W_enc and b_enc through the kept values: no .detach(), no"
                          " torch.no_grad(), no in-place edit of a parameter.")


@exercise_check("Transcoder.decode")
def check_transcoder_decode(cls) -> None:
    ex = "Transcoder.decode"
    for skip in (True, False):
        reference = tiny_transcoder(d_in=6, d_out=5, d_hidden=12, k=3, skip=skip, seed=17)
        transcoder = _learners(cls, reference, ex)
        x = _inputs(30, 6)
        acts = reference.encode(x).detach()
        got = call_learner(ex, transcoder.decode, acts, x,
                           crash_hint="with cfg.skip False, W_skip is None: add x @ W_skip only when it exists." if not
                           skip else "x is [batch, d_in] and W_skip [d_in, d_out]: x @ W_skip, no transpose, no x"
                                     " added as it is (d_in and d_out may differ).")
        expect_tensor(ex, got, f"decode(acts, x) (skip={skip})", (30, 5), "batch, d_out")
        with torch.no_grad():
            plain = acts @ reference.W_dec
            mistakes = {"add b_dec: the prediction is acts @ W_dec + b_dec (+ x @ W_skip).":
                        plain + (x @ reference.W_skip if skip else 0)}
            if skip:
                mistakes["add the skip connection, x @ W_skip: it is what makes it a skip transcoder."] = (
                    plain + reference.b_dec)
        compare(ex, got, reference.decode(acts, x), f"the predicted MLP output (skip={skip})", mistakes=mistakes,
                generic_hint="acts @ W_dec + b_dec, plus x @ W_skip when W_skip is not None.")
        names = ("W_dec", "b_dec", "W_skip") if skip else ("W_dec", "b_dec")  # all of them are trained through
        compare_gradients(ex, got, reference.decode(acts, x), "the predicted MLP output",
                          {n: getattr(transcoder, n) for n in names}, {n: getattr(reference, n) for n in names},
                          "no .detach() and no torch.no_grad() between the parameters and the prediction.")


# ---------------------------------------------------------------------------- replacement_logits


def _replacement(model, transcoder, frozen, latent_hook=None, *, ln1="frozen", attention="frozen", ln2="frozen",
                 ln_final="frozen", error="clean", positional=True, ln1_weights=True, ln_final_bias=True,
                 value_bias=True, transposed=False, output_bias=True, ln2_weights=False, centre_final=True,
                 encode_clean=False, flat_hook=False):
    """The replacement model with one mistake switched on (the reference's maths otherwise)."""
    block, tokens = model.blocks[0], frozen.tokens

    def scale(x, frozen_scale, how):
        return frozen_scale if how == "frozen" else (centred(x).pow(2).mean(-1, keepdim=True) + model.cfg.eps).sqrt()

    resid_pre = model.W_E[tokens] + (model.W_pos[: tokens.shape[1]] if positional else 0)
    normalised = centred(resid_pre) / scale(resid_pre, frozen.ln1_scale, ln1)
    ln1_out = normalised * block.ln1.w + block.ln1.b if ln1_weights else normalised
    v = torch.einsum("bkd,hde->bkhe", ln1_out, model.W_V[0]) + (model.b_V[0] if value_bias else 0)
    if attention == "frozen":
        pattern = frozen.pattern
    else:
        _, cache = model.run_with_cache(tokens, names_filter="blocks.0.attn.hook_pattern")
        pattern = cache["blocks.0.attn.hook_pattern"]
    if transposed:
        pattern = pattern.transpose(-1, -2)
    z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
    resid_mid = resid_pre + torch.einsum("bqhe,hed->bqd", z, model.W_O[0]) + (model.b_O[0] if output_bias else 0)
    mlp_in = centred(resid_mid) / scale(resid_mid, frozen.ln2_scale, ln2)
    if ln2_weights:
        mlp_in = mlp_in * block.ln2.w + block.ln2.b
    flat = mlp_in.flatten(0, 1)
    acts = transcoder.encode(frozen.mlp_in.flatten(0, 1) if encode_clean else flat).reshape(*tokens.shape, -1)
    if latent_hook is not None and flat_hook:
        edited = latent_hook(acts.flatten(0, 1)).reshape(acts.shape)
    else:
        edited = latent_hook(acts) if latent_hook is not None else acts
    predicted = transcoder.decode(edited.flatten(0, 1), flat).reshape(resid_mid.shape)
    if error == "clean":
        err = ref.error_node(transcoder, frozen)
    elif error == "edited":  # taken from this run's prediction: it cancels every edit
        err = frozen.mlp_out - predicted
    else:
        err = 0
    resid_post = resid_mid + predicted + err
    final = (centred(resid_post) if centre_final else resid_post) / scale(resid_post, frozen.ln_final_scale, ln_final)
    final = final * model.ln_final.w
    final = final + (model.ln_final.b if ln_final_bias else 0)
    return final @ model.W_U + model.b_U


def _triple(position: int):
    def latent_hook(acts):
        acts = acts.clone()
        acts[:, position] = 3 * acts[:, position]
        return acts

    return latent_hook


@exercise_check("replacement_logits")
def check_replacement_logits(replacement_logits) -> None:
    ex = "replacement_logits"
    model, transcoder, tokens, frozen = _setup()
    before = tokens.clone()
    shape = (ROWS, tokens.shape[1], model.cfg.d_vocab)

    # 1. A clean run: the replacement model gives the clean logits.
    got = call_learner(ex, replacement_logits, model, transcoder, frozen)
    expect_tensor(ex, got, "the logits", shape, "batch, seq, d_vocab")
    with torch.no_grad():
        compare(ex, got, frozen.logits, "the logits of a clean run (no edit)", mistakes={
            "add the error node, frozen.mlp_out minus the transcoder's prediction from frozen.mlp_in: without it the"
            " logits are the transcoder's, not the model's.": _replacement(model, transcoder, frozen, error="none"),
            "add the positional embeddings: resid_pre = W_E[tokens] + W_pos[positions].":
                _replacement(model, transcoder, frozen, positional=False),
            "apply ln1's weight and bias after normalising: (x - mean) / scale * ln1.w + ln1.b.":
                _replacement(model, transcoder, frozen, ln1_weights=False),
            "add b_V to the values (ln1 @ W_V + b_V).": _replacement(model, transcoder, frozen, value_bias=False),
            "add ln_final's bias: ((x - mean) / scale) * ln_final.w + ln_final.b.":
                _replacement(model, transcoder, frozen, ln_final_bias=False),
            "the pattern is [batch, head, query, key]: each query position sums over key positions"
            " (einsum 'batch head query key, batch key head d_head -> batch query head d_head').":
                _replacement(model, transcoder, frozen, transposed=True),
            "add the attention's output bias b_O to the residual stream.":
                _replacement(model, transcoder, frozen, output_bias=False),
            "the transcoder reads ln2's hook_normalized, (x - mean) / scale, without ln2.w and ln2.b (it learnt"
            " them).": _replacement(model, transcoder, frozen, ln2_weights=True),
            "centre resid_post before the final LayerNorm's scale: (x - mean(x)) / scale.":
                _replacement(model, transcoder, frozen, centre_final=False),
        }, rtol=1e-4, atol=1e-4, generic_hint="recompute the model from W_E and W_pos, with the frozen pattern and"
                                              " scales, the transcoder, and the error node (see the docstring).")
    if not torch.equal(tokens, before):
        raise CheckFailed(ex, "frozen.tokens was changed.", "read the tokens; never write into them.")

    # 2. Frozen values that differ from the model's own, and an edit: what is frozen must be what is used.
    altered = _altered(frozen)
    hook = _triple(2)
    got = call_learner(ex, replacement_logits, model, transcoder, altered, latent_hook=hook,
                       crash_hint="latent_hook takes and returns the latents shaped [batch, seq, d_hidden].")
    expect_tensor(ex, got, "the logits with a latent edit", shape, "batch, seq, d_vocab")
    with torch.no_grad():
        compare(ex, got, ref.replacement_logits(model, transcoder, altered, hook),
                "the logits with frozen values and a latent edit", mistakes={
            "attention is not frozen: use frozen.pattern, not the pattern the model computes.":
                _replacement(model, transcoder, altered, hook, attention="model"),
            "nothing is frozen: running the model with hooks recomputes attention and every LayerNorm scale."
            " Compute the replacement model yourself, from frozen.pattern and the frozen scales.":
                _replacement(model, transcoder, altered, hook, attention="model", ln1="recomputed",
                             ln2="recomputed", ln_final="recomputed"),
            "ln1's scale was recomputed: use frozen.ln1_scale.":
                _replacement(model, transcoder, altered, hook, ln1="recomputed"),
            "ln2's scale was recomputed: use frozen.ln2_scale.":
                _replacement(model, transcoder, altered, hook, ln2="recomputed"),
            "ln_final's scale was recomputed: use frozen.ln_final_scale, or the logits are no longer linear in"
            " the latents.": _replacement(model, transcoder, altered, hook, ln_final="recomputed"),
            "the error node was taken from the edited run, which cancels the edit: compute it from the clean"
            " run (frozen.mlp_out minus the prediction from frozen.mlp_in).":
                _replacement(model, transcoder, altered, hook, error="edited"),
            "latent_hook was not used: call it on the latents and decode what it returns.":
                _replacement(model, transcoder, altered),
            "latent_hook takes the latents shaped [batch, seq, d_hidden]: reshape them before calling it.":
                _replacement(model, transcoder, altered, hook, flat_hook=True),
            "encode the mlp_in you recomputed (from resid_mid and frozen.ln2_scale), not frozen.mlp_in: the"
            " latents must follow the replacement model's own input.":
                _replacement(model, transcoder, altered, hook, encode_clean=True),
        }, rtol=1e-4, atol=1e-4, generic_hint="use frozen.pattern and the three frozen scales; the error node comes"
                                              " from the clean run; decode latent_hook's result.")


# ---------------------------------------------------------------------------- logit_direction


def _direction(model, frozen, row, position, token, other=None, *, centre=True, divide=True, weight=True,
               use_other=True, unembed_bias=True, ln_bias=True, centre_first=False, multiply=False,
               other_bias=True):
    other = other if use_other else None
    u = model.W_U[:, token] - (model.W_U[:, other] if other is not None else 0)
    b_U = model.b_U[token] - (model.b_U[other] if other is not None and other_bias else 0)
    if centre_first:
        g = centred(u) * model.ln_final.w
    else:
        g = model.ln_final.w * u if weight else u
        g = centred(g) if centre else g
    if multiply:
        g = g * frozen.ln_final_scale[row, position]
    else:
        g = g / frozen.ln_final_scale[row, position] if divide else g
    c = (model.ln_final.b @ u if ln_bias else 0) + (b_U if unembed_bias else 0)
    return g, float(c)


@exercise_check("logit_direction")
def check_logit_direction(logit_direction) -> None:
    ex = "logit_direction"
    model, _, tokens, frozen = _setup()
    _, cache = model.run_with_cache(tokens, names_filter="blocks.0.hook_resid_post")
    resid_post = cache["blocks.0.hook_resid_post"]
    for row, position, token, other in [(1, 4, 5, None), (2, 2, 9, 3)]:
        got = call_learner(ex, logit_direction, model, frozen, row, position, token, other)
        if not isinstance(got, tuple) or len(got) != 2:
            raise CheckFailed(ex, f"returned {type(got).__name__}, not a pair (g, c).", "return g, c.")
        g, c = got
        expect_tensor(ex, g, "g", (model.cfg.d_model,), "d_model")
        target = frozen.logits[row, position, token] - (frozen.logits[row, position, other] if other is not None else 0)
        which = "a logit difference" if other is not None else "a logit"
        with torch.no_grad():
            expected_g, expected_c = ref.logit_direction(model, frozen, row, position, token, other)

            def score(pair, row=row, position=position):
                return torch.tensor([float(resid_post[row, position] @ pair[0] + pair[1])])

            mistakes = {
                "centre the direction: (x - mean(x)) @ v = x @ (v - mean(v)), so g = centre(ln_final.w * u) / s.":
                    score(_direction(model, frozen, row, position, token, other, centre=False)),
                "divide by the frozen ln_final scale at (row, position).":
                    score(_direction(model, frozen, row, position, token, other, divide=False)),
                "multiply by ln_final.w: the logit reads (normalised x * w + b) @ W_U.":
                    score(_direction(model, frozen, row, position, token, other, weight=False)),
                "the constant c holds ln_final.b @ u and b_U[token]: both were not there.":
                    score(_direction(model, frozen, row, position, token, other, unembed_bias=False, ln_bias=False)),
                "the constant c needs ln_final.b @ u as well as b_U[token].":
                    score(_direction(model, frozen, row, position, token, other, ln_bias=False)),
                "the constant c needs b_U[token] (minus b_U[other]) as well.":
                    score(_direction(model, frozen, row, position, token, other, unembed_bias=False)),
                "centre the product ln_final.w * u, not u before multiplying: the centring acts on what"
                " multiplies x.":
                    score(_direction(model, frozen, row, position, token, other, centre_first=True)),
                "divide by the frozen ln_final scale, do not multiply: LayerNorm divides by it.":
                    score(_direction(model, frozen, row, position, token, other, multiply=True)),
            }
            if other is not None:
                mistakes["subtract the other token's direction and bias: the target is logit[token] -"
                         " logit[other]."] = (
                    score(_direction(model, frozen, row, position, token, other, use_other=False)))
                mistakes["subtract b_U[other] from the constant too, not only the other token's direction."] = (
                    score(_direction(model, frozen, row, position, token, other, other_bias=False)))
            got_score = torch.tensor([float(resid_post[row, position] @ g + float(c))])
        compare(ex, got_score, target.reshape(1), f"resid_post @ g + c for {which}", mistakes=mistakes,
                rtol=1e-4, atol=1e-4, generic_hint="g = centre(ln_final.w * u) / scale,"
                " c = ln_final.b @ u + b_U[token], with u and b_U[token] differences when other is given; the scale"
                " is ln_final's at (row, position).")
        compare(ex, g, expected_g, f"g for {which}", generic_hint="g = centre(ln_final.w * u) / scale.")


# ---------------------------------------------------------------------------- source_vectors


def _sources(model, frozen, row, position, *, residual_everywhere=False, positional=True, query_scale=False,
             weight=True, transposed=False, one_head=False, ln_bias=False, value_bias=False, centre=True):
    n = position + 1
    embeddings = torch.cat([model.W_E[frozen.tokens[row, :n]], model.W_pos[:n] * (1 if positional else 0)])
    scale = torch.cat([frozen.ln1_scale[row, :n]] * 2)
    if query_scale:
        scale = torch.full_like(scale, float(frozen.ln1_scale[row, position]))
    read = (centred(embeddings) if centre else embeddings) / scale * (model.blocks[0].ln1.w if weight else 1)
    if ln_bias:
        read = read + model.blocks[0].ln1.b
    pattern = frozen.pattern[row].transpose(-1, -2) if transposed else frozen.pattern[row]
    weights = torch.cat([pattern[:, position, :n]] * 2, dim=-1)  # [head, 2n]
    if one_head:
        weights = weights[:1].expand_as(weights)
    v = torch.einsum("sd,hde->she", read, model.W_V[0]) + (model.b_V[0] if value_bias else 0)
    ov = torch.einsum("she,hem->shm", v, model.W_O[0])
    heads = ov * weights.T[..., None]
    residual = embeddings.clone() if residual_everywhere else torch.zeros_like(embeddings)
    residual[[position, n + position]] = embeddings[[position, n + position]]
    return torch.cat([residual[:, None], heads], dim=1)


@exercise_check("source_vectors")
def check_source_vectors(source_vectors) -> None:
    ex = "source_vectors"
    model, _, tokens, _ = _setup()
    frozen = _altered(ref.freeze(model, tokens))  # a pattern the model would not compute: it must be read
    for row, position in [(1, 4), (0, 0), (2, 5)]:
        got = call_learner(ex, source_vectors, model, frozen, row, position)
        n = 2 * (position + 1)
        if isinstance(got, torch.Tensor) and got.ndim == 3 and got.shape[0] != n and got.shape[0] in (
                position + 1, 2 * position, position):
            raise CheckFailed(ex, f"{got.shape[0]} sources at position {position}; expected {n}.",
                              "2 (position + 1) sources: the token embeddings at positions 0..position (position"
                              " included), then the positional embeddings at the same positions.")
        expect_tensor(ex, got, "the source vectors", (n, 1 + model.cfg.n_heads, model.cfg.d_model),
                      "source, path, d_model")
        with torch.no_grad():
            mistakes = {
                "only the sources at `position` itself have a residual path; earlier ones reach it only through heads.":
                    _sources(model, frozen, row, position, residual_everywhere=True),
                "the positional embeddings are sources too: the second half, W_pos[q] for q = 0..position.":
                    _sources(model, frozen, row, position, positional=False),
                "each source is normalised by the ln1 scale at its own position q, not at the query position.":
                    _sources(model, frozen, row, position, query_scale=True),
                "multiply by ln1.w after normalising (ln1.b belongs to the bias node).":
                    _sources(model, frozen, row, position, weight=False),
                "the pattern is [head, query, key]: the weight of source q at `position` is"
                " pattern[row, h, position, q].": _sources(model, frozen, row, position, transposed=True),
                "each head has its own pattern: weight head h's OV output by pattern[row, h].":
                    _sources(model, frozen, row, position, one_head=True),
                "leave ln1.b out: a bias is not part of any source, it belongs to the bias node.":
                    _sources(model, frozen, row, position, ln_bias=True),
                "leave b_V out: a bias is not part of any source, it belongs to the bias node.":
                    _sources(model, frozen, row, position, value_bias=True),
                "centre each embedding before ln1's scale: (e - mean(e)) / ln1_scale[row, q].":
                    _sources(model, frozen, row, position, centre=False),
            }
        compare(ex, got, ref.source_vectors(model, frozen, row, position), f"the sources at (row {row}, position"
                f" {position})", mistakes=mistakes, generic_hint="see the docstring: token embeddings then positional"
                " ones; path 0 the residual stream, path 1 + h head h.")


# ---------------------------------------------------------------------------- compute_influence


def _normalised(A):
    weights = A.abs()
    totals = weights.sum(-1, keepdim=True)
    return torch.where(totals > 0, weights / totals.clamp(min=1e-30), torch.zeros_like(weights))


def _influence(A, target=-1, *, absolute=True, normalise="rows", steps=None, identity=False):
    weights = A.abs() if absolute else A.clone()
    if normalise == "rows":
        totals = weights.abs().sum(-1, keepdim=True)
        weights = torch.where(totals > 0, weights / totals.clamp(min=1e-30), torch.zeros_like(weights))
    elif normalise == "columns":
        totals = weights.abs().sum(0, keepdim=True)
        weights = torch.where(totals > 0, weights / totals.clamp(min=1e-30), torch.zeros_like(weights))
    eye = torch.eye(len(A), dtype=A.dtype)
    if steps is None:
        paths = torch.linalg.inv(eye - weights) - eye
    else:
        paths, power = torch.zeros_like(weights), eye
        for _ in range(steps):
            power = power @ weights
            paths = paths + power
    return (paths + eye)[target] if identity else paths[target]


def _dag(sizes: tuple[int, ...], seed: int) -> torch.Tensor:
    """A random layered DAG, A[target, source], with signed edges: layer i feeds every later layer; the
    last node is the target."""
    generator = torch.Generator().manual_seed(seed)
    starts = torch.tensor((0, *sizes)).cumsum(0).tolist()
    n = starts[-1]
    A = torch.zeros(n, n)
    for i in range(1, len(sizes)):
        for j in range(i):
            block = torch.randn(sizes[i], sizes[j], generator=generator)
            A[starts[i] : starts[i + 1], starts[j] : starts[j + 1]] = block
    return A


@exercise_check("compute_influence")
def check_compute_influence(compute_influence) -> None:
    ex = "compute_influence"
    # The one-layer graph's shape (sources -> latents -> logit, and sources -> logit), then a deeper one.
    for sizes, seed in [((6, 4, 1), 18), ((3, 3, 3, 2, 1), 19)]:
        A = _dag(sizes, seed)
        got = call_learner(ex, compute_influence, A.clone())
        expect_tensor(ex, got, "the influence", (len(A),), "node")
        mistakes = {
            "take the edges' absolute values first: a negative edge carries influence too.":
                _influence(A, absolute=False),
            "normalise each row (a target's incoming edges) to sum to 1 before summing paths.":
                _influence(A, normalise="none"),
            "normalise rows, A[target, :], not columns: a node's inputs as shares of what drives it.":
                _influence(A, normalise="columns"),
            "that is the direct edges only: sum over every path, Â + Â² + ..., i.e. (I - Â)^-1 - I.":
                _influence(A, steps=1),
            "subtract the identity: (I - Â)^-1 - I, or the target counts itself.": _influence(A, identity=True),
        }
        eye = torch.eye(len(A))
        mistakes["take row `target` of (I - Â)^-1 - I, not its column: the column is what the target influences,"
                 " the row what influences it."] = (torch.linalg.inv(eye - _normalised(A)) - eye)[:, -1]
        if len(sizes) > 3:
            mistakes["paths of every length: this graph is deeper than two steps, Â + Â² stops too early."] = (
                _influence(A, steps=2))

        compare(ex, got, _influence(A), f"the influence on a graph of {len(sizes)} layers",
                mistakes=mistakes, generic_hint="Â = |A| with each row divided by its sum (zero rows stay zero);"
                                                " influence = ((I - Â)^-1 - I)[target].")
    # Another target: a node of the middle layer (its influence comes from the layers below it only).
    A = _dag((3, 3, 3, 2, 1), 20)
    target = 7
    got = call_learner(ex, compute_influence, A.clone(), target)
    expect_tensor(ex, got, "the influence on node 7", (len(A),), "node")
    compare(ex, got, _influence(A, target), "the influence on another target (target=7)", mistakes={
        "use the target argument: that is the influence on the last node, not on `target`.": _influence(A),
    }, generic_hint="influence = ((I - Â)^-1 - I)[target].")


# ---------------------------------------------------------------------------- de_embedding


def _de_embedding(model, transcoder, latent, scale, *, centre="d_model", scaling="divide", read="W_enc",
                  bias=False, ln_weight=None, embedding="W_E", relu=False, encode=False):
    E = model.W_E if embedding == "W_E" else model.W_U.T
    if centre == "d_model":
        E = centred(E)
    elif centre == "vocab":
        E = E - E.mean(0)
    E = {"divide": E / scale, "ignore": E, "multiply": E * scale,
         "own": E / (E.pow(2).mean(-1, keepdim=True) + model.cfg.eps).sqrt()}[scaling]
    if ln_weight:  # "ln2" / "ln2_affine" / "ln1": a LayerNorm's weight (and bias) applied where none belongs
        norm = model.blocks[0].ln1 if ln_weight == "ln1" else model.blocks[0].ln2
        E = E * norm.w + (norm.b if ln_weight == "ln2_affine" else 0)
    if encode:
        return transcoder.encode(E)[:, latent]
    out = E @ (transcoder.W_enc[:, latent] if read == "W_enc" else transcoder.W_dec[latent])
    out = out + transcoder.b_enc[latent] if bias else out
    return out.relu() if relu else out


@exercise_check("de_embedding")
def check_de_embedding(de_embedding) -> None:
    ex = "de_embedding"
    model, transcoder, tokens, frozen = _setup()
    vocab = model.cfg.d_vocab
    for latent, scale in [(3, 1.7), (10, 0.6)]:
        got = call_learner(ex, de_embedding, model, transcoder, latent, scale,
                           crash_hint="scale may be a plain float (here) or a tensor of shape [1]: divide by it as"
                                      " it is, with no .item() or indexing.")
        expect_tensor(ex, got, f"the de-embedding of latent {latent}", (vocab,), "d_vocab")
        with torch.no_grad():
            def wrong(latent=latent, scale=scale, **how):
                return _de_embedding(model, transcoder, latent, scale, **how)

            mistakes = {
                "centre each embedding over d_model first (LayerNorm subtracts each vector's own mean).":
                    wrong(centre=None),
                "centre each embedding over d_model (its own mean, axis -1), not over the vocabulary (axis 0).":
                    wrong(centre="vocab"),
                "divide by the scale: the MLP's input is (x - mean) / scale.": wrong(scaling="ignore"),
                "divide by the scale, do not multiply: LayerNorm divides by it.": wrong(scaling="multiply"),
                "read the embedding through the encoder, W_enc[:, latent]: W_dec[latent] is what the latent"
                " writes, not what drives it.": wrong(read="W_dec"),
                "leave b_enc out: it is the latent's own constant, the same for every token, not part of any"
                " token's edge.": wrong(bias=True),
                "no ln2.w here: the transcoder reads hook_normalized, before ln2's weight and bias.":
                    wrong(ln_weight="ln2"),
                "no ln2.w and ln2.b here: the transcoder reads hook_normalized, before ln2's weight and bias.":
                    wrong(ln_weight="ln2_affine"),
                "no ln1.w here: the residual path skips ln1 and the heads; only ln2's frozen scale stands between"
                " the embedding and the transcoder.": wrong(ln_weight="ln1"),
                "no ReLU: a de-embedding is a part of the pre-activation, and a part can be negative.":
                    wrong(relu=True),
                "not transcoder.encode: that adds b_enc and applies TopK and the ReLU; a de-embedding is the"
                " linear read W_enc[:, latent] of each embedding alone.": wrong(encode=True),
                "divide by the `scale` you are given (ln2's frozen scale at a position), not by each embedding's"
                " own norm: the residual stream there holds more than the token.": wrong(scaling="own"),
                "use the token embeddings, model.W_E [d_vocab, d_model]: W_U is what the logits read.":
                    wrong(embedding="W_U"),
            }
        compare(ex, got, ref.de_embedding(model, transcoder, latent, scale), f"the de-embedding of latent {latent}",
                mistakes=mistakes, generic_hint="centre(W_E) / scale @ W_enc[:, latent], every token at once.")
    # It is an edge of the graph: the current token's, through the residual stream, at that position's scale.
    row, position = 1, 4
    parts = ref.attribute(model, transcoder, frozen, row, position, 0)
    token = int(tokens[row, position])
    for i, latent in enumerate(parts.active.tolist()):
        got = call_learner(ex, de_embedding, model, transcoder, latent, frozen.ln2_scale[row, position],
                           crash_hint="scale may also be a tensor of shape [1] (a FrozenRun's ln2_scale[row,"
                                      " position]): divide by it as it is.")
        expect_tensor(ex, got, f"the de-embedding of latent {latent} at a scale given as a tensor [1]", (vocab,),
                      "d_vocab")
        compare(ex, got[token].reshape(1), parts.latent_edges[i, position, 0].reshape(1),
                f"token {token}'s de-embedding (the graph's edge from it to latent {latent})",
                generic_hint="the scale may come as a tensor of shape [1]: dividing by it broadcasts.")


CHECKS = {
    "Transcoder.encode": (check_transcoder_encode, "Transcoder"),
    "Transcoder.decode": (check_transcoder_decode, "Transcoder"),
    "replacement_logits": (check_replacement_logits, "replacement_logits"),
    "logit_direction": (check_logit_direction, "logit_direction"),
    "source_vectors": (check_source_vectors, "source_vectors"),
    "compute_influence": (check_compute_influence, "compute_influence"),
    "de_embedding": (check_de_embedding, "de_embedding"),
}
