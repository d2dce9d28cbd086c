"""Section 5 reference: putting an SAE's latents to work on the running model.

An SAE is a change of basis for one hook point: encode the activations into latents, edit the
latents, decode, and let the model run on. Four uses, each on the bundled 1-layer model:
- splicing (`run_with_sae`): the model with the SAE in place of its MLP activations, with or without
  the error term (what the SAE fails to reconstruct) added back;
- steering (`generate_with_steering`, `steering_response`): a latent's decoder direction added at the
  hook while the model generates, and its measured dose-response;
- attribution (`latent_attribution`, `ablation_effects`): gradient x activation of every latent for a
  metric, against the exact effect of removing each latent;
- sparse probing (`sparse_probe`): how well k latents, chosen by the difference of class means, tell a
  concept that Python's tokenize labels (utils/code_labels.py) from the rest.
"""

from __future__ import annotations

from collections.abc import Callable

import einops
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from solutions.llm_sae import MLP_HOOK
from utils.code_labels import fit_logistic_regression, probe_accuracy

#: What learners write; the build replaces these bodies with `raise NotImplementedError`.
EXERCISES = (
    "run_with_sae",
    "generate_with_steering",
    "latent_attribution",
    "sparse_probe",
)


def encode(autoencoder, h: Float[Tensor, "n d_in"], instance_idx: int = 0
           ) -> tuple[Float[Tensor, "n d_hidden"], Float[Tensor, "n d_in"]]:
    """One instance's latents and reconstruction of rows of activations, from the SAE's own forward
    (so a TopK or JumpReLU SAE encodes as it was trained): (acts, h_reconstructed)."""
    _, _, _, acts, h_reconstructed = autoencoder(
        einops.repeat(h, "n d_in -> n inst d_in", inst=autoencoder.cfg.n_instances))
    return acts[:, instance_idx], h_reconstructed[:, instance_idx]


def decode(autoencoder, acts: Float[Tensor, "n d_hidden"], instance_idx: int = 0) -> Float[Tensor, "n d_in"]:
    """Latents back to activations: acts @ W_dec + b_dec, with one instance's (unit-norm) decoder."""
    return acts @ autoencoder.W_dec[instance_idx] + autoencoder.b_dec[instance_idx]


# ---------------------------------------------------------------------------- splicing


def run_with_sae(
    model, autoencoder, tokens: Int[Tensor, "batch seq"], hook_name: str = MLP_HOOK, instance_idx: int = 0,
    use_error_term: bool = False,
    latent_hook: Callable[[Float[Tensor, "batch seq d_hidden"]], Float[Tensor, "batch seq d_hidden"]] | None = None,
) -> Float[Tensor, "batch seq d_vocab"]:
    """The model's logits with the SAE spliced in at `hook_name`.

    In a hook on `hook_name`: flatten the activations to [(batch seq), d_in], encode them with the
    SAE's instance `instance_idx` (acts, h_reconstructed), and, if `latent_hook` is given, replace acts
    by `latent_hook(acts)`, acts shaped [batch, seq, d_hidden]. Decode the (edited) latents with
    acts @ W_dec + b_dec. With `use_error_term`, add the SAE's error, h - h_reconstructed (computed from
    the *unedited* latents), so that without an edit the output is the clean model's, and an edit moves
    it only through the latents it changed. Return the hook's new value in [batch, seq, d_in] and run
    the model on. No torch.no_grad(): gradients must flow from the logits back to the latents.
    """
    def splice(activations: Float[Tensor, "batch seq d_in"], hook) -> Float[Tensor, "batch seq d_in"]:
        batch = activations.shape[0]
        h = einops.rearrange(activations, "batch seq d_in -> (batch seq) d_in")
        acts, h_reconstructed = encode(autoencoder, h, instance_idx)
        if latent_hook is not None:
            shaped = einops.rearrange(acts, "(batch seq) d_hidden -> batch seq d_hidden", batch=batch)
            acts = einops.rearrange(latent_hook(shaped), "batch seq d_hidden -> (batch seq) d_hidden")
        spliced = decode(autoencoder, acts, instance_idx)
        if use_error_term:
            spliced = spliced + (h - h_reconstructed)  # what the SAE misses, from the unedited latents
        return einops.rearrange(spliced, "(batch seq) d_in -> batch seq d_in", batch=batch).contiguous()

    return model.run_with_hooks(tokens, fwd_hooks=[(hook_name, splice)])


