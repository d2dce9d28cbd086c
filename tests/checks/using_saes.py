"""Checks for section 5 (notebooks/5_using_saes): splicing, steering, attribution and sparse probing.

As in sections 3 and 4, every check runs on the tiny random HookedTransformer and SAE of
tests/checks/llm_sae.py (random biases everywhere) and uses instance 1 of a 3-instance SAE, so code
that always reads instance 0, or assumes two instances, is caught. Steering needs text: its tiny model
has the bundled tokenizer's vocabulary.
"""

from __future__ import annotations

import functools

import einops
import torch

from solutions import using_saes as ref
from tests.checks.core import CheckFailed, call_learner, compare, exercise_check, expect_tensor
from tests.checks.llm_sae import (
    D_MLP,
    HOOK,
    N_HIDDEN,
    SEQ,
    _untouched,
    reference_helpers,
    tiny_model,
    tiny_sae,
    tiny_tokens,
)

INSTANCE = 1
N_ROWS = 4


def _sae():
    return tiny_sae(n_instances=3)


def _pieces(model, sae, tokens, instance=INSTANCE, hook=HOOK):
    """h [b s d], acts [b s hidden], h_reconstructed [b s d] of one instance, without gradients."""
    with torch.no_grad():
        h = model.run_with_cache(tokens, names_filter=hook)[1][hook]
        acts, rec = ref.encode(sae, h.flatten(0, 1), instance)
    return h, acts.reshape(*tokens.shape, -1), rec.reshape(h.shape)


def _patched(model, tokens, replacement, hook=HOOK):
    with torch.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=[(hook, lambda a, hook: replacement.contiguous())])


# ---------------------------------------------------------------------------- run_with_sae


def _edit(latent: int):
    """A latent hook that doubles one latent at every position and removes it at position 0: it needs the
    [batch, seq, d_hidden] layout, and it changes the output."""

    def latent_hook(acts):
        acts = acts.clone()
        acts[..., latent] = 2 * acts[..., latent]
        acts[:, 0, latent] = 0.0
        return acts

    return latent_hook


