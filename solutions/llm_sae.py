"""Section 3 reference: measuring SAEs trained on a language model's MLP activations.

The SAEs are section 2's `AutoEncoder`, with one instance per SAE ("A" and "B"), and their input is
the MLP's output activations `blocks.0.mlp.hook_post` at every (sequence, position): a batch of
tokens [batch, seq] becomes [batch * seq, n_instances, d_mlp], the same vector given to each SAE.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

MLP_HOOK = "blocks.0.mlp.hook_post"

#: What learners write; the build replaces these bodies with `raise NotImplementedError`.
EXERCISES = (
    "get_mlp_activations",
    "get_feature_probability",
    "max_cosine_similarity",
    "get_reconstruction_loss",
    "get_substitution_loss",
    "loss_recovered",
    "get_summary_metrics",
)


def stop_layer(hook_name: str) -> int | None:
    """The first block whose output we do not need to read `hook_name` (None: run the whole model)."""
    match = re.match(r"blocks\.(\d+)\.", hook_name)
    if match:
        return int(match.group(1)) + 1
    return 0 if hook_name in ("hook_embed", "hook_pos_embed") else None


@torch.no_grad()
def get_mlp_activations(
    tokens: Int[Tensor, "batch seq"], model, n_instances: int, hook_name: str = MLP_HOOK
) -> Float[Tensor, "batch_seq inst d_mlp"]:
    """The model's activations at `hook_name` for every token, laid out for an SAE with n_instances.

    Run the model with `model.run_with_cache`, keeping only `hook_name` (names_filter) and stopping
    after the block that computes it (stop_at_layer: the unembedding is the most expensive part of a
    1-layer model, and its output is not needed). Flatten (batch, seq) into one axis and repeat the
    activations once per instance: [batch * seq, n_instances, d_mlp].
    """
    _, cache = model.run_with_cache(tokens, names_filter=hook_name, stop_at_layer=stop_layer(hook_name))
    acts = cache[hook_name]  # [batch, seq, d_mlp]
    return einops.repeat(acts, "batch seq d_mlp -> (batch seq) inst d_mlp", inst=n_instances)


class _Collected(Exception):
    """Raised by collect_activations' hook once it holds the activations: the rest of the forward
    pass is not needed."""


@torch.no_grad()
def collect_activations(tokens: Int[Tensor, "batch seq"], model, hook_name: str = MLP_HOOK,
                        sequences_per_pass: int = 16) -> Float[Tensor, "batch seq d"]:
    """The activations at `hook_name`, as fast as the model allows (for buffers and benchmarks).

    Three things make it faster than a full run_with_cache (figures: `python -m utils.bench`):
    - For the course's hook, blocks.0.mlp.hook_post, it computes block 0 with PyTorch's fused
      attention (_mlp_post_fused), once it has checked on this model that the fused path gives
      TransformerLens's activations (to float rounding). That skips TransformerLens's step-by-step
      attention: scores scaled, masked, softmaxed and NaN-guarded one full [batch, head, query, key]
      tensor at a time.
    - For any other hook, or a model the fused path does not fit, it runs TransformerLens's forward
      pass and stops at the hook itself (_activations_at). get_mlp_activations stops after the hook's
      *block*; stopping at the hook also skips, for hook_post, the MLP's output matrix W_out.
      Either way the unembedding, the most expensive part of a 1-layer model, is never computed.
    - It runs the model on `sequences_per_pass` sequences at a time, so no intermediate tensor is over
      4 MB. The allocator reuses blocks that size, where larger ones are often handed back to the OS and
      page-faulted in again on the next pass: in a notebook's process, passes of 32 or 64 sequences
      measured 10-20% slower. The activations are the same, bit for bit, whatever the pass size.
    """
    if _fused_path_fits(tokens, model, hook_name):
        return torch.cat([_mlp_post_fused(chunk, model) for chunk in tokens.split(sequences_per_pass)])
    return torch.cat([_activations_at(chunk, model, hook_name) for chunk in tokens.split(sequences_per_pass)])


def _activations_at(tokens: Int[Tensor, "batch seq"], model, hook_name: str) -> Float[Tensor, "batch seq d"]:
    """One forward pass, interrupted at `hook_name` by raising an exception from the hook.
    run_with_hooks removes the hook even when the forward pass is interrupted."""
    store = {}

    def grab(activations, hook):
        store["activations"] = activations
        raise _Collected

    try:
        model.run_with_hooks(tokens, fwd_hooks=[(hook_name, grab)])
    except _Collected:
        pass
    return store["activations"]


def _mlp_post_fused(tokens: Int[Tensor, "batch seq"], model) -> Float[Tensor, "batch seq d_mlp"]:
    """blocks.0.mlp.hook_post computed from the model's own modules and weights: the maths of
    TransformerLens's forward pass (embed, ln1, attention, ln2, W_in, activation) written out for a
    standard 1-block-deep GPT, with the attention done by F.scaled_dot_product_attention, which never
    stores the scores. Agrees with run_with_cache to about 1e-6, not bit for bit."""
    block, attn = model.blocks[0], model.blocks[0].attn
    resid = model.W_E[tokens] + model.W_pos[: tokens.shape[1]]  # [batch, seq, d_model]
    x = block.ln1(resid)

    def heads(W: Float[Tensor, "head d_model d_head"], b: Float[Tensor, "head d_head"]
              ) -> Float[Tensor, "batch head seq d_head"]:
        # One matrix product for all heads at once, then the heads split out (as TransformerLens does).
        flat = F.linear(x, einops.rearrange(W, "head d_model d_head -> (head d_head) d_model"), b.flatten())
        return einops.rearrange(flat, "batch seq (head d_head) -> batch head seq d_head", head=W.shape[0])

    z = F.scaled_dot_product_attention(heads(attn.W_Q, attn.b_Q), heads(attn.W_K, attn.b_K),
                                       heads(attn.W_V, attn.b_V), is_causal=True, scale=1 / attn.attn_scale)
    W_O = einops.rearrange(attn.W_O, "head d_head d_model -> d_model (head d_head)")
    attn_out = F.linear(einops.rearrange(z, "batch head seq d_head -> batch seq (head d_head)"), W_O, attn.b_O)
    x = block.ln2(resid + attn_out)
    return block.mlp.act_fn(F.linear(x, block.mlp.W_in.T, block.mlp.b_in))


#: For each model collect_activations has seen: does _mlp_post_fused reproduce its forward pass?
_FUSED_FITS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _fused_path_fits(tokens: Int[Tensor, "batch seq"], model, hook_name: str) -> bool:
    """Use the fused path only where it computes exactly what TransformerLens would: at hook_post of
    block 0, with no hooks on the model (the fused path would skip them), no left padding (which
    TransformerLens turns into an attention mask), and on a model where it has reproduced
    TransformerLens's activations for a first sequence. That check runs once per model, so whatever the
    architecture (rotary positions, a gated MLP, a softcap ...) a mismatch falls back to the slow path."""
    if hook_name != MLP_HOOK or getattr(model.tokenizer, "padding_side", None) == "left":
        return False
    if len(tokens) == 0:  # no sequence to check on (and an empty one would pass any comparison)
        return False
    if any(m._forward_hooks or m._forward_pre_hooks for m in model.modules()):
        return False
    if model not in _FUSED_FITS:
        sample = tokens[:1]
        try:
            fused = _mlp_post_fused(sample, model)
        except Exception:  # not this model's weights or shapes, or bad tokens: the slow path decides (and says)
            return False
        reference = _activations_at(sample, model, hook_name)
        _FUSED_FITS[model] = fused.shape == reference.shape and torch.allclose(fused, reference, 1e-4, 1e-4)
    return _FUSED_FITS[model]


@torch.no_grad()
def get_feature_probability(
    tokens: Int[Tensor, "batch seq"], model, autoencoder
) -> Float[Tensor, "inst n_hidden_ae"]:
    """For each SAE and latent, the fraction of tokens (batch, position) on which the latent fires.

    "Fires" means its activation is > 0. This is a frequency, not the latent's mean activation: a
    latent that fires on 1% of tokens has probability 0.01 however strongly it fires.
    """
    h = get_mlp_activations(tokens, model, autoencoder.cfg.n_instances)
    _, _, _, acts, _ = autoencoder(h)  # [batch*seq, inst, n_hidden_ae]
    return (acts > 0).float().mean(0)


def max_cosine_similarity(
    directions_A: Float[Tensor, "n_hidden d"], directions_B: Float[Tensor, "n_hidden_B d"], chunk: int = 1024
) -> Float[Tensor, " n_hidden"]:
    """For each direction of A (a row), its highest cosine similarity with any direction of B.

    Normalise both sets of rows, take all dot products (A's rows against B's), and keep the maximum
    over B. (Computed in chunks of A's rows, so memory stays small for large dictionaries.)
    """
    A = directions_A / directions_A.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    B = directions_B / directions_B.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    return torch.cat([(A[i : i + chunk] @ B.T).max(dim=-1).values for i in range(0, len(A), chunk)])


@torch.no_grad()
def get_reconstruction_loss(
    tokens: Int[Tensor, "batch seq"], model, autoencoder
) -> tuple[Float[Tensor, " inst"], Float[Tensor, " inst"]]:
    """How well each SAE reconstructs the MLP activations of `tokens`.

    returns (reconstruction_loss, cosine_similarity), each [n_instances]:
    reconstruction_loss: the squared error per MLP neuron (mean over d_mlp), averaged over tokens:
        the SAE's own l2_loss, in the same units as the activations' mean square.
    cosine_similarity: between each token's activation vector and its reconstruction, averaged.
    """
    h = get_mlp_activations(tokens, model, autoencoder.cfg.n_instances)
    _, l2_loss, _, _, h_reconstructed = autoencoder(h)
    cosine = torch.cosine_similarity(h, h_reconstructed, dim=-1)  # [batch*seq, inst]
    return l2_loss.mean(0), cosine.mean(0)


@torch.no_grad()
def get_substitution_loss(
    tokens: Int[Tensor, "batch seq"], model, autoencoder
) -> tuple[Float[Tensor, ""], Float[Tensor, " inst"], Float[Tensor, ""]]:
    """Next-token cross-entropy (mean over every predicted token) in three versions:

    loss_clean: the model as it is.
    loss_reconstructed [n_instances]: with the MLP's activations (`blocks.0.mlp.hook_post`)
        replaced at every position by each SAE's reconstruction, one SAE at a time.
    loss_zero_ablation: with those activations set to zero at every position.
    """
    loss_clean, cache = model.run_with_cache(tokens, names_filter=MLP_HOOK, return_type="loss")
    h = einops.repeat(cache[MLP_HOOK], "batch seq d_mlp -> (batch seq) inst d_mlp",
                      inst=autoencoder.cfg.n_instances)
    _, _, _, _, h_reconstructed = autoencoder(h)
    # .contiguous(): TransformerLens's MLP reshapes the hook's output with .view, which needs it.
    h_reconstructed = einops.rearrange(h_reconstructed, "(batch seq) inst d_mlp -> inst batch seq d_mlp",
                                       batch=tokens.shape[0]).contiguous()

    def loss_with(replacement: Tensor) -> Tensor:
        hook = (MLP_HOOK, lambda activations, hook: replacement)
        return model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[hook])

    loss_reconstructed = torch.stack([loss_with(h_reconstructed[i]) for i in range(autoencoder.cfg.n_instances)])
    loss_zero_ablation = loss_with(torch.zeros_like(cache[MLP_HOOK]))
    return loss_clean, loss_reconstructed, loss_zero_ablation


@torch.no_grad()
def get_summary_metrics(tokens: Int[Tensor, "batch seq"], model, autoencoder, dense_threshold: float = 0.1
                        ) -> dict[str, Float[Tensor, " inst"]]:
    """The numbers SAE papers and SAELens report, per SAE:

    l0: how many latents fire on a token, on average.
    explained_variance: 1 - (total squared error) / (total squared deviation of the activations from
        their mean over tokens): the fraction of the activations' variance the SAE reconstructs.
    dead_fraction: latents that fire on none of these tokens.
    dense_fraction: latents that fire on more than `dense_threshold` of them.
    """
    h = get_mlp_activations(tokens, model, autoencoder.cfg.n_instances)
    _, _, _, acts, h_reconstructed = autoencoder(h)
    firing = (acts > 0).float()  # [tokens, inst, n_hidden_ae]
    frequency = firing.mean(0)  # [inst, n_hidden_ae]
    residual = (h - h_reconstructed).pow(2).sum(-1).sum(0)  # [inst]
    variance = (h - h.mean(0)).pow(2).sum(-1).sum(0)  # [inst]
    return {
        "l0": firing.sum(-1).mean(0),
        "explained_variance": 1 - residual / variance,
        "dead_fraction": (frequency == 0).float().mean(-1),
        "dense_fraction": (frequency > dense_threshold).float().mean(-1),
    }


def loss_recovered(
    loss_clean: Float[Tensor, "*shape"], loss_reconstructed: Float[Tensor, "*shape"],
    loss_zero_ablation: Float[Tensor, "*shape"],
) -> Float[Tensor, "*shape"]:
    """The fraction of the loss increase from zero-ablating the MLP that the reconstruction avoids:

        (loss_zero_ablation - loss_reconstructed) / (loss_zero_ablation - loss_clean)

    1 when substituting the SAE costs nothing, 0 when it is as bad as having no MLP at all. The
    three arguments broadcast (a scalar clean loss against [n_instances] reconstructed losses gives
    [n_instances]). Do not clamp: below 0 (worse than no MLP) and above 1 (better than the MLP
    itself) are findings, not rounding.
    """
    return (loss_zero_ablation - loss_reconstructed) / (loss_zero_ablation - loss_clean)


def batched_mean(fn, tokens: Int[Tensor, "batch seq"], model, autoencoder, batch_size: int = 32):
    """Run `fn(tokens, model, autoencoder)` on batches of `batch_size` sequences and average its
    results (tensors, or tuples or dicts of them) over the batches, weighted by their sizes.

    The exercises take all their tokens at once; for many tokens the SAE's latents do not fit in
    memory ([tokens, n_instances, n_hidden_ae] floats), so the notebook calls them through this."""
    total, weight = None, 0
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start : start + batch_size]
        result = fn(batch, model, autoencoder)
        w = len(batch)
        if isinstance(result, dict):
            scaled = {k: v * w for k, v in result.items()}
            total = scaled if total is None else {k: total[k] + scaled[k] for k in total}
        elif isinstance(result, tuple):
            scaled = tuple(v * w for v in result)
            total = scaled if total is None else tuple(a + b for a, b in zip(total, scaled, strict=True))
        else:
            total = result * w if total is None else total + result * w
        weight += w
    if isinstance(total, dict):
        return {k: v / weight for k, v in total.items()}
    if isinstance(total, tuple):
        return tuple(v / weight for v in total)
    return total / weight


@torch.no_grad()
def kl_divergence_score(tokens: Int[Tensor, "batch seq"], model, autoencoder) -> tuple[
    Float[Tensor, " inst"], Float[Tensor, " inst"], Float[Tensor, ""]
]:
    """How much substituting each SAE changes the model's whole next-token distribution, not only the
    probability of the right token: the KL divergence from the clean prediction, averaged over every
    position (the last one's prediction too, as SAELens does: it is a prediction like the others, only
    its answer is not in the batch), with the reconstruction (per SAE) and with the MLP zero-ablated.

    returns (score [n_instances], kl_reconstructed [n_instances], kl_zero_ablation): the score is
    1 - kl_reconstructed / kl_zero_ablation, SAELens's "KL div score" (1: the predictions are unchanged;
    0: as far off as with no MLP). Average kl_* over batches before taking the score."""
    logits, cache = model.run_with_cache(tokens, names_filter=MLP_HOOK)
    clean = logits.log_softmax(-1)

    def kl_with(replacement: Tensor) -> Tensor:
        patched = model.run_with_hooks(tokens, fwd_hooks=[(MLP_HOOK, lambda activations, hook: replacement)])
        log_q = patched.log_softmax(-1)
        return (clean.exp() * (clean - log_q)).sum(-1).mean()  # KL(clean || patched), mean over positions

    h = einops.repeat(cache[MLP_HOOK], "batch seq d_mlp -> (batch seq) inst d_mlp", inst=autoencoder.cfg.n_instances)
    h_reconstructed = einops.rearrange(autoencoder(h)[4], "(batch seq) inst d_mlp -> inst batch seq d_mlp",
                                       batch=tokens.shape[0]).contiguous()
    kl_reconstructed = torch.stack([kl_with(h_reconstructed[i]) for i in range(autoencoder.cfg.n_instances)])
    kl_zero_ablation = kl_with(torch.zeros_like(cache[MLP_HOOK]))
    return 1 - kl_reconstructed / kl_zero_ablation, kl_reconstructed, kl_zero_ablation


@torch.no_grad()
def explained_variance(tokens: Int[Tensor, "batch seq"], model, autoencoder, batch_size: int = 32
                       ) -> Float[Tensor, " inst"]:
    """1 - sum((h - h')^2) / sum((h - mean(h))^2) over every token at once, with ONE mean over all the
    tokens (the usual R^2), computed in batches from running sums (in float64), so the answer does not
    depend on the batch size. Averaging each batch's own explained variance instead would measure every
    batch around its own mean, whose variance is smaller, and read slightly lower."""
    squared_error = total = total_squares = None
    n = 0
    for start in range(0, len(tokens), batch_size):
        h = get_mlp_activations(tokens[start : start + batch_size], model, autoencoder.cfg.n_instances)
        h_reconstructed = autoencoder(h)[4]
        sums = ((h - h_reconstructed).double().pow(2).sum((0, -1)), h.double().sum(0), h.double().pow(2).sum(0))
        if squared_error is None:
            squared_error, total, total_squares = sums
        else:
            squared_error, total, total_squares = (a + b for a, b in zip((squared_error, total, total_squares), sums,
                                                                         strict=True))
        n += h.shape[0]
    variance = (total_squares - total.pow(2) / n).sum(-1)  # [inst]: sum over neurons of n * Var(h_neuron)
    return (1 - squared_error / variance).float()


def summary_metrics(tokens: Int[Tensor, "batch seq"], model, autoencoder, batch_size: int = 32) -> dict:
    """Every section-3 measurement of the SAEs on `tokens`, as plain numbers (the model card's).

    Per-batch averages, exact for the losses, frequencies and L0 (every batch has the same number of
    tokens); the explained variance uses one mean over all the tokens (`explained_variance`)."""
    clean, reconstructed, zero = batched_mean(get_substitution_loss, tokens, model, autoencoder, batch_size)
    _, kl_reconstructed, kl_zero = batched_mean(kl_divergence_score, tokens, model, autoencoder, batch_size)
    recon, cosine = batched_mean(get_reconstruction_loss, tokens, model, autoencoder, batch_size)
    metrics = batched_mean(get_summary_metrics, tokens, model, autoencoder, batch_size)
    frequency = batched_mean(get_feature_probability, tokens, model, autoencoder, batch_size)
    mean_sq = batched_mean(mean_squared_activation, tokens, model, autoencoder, batch_size)

    def numbers(x: Tensor, digits: int = 4):
        return round(x.item(), digits) if x.ndim == 0 else [round(v, digits) for v in x.tolist()]

    return {
        "tokens": int(tokens.numel()),
        "loss_clean": numbers(clean),
        "loss_zero_ablation": numbers(zero),
        "loss_reconstructed": numbers(reconstructed),
        "loss_recovered": numbers(loss_recovered(clean, reconstructed, zero)),
        "kl_divergence_score": numbers(1 - kl_reconstructed / kl_zero),
        "reconstruction_loss": numbers(recon, 5),
        "mean_squared_activation": numbers(mean_sq, 5),
        "cosine_similarity": numbers(cosine),
        "l0": numbers(metrics["l0"], 2),
        "explained_variance": numbers(explained_variance(tokens, model, autoencoder, batch_size)),
        "dead_fraction": numbers((frequency == 0).float().mean(-1)),
        "dense_fraction": numbers((frequency > 0.1).float().mean(-1)),
    }


@torch.no_grad()
def mean_squared_activation(tokens: Int[Tensor, "batch seq"], model, autoencoder=None) -> Float[Tensor, ""]:
    """The activations' own mean square (per neuron, over tokens): the scale to judge the
    reconstruction loss by. An SAE that always output zero would have exactly this loss."""
    return get_mlp_activations(tokens, model, 1)[:, 0].pow(2).mean()


class ActivationBuffer:
    """Serves shuffled batches of a model's activations, refilled from token sequences as it empties.

    Consecutive tokens of a sequence have similar activations; an SAE learns better from batches that
    mix many sequences, so the buffer holds `n_batches` batches' worth at a time and shuffles them.
    Call it with a batch size, as `AutoEncoder.optimize` does: `buffer(4096)` -> [4096, inst, d].
    """

    def __init__(self, model, rows: Int[Tensor, "n_rows seq"], n_instances: int, hook_name: str = MLP_HOOK,
                 n_batches: int = 16, seed: int = 0):
        self.model, self.rows, self.n_instances, self.hook_name = model, rows, n_instances, hook_name
        self.n_batches = n_batches
        self.generator = torch.Generator().manual_seed(seed)
        self.device = next(model.parameters()).device
        self.row_order: Iterator[int] = iter(())
        self.epoch = 0
        self.store = torch.empty(0)
        self.position = 0

    def next_rows(self, n: int) -> Int[Tensor, "n seq"]:
        picked = []
        while len(picked) < n:
            try:
                picked.append(next(self.row_order))
            except StopIteration:  # every sequence used: start another pass, in a new order
                self.row_order = iter(torch.randperm(len(self.rows), generator=self.generator).tolist())
                self.epoch += 1
        return self.rows[picked]

    def refill(self, batch_size: int) -> None:
        seq_len = self.rows.shape[1]
        n_rows = -(-self.n_batches * batch_size // seq_len)  # enough whole sequences for n_batches batches
        tokens = self.next_rows(n_rows).to(self.device)
        store = collect_activations(tokens, self.model, self.hook_name).flatten(0, 1)  # [rows*seq, d]
        order = torch.randperm(len(store), generator=self.generator).to(store.device)
        self.store, self.position = store[order], 0

    def __call__(self, batch_size: int) -> Float[Tensor, "batch inst d"]:
        if self.position + batch_size > len(self.store):
            self.refill(batch_size)
        batch = self.store[self.position : self.position + batch_size]
        self.position += batch_size
        return einops.repeat(batch, "batch d -> batch inst d", inst=self.n_instances)
