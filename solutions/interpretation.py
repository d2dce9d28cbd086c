"""Section 4 reference: what a latent of an SAE on a language model's MLP means, and what it does.

A latent is read from both ends. Its *input* side: which tokens make it fire (the SAE's own encoder,
applied to the MLP activations), read at every strength and tested over every token (precision and
recall of a reading). Its *output* side: what its decoder direction, written into the MLP's output,
does to the next-token prediction (directly, through W_out and the unembedding), and what removing it
does to the model's loss (an ablation through a hook).
"""

from __future__ import annotations

import re

import einops
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from solutions.llm_sae import MLP_HOOK, ActivationBuffer, get_mlp_activations
from solutions.sae import AutoEncoder, AutoEncoderConfig
from solutions.sae_variants import TopKAutoEncoder
from utils.progress import progress_bar

#: What learners write; the build replaces these bodies with `raise NotImplementedError`.
EXERCISES = (
    "highest_activating_tokens",
    "label_precision_recall",
    "feature_logit_effect",
    "neuron_shares",
    "feature_ablation_effect",
    "train_sae",
)


@torch.no_grad()
def highest_activating_tokens(
    tokens: Int[Tensor, "batch seq"], model, autoencoder, feature_idx: int, instance_idx: int = 0, k: int = 10,
    batch_size: int = 32,
) -> tuple[Int[Tensor, "k 2"], Float[Tensor, " k"]]:
    """The k (batch, seq) positions where one latent is most active, and its activations there.

    Compute the latent the way the SAE does: run the SAE on each batch's MLP activations (its forward
    returns the latents' activations `acts`, [batch*seq, n_instances, n_hidden_ae]) and keep column
    [instance_idx, feature_idx]. Go through the tokens `batch_size` sequences at a time and keep the best
    k so far, so that memory never holds every token's latents at once.
    returns (indices [k, 2] of (batch, seq) positions, values [k]), highest first.
    """
    best_values = torch.empty(0)
    best_indices = torch.empty((0, 2), dtype=torch.long)
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start : start + batch_size]
        h = get_mlp_activations(batch, model, autoencoder.cfg.n_instances)  # [batch*seq, inst, d_mlp]
        acts = autoencoder(h)[3][:, instance_idx, feature_idx]  # this latent, every token of the batch
        acts = einops.rearrange(acts, "(batch seq) -> batch seq", batch=len(batch)).cpu()
        values, flat = acts.flatten().topk(min(k, acts.numel()))
        # flat index -> (sequence, position): acts is [batch, seq], so divide by seq.
        rows, cols = flat // acts.shape[1] + start, flat % acts.shape[1]
        best_values = torch.cat([best_values, values])
        best_indices = torch.cat([best_indices, torch.stack([rows, cols], dim=-1)])
        keep = best_values.topk(min(k, len(best_values))).indices
        best_values, best_indices = best_values[keep], best_indices[keep]
    return best_indices, best_values


def label_precision_recall(
    activations: Float[Tensor, "batch seq"], in_class: Bool[Tensor, "batch seq"]
) -> dict[str, float]:
    """How well a reading of a latent ("it fires on the tokens of this class") holds over every token.

    activations: one latent's activation at every token (>= 0, as after a ReLU); in_class: the class.
    precision: the share of the latent's firings (activation > 0) that are on the class.
    mass_precision: the share of its total activation that is on the class (strong firings weigh more).
    recall: the share of the class's tokens on which the latent fires.
    Each is a number (a float; a 0-d tensor will do). A share of nothing (the latent never fires, or
    the class is empty) is float("nan"): undefined, not 0.
    """
    if activations.shape != in_class.shape or in_class.dtype != torch.bool:
        raise ValueError("expected activations and a boolean in_class of the same shape; got"
                         f" {tuple(activations.shape)} and {in_class.dtype} {tuple(in_class.shape)}")
    fires = activations > 0
    hits = (fires & in_class).sum()
    total = activations.clamp(min=0).sum()
    nan = float("nan")
    return {
        "precision": float(hits / fires.sum()) if fires.any() else nan,
        "mass_precision": float(activations[in_class].clamp(min=0).sum() / total) if fires.any() else nan,
        "recall": float(hits / in_class.sum()) if in_class.any() else nan,
    }


