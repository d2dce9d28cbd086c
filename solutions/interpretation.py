"""Section 4 reference: interpreting the latents of an SAE trained on a language model's MLP.

(Started with the pieces the model card needs: a latent's top-activating tokens, shown in context.)
"""

from __future__ import annotations

import torch
from jaxtyping import Float, Int
from torch import Tensor

from solutions.llm_sae import MLP_HOOK, stop_layer


@torch.no_grad()
def highest_activating_tokens(
    tokens: Int[Tensor, "batch seq"], model, autoencoder, feature_idx: int, instance_idx: int = 0, k: int = 10,
    batch_size: int = 64,
) -> tuple[Int[Tensor, "k 2"], Float[Tensor, " k"]]:
    """The k (batch, seq) positions where one latent is most active, and its activations there.

    Only this latent is computed: its encoder column W_enc[instance_idx, :, feature_idx], its bias
    and the ReLU, applied to the MLP activations centred by b_dec, a batch of sequences at a time
    (never the [tokens, n_hidden_ae] matrix of every latent).
    """
    w = autoencoder.W_enc[instance_idx, :, feature_idx]  # [d_mlp]
    b = autoencoder.b_enc[instance_idx, feature_idx]
    b_dec = autoencoder.b_dec[instance_idx]
    best_values = torch.full((0,), float("-inf"))
    best_indices = torch.zeros((0, 2), dtype=torch.long)
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start : start + batch_size]
        _, cache = model.run_with_cache(batch, names_filter=MLP_HOOK, stop_at_layer=stop_layer(MLP_HOOK))
        acts = torch.relu((cache[MLP_HOOK] - b_dec) @ w + b).cpu()  # [batch, seq]
        values, flat = acts.flatten().topk(min(k, acts.numel()))
        rows, cols = flat // acts.shape[1] + start, flat % acts.shape[1]
        best_values = torch.cat([best_values, values])
        best_indices = torch.cat([best_indices, torch.stack([rows, cols], dim=-1)])
        keep = best_values.topk(min(k, len(best_values))).indices
        best_values, best_indices = best_values[keep], best_indices[keep]
    return best_indices, best_values


def format_context(tokens: Int[Tensor, "batch seq"], model, row: int, pos: int, before: int = 12, after: int = 3,
                   ) -> str:
    """One token in its context, as text: the token itself in [[double brackets]], newlines shown
    as ⏎ so every context fits on one line."""
    strs = model.to_str_tokens(tokens[row, max(0, pos - before) : pos + after + 1], prepend_bos=False)
    centre = min(before, pos)
    pieces = [f"[[{s}]]" if i == centre else s for i, s in enumerate(strs)]
    return "".join(pieces).replace("\n", "⏎").replace("<|endoftext|>", "⟨BOS⟩")


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
