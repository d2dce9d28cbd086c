"""Section 4 reference: what a latent of an SAE on a language model's MLP means, and what it does.

A latent is read from both ends. Its *input* side: which tokens make it fire (its encoder column,
applied to the MLP activations). Its *output* side: what its decoder direction, written into the
MLP's output, does to the next-token prediction (directly, through W_out and the unembedding), and
what removing it does to the model's loss (an ablation through a hook).
"""

from __future__ import annotations

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from solutions.llm_sae import MLP_HOOK, ActivationBuffer, collect_activations, get_mlp_activations, stop_layer
from solutions.sae import AutoEncoder, AutoEncoderConfig

#: What learners write; the build replaces these bodies with `raise NotImplementedError`.
EXERCISES = (
    "highest_activating_tokens",
    "feature_logit_effect",
    "neuron_shares",
    "feature_ablation_effect",
    "train_sae",
)


@torch.no_grad()
def highest_activating_tokens(
    tokens: Int[Tensor, "batch seq"], model, autoencoder, feature_idx: int, instance_idx: int = 0, k: int = 10,
    batch_size: int = 64,
) -> tuple[Int[Tensor, "k 2"], Float[Tensor, " k"]]:
    """The k (batch, seq) positions where one latent is most active, and its activations there.

    Compute only this latent: its encoder column W_enc[instance_idx, :, feature_idx], its bias
    b_enc[instance_idx, feature_idx] and the ReLU, applied to the MLP activations centred by
    b_dec[instance_idx]. Go through the tokens `batch_size` sequences at a time and keep the best k
    so far, so that memory never holds every latent (or every token) at once.
    returns (indices [k, 2] of (batch, seq) positions, values [k]), highest first.
    """
    w = autoencoder.W_enc[instance_idx, :, feature_idx]  # [d_mlp]
    b = autoencoder.b_enc[instance_idx, feature_idx]
    b_dec = autoencoder.b_dec[instance_idx]
    best_values = torch.empty(0)
    best_indices = torch.empty((0, 2), dtype=torch.long)
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start : start + batch_size]
        _, cache = model.run_with_cache(batch, names_filter=MLP_HOOK, stop_at_layer=stop_layer(MLP_HOOK))
        acts = torch.relu((cache[MLP_HOOK] - b_dec) @ w + b).cpu()  # [batch, seq]
        values, flat = acts.flatten().topk(min(k, acts.numel()))
        # flat index -> (sequence, position): acts is [batch, seq], so divide by seq.
        rows, cols = flat // acts.shape[1] + start, flat % acts.shape[1]
        best_values = torch.cat([best_values, values])
        best_indices = torch.cat([best_indices, torch.stack([rows, cols], dim=-1)])
        keep = best_values.topk(min(k, len(best_values))).indices
        best_values, best_indices = best_values[keep], best_indices[keep]
    return best_indices, best_values


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
    batch_size: int = 1024, l1_coeff: float = 5e-4, lr: float = 1e-3, seed: int = 0,
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


@torch.no_grad()
def latent_activations(
    tokens: Int[Tensor, "batch seq"], model, autoencoder, feature_idx: int, instance_idx: int = 0,
    batch_size: int = 64,
) -> Float[Tensor, "batch seq"]:
    """One latent's activation at every token (for its histogram), computed for that latent alone."""
    w = autoencoder.W_enc[instance_idx, :, feature_idx]
    b, b_dec = autoencoder.b_enc[instance_idx, feature_idx], autoencoder.b_dec[instance_idx]
    out = []
    for start in range(0, len(tokens), batch_size):
        h = collect_activations(tokens[start : start + batch_size], model)  # [batch, seq, d_mlp]
        out.append(torch.relu((h - b_dec) @ w + b).cpu())
    return torch.cat(out)


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


def feature_dashboard(tokens: Int[Tensor, "batch seq"], model, autoencoder, feature_idx: int, instance_idx: int = 0,
                      k: int = 8, label: str | None = None) -> None:
    """One latent at a glance: its activation histogram, the tokens it raises and lowers most, and its
    top examples with the latent's activation on every token of their context."""
    from IPython.display import display

    from utils.plotting import plot_feature_dashboard

    label = label or f"latent {feature_idx}"
    activations = latent_activations(tokens, model, autoencoder, feature_idx, instance_idx)  # [batch, seq]
    values, flat = activations.flatten().topk(k)
    indices = torch.stack(torch.unravel_index(flat, activations.shape), dim=-1)
    effect = feature_logit_effect(model, autoencoder, feature_idx, instance_idx)
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
    """One instance of a workbook `AutoEncoder` as a SAELens `StandardSAE`, to carry on with SAELens's
    tools and trainer (on a GPU, say). The two compute the same thing: ReLU((x - b_dec) W_enc + b_enc)
    encodes, z W_dec + b_dec decodes; only the instance axis goes."""
    from sae_lens import StandardSAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    cfg = autoencoder.cfg
    config = StandardSAEConfig(d_in=cfg.n_input_ae, d_sae=cfg.n_hidden_ae, apply_b_dec_to_input=True,
                               metadata=SAEMetadata(hook_name=hook_name, model_name=model_name))
    sae = StandardSAE(config)
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