@torch.no_grad()
def feature_logit_effect(model, autoencoder, feature_idx: int, instance_idx: int = 0) -> Float[Tensor, " d_vocab"]:
    """The direct effect of one latent on the logits, per unit of its activation.

    The latent adds W_dec[instance_idx, feature_idx] (a d_mlp vector) to the MLP's hidden layer; W_out
    ([d_mlp, d_model], block 0) maps it into the residual stream; the unembedding W_U ([d_model,
    d_vocab]) reads the logits off it. (The final LayerNorm and every other path are ignored: this is
    the direct path only.)
    """
    return autoencoder.W_dec[instance_idx, feature_idx] @ model.W_out[0] @ model.W_U


def neuron_shares(autoencoder, feature_idx: int, instance_idx: int = 0) -> Float[Tensor, " d_mlp"]:
    """How much of one latent's decoder direction each MLP neuron carries: |W_dec[instance_idx,
    feature_idx]| divided by its sum, so the shares are positive and add up to 1."""
    magnitude = autoencoder.W_dec[instance_idx, feature_idx].detach().abs()
    return magnitude / magnitude.sum()


@torch.no_grad()
def feature_ablation_effect(
    tokens: Int[Tensor, "batch seq"], model, autoencoder, feature_idx: int, instance_idx: int = 0
) -> Float[Tensor, "batch seq_minus_1"]:
    """How much the model's loss on each predicted token rises when one latent is removed.

    Run the model, encode its MLP activations (`blocks.0.mlp.hook_post`) with the SAE, set the latent
    to zero and decode. Keep the SAE's error term (activations minus reconstruction), so that only
    the latent is removed, not everything the SAE fails to reconstruct. Patch the result back into
    the model with a hook, and return loss_ablated - loss_clean per token ([batch, seq - 1]: each
    position but the last predicts the next token).
    """
    loss_clean, cache = model.run_with_cache(tokens, names_filter=MLP_HOOK, return_type="loss",
                                             loss_per_token=True)
    h = einops.repeat(cache[MLP_HOOK], "batch seq d_mlp -> (batch seq) inst d_mlp",
                      inst=autoencoder.cfg.n_instances)
    _, _, _, acts, h_reconstructed = autoencoder(h)
    error = (h - h_reconstructed)[:, instance_idx]  # what the SAE misses: put back unchanged
    acts_ablated = acts[:, instance_idx].clone()
    acts_ablated[:, feature_idx] = 0.0
    h_ablated = acts_ablated @ autoencoder.W_dec[instance_idx] + autoencoder.b_dec[instance_idx] + error
    h_ablated = einops.rearrange(h_ablated, "(batch seq) d_mlp -> batch seq d_mlp", batch=tokens.shape[0])

    def ablate(activations, hook):
        return h_ablated.contiguous()  # TransformerLens reshapes the hook's output with .view

    loss_ablated = model.run_with_hooks(tokens, return_type="loss", loss_per_token=True,
                                        fwd_hooks=[(MLP_HOOK, ablate)])
    return loss_ablated - loss_clean