@exercise_check("run_with_sae")
def check_run_with_sae(run_with_sae) -> None:
    ex = "run_with_sae"
    model, sae, tokens = tiny_model(), _sae(), tiny_tokens(batch=N_ROWS)
    before = tokens.clone()
    h, acts, rec = _pieces(model, sae, tokens)
    latent = int((acts > 0).float().mean((0, 1)).argmax())  # one that fires often, so the edit shows
    W_dec, b_dec = sae.W_dec.detach()[INSTANCE], sae.b_dec.detach()[INSTANCE]
    edited = _edit(latent)(acts)
    with torch.no_grad():
        clean = model(tokens)
        acts0 = _pieces(model, sae, tokens, instance=0)[1]
        seq_major = einops.rearrange(einops.rearrange(rec, "b s d -> (b s) d"), "(s b) d -> b s d", s=SEQ)

    # 1. The plain splice: the reconstruction in place of the activations.
    got = call_learner(ex, run_with_sae, model, sae, tokens, HOOK, instance_idx=INSTANCE)
    _untouched(ex, tokens, before, model)
    expect_tensor(ex, got, "the logits", (N_ROWS, SEQ, model.cfg.d_vocab), "batch, seq, d_vocab")
    compare(ex, got, ref.run_with_sae(model, sae, tokens, HOOK, INSTANCE), "the spliced logits", mistakes={
        "use_error_term is False by default: splice in the reconstruction alone, without adding h - h_reconstructed.":
            clean,
        "use instance_idx: that spliced in instance 0's reconstruction.": _patched(model, tokens, acts0 @ sae.W_dec[0]
                                                                                   + sae.b_dec[0]),
        "decode with b_dec: the reconstruction is acts @ W_dec + b_dec.": _patched(model, tokens, acts @ W_dec),
        "unflatten (batch seq) in the order you flattened it: '(batch seq) d -> batch seq d'.":
            _patched(model, tokens, seq_major),
    }, generic_hint="in a hook on hook_name: flatten, encode with the SAE's forward (all instances), take"
                    " instance_idx's acts, decode with acts @ W_dec + b_dec, reshape back.")

    # 2. With the error term and no edit: the clean model.
    got = call_learner(ex, run_with_sae, model, sae, tokens, HOOK, instance_idx=INSTANCE, use_error_term=True)
    expect_tensor(ex, got, "the logits with the error term", (N_ROWS, SEQ, model.cfg.d_vocab), "batch, seq, d_vocab")
    compare(ex, got, clean, "the logits with use_error_term=True and no edit", mistakes={
        "use_error_term=True must add the error, h - h_reconstructed: that is the reconstruction alone.":
            _patched(model, tokens, rec),
        "the error term was added twice (or the reconstruction and h both kept): h + (h - h_reconstructed).":
            _patched(model, tokens, 2 * h - rec),
    }, rtol=1e-3, atol=1e-4, generic_hint="with the error term and no edit, the output must be the clean model's.")

    # 3. An edit, with and without the error term.
    for use_error_term in (False, True):
        got = call_learner(ex, run_with_sae, model, sae, tokens, HOOK, instance_idx=INSTANCE,
                           use_error_term=use_error_term, latent_hook=_edit(latent),
                           crash_hint="latent_hook takes and returns the latents shaped [batch, seq, d_hidden]:"
                                      " reshape them before calling it, and flatten its result again.")
        expect_tensor(ex, got, "the logits with a latent hook", (N_ROWS, SEQ, model.cfg.d_vocab), "batch, seq, d_vocab")
        error = (h - rec) if use_error_term else 0.0
        mistakes = {
            "latent_hook was not used: call it on the latents, shaped [batch, seq, d_hidden], and decode what it"
            " returns.": _patched(model, tokens, rec + error),
        }
        if use_error_term:  # here a forgotten latent_hook and an error term taken after the edit both give h
            mistakes = {"nothing changed: either latent_hook was not used, or the error term was taken after the edit"
                        " (h - decode(edited) puts the edit back): take it from the unedited latents, h -"
                        " decode(acts).": clean}
        compare(ex, got, _patched(model, tokens, edited @ W_dec + b_dec + error),
                f"the logits with a latent edit (use_error_term={use_error_term})", mistakes=mistakes,
                rtol=1e-3, atol=1e-4,
                generic_hint="latent_hook gets and returns [batch, seq, d_hidden]; decode its result; the error"
                             " term, if asked for, is h - h_reconstructed from the unedited latents.")

    # 4. Gradients reach the latents (latent_attribution relies on it).
    kept = {}

    def leaf(acts):
        kept["acts"] = acts.detach().requires_grad_()
        return kept["acts"]

    got = call_learner(ex, run_with_sae, model, sae, tokens, HOOK, instance_idx=INSTANCE, use_error_term=True,
                       latent_hook=leaf)
    if "acts" not in kept or not got.requires_grad:
        raise CheckFailed(ex, "no gradient flows from the logits back to the latents.",
                          "no torch.no_grad() and no .detach() on the way from latent_hook's result to the logits.")

    # 5. Another hook point: a 2-layer model's block 1 (hook_name must be used).
    model2 = tiny_model(n_layers=2)
    hook1 = "blocks.1.mlp.hook_post"
    got = call_learner(ex, run_with_sae, model2, sae, tokens, hook1, instance_idx=INSTANCE)
    compare(ex, got, ref.run_with_sae(model2, sae, tokens, hook1, INSTANCE), "the logits at blocks.1.mlp.hook_post",
            generic_hint="hook the model at hook_name, not at a hook point written in.")


# ---------------------------------------------------------------------------- generate_with_steering


