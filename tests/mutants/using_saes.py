"""Realistic wrong implementations of section 5's exercises, each with words its hint must contain."""

import einops
import torch

from solutions.llm_sae import MLP_HOOK
from solutions.using_saes import decode, encode, fit_logistic_regression, probe_accuracy, run_with_sae
from tests.mutants import alternative, mutant

# ---------------------------------------------------------------------------- run_with_sae


def _splice(name, error="right", instance=None, b_dec=True, use_hook=True, flat_hook=False, seq_major=False,
            hook=None, no_grad=False):
    def impl(model, autoencoder, tokens, hook_name=MLP_HOOK, instance_idx=0, use_error_term=False, latent_hook=None):
        i = instance_idx if instance is None else instance

        def splice(activations, hook):
            batch = activations.shape[0]
            h = einops.rearrange(activations, "b s d -> (b s) d")
            acts, rec = encode(autoencoder, h, i)
            original = acts
            if latent_hook is not None and use_hook:
                if flat_hook:
                    acts = latent_hook(acts)
                else:
                    acts = latent_hook(acts.reshape(batch, -1, acts.shape[-1])).flatten(0, 1)
            out = acts @ autoencoder.W_dec[i] + (autoencoder.b_dec[i] if b_dec else 0)
            if error == "always" or (error == "right" and use_error_term):
                out = out + (h - rec)
            elif error == "edited" and use_error_term:
                out = out + (h - out)
            elif error == "twice" and use_error_term:
                out = out + 2 * (h - rec)
            del original
            pattern = "(s b) d -> b s d" if seq_major else "(b s) d -> b s d"
            return einops.rearrange(out, pattern, **({"s": activations.shape[1]} if seq_major else {"b": batch})
                                    ).contiguous()

        with torch.set_grad_enabled(not no_grad):
            return model.run_with_hooks(tokens, fwd_hooks=[(hook or hook_name, splice)])

    impl.__name__ = name
    return impl


for _hint, _impl in [
    ("use_error_term is False by default", _splice("error_always", error="always")),
    ("must add the error", _splice("error_never", error="never")),
    ("added twice", _splice("error_twice", error="twice")),
    ("from the unedited latents", _splice("error_from_edited", error="edited")),
    ("use instance_idx", _splice("instance_0", instance=0)),
    ("b_dec", _splice("no_b_dec", b_dec=False)),
    ("latent_hook was not used", _splice("hook_ignored", use_hook=False)),
    ("order you flattened it", _splice("seq_major", seq_major=True)),
    ("no gradient flows", _splice("under_no_grad", no_grad=True)),
    ("hook_name", _splice("hook_written_in", hook=MLP_HOOK)),
]:
    mutant("run_with_sae", _hint)(_impl)


@mutant("run_with_sae", "[batch, seq, d_hidden]")
def flat_latent_hook(model, autoencoder, tokens, hook_name=MLP_HOOK, instance_idx=0, use_error_term=False,
                     latent_hook=None):
    """The hook handed the flattened [(batch seq), d_hidden] latents: an edit at position 0 lands elsewhere."""
    return _splice("flat", flat_hook=True)(model, autoencoder, tokens, hook_name, instance_idx, use_error_term,
                                           latent_hook)


@alternative("run_with_sae")
def via_forward_and_gradient_friendly_add(model, autoencoder, tokens, hook_name=MLP_HOOK, instance_idx=0,
                                          use_error_term=False, latent_hook=None):
    """Error term written as h - decode(acts) after the edit's decode: decode(edit) + h - decode(acts)."""

    def splice(activations, hook):
        h = activations.reshape(-1, activations.shape[-1])
        _, _, _, acts_all, _ = autoencoder(h[:, None].expand(-1, autoencoder.cfg.n_instances, -1))
        acts = acts_all[:, instance_idx]
        edited = acts if latent_hook is None else latent_hook(acts.reshape(*activations.shape[:2], -1)).reshape(
            acts.shape)
        out = decode(autoencoder, edited, instance_idx)
        if use_error_term:
            out = h + out - decode(autoencoder, acts, instance_idx)
        return out.reshape(activations.shape)

    return model.run_with_hooks(tokens, fwd_hooks=[(hook_name, splice)])