def train_sae(
    model, tokens: Int[Tensor, "batch seq"], hook_name: str, n_hidden_ae: int, steps: int = 600,
    batch_size: int = 1024, l1_coeff: float = 3e-3, lr: float = 1e-3, seed: int = 0,
) -> AutoEncoder:
    """Train one SAE (n_instances=1) on the model's activations at `hook_name`, and return it.

    Feed section 2's `AutoEncoder.optimize` from an `ActivationBuffer(model, tokens, 1, hook_name,
    seed=seed)`, which runs the model on a few sequences at a time and serves shuffled batches. The
    SAE's input size is the size of the activations at that hook (d_mlp for the MLP, d_model for the
    residual stream). Seed torch with `seed` before creating the SAE. Resample dead latents the
    Anthropic way every steps // 4 steps.
    """
    buffer = ActivationBuffer(model, tokens, 1, hook_name, seed=seed)
    d_in = get_mlp_activations(tokens[:1], model, 1, hook_name).shape[-1]
    torch.manual_seed(seed)
    cfg = AutoEncoderConfig(n_instances=1, n_input_ae=d_in, n_hidden_ae=n_hidden_ae, l1_coeff=l1_coeff)
    autoencoder = AutoEncoder(cfg, device=next(model.parameters()).device)
    autoencoder.optimize(buffer, batch_size=batch_size, steps=steps, lr=lr, neuron_resample_window=max(1, steps // 4),
                         resample_method="advanced", log_weights=False)
    return autoencoder


# ------------------------------------------------------------------------------------------ given


def neuron_basis(d_mlp: int, device: str | torch.device = "cpu") -> AutoEncoder:
    """The MLP's own neurons, written as an SAE whose dictionary is the identity: latent i *is*
    neuron i (W_enc = W_dec = I, no biases). Every function above then works on neurons too."""
    basis = AutoEncoder(AutoEncoderConfig(n_instances=1, n_input_ae=d_mlp, n_hidden_ae=d_mlp), device=device)
    with torch.no_grad():
        basis.W_enc.copy_(torch.eye(d_mlp)[None])
        basis.W_dec.copy_(torch.eye(d_mlp)[None])
        basis.b_enc.zero_()
        basis.b_dec.zero_()
    return basis.requires_grad_(False)


def top_tokens(logit_effect: Float[Tensor, " d_vocab"], model, k: int = 10, largest: bool = True
               ) -> list[tuple[str, float]]:
    """The k tokens a logit effect raises most (or, largest=False, lowers most), as (token, effect)."""
    values, indices = logit_effect.topk(k, largest=largest)
    return [(model.to_single_str_token(int(i)), round(float(v), 3)) for v, i in zip(values, indices, strict=True)]


def context_window(tokens: Int[Tensor, "batch seq"], row: int, pos: int, before: int = 12, after: int = 3
                   ) -> tuple[Int[Tensor, " window"], int]:
    """The tokens around (row, pos), and where pos falls in them."""
    start = max(0, pos - before)
    return tokens[row, start : pos + after + 1], pos - start


def format_context(tokens: Int[Tensor, "batch seq"], model, row: int, pos: int, before: int = 12, after: int = 3,
                   ) -> str:
    """One token in its context, as text: the token itself in [[double brackets]], newlines shown
    as ⏎ so every context fits on one line."""
    window, centre = context_window(tokens, row, pos, before, after)
    strs = model.to_str_tokens(window, prepend_bos=False)
    pieces = [f"[[{s}]]" if i == centre else s for i, s in enumerate(strs)]
    return "".join(pieces).replace("\n", "⏎").replace("<|endoftext|>", "⟨BOS⟩")


class LatentActivations:
    """Every latent's activation on every token, computed once by the SAE and kept sparse.

    Running the SAE on 65,536 tokens takes seconds; reading one latent's activations should not. So
    this runs the SAE once (any architecture: it uses the SAE's own forward) and keeps only the
    nonzero activations, sorted by latent. `latents[f]` is then latent f's activation at every
    token, [batch, seq], and `latents.frequency` each latent's share of tokens it fires on.
    """

    @torch.no_grad()
    def __init__(self, tokens: Int[Tensor, "batch seq"], model, autoencoder, instance_idx: int = 0,
                 batch_size: int = 32):
        self.shape = tokens.shape
        n_hidden = autoencoder.cfg.n_hidden_ae
        positions, latents, values = [], [], []
        starts = range(0, len(tokens), batch_size)
        quiet = {"disable": True} if len(starts) < 8 else {}  # no bar for a few batches (TQDM_DISABLE still works)
        for start in progress_bar(starts, desc="encoding", **quiet):
            h = get_mlp_activations(tokens[start : start + batch_size], model, autoencoder.cfg.n_instances)
            acts = autoencoder(h)[3][:, instance_idx].cpu()  # [batch*seq, n_hidden]
            token, latent = acts.nonzero(as_tuple=True)
            positions.append(token + start * tokens.shape[1])
            latents.append(latent)
            values.append(acts[token, latent])
        latents_ = torch.cat(latents)
        order = latents_.argsort(stable=True)
        self.positions, self.values = torch.cat(positions)[order], torch.cat(values)[order]
        counts = torch.bincount(latents_, minlength=n_hidden)
        self.offsets = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])  # latent f: offsets[f:f+2]
        self.frequency = counts / tokens.numel()

    def __getitem__(self, feature_idx: int) -> Float[Tensor, "batch seq"]:
        start, end = self.offsets[feature_idx], self.offsets[feature_idx + 1]
        out = torch.zeros(self.shape.numel())
        out[self.positions[start:end]] = self.values[start:end]
        return out.view(self.shape)