@functools.cache
def _text_model_state():
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    from utils.loading import load_tokenizer, quiet_transformer_lens

    quiet_transformer_lens()
    tokenizer = load_tokenizer()
    # Two layers: in a 1-layer model the MLP at earlier positions cannot reach the last position's logits, so
    # steering the last position only would look right.
    cfg = HookedTransformerConfig(n_layers=2, d_model=8, n_heads=2, d_head=4, d_mlp=D_MLP, d_vocab=len(tokenizer),
                                  n_ctx=32, act_fn="gelu", normalization_type="LN", seed=0, device="cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        model = HookedTransformer(cfg, tokenizer=tokenizer)
        with torch.no_grad():
            model.W_U.mul_(30.0)  # peaked predictions: greedy text is not one token repeated for every prompt
    return cfg, model.state_dict(), tokenizer


def text_model():
    from transformer_lens import HookedTransformer

    cfg, state, tokenizer = _text_model_state()
    model = HookedTransformer(cfg, tokenizer=tokenizer)
    model.load_state_dict(state)
    return model.eval()


PROMPT = "def f(x):\n    return"
TEMPERATURE = 20.0  # flat enough that two generators give two texts


def _reference_text(model, tokens, direction, n_new, hook=HOOK, steer_new=True, steer_prompt=True, last_only=False):
    """Greedy text with one of the steering mistakes switched on."""
    n_prompt = tokens.shape[1]
    with torch.no_grad():
        for _ in range(n_new):
            add = torch.zeros(tokens.shape[1], direction.shape[0])
            if last_only:
                add[-1] = direction
            else:
                if steer_prompt:
                    add[:n_prompt] = direction
                if steer_new:
                    add[n_prompt:] = direction
            logits = model.run_with_hooks(tokens, fwd_hooks=[(hook, lambda a, hook, add=add: a + add)])[0, -1]
            tokens = torch.cat([tokens, logits.argmax().reshape(1, 1)], dim=1)
    return model.to_string(tokens[0, 1:])


@exercise_check("generate_with_steering")
def check_generate_with_steering(generate_with_steering) -> None:
    ex = "generate_with_steering"
    model, sae = text_model(), _sae()
    latent, coefficient, n_new = 3, 8.0, 6
    got = call_learner(ex, generate_with_steering, model, sae, PROMPT, latent, coefficient, n_new,
                       instance_idx=INSTANCE)
    _untouched_text(ex, model)
    if not isinstance(got, str):
        raise CheckFailed(ex, f"returned {type(got).__name__}, not a str.", "return model.to_string(tokens[0, 1:]).")
    expected = ref.generate_with_steering(model, sae, PROMPT, latent, coefficient, n_new, instance_idx=INSTANCE)
    tokens = model.to_tokens(PROMPT)
    W_dec, W_enc = sae.W_dec.detach(), sae.W_enc.detach()
    direction = coefficient * W_dec[INSTANCE, latent]
    unsteered = _reference_text(model, tokens, 0 * direction, n_new)
    if expected == unsteered:
        raise RuntimeError("the steering check's latent does not change the text: choose another")  # check's own bug
    if got == expected:
        pass
    else:
        mistakes = {
            "the prompt must come first: return the prompt and the continuation (model.to_string(tokens[0, 1:])).":
                expected[len(PROMPT):],
            "the text is not steered at all: add coefficient * W_dec[instance_idx, latent_idx] in a hook on hook_name.":
                unsteered,
            "steer every forward pass: that steered the prompt's first pass only (the hook must stay on while you"
            " generate).": _first_pass_only(model, tokens, direction, n_new),
            "steer every position, not only the last one.": _reference_text(model, tokens, direction, n_new,
                                                                             last_only=True),
            "use instance_idx: that steered along instance 0's decoder row.": _reference_text(
                model, tokens, coefficient * W_dec[0, latent], n_new),
            "steer along the decoder row W_dec[instance_idx, latent_idx] (what the latent writes), not the encoder"
            " column.": _reference_text(model, tokens, coefficient * W_enc[INSTANCE, :, latent], n_new),
            "steering_coefficient was ignored: add coefficient * the decoder row.": _reference_text(
                model, tokens, W_dec[INSTANCE, latent], n_new),
            "the prompt must start with BOS: model.to_tokens(prompt) (prepend_bos is the default).":
                _reference_text_no_bos(model, direction, n_new),
        }
        hint = next((h for h, text in mistakes.items() if text == got), None)
        raise CheckFailed(ex, f"with greedy decoding the text is {got!r}, expected {expected!r}.",
                          hint or "add coefficient * W_dec[instance_idx, latent_idx] at hook_name at every position"
                                  " on every pass; take the argmax of the last position's logits when temperature=0.")
    # max_new_tokens and hook_name are used
    longer = call_learner(ex, generate_with_steering, model, sae, PROMPT, latent, coefficient, 9, instance_idx=INSTANCE)
    if longer != ref.generate_with_steering(model, sae, PROMPT, latent, coefficient, 9, instance_idx=INSTANCE):
        raise CheckFailed(ex, "with max_new_tokens=9 the text differs from the reference.",
                          "generate exactly max_new_tokens tokens.")
    # Sampling: seeded, reproducible, and the seed argument used
    kwargs = dict(instance_idx=INSTANCE, temperature=TEMPERATURE)
    expected = ref.generate_with_steering(model, sae, PROMPT, latent, coefficient, n_new, seed=5, **kwargs)
    torch.manual_seed(123)
    got = call_learner(ex, generate_with_steering, model, sae, PROMPT, latent, coefficient, n_new, seed=5, **kwargs)
    if got != expected:
        greedy = ref.generate_with_steering(model, sae, PROMPT, latent, coefficient, n_new, instance_idx=INSTANCE)
        hint = ("temperature was ignored: with temperature > 0, sample from softmax(logits / temperature)."
                if got == greedy else
                "sample with torch.multinomial(probs, 1, generator=generator), one generator made with"
                " torch.Generator().manual_seed(seed) before the first step (not the global RNG, not a new"
                " generator per step).")
        raise CheckFailed(ex, f"with temperature={TEMPERATURE} and seed=5 the text is {got!r}, expected"
                              f" {expected!r}.", hint)


def _untouched_text(ex, model):
    if any(hook_point.fwd_hooks for hook_point in model.hook_dict.values()):
        raise CheckFailed(ex, "a hook was left on the model afterwards.",
                          "use `with model.hooks(fwd_hooks=...)` or model.run_with_hooks, which remove their hooks.")


def _first_pass_only(model, tokens, direction, n_new):
    with torch.no_grad():
        for step in range(n_new):
            add = direction if step == 0 else 0 * direction
            logits = model.run_with_hooks(tokens, fwd_hooks=[(HOOK, lambda a, hook, add=add: a + add)])[0, -1]
            tokens = torch.cat([tokens, logits.argmax().reshape(1, 1)], dim=1)
    return model.to_string(tokens[0, 1:])


def _reference_text_no_bos(model, direction, n_new):
    tokens = model.to_tokens(PROMPT, prepend_bos=False)
    with torch.no_grad():
        for _ in range(n_new):
            logits = model.run_with_hooks(tokens, fwd_hooks=[(HOOK, lambda a, hook: a + direction)])[0, -1]
            tokens = torch.cat([tokens, logits.argmax().reshape(1, 1)], dim=1)
    return model.to_string(tokens[0])


# ---------------------------------------------------------------------------- latent_attribution


def _metric(tokens):
    def metric(logits):
        return ref.next_token_log_prob(logits, tokens).sum()

    return metric


@exercise_check("latent_attribution")
def check_latent_attribution(latent_attribution) -> None:
    ex = "latent_attribution"
    model, sae, tokens = tiny_model(), _sae(), tiny_tokens(batch=N_ROWS)
    before = tokens.clone()
    metric = _metric(tokens)
    # The learner's run_with_sae is exercise 1's: checked there, and replaced by the reference here.
    with reference_helpers(latent_attribution, "run_with_sae", reference=ref):
        got = call_learner(ex, latent_attribution, model, sae, tokens, metric, HOOK, instance_idx=INSTANCE)
    _untouched(ex, tokens, before, model)
    expect_tensor(ex, got, "the attribution", (N_ROWS, SEQ, N_HIDDEN), "batch, seq, d_hidden")
    expected = ref.latent_attribution(model, sae, tokens, metric, HOOK, INSTANCE)
    grad_at = {}
    for name, kwargs in [("error", dict(use_error_term=True)), ("plain", dict(use_error_term=False))]:
        kept = {}

        def leaf(acts, kept=kept):
            kept["acts"] = acts.detach().requires_grad_()
            return kept["acts"]

        with torch.enable_grad():
            metric(ref.run_with_sae(model, sae, tokens, HOOK, INSTANCE, latent_hook=leaf, **kwargs)).backward()
        grad_at[name] = (kept["acts"].detach(), kept["acts"].grad)
    acts, grad = grad_at["error"]
    compare(ex, got, expected, "the attribution", mistakes={
        "multiply by the activation: attribution is acts * grad (a latent that is off contributes nothing).": grad,
        "that is the activation alone: multiply it by the metric's gradient with respect to it.": acts,
        "that is minus the attribution: return acts * grad (the estimate of how much the metric falls when the"
        " latent is removed).": -expected,
        "splice the SAE in with the error term (use_error_term=True): without it the gradient is taken on the"
        " SAE's reconstruction, not on the model's own run.": grad_at["plain"][0] * grad_at["plain"][1],
        "use instance_idx: those are instance 0's latents.":
            ref.latent_attribution(model, sae, tokens, metric, HOOK, 0),
    }, generic_hint="run_with_sae(..., use_error_term=True, latent_hook=...) whose hook returns"
                    " acts.detach().requires_grad_(); metric(logits).backward(); return acts * acts.grad.")
    if got.requires_grad:
        raise CheckFailed(ex, "the attribution still requires grad.", "return (acts * acts.grad).detach().")
    # The metric is the caller's: another metric gives another answer.
    last = lambda logits: logits[:, -1, 0].sum()  # noqa: E731
    with reference_helpers(latent_attribution, "run_with_sae", reference=ref):
        got = call_learner(ex, latent_attribution, model, sae, tokens, last, HOOK, instance_idx=INSTANCE)
    compare(ex, got, ref.latent_attribution(model, sae, tokens, last, HOOK, INSTANCE),
            "the attribution for another metric", mistakes={
                "use the metric you are given, metric(logits), not a loss of your own.": expected},
            generic_hint="backpropagate metric(logits), whatever the metric is.")


# ---------------------------------------------------------------------------- sparse_probe


def _probe_data(seed: int = 0):
    """Rows where column 3 fires more on the concept, column 7 less (as strongly), column 5 a little more,
    and the rest is noise; columns 0-2 have a large scale and no signal. The test split's positives are
    rarer."""
    generator = torch.Generator().manual_seed(seed)

    def rows(n_pos, n_neg):
        y = torch.cat([torch.ones(n_pos, dtype=torch.bool), torch.zeros(n_neg, dtype=torch.bool)])
        X = torch.randn(len(y), 10, generator=generator).abs()
        X[:, :3] *= 6.0
        X[:, 3] += 2.0 * y
        X[:, 7] += 2.0 * ~y
        X[:, 5] += 0.8 * y
        return X, y

    return (*rows(150, 150), *rows(60, 240))


@exercise_check("sparse_probe")
def check_sparse_probe(sparse_probe) -> None:
    ex = "sparse_probe"
    X_train, y_train, X_test, y_test = _probe_data()
    saved = [t.clone() for t in (X_train, y_train, X_test, y_test)]
    for k in (1, 2, 3):
        got = call_learner(ex, sparse_probe, X_train, y_train, X_test, y_test, k)
        if any(not torch.equal(a, b) for a, b in zip(saved, (X_train, y_train, X_test, y_test), strict=True)):
            raise CheckFailed(ex, "your function changed the data it was given.", "work on copies.")
        if not (isinstance(got, tuple) and len(got) == 2):
            raise CheckFailed(ex, f"returned {type(got).__name__}, not a pair (chosen, accuracy).",
                              "return chosen, accuracy.")
        chosen, accuracy = got
        if not isinstance(chosen, torch.Tensor) or chosen.shape != (k,):
            raise CheckFailed(ex, f"with k={k}, chosen is {getattr(chosen, 'shape', type(chosen))}, expected [{k}].",
                              "choose exactly k columns: topk(k).indices.")
        expected_chosen, expected_accuracy = ref.sparse_probe(X_train, y_train, X_test, y_test, k)
        if set(chosen.tolist()) != set(expected_chosen.tolist()):
            picked = set(chosen.tolist())
            positives_only = set(X_train[y_train].mean(0).topk(k).indices.tolist())
            signed = set((X_train[y_train].mean(0) - X_train[~y_train].mean(0)).topk(k).indices.tolist())
            both = torch.cat([X_train, X_test]), torch.cat([y_train, y_test])
            leaked = set((both[0][both[1]].mean(0) - both[0][~both[1]].mean(0)).abs().topk(k).indices.tolist())
            test_only = set((X_test[y_test].mean(0) - X_test[~y_test].mean(0)).abs().topk(k).indices.tolist())
            hint = ("rank by the *difference* of class means, not by the positives' mean alone: a large column"
                    " that fires on everything is not specific." if picked == positives_only else
                    "rank by the absolute difference, |mean_pos - mean_neg|: a column that fires *less* on the"
                    " concept tells it as well." if picked == signed else
                    "choose the columns from the training rows only: the test rows must not take part in any"
                    " choice." if picked in (leaked, test_only) else
                    "the k columns with the largest |mean over positives - mean over negatives| of X_train.")
            raise CheckFailed(ex, f"with k={k} you chose columns {sorted(picked)}, expected"
                                  f" {sorted(expected_chosen.tolist())}.", hint)
        if not isinstance(accuracy, float):
            raise CheckFailed(ex, f"the accuracy is a {type(accuracy).__name__}, not a float.",
                              "return probe_accuracy(...), a float.")
        if abs(accuracy - expected_accuracy) > 1e-6:
            w, b = ref.fit_logistic_regression(X_train[:, expected_chosen], y_train)
            on_train = ref.probe_accuracy(X_train[:, expected_chosen], y_train, w, b)
            hint = ("score the probe on the test rows: that is its accuracy on the rows it was fitted on." if
                    abs(accuracy - on_train) < 1e-6 else
                    "fit fit_logistic_regression(X_train[:, chosen], y_train) and score it with probe_accuracy on"
                    " X_test[:, chosen], y_test (the same columns, in the same order).")
            raise CheckFailed(ex, f"with k={k} the accuracy is {accuracy:.4f}, expected {expected_accuracy:.4f}.",
                              hint)


CHECKS = {
    "run_with_sae": (check_run_with_sae, "run_with_sae"),
    "generate_with_steering": (check_generate_with_steering, "generate_with_steering"),
    "latent_attribution": (check_latent_attribution, "latent_attribution"),
    "sparse_probe": (check_sparse_probe, "sparse_probe"),
}