# ---------------------------------------------------------------------------- steering


@torch.no_grad()
def generate_with_steering(
    model, autoencoder, prompt: str, latent_idx: int, steering_coefficient: float, max_new_tokens: int = 20,
    instance_idx: int = 0, hook_name: str = MLP_HOOK, temperature: float = 0.0, seed: int = 0,
) -> str:
    """The prompt and `max_new_tokens` tokens the model writes after it while steered by one latent.

    Steering adds `steering_coefficient * W_dec[instance_idx, latent_idx]` (the latent's unit-norm
    decoder direction) to the activations at `hook_name`, at every position, the prompt's and each new
    token's, on every forward pass. Tokenize with `model.to_tokens(prompt)` (BOS first), then one token
    at a time: run the model on everything so far, and take the last position's logits. With
    temperature 0, take their argmax (greedy); otherwise draw from softmax(logits / temperature) with
    `torch.multinomial(probs, 1, generator=generator)`, using one `torch.Generator().manual_seed(seed)`
    made before the first step. Return `model.to_string` of the tokens after BOS: prompt and continuation.
    """
    direction = steering_coefficient * autoencoder.W_dec[instance_idx, latent_idx]

    def steer(activations: Float[Tensor, "batch seq d_in"], hook) -> Float[Tensor, "batch seq d_in"]:
        return activations + direction

    tokens = model.to_tokens(prompt)  # [1, seq], BOS first
    generator = torch.Generator().manual_seed(seed)
    with model.hooks(fwd_hooks=[(hook_name, steer)]):
        for _ in range(max_new_tokens):
            logits = model(tokens)[0, -1]
            if temperature == 0:
                next_token = logits.argmax().reshape(1)
            else:
                probs = torch.softmax(logits.double().cpu() / temperature, dim=-1)
                next_token = torch.multinomial(probs, 1, generator=generator).to(tokens.device)
            tokens = torch.cat([tokens, next_token[None]], dim=1)
    return model.to_string(tokens[0, 1:])


@torch.no_grad()
def steering_response(
    model, tokens: Int[Tensor, "batch seq"], direction: Float[Tensor, " d_in"], coefficients: list[float],
    target_ids: list[int], hook_name: str = MLP_HOOK,
) -> dict[str, Tensor]:
    """A dose-response curve: add `c * direction` at `hook_name` at every position, for each c, and measure
    at every position (a) the probability the model gives the target tokens, summed, and (b) the price:
    KL(clean || steered) of the next-token distribution, in nats. Returns {"coefficient", "p_target", "kl"},
    each [len(coefficients)], means over all positions."""
    clean = model(tokens).log_softmax(-1)
    p_target, kl = [], []
    for c in coefficients:
        steered = model.run_with_hooks(tokens, fwd_hooks=[(hook_name, lambda a, hook, c=c: a + c * direction)]
                                       ).log_softmax(-1)
        p_target.append(steered[..., target_ids].exp().sum(-1).mean())
        kl.append((clean.exp() * (clean - steered)).sum(-1).mean())
    return {"coefficient": torch.tensor(coefficients), "p_target": torch.stack(p_target), "kl": torch.stack(kl)}


# ---------------------------------------------------------------------------- attribution


def next_token_log_prob(logits: Float[Tensor, "batch seq d_vocab"], tokens: Int[Tensor, "batch seq"]
                        ) -> Float[Tensor, "batch seq_minus_1"]:
    """The log-probability the model gives each next token (position p predicts token p + 1)."""
    return logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]


def latent_attribution(
    model, autoencoder, tokens: Int[Tensor, "batch seq"], metric: Callable[[Tensor], Tensor],
    hook_name: str = MLP_HOOK, instance_idx: int = 0,
) -> Float[Tensor, "batch seq d_hidden"]:
    """Gradient x activation of every latent at every position, for a scalar `metric(logits)`.

    Run the model with the SAE spliced in *with* the error term (so the run is the clean model's), and
    the latents made a leaf that requires grad (a `latent_hook` of run_with_sae that returns
    `acts.detach().requires_grad_()` and keeps it). Backpropagate metric(logits) to it, and return
    acts * acts.grad, detached, [batch, seq, d_hidden]: the first-order estimate of how much the metric
    would *fall* if that latent were removed at that position.
    """
    kept = {}

    def make_leaf(acts: Float[Tensor, "batch seq d_hidden"]) -> Float[Tensor, "batch seq d_hidden"]:
        kept["acts"] = acts.detach().requires_grad_()
        return kept["acts"]

    with torch.enable_grad():
        logits = run_with_sae(model, autoencoder, tokens, hook_name, instance_idx, use_error_term=True,
                              latent_hook=make_leaf)
        metric(logits).backward()
    acts = kept["acts"]
    return (acts * acts.grad).detach()