# ---------------------------------------------------------------------------- generate_with_steering


def _steer(name, direction_of=None, only_last=False, first_pass_only=False, no_bos=False, continuation_only=False,
           global_rng=False, ignore_temperature=False, scale=True):
    def impl(model, autoencoder, prompt, latent_idx, steering_coefficient, max_new_tokens=20, instance_idx=0,
             hook_name=MLP_HOOK, temperature=0.0, seed=0):
        row = (direction_of(autoencoder, instance_idx, latent_idx) if direction_of
               else autoencoder.W_dec[instance_idx, latent_idx])
        direction = (steering_coefficient if scale else 1.0) * row.detach()
        tokens = model.to_tokens(prompt, prepend_bos=not no_bos)
        n_prompt = tokens.shape[1]
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for step in range(max_new_tokens):
                def hook(a, hook, step=step):
                    if first_pass_only and step > 0:
                        return a
                    if only_last:
                        a = a.clone()
                        a[:, -1] += direction
                        return a
                    return a + direction

                logits = model.run_with_hooks(tokens, fwd_hooks=[(hook_name, hook)])[0, -1]
                if temperature == 0 or ignore_temperature:
                    nxt = logits.argmax().reshape(1)
                else:
                    probs = torch.softmax(logits.double() / temperature, -1)
                    nxt = torch.multinomial(probs, 1, generator=None if global_rng else generator)
                tokens = torch.cat([tokens, nxt.reshape(1, 1)], dim=1)
        out = tokens[0, n_prompt:] if continuation_only else (tokens[0] if no_bos else tokens[0, 1:])
        return model.to_string(out)

    impl.__name__ = name
    return impl


for _hint, _impl in [
    ("the prompt must come first", _steer("continuation_only", continuation_only=True)),
    ("first pass only", _steer("first_pass_only", first_pass_only=True)),
    ("not only the last one", _steer("last_position_only", only_last=True)),
    ("use instance_idx", _steer("instance_0", direction_of=lambda ae, i, f: ae.W_dec[0, f])),
    ("not the encoder column", _steer("encoder_column", direction_of=lambda ae, i, f: ae.W_enc[i, :, f])),
    ("steering_coefficient was ignored", _steer("unit_coefficient", scale=False)),
    ("start with BOS", _steer("no_bos", no_bos=True)),
    ("not the global RNG", _steer("global_rng", global_rng=True)),
    ("temperature was ignored", _steer("always_greedy", ignore_temperature=True)),
    ("not steered at all", _steer("zero_direction", direction_of=lambda ae, i, f: 0 * ae.W_dec[i, f])),
]:
    mutant("generate_with_steering", _hint)(_impl)


# ---------------------------------------------------------------------------- latent_attribution


def _attribution(name, combine=lambda acts, grad: acts * grad, error=True, instance=None, own_metric=False):
    def impl(model, autoencoder, tokens, metric, hook_name=MLP_HOOK, instance_idx=0):
        kept = {}

        def leaf(acts):
            kept["acts"] = acts.detach().requires_grad_()
            return kept["acts"]

        i = instance_idx if instance is None else instance
        with torch.enable_grad():
            logits = run_with_sae(model, autoencoder, tokens, hook_name, i, use_error_term=error, latent_hook=leaf)
            # own_metric: the task's metric written in, not the one given
            value = (logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None]).sum() if own_metric
                     else metric(logits))
            value.backward()
        return combine(kept["acts"].detach(), kept["acts"].grad).detach()

    impl.__name__ = name
    return impl


for _hint, _impl in [
    ("multiply by the activation", _attribution("gradient_only", combine=lambda a, g: g)),
    ("the activation alone", _attribution("activation_only", combine=lambda a, g: a)),
    ("minus the attribution", _attribution("negated", combine=lambda a, g: -a * g)),
    ("with the error term", _attribution("no_error_term", error=False)),
    ("use instance_idx", _attribution("instance_0_pieces", instance=0)),
    ("use the metric you are given", _attribution("own_metric", own_metric=True)),
]:
    mutant("latent_attribution", _hint)(_impl)