@torch.no_grad()
def latent_activations(
    tokens: Int[Tensor, "batch seq"], model, autoencoder, feature_idx: int, instance_idx: int = 0,
    batch_size: int = 32,
) -> Float[Tensor, "batch seq"]:
    """One latent's activation at every token (the SAE's own forward, one batch at a time)."""
    out = []
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start : start + batch_size]
        acts = autoencoder(get_mlp_activations(batch, model, autoencoder.cfg.n_instances))[3]
        out.append(acts[:, instance_idx, feature_idx].view(batch.shape).cpu())
    return torch.cat(out)


def top_examples(activations: Float[Tensor, "batch seq"], k: int = 10
                 ) -> tuple[Int[Tensor, "k 2"], Float[Tensor, " k"]]:
    """The k (batch, seq) positions of the highest activations, and the activations, highest first."""
    values, flat = activations.flatten().topk(k)
    return torch.stack(torch.unravel_index(flat, activations.shape), dim=-1), values


def interval_examples(activations: Float[Tensor, "batch seq"], n_bands: int = 5, per_band: int = 3, seed: int = 0
                      ) -> dict[str, tuple[Int[Tensor, "n 2"], Float[Tensor, " n"]]]:
    """Examples from every strength of a latent, not only its strongest: the range (0, max] is cut into
    n_bands equal intervals and up to per_band firings are drawn at random from each (Anthropic's
    "interval sampling"). Returns {band label: (indices [n, 2], values [n])}, strongest band first,
    with each band's share of all firings in its label."""
    flat = activations.flatten()
    fired = flat.nonzero().squeeze(-1)
    top = float(flat.max())
    generator = torch.Generator().manual_seed(seed)
    bands = {}
    for band in reversed(range(n_bands)):
        lo, hi = top * band / n_bands, top * (band + 1) / n_bands
        members = fired[(flat[fired] > lo) & (flat[fired] <= hi)]
        if len(members) == 0:
            continue
        pick = members[torch.randperm(len(members), generator=generator)[:per_band]]
        pick = pick[flat[pick].argsort(descending=True)]
        share = len(members) / max(len(fired), 1)
        bands[f"{lo:.2f} to {hi:.2f} ({share:.0%} of firings)"] = (
            torch.stack(torch.unravel_index(pick, activations.shape), dim=-1), flat[pick])
    return bands


def token_class(tokens: Int[Tensor, "batch seq"], model, token: str | list[str] | None = None,
                before: str | None = None, window: int = 8) -> Bool[Tensor, "batch seq"]:
    """The positions of a class of tokens, written so a label can be tested by a program.

    token: the token's text is one of these strings (None: any token);
    before: a regular expression that must match (re.search) the text of the `window` tokens before it,
        in the same sequence (None: any context). E.g. token=" in", before=r"\bfor\b" is "an ` in`
        within 8 tokens after a `for`".
    """
    vocab = model.to_str_tokens(torch.arange(model.cfg.d_vocab), prepend_bos=False)
    if token is None:
        mask = torch.ones(tokens.shape, dtype=torch.bool)
    else:
        wanted = {token} if isinstance(token, str) else set(token)
        unknown = wanted - set(vocab)
        if unknown:
            raise ValueError(f"not tokens of this model's vocabulary: {sorted(unknown)} (expected single tokens,"
                             " with their leading space, e.g. ' in')")
        in_vocab = torch.tensor([t in wanted for t in vocab])
        mask = in_vocab[tokens.cpu()]
    if before is not None:
        pattern = re.compile(before)
        for row, pos in mask.nonzero().tolist():
            context = "".join(vocab[t] for t in tokens[row, max(0, pos - window) : pos].tolist())
            mask[row, pos] = bool(pattern.search(context))
    return mask


def top_token_purity(scores: Float[Tensor, "batch seq"], tokens: Int[Tensor, "batch seq"], n: int = 50) -> float:
    """The share of a direction's n highest-scoring positions that hold its most common token there.

    One measure for any direction (an SAE latent, a neuron, a random direction), so they can be
    compared fairly: the same number of examples each, all of them real firings (a positive score),
    and position 0 (the BOS token, whose activations are far larger than any other's) left out, since
    it tops almost every direction."""
    flat = scores[:, 1:].flatten()
    values, positions = flat.topk(n)
    if not bool((values > 0).all()):
        raise ValueError(f"this direction is positive at fewer than n={n} positions (after position 0): its top"
                         f" {n} would count positions where it does not fire. Pick directions that fire more, or a"
                         " smaller n.")
    top = tokens[:, 1:].flatten()[positions.cpu()]
    return float(torch.bincount(top).max() / n)