@torch.no_grad()
def ablation_effects(
    model, autoencoder, tokens: Int[Tensor, "batch seq"], latents: list[int], hook_name: str = MLP_HOOK,
    instance_idx: int = 0,
) -> Float[Tensor, "n_latents batch seq_minus_1"]:
    """The exact counterpart of attribution: for each latent, remove it at every position (error term
    kept) and return the change in each next token's log-probability, ablated - clean.

    With the error term, the spliced activations are h + decode(edited) - decode(acts): removing latent f
    leaves h - acts_f * W_dec[f]. So the SAE runs once, and each ablation is one run of the model."""
    logits, cache = model.run_with_cache(tokens, names_filter=hook_name)
    clean = next_token_log_prob(logits, tokens)
    h = cache[hook_name]
    acts, _ = encode(autoencoder, einops.rearrange(h, "batch seq d_in -> (batch seq) d_in"), instance_idx)
    acts = einops.rearrange(acts, "(batch seq) d_hidden -> batch seq d_hidden", batch=tokens.shape[0])
    changes = []
    for latent in latents:
        removed = h - acts[..., latent, None] * autoencoder.W_dec[instance_idx, latent]
        logits = model.run_with_hooks(tokens, fwd_hooks=[(hook_name, lambda a, hook, r=removed: r)])
        changes.append(next_token_log_prob(logits, tokens) - clean)
    return torch.stack(changes)


# ---------------------------------------------------------------------------- sparse probing


def sparse_probe(
    X_train: Float[Tensor, "n_train d"], y_train: Bool[Tensor, " n_train"], X_test: Float[Tensor, "n_test d"],
    y_test: Bool[Tensor, " n_test"], k: int,
) -> tuple[Int[Tensor, " k"], float]:
    """SAEBench's k-sparse probe: choose k columns of X, fit a logistic regression on them, score it.

    Choose the k columns whose class means differ most, |mean over positives - mean over negatives|,
    from the *training* rows only (a column that fires less on the concept tells it as well as one that
    fires more). Fit `fit_logistic_regression(X_train[:, chosen], y_train)` and return (chosen, the
    probe's accuracy on the test rows, `probe_accuracy(X_test[:, chosen], y_test, weight, bias)`).
    """
    difference = X_train[y_train].mean(0) - X_train[~y_train].mean(0)
    chosen = difference.abs().topk(k).indices
    weight, bias = fit_logistic_regression(X_train[:, chosen], y_train)
    return chosen, probe_accuracy(X_test[:, chosen], y_test, weight, bias)


def balanced_split(
    labels: Bool[Tensor, " n"], groups: Int[Tensor, " n"], n_per_class: int, seed: int = 0,
) -> tuple[Int[Tensor, " n_train"], Int[Tensor, " n_test"]]:
    """Indices of a balanced training set and a balanced test set, `n_per_class` positives and as many
    negatives in each, drawn from disjoint halves of `groups` (held-out files: tokens of one file are
    alike, so train and test never share a file). Fewer per class if a half has fewer positives."""
    generator = torch.Generator().manual_seed(seed)
    names = groups.unique()
    names = names[torch.randperm(len(names), generator=generator)]
    train_groups = names[: len(names) // 2]
    in_train = torch.isin(groups, train_groups)
    splits = []
    for part in (in_train, ~in_train):
        pos, neg = torch.nonzero(part & labels)[:, 0], torch.nonzero(part & ~labels)[:, 0]
        n = min(n_per_class, len(pos), len(neg))
        pick = [c[torch.randperm(len(c), generator=generator)[:n]] for c in (pos, neg)]
        splits.append(torch.cat(pick).sort().values)
    return splits[0], splits[1]