@mutant("latent_attribution", "still requires grad")
def not_detached(model, autoencoder, tokens, metric, hook_name=MLP_HOOK, instance_idx=0):
    kept = {}

    def leaf(acts):
        kept["acts"] = acts.detach().requires_grad_()
        return kept["acts"]

    metric(run_with_sae(model, autoencoder, tokens, hook_name, instance_idx, True, latent_hook=leaf)).backward()
    return kept["acts"] * kept["acts"].grad


@alternative("latent_attribution")
def gradient_at_the_activations(model, autoencoder, tokens, metric, hook_name=MLP_HOOK, instance_idx=0):
    """d metric / d h at the hook, projected on each decoder row: the same gradient by the chain rule."""
    h = model.run_with_cache(tokens, names_filter=hook_name)[1][hook_name].detach().requires_grad_()
    metric(model.run_with_hooks(tokens, fwd_hooks=[(hook_name, lambda a, hook: h)])).backward()
    acts, _ = encode(autoencoder, h.detach().flatten(0, 1), instance_idx)
    grad_latents = h.grad.flatten(0, 1) @ autoencoder.W_dec[instance_idx].T
    return (acts * grad_latents).reshape(*tokens.shape, -1).detach()


# ---------------------------------------------------------------------------- sparse_probe


def _probe(name, score=lambda X, y: (X[y].mean(0) - X[~y].mean(0)).abs(), select_on="train", evaluate_on="test"):
    def impl(X_train, y_train, X_test, y_test, k):
        X_sel, y_sel = {"train": (X_train, y_train), "test": (X_test, y_test),
                        "all": (torch.cat([X_train, X_test]), torch.cat([y_train, y_test]))}[select_on]
        chosen = score(X_sel, y_sel).topk(k).indices
        weight, bias = fit_logistic_regression(X_train[:, chosen], y_train)
        X_eval, y_eval = (X_test, y_test) if evaluate_on == "test" else (X_train, y_train)
        return chosen, probe_accuracy(X_eval[:, chosen], y_eval, weight, bias)

    impl.__name__ = name
    return impl


for _hint, _impl in [
    ("not by the positives' mean alone", _probe("positives_mean", score=lambda X, y: X[y].mean(0))),
    ("absolute difference", _probe("signed_difference", score=lambda X, y: X[y].mean(0) - X[~y].mean(0))),
    ("training rows only", _probe("chosen_on_all_rows", select_on="all")),
    ("training rows only", _probe("chosen_on_test_rows", select_on="test")),
    ("score the probe on the test rows", _probe("scored_on_train", evaluate_on="train")),
]:
    mutant("sparse_probe", _hint)(_impl)


@mutant("sparse_probe", "choose exactly k columns")
def k_plus_one(X_train, y_train, X_test, y_test, k):
    chosen = (X_train[y_train].mean(0) - X_train[~y_train].mean(0)).abs().topk(k + 1).indices
    weight, bias = fit_logistic_regression(X_train[:, chosen], y_train)
    return chosen, probe_accuracy(X_test[:, chosen], y_test, weight, bias)


@mutant("sparse_probe", "a float")
def accuracy_as_tensor(X_train, y_train, X_test, y_test, k):
    chosen = (X_train[y_train].mean(0) - X_train[~y_train].mean(0)).abs().topk(k).indices
    weight, bias = fit_logistic_regression(X_train[:, chosen], y_train)
    return chosen, torch.tensor(probe_accuracy(X_test[:, chosen], y_test, weight, bias))


@alternative("sparse_probe")
def sorted_by_argsort(X_train, y_train, X_test, y_test, k):
    positives, negatives = X_train[y_train], X_train[~y_train]
    chosen = torch.argsort((positives.mean(0) - negatives.mean(0)).abs(), descending=True)[:k].sort().values
    weight, bias = fit_logistic_regression(X_train[:, chosen], y_train)
    return chosen, probe_accuracy(X_test[:, chosen], y_test, weight, bias)