@torch.no_grad()
def tokens_raised_by_many(model, autoencoder, instance_idx: int = 0, k: int = 10) -> dict[str, int]:
    """For each token, how many of the SAE's latents have it among the k tokens they raise most
    (their direct logit effect): tokens that top many directions say more about the unembedding than
    about any one latent. Sorted, most frequent first; only tokens counted more than once."""
    effects = autoencoder.W_dec[instance_idx] @ model.W_out[0] @ model.W_U  # [n_hidden, d_vocab]
    counts = torch.bincount(effects.topk(k, dim=-1).indices.flatten(), minlength=model.cfg.d_vocab)
    order = counts.argsort(descending=True)
    return {model.to_single_str_token(int(t)): int(counts[t]) for t in order if counts[t] > 1}


def _examples(indices: Int[Tensor, "k 2"], values: Float[Tensor, " k"], tokens: Int[Tensor, "batch seq"], model,
              activations: Float[Tensor, "batch seq"] | None, before: int, after: int):
    """Each example's context as (token strings, a value per token), and as one line of text."""
    samples, lines = [], []
    for (row, pos), value in zip(indices.tolist(), values.tolist(), strict=True):
        window, centre = context_window(tokens, row, pos, before, after)
        strs = [s.replace("<|endoftext|>", "⟨BOS⟩") for s in model.to_str_tokens(window, prepend_bos=False)]
        if activations is not None:  # the latent at every token of the context
            start = pos - centre
            colour = activations[row, start : start + len(strs)].tolist()
        else:  # only the token the example is about
            colour = [value if i == centre else 0.0 for i in range(len(strs))]
        samples.append((strs, colour))
        lines.append(f"{value:8.3f}  {format_context(tokens, model, row, pos, before, after)}")
    return samples, lines


def display_top_sequences(
    indices: Int[Tensor, "k 2"], values: Float[Tensor, " k"], tokens: Int[Tensor, "batch seq"], model,
    activations: Float[Tensor, "batch seq"] | None = None, label: str = "top examples", before: int = 12,
    after: int = 3,
):
    """Each top example in its context, the activating token coloured by its value (or, given the
    latent's `activations` at every token, every token of the context coloured by its own).

    Returns a circuitsvis view: a notebook draws it (offline), a terminal prints it as text."""
    return display_latent_examples({label: (indices, values)}, tokens, model,
                                   None if activations is None else {label: activations}, before, after)


def display_latent_examples(
    examples: dict[str, tuple[Int[Tensor, "k 2"], Float[Tensor, " k"]]], tokens: Int[Tensor, "batch seq"], model,
    activations: dict[str, Float[Tensor, "batch seq"]] | None = None, before: int = 12, after: int = 3,
):
    """Several latents' top examples in one view, with a selector (label -> (indices, values))."""
    from utils.token_views import top_samples_view

    samples, text = {}, []
    for label, (indices, values) in examples.items():
        samples[label], lines = _examples(indices, values, tokens, model, (activations or {}).get(label), before,
                                          after)
        text += [label, *lines]
    return top_samples_view(samples, "\n".join(text))


@torch.no_grad()
def logit_effect_through_ln_final(tokens: Int[Tensor, "batch seq"], model, autoencoder, feature_idx: int,
                                  activations: Float[Tensor, "batch seq"], instance_idx: int = 0,
                                  max_sequences: int = 128) -> Float[Tensor, " d_vocab"]:
    """One latent's effect on the logits per unit of activation, through the final LayerNorm, as section 4
    computes it: its direction in the residual stream (W_dec[f] @ W_out), centred, times ln_final's
    weights (where the model has them unfolded), through W_U, divided by ln_final's median scale at the
    tokens where the latent fires (in the first `max_sequences` sequences where it fires). A latent that
    never fires gets scale 1. A first-order estimate: adding the direction also changes the scale a little."""
    direction = autoencoder.W_dec[instance_idx, feature_idx] @ model.W_out[0]  # [d_model]
    scale = torch.tensor(1.0)
    rows = (activations > 0).any(-1).nonzero().squeeze(-1)[:max_sequences]
    if len(rows):
        _, cache = model.run_with_cache(tokens[rows], names_filter="ln_final.hook_scale")
        scale = cache["ln_final.hook_scale"][..., 0].cpu()[activations[rows] > 0].median()
    centred = direction - direction.mean()
    return (centred * getattr(model.ln_final, "w", 1.0)) @ model.W_U / scale.to(direction.device)


def feature_dashboard(tokens: Int[Tensor, "batch seq"], model, autoencoder, feature_idx: int, instance_idx: int = 0,
                      k: int = 8, label: str | None = None,
                      activations: Float[Tensor, "batch seq"] | None = None) -> None:
    """One latent at a glance: its activation histogram, the tokens it raises and lowers most (its logit
    effect through ln_final: `logit_effect_through_ln_final`), and its top examples with the latent's
    activation on every token of their context (`activations`, the latent at every token, if already
    computed: e.g. from LatentActivations)."""
    from IPython.display import display

    from utils.plotting import plot_feature_dashboard

    label = label or f"latent {feature_idx}"
    if activations is None:
        activations = latent_activations(tokens, model, autoencoder, feature_idx, instance_idx)  # [batch, seq]
    indices, values = top_examples(activations, k)
    effect = logit_effect_through_ln_final(tokens, model, autoencoder, feature_idx, activations, instance_idx)
    plot_feature_dashboard(activations, top_tokens(effect, model, 8), top_tokens(effect, model, 8, largest=False),
                           label).show()
    display(display_top_sequences(indices, values, tokens, model, activations, label))


def summary(model, tokens: Int[Tensor, "batch seq"], autoencoder, hook_name: str) -> dict[str, float]:
    """Section 3's summary metrics (one SAE, any hook) as plain numbers, on activations at hook_name."""
    h = get_mlp_activations(tokens, model, 1, hook_name)
    _, _, _, acts, h_reconstructed = autoencoder(h)
    residual = (h - h_reconstructed).pow(2).sum()
    frequency = (acts > 0).float().mean(0)
    return {"l0": round(float((acts > 0).float().sum(-1).mean()), 1),
            "explained_variance": round(float(1 - residual / (h - h.mean(0)).pow(2).sum()), 4),
            "dead_fraction": round(float((frequency == 0).float().mean()), 4)}


# ------------------------------------------------------------------------------- SAELens export


def to_saelens(autoencoder, instance_idx: int = 0, hook_name: str = MLP_HOOK, model_name: str = "bundled"):
    """One instance of a workbook SAE as a SAELens SAE, to carry on with SAELens's tools and trainer (on
    a GPU, say): an `AutoEncoder` becomes a `StandardSAE`, a `TopKAutoEncoder` a `TopKSAE` with the same
    k. Each pair computes the same thing: ReLU((x - b_dec) W_enc + b_enc) encodes (a TopK SAE keeps the
    k largest first), z W_dec + b_dec decodes; only the instance axis goes."""
    from sae_lens import StandardSAE, StandardSAEConfig, TopKSAE, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    cfg = autoencoder.cfg
    common = {"d_in": cfg.n_input_ae, "d_sae": cfg.n_hidden_ae, "apply_b_dec_to_input": True,
              "metadata": SAEMetadata(hook_name=hook_name, model_name=model_name)}
    if isinstance(autoencoder, TopKAutoEncoder):
        sae = TopKSAE(TopKSAEConfig(k=autoencoder.k, **common))
    else:
        sae = StandardSAE(StandardSAEConfig(**common))
    W_dec = autoencoder.normalize_and_return_W_dec()
    sae.load_state_dict({
        "W_enc": autoencoder.W_enc[instance_idx].detach().clone(),
        "W_dec": W_dec[instance_idx].detach().clone(),
        "b_enc": autoencoder.b_enc[instance_idx].detach().clone(),
        "b_dec": autoencoder.b_dec[instance_idx].detach().clone(),
    })
    return sae


def export_to_saelens(autoencoder, folder, hook_name: str = MLP_HOOK, model_name: str = "bundled") -> list:
    """Save every instance in SAELens's on-disk format, one folder each (`folder/instance_0`, ...),
    loadable with `sae_lens.SAE.load_from_disk(path)`. Returns the folders."""
    from pathlib import Path

    paths = []
    for i in range(autoencoder.cfg.n_instances):
        path = Path(folder) / f"instance_{i}"
        to_saelens(autoencoder, i, hook_name, model_name).save_model(path)
        paths.append(path)
    return paths
