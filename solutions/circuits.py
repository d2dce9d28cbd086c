"""Section 6's reference code (the start of it): a skip transcoder for the bundled model's MLP.

A transcoder is a sparse dictionary trained to *predict the MLP's output from its input* (Dunefsky et al.
2024, "Transcoders find interpretable LLM feature circuits"), where an SAE reconstructs one activation
from itself. Replace the MLP by a transcoder and the MLP's computation becomes a sum of a few latents'
decoder directions, each switched on by a linear read of the MLP's input: the form an attribution graph
needs (Anthropic's "Circuit Tracing", 2025). A skip transcoder (Paulo et al. 2025) adds a linear path
x @ W_skip from input to output, so the latents need not spend themselves on what the MLP does linearly.

    transcoder = Transcoder(TranscoderConfig(d_in=256, d_out=256, d_hidden=4096, k=30))
    acts, mlp_out_predicted = transcoder(mlp_in)           # mlp_in: blocks.0.ln2.hook_normalized
    log = train_transcoder(transcoder, PairedActivationBuffer(model, rows), steps=3000)

Shapes follow TransformerLens: `d_in` is the MLP's input width (d_model), `d_out` its output's (d_model).
"""

from __future__ import annotations

from dataclasses import dataclass

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from torch.nn import functional as F

from solutions.toy_model import optimizer_step
from utils.device import get_device
from utils.progress import progress_bar

# What the MLP reads, up to ln2's weight and bias: TransformerLens's hook_normalized is LayerNorm's output
# *before* them ((x - mean) / scale), and the MLP's input is that x w + b. A transcoder reads hook_normalized
# and learns w and b into its encoder (and skip connection): the same functions, one affine map fewer.
MLP_IN_HOOK = "blocks.0.ln2.hook_normalized"
MLP_OUT_HOOK = "blocks.0.hook_mlp_out"  # what the MLP adds to the residual stream

#: What learners write; the build replaces these bodies with `raise NotImplementedError`.
EXERCISES = (
    "Transcoder.encode",
    "Transcoder.decode",
    "replacement_logits",
    "logit_direction",
    "source_vectors",
    "compute_influence",
    "de_embedding",
)


@dataclass
class TranscoderConfig:
    d_in: int
    d_out: int
    d_hidden: int
    k: int  # latents kept per token (TopK)
    skip: bool = True  # a linear skip connection W_skip from input to output

    def __post_init__(self):
        for name in ("d_in", "d_out", "d_hidden", "k"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"TranscoderConfig.{name} must be a positive int, not {getattr(self, name)!r}")
        if self.k > self.d_hidden:
            raise ValueError(f"k must be at most d_hidden = {self.d_hidden}, not {self.k}")


class Transcoder(nn.Module):
    """A TopK skip transcoder: out = TopK(ReLU(x @ W_enc + b_enc)) @ W_dec + b_dec + x @ W_skip.

    W_enc [d_in, d_hidden], b_enc [d_hidden], W_dec [d_hidden, d_out] (row f: what latent f writes),
    b_dec [d_out], W_skip [d_in, d_out] (zero at the start, and absent when cfg.skip is False).
    The decoder starts as random unit rows (the input and output spaces differ, so the encoder's
    transpose, a TopK SAE's start, means nothing here); `train_transcoder` keeps them unit rows.
    """

    def __init__(self, cfg: TranscoderConfig, device: str | torch.device | None = None):
        super().__init__()
        self.cfg = cfg
        device = get_device(device)
        W_enc = torch.empty(cfg.d_in, cfg.d_hidden, device=device)
        nn.init.kaiming_uniform_(W_enc.T, a=5**0.5)  # as nn.Linear(d_in, d_hidden) would
        self.W_enc = nn.Parameter(W_enc)
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_hidden, device=device))
        W_dec = torch.randn(cfg.d_hidden, cfg.d_out, device=device)
        self.W_dec = nn.Parameter(W_dec / W_dec.norm(dim=-1, keepdim=True))
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_out, device=device))
        self.W_skip = nn.Parameter(torch.zeros(cfg.d_in, cfg.d_out, device=device)) if cfg.skip else None

    def encode(self, x: Float[Tensor, "batch d_in"]) -> Float[Tensor, "batch d_hidden"]:
        """The latents: pre = x @ W_enc + b_enc [batch, d_hidden]; each input keeps its cfg.k largest
        pre-activations, passed through a ReLU, and every other latent is 0. Gradients must reach W_enc
        and b_enc through the kept values (a scatter into zeros does that)."""
        pre = x @ self.W_enc + self.b_enc
        top = pre.topk(self.cfg.k, dim=-1)  # per input, over the latents
        return torch.zeros_like(pre).scatter(-1, top.indices, F.relu(top.values))

    def decode(self, acts: Float[Tensor, "batch d_hidden"], x: Float[Tensor, "batch d_in"]
               ) -> Float[Tensor, "batch d_out"]:
        """The predicted MLP output: acts @ W_dec + b_dec, plus the skip connection x @ W_skip when the
        transcoder has one (cfg.skip; W_skip is None otherwise). x is the transcoder's input, [batch, d_in]."""
        out = acts @ self.W_dec + self.b_dec
        return out + x @ self.W_skip if self.W_skip is not None else out

    def forward(self, x: Float[Tensor, "batch d_in"]
                ) -> tuple[Float[Tensor, "batch d_hidden"], Float[Tensor, "batch d_out"]]:
        """(acts, predicted MLP output)."""
        acts = self.encode(x)
        return acts, self.decode(acts, x)


def transcoder_loss(transcoder: Transcoder, x: Float[Tensor, "batch d_in"], y: Float[Tensor, "batch d_out"]
                    ) -> Float[Tensor, ""]:
    """Mean squared error of the predicted MLP output, per output dimension and token."""
    return (transcoder(x)[1] - y).pow(2).mean()


class PairedActivationBuffer:
    """Shuffled batches of (MLP input, MLP output) pairs, refilled from token sequences as it empties:
    `buffer(2048)` -> (x [2048, d_in], y [2048, d_out]). As `ActivationBuffer` (section 3), it holds
    `n_batches` batches at a time so that a batch mixes many sequences."""

    def __init__(self, model, rows: Int[Tensor, "n_rows seq"], n_batches: int = 16, seed: int = 0,
                 hooks: tuple[str, str] = (MLP_IN_HOOK, MLP_OUT_HOOK)):
        self.model, self.rows, self.n_batches, self.hooks = model, rows, n_batches, hooks
        self.generator = torch.Generator().manual_seed(seed)
        self.device = next(model.parameters()).device
        self.order: list[int] = []
        self.store: tuple[Tensor, Tensor] = (torch.empty(0), torch.empty(0))
        self.position = 0

    def _next_rows(self, n: int) -> Int[Tensor, "n seq"]:
        while len(self.order) < n:  # every sequence used: another pass, in a new order
            self.order += torch.randperm(len(self.rows), generator=self.generator).tolist()
        picked, self.order = self.order[:n], self.order[n:]
        return self.rows[picked]

    @torch.no_grad()
    def _refill(self, batch_size: int) -> None:
        n_rows = -(-self.n_batches * batch_size // self.rows.shape[1])
        tokens = self._next_rows(n_rows).to(self.device)
        _, cache = self.model.run_with_cache(tokens, names_filter=list(self.hooks))
        x, y = (einops.rearrange(cache[h], "batch seq d -> (batch seq) d") for h in self.hooks)
        order = torch.randperm(len(x), generator=self.generator).to(x.device)
        self.store, self.position = (x[order], y[order]), 0

    def __call__(self, batch_size: int) -> tuple[Float[Tensor, "batch d_in"], Float[Tensor, "batch d_out"]]:
        if self.position + batch_size > len(self.store[0]):
            self._refill(batch_size)
        x, y = (s[self.position : self.position + batch_size] for s in self.store)
        self.position += batch_size
        return x, y


def auxk_loss(transcoder: Transcoder, x: Float[Tensor, "batch d_in"], residual: Float[Tensor, "batch d_out"],
              dead: Tensor, aux_k: int) -> Float[Tensor, ""]:
    """Gao et al.'s (2024) auxiliary loss for dead latents: the `aux_k` largest pre-activations among the
    dead latents alone, decoded (no bias), try to predict what the transcoder misses (`residual`, detached).
    Its gradient reaches dead latents, which the main loss never does, and pulls them towards the error."""
    columns = dead.nonzero()[:, 0].to(x.device)  # only the dead latents' columns: few, so this is cheap
    pre = x @ transcoder.W_enc[:, columns] + transcoder.b_enc[columns]
    top = pre.topk(min(aux_k, len(columns)), dim=-1)
    acts = torch.zeros_like(pre).scatter(-1, top.indices, F.relu(top.values))
    return (acts @ transcoder.W_dec[columns] - residual.detach()).pow(2).mean()


def train_transcoder(transcoder: Transcoder, sample, batch_size: int = 2048, steps: int = 3000, lr: float = 1e-3,
                     log_freq: int = 100, warmup_steps: int = 100, aux_k: int = 0, aux_coeff: float = 1 / 32,
                     dead_after: int = 100) -> dict[str, list]:
    """Adam on the mean squared error, with a linear warm-up and a linear decay to zero over the last
    fifth of the steps, and the decoder's rows scaled back to unit norm after each step (as Gao et al. do:
    activations are then in the output's units, and TopK compares latents on one scale).
    `sample(batch_size)` returns (x, y). With aux_k > 0, latents that have not fired for `dead_after`
    steps get AuxK's auxiliary loss (`auxk_loss`, weighted by aux_coeff). Returns a log every `log_freq`
    steps: the steps, the loss, and the fraction of latents that fired in the last `log_freq` steps."""
    optimizer = torch.optim.Adam(transcoder.parameters(), lr=lr)
    decay_from = int(0.8 * steps)

    def schedule(step: int) -> float:
        warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
        return warm * min(1.0, (steps - step) / max(1, steps - decay_from))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    fired = torch.zeros(transcoder.cfg.d_hidden, dtype=torch.bool)
    silent_for = torch.zeros(transcoder.cfg.d_hidden, dtype=torch.long)  # steps since each latent last fired
    log: dict[str, list] = {"steps": [], "loss": [], "alive": []}
    bar = progress_bar(range(steps), desc="Training transcoder")
    for step in bar:
        x, y = sample(batch_size)
        acts, predicted = transcoder(x)
        loss = (predicted - y).pow(2).mean()
        dead = silent_for >= dead_after
        use_aux = aux_k and dead.any()
        total = loss + aux_coeff * auxk_loss(transcoder, x, y - predicted, dead, aux_k) if use_aux else loss
        optimizer_step(optimizer, total, step, lr)
        scheduler.step()
        with torch.no_grad():  # unit decoder rows, as Gao et al.
            transcoder.W_dec.div_(transcoder.W_dec.norm(dim=-1, keepdim=True).clamp(min=1e-8))
        fired_now = (acts.detach() > 0).any(0).cpu()
        silent_for = torch.where(fired_now, 0, silent_for + 1)
        fired |= fired_now
        if step % log_freq == 0 or step + 1 == steps:
            log["steps"].append(step)
            log["loss"].append(round(loss.item(), 6))
            log["alive"].append(round(fired.float().mean().item(), 4))
            bar.set_postfix(loss=f"{loss.item():.5f}", alive=f"{fired.float().mean():.0%}")
            fired.zero_()
    return log


@torch.no_grad()
def transcoder_metrics(model, transcoder: Transcoder, tokens: Int[Tensor, "batch seq"], batch_size: int = 32) -> dict:
    """The model card's measurements of a transcoder that replaces the MLP, on `tokens`:
    cross-entropy loss clean, with the transcoder's output in place of the MLP's, and with the MLP's output
    set to its bias b_out (as if hook_post were zero: the SAEs' baseline); the loss recovered; the
    explained variance of the MLP's output; L0; and the latents that never fire on these tokens."""
    sums = {"clean": 0.0, "replaced": 0.0, "ablated": 0.0, "l0": 0.0, "residual": 0.0}
    fired = torch.zeros(transcoder.cfg.d_hidden, dtype=torch.bool)
    outputs = []
    b_out = model.blocks[0].mlp.b_out
    for i in range(0, len(tokens), batch_size):
        batch = tokens[i : i + batch_size]
        loss, cache = model.run_with_cache(batch, names_filter=[MLP_IN_HOOK, MLP_OUT_HOOK], return_type="loss")
        x, y = cache[MLP_IN_HOOK], cache[MLP_OUT_HOOK]
        acts, predicted = transcoder(einops.rearrange(x, "b s d -> (b s) d"))
        predicted = predicted.reshape(y.shape)
        replaced = model.run_with_hooks(batch, return_type="loss",
                                        fwd_hooks=[(MLP_OUT_HOOK, lambda a, hook, predicted=predicted: predicted)])
        ablated = model.run_with_hooks(batch, return_type="loss",
                                       fwd_hooks=[(MLP_OUT_HOOK, lambda a, hook: torch.zeros_like(a) + b_out)])
        n = len(batch)
        sums["clean"] += loss.item() * n
        sums["replaced"] += replaced.item() * n
        sums["ablated"] += ablated.item() * n
        sums["l0"] += (acts > 0).float().sum(-1).mean().item() * n
        sums["residual"] += (predicted - y).pow(2).sum().item()
        fired |= (acts > 0).any(0).cpu()
        outputs.append(y.flatten(0, 1).cpu())
    n = len(tokens)
    y = torch.cat(outputs)
    variance = (y - y.mean(0)).pow(2).sum().item()
    clean, replaced, ablated = (sums[k] / n for k in ("clean", "replaced", "ablated"))
    return {
        "loss_clean": round(clean, 4), "loss_replaced": round(replaced, 4), "loss_mlp_ablated": round(ablated, 4),
        "loss_recovered": round((ablated - replaced) / (ablated - clean), 4),
        "explained_variance": round(1 - sums["residual"] / variance, 4),
        "l0": round(sums["l0"] / n, 2), "dead_fraction": round(1 - fired.float().mean().item(), 4),
    }


# ---------------------------------------------------------------------------- the replacement model
#
# With the transcoder in place of the MLP, an error node that adds back what it misses, and the
# attention patterns and LayerNorm scales frozen at their values in a clean run, the one-layer model is
# linear in everything but the transcoder's latents, whose activations are nodes of the graph. Every
# logit is then an exact sum of contributions: from each input token's embedding and each position's
# embedding (through the residual stream, through each head, and through the transcoder's skip
# connection), from each active latent, from the error node, and from the biases.


@dataclass
class FrozenRun:
    """What the replacement model keeps from a clean run of `tokens` (TransformerLens hook names):
    LayerNorm scales `blocks.0.ln1.hook_scale`, `blocks.0.ln2.hook_scale`, `ln_final.hook_scale`
    [batch, seq, 1]; attention patterns `blocks.0.attn.hook_pattern` [batch, head, query, key]; the MLP's
    input and output, and the clean logits."""

    tokens: Int[Tensor, "batch seq"]
    ln1_scale: Float[Tensor, "batch seq 1"]
    pattern: Float[Tensor, "batch head query key"]
    ln2_scale: Float[Tensor, "batch seq 1"]
    ln_final_scale: Float[Tensor, "batch seq 1"]
    mlp_in: Float[Tensor, "batch seq d_model"]
    mlp_out: Float[Tensor, "batch seq d_model"]
    logits: Float[Tensor, "batch seq d_vocab"]


@torch.no_grad()
def freeze(model, tokens: Int[Tensor, "batch seq"]) -> FrozenRun:
    """Run the model once and keep what the replacement model freezes."""
    if model.cfg.n_layers != 1 or model.cfg.normalization_type != "LN":
        raise ValueError("the replacement model here is written for a one-layer model with LayerNorm "
                         f"(normalization_type 'LN'); this one has {model.cfg.n_layers} layers and "
                         f"{model.cfg.normalization_type!r}")
    names = ["blocks.0.ln1.hook_scale", "blocks.0.attn.hook_pattern", "blocks.0.ln2.hook_scale",
             "ln_final.hook_scale", MLP_IN_HOOK, MLP_OUT_HOOK]
    logits, cache = model.run_with_cache(tokens, names_filter=names)
    return FrozenRun(tokens, *(cache[n] for n in names), logits)


def centred(x: Float[Tensor, "... d"]) -> Float[Tensor, "... d"]:
    """Each vector minus its own mean, over the last axis (d): what LayerNorm does first."""
    return x - x.mean(-1, keepdim=True)


def frozen_layer_norm(x: Float[Tensor, "... d"], scale: Float[Tensor, "... 1"]) -> Float[Tensor, "... d"]:
    """LayerNorm with its scale frozen, before its weight and bias (TransformerLens's hook_normalized):
    (x - mean(x)) / scale, linear in x. Apply w and b yourself where the model does; b is a constant, so
    in an attribution it belongs to the bias node, not to whichever input happens to pass through."""
    return centred(x) / scale


def error_node(transcoder: Transcoder, frozen: FrozenRun) -> Float[Tensor, "batch seq d_model"]:
    """What the transcoder misses in the clean run: the MLP's output minus the transcoder's prediction of it
    from the MLP's clean input. A constant of the replacement model: an edit does not change it."""
    predicted = transcoder(einops.rearrange(frozen.mlp_in, "batch seq d -> (batch seq) d"))[1]
    return frozen.mlp_out - predicted.reshape(frozen.mlp_out.shape)


def replacement_logits(model, transcoder: Transcoder, frozen: FrozenRun, latent_hook=None
                       ) -> Float[Tensor, "batch seq d_vocab"]:
    """The replacement model's logits, recomputed from the embeddings of frozen.tokens (token and position):

    resid_pre  = W_E[tokens] + W_pos[positions]
    ln1        = (resid_pre - mean) / frozen.ln1_scale * ln1.w + ln1.b          (scale frozen)
    attn_out   = for each head, frozen.pattern (not recomputed) times (ln1 @ W_V + b_V), then @ W_O,
                 summed over heads, + b_O
    resid_mid  = resid_pre + attn_out
    mlp_in     = (resid_mid - mean) / frozen.ln2_scale        (the transcoder's input: hook_normalized)
    acts       = transcoder.encode(mlp_in), then latent_hook(acts) if given ([batch, seq, d_hidden])
    resid_post = resid_mid + transcoder.decode(acts, mlp_in) + error_node(transcoder, frozen)
    logits     = ((resid_post - mean) / frozen.ln_final_scale * ln_final.w + ln_final.b) @ W_U + b_U

    Without an edit they equal the clean logits to float rounding; an edit moves them only through the
    latents it changes. Use the frozen pattern and scales you are given, even where the model would
    compute others: they are what makes the rest linear."""
    block = model.blocks[0]
    tokens = frozen.tokens
    resid_pre = model.W_E[tokens] + model.W_pos[: tokens.shape[1]]
    ln1 = frozen_layer_norm(resid_pre, frozen.ln1_scale) * block.ln1.w + block.ln1.b
    v = einops.einsum(ln1, model.W_V[0], "batch key d_model, head d_model d_head -> batch key head d_head")
    v = v + model.b_V[0]
    z = einops.einsum(frozen.pattern, v, "batch head query key, batch key head d_head -> batch query head d_head")
    attn_out = einops.einsum(z, model.W_O[0], "batch query head d_head, head d_head d_model -> batch query d_model")
    resid_mid = resid_pre + attn_out + model.b_O[0]
    mlp_in = frozen_layer_norm(resid_mid, frozen.ln2_scale)  # the transcoder's input: ln2 before its w and b
    flat = einops.rearrange(mlp_in, "batch seq d -> (batch seq) d")
    acts = einops.rearrange(transcoder.encode(flat), "(batch seq) h -> batch seq h", batch=tokens.shape[0])
    if latent_hook is not None:
        acts = latent_hook(acts)
    predicted = transcoder.decode(einops.rearrange(acts, "batch seq h -> (batch seq) h"), flat)
    resid_post = resid_mid + predicted.reshape(resid_mid.shape) + error_node(transcoder, frozen)
    final = frozen_layer_norm(resid_post, frozen.ln_final_scale) * model.ln_final.w + model.ln_final.b
    return final @ model.W_U + model.b_U


# ---------------------------------------------------------------------------- attribution


@dataclass
class Attribution:
    """Every node's contribution to one target logit (sequence `row`, position `position`).

    inputs [source, path]: sources are the token embeddings at positions 0..position, then the
    positional embeddings at the same positions; paths are the residual stream (only the two sources at
    `position` itself, its token and its position, have one) and then each head. A source's contribution
    through a path includes what it adds through the transcoder's skip connection. latents [d_hidden]:
    activation x the logit's read of the latent's decoder row (zero where the latent is off). error,
    bias: scalars. logit: the clean logit (or logit difference) being explained. Completeness: the parts
    sum to `logit`."""

    row: int
    position: int
    inputs: Float[Tensor, "source path"]
    latents: Float[Tensor, " d_hidden"]
    error: float
    bias: float
    logit: float
    latent_edges: Float[Tensor, "active source path"]  # what drives each active latent's pre-activation
    latent_bias: Float[Tensor, " active"]
    active: Int[Tensor, " active"]  # the active latents, in the order of latent_edges
    activations: Float[Tensor, " active"]  # their activations

    def total(self) -> float:
        return self.inputs.sum().item() + self.latents.sum().item() + self.error + self.bias


def source_vectors(model, frozen: FrozenRun, row: int, position: int) -> Float[Tensor, "source path d_model"]:
    """What each source adds to the residual stream at `position` (sequence `row`) before the MLP, through
    each path, with attention and ln1 frozen: [source, path, d_model].

    Sources, 2 (position + 1) of them: the token embeddings W_E[tokens[row, q]] for q = 0..position, then
    the positional embeddings W_pos[q] for the same q. Paths: 0 is the residual stream (only the two
    sources at q = position have one: the embedding itself), 1 + h is head h: a source e at position q
    reaches `position` as  pattern[row, h, position, q] * ((e - mean(e)) / ln1_scale[row, q] * ln1.w)
    @ W_V[h] @ W_O[h]. Biases (ln1.b, b_V, b_O) are not part of any source: they belong to the bias node."""
    n = position + 1
    embeddings = torch.cat([model.W_E[frozen.tokens[row, :n]], model.W_pos[:n]])  # [2n, d_model]
    scale = torch.cat([frozen.ln1_scale[row, :n]] * 2)  # [2n, 1]: each source sits at its position
    read = frozen_layer_norm(embeddings, scale) * model.blocks[0].ln1.w
    # Through head h, a source at key position q reaches the query `position` weighted by the pattern.
    weight = torch.cat([frozen.pattern[row, :, position, :n]] * 2, dim=-1)  # [head, 2n]
    ov = einops.einsum(read, model.W_V[0], model.W_O[0],
                       "source d_model, head d_model d_head, head d_head d_out -> source head d_out")
    heads = ov * weight.T[..., None]
    residual = torch.zeros_like(embeddings)
    residual[[position, n + position]] = embeddings[[position, n + position]]
    return torch.cat([residual[:, None], heads], dim=1)


def bias_vector(model, frozen: FrozenRun, row: int, position: int) -> Float[Tensor, " d_model"]:
    """The constant part of the residual stream at `position` before the MLP: the attention's output bias,
    and ln1's bias and the value bias carried through each head's OV circuit (each pattern row sums to 1)."""
    per_head = einops.einsum(model.blocks[0].ln1.b, model.W_V[0], "d_model, head d_model d_head -> head d_head")
    per_head = per_head + model.b_V[0]
    return model.b_O[0] + einops.einsum(per_head, model.W_O[0], "head d_head, head d_head d_out -> d_out")


def logit_direction(model, frozen: FrozenRun, row: int, position: int, token: int, other: int | None = None
                    ) -> tuple[Float[Tensor, " d_model"], float]:
    """The direction g [d_model] and constant c (a float) with target = resid_post[row, position] @ g + c,
    exactly, under the frozen final LayerNorm; target = logit[token], minus logit[other] if it is given.

    logit = ((x - mean(x)) / s * w + b) @ u + b_U[token], with u = W_U[:, token], s the frozen
    ln_final scale at (row, position), w, b ln_final's weight and bias. (x - mean(x)) @ v = x @ (v - mean(v)),
    so g = centre(w * u) / s and c = b @ u + b_U[token]; for a difference, u and b_U[token] are differences."""
    u = model.W_U[:, token] - (model.W_U[:, other] if other is not None else 0)
    b = model.b_U[token] - (model.b_U[other] if other is not None else 0)
    g = centred(model.ln_final.w * u) / frozen.ln_final_scale[row, position]
    return g, (model.ln_final.b @ u + b).item()


@torch.no_grad()
def attribute(model, transcoder: Transcoder, frozen: FrozenRun, row: int, position: int, token: int,
              other: int | None = None) -> Attribution:
    """Every node's exact contribution to logit[token] (minus logit[other]) at (row, position)."""
    g, constant = logit_direction(model, frozen, row, position, token, other)
    scale2 = frozen.ln2_scale[row, position]
    cfg = transcoder.cfg
    skip = transcoder.W_skip if transcoder.W_skip is not None else torch.zeros(cfg.d_in, cfg.d_out)

    def to_output(v: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        """A vector added before the MLP reaches the output directly and through the skip connection."""
        return v + frozen_layer_norm(v, scale2) @ skip

    sources = source_vectors(model, frozen, row, position)  # [source, path, d_model]
    bias = bias_vector(model, frozen, row, position)
    inputs = to_output(sources) @ g
    mlp_in = frozen.mlp_in[row, position][None]
    acts = transcoder.encode(mlp_in)[0]
    latents = acts * (transcoder.W_dec @ g)
    error = (frozen.mlp_out[row, position] - transcoder.decode(acts[None], mlp_in)[0]) @ g  # the error node, here
    bias_total = (to_output(bias) + transcoder.b_dec) @ g + constant
    # Edges into each active latent: its pre-activation, x @ W_enc[:, f] + b_enc[f], split by source.
    active = torch.nonzero(acts > 0)[:, 0]
    reads = transcoder.W_enc[:, active]  # [d_model, active]
    latent_edges = einops.einsum(frozen_layer_norm(sources, scale2), reads,
                                 "source path d_model, d_model active -> active source path")
    latent_bias = frozen_layer_norm(bias, scale2) @ reads + transcoder.b_enc[active]
    logit = frozen.logits[row, position, token] - (frozen.logits[row, position, other] if other is not None else 0)
    return Attribution(row, position, inputs, latents, error.item(), bias_total.item(), logit.item(),
                       latent_edges, latent_bias, active, acts[active])


def source_totals(attribution: Attribution) -> Float[Tensor, " source"]:
    """Each source's total effect on the target in the graph: its direct effect (every path) plus what it
    adds through each active latent (its edge into the latent, times the latent's effect per unit of
    activation). The graph's prediction of what removing the source would take away, latents held active."""
    per_unit = attribution.latents[attribution.active] / attribution.activations
    return attribution.inputs.sum(-1) + attribution.latent_edges.sum(-1).T @ per_unit


HOLDABLE = ("attention", "layer_norm", "transcoder")


def _holds(model, transcoder: Transcoder, tokens: Int[Tensor, "1 seq"], hold: tuple[str, ...]
           ) -> list[tuple[str, object]]:
    """Hooks that put the clean run's attention patterns and / or LayerNorm scales back in every run, and
    (for "transcoder") put the transcoder, plus the clean run's error node, in the MLP's place."""
    if unknown := set(hold) - set(HOLDABLE):
        raise ValueError(f"hold may name {HOLDABLE}, not {sorted(unknown)}")
    if not hold:
        return []
    clean = freeze(model, tokens)
    held = {"blocks.0.attn.hook_pattern": clean.pattern} if "attention" in hold else {}
    if "layer_norm" in hold:
        held |= {"blocks.0.ln1.hook_scale": clean.ln1_scale, "blocks.0.ln2.hook_scale": clean.ln2_scale,
                 "ln_final.hook_scale": clean.ln_final_scale}
    hooks = [(name, lambda value, hook, kept=kept: kept) for name, kept in held.items()]
    if "transcoder" in hold:
        error = error_node(transcoder, clean)[0]  # [seq, d_model]: a constant, as in the graph
        seen = {}

        def read(mlp_in, hook):
            seen["mlp_in"] = mlp_in[0]

        def replace(mlp_out, hook):  # the latents are recomputed from this run's input: they may switch
            return (transcoder(seen["mlp_in"])[1] + error)[None]

        hooks += [(MLP_IN_HOOK, read), (MLP_OUT_HOOK, replace)]
    return hooks


@torch.no_grad()
def measured_removals(model, transcoder: Transcoder, tokens: Int[Tensor, "1 seq"], position: int, token: int,
                      latents: list[int], sources: list[int], other: int | None = None,
                      hold: tuple[str, ...] = ()) -> tuple[Tensor, Tensor]:
    """The real model's answer to the graph: how the target logit (difference) at `position` changes when
    each latent is removed there (the MLP's output minus activation x decoder row: the error term kept),
    and when each source is removed (a token's embedding, or a position's, set to zero at its position;
    sources numbered as in source_vectors). By default nothing is frozen: attention, every LayerNorm and
    the MLP are recomputed. `hold` keeps some of what the graph freezes, to see which of them a miss comes
    from: "attention" (the clean run's patterns), "layer_norm" (its three scales), "transcoder" (the
    transcoder plus the clean error node in the MLP's place, its latents recomputed, so that they can
    still switch on or off). Returns (latent changes [len(latents)], source changes [len(sources)])."""
    n = position + 1
    held = _holds(model, transcoder, tokens, hold)

    def target(logits):
        return logits[0, position, token] - (logits[0, position, other] if other is not None else 0)

    clean = target(model.run_with_hooks(tokens, fwd_hooks=held))
    mlp_in = model.run_with_cache(tokens, names_filter=MLP_IN_HOOK)[1][MLP_IN_HOOK][0, position]
    acts = transcoder.encode(mlp_in[None])[0]
    latent_changes = []
    for f in latents:
        def remove(mlp_out, hook, f=f):
            mlp_out = mlp_out.clone()
            mlp_out[0, position] -= acts[f] * transcoder.W_dec[f]
            return mlp_out
        latent_changes.append(target(model.run_with_hooks(tokens, fwd_hooks=[*held, (MLP_OUT_HOOK, remove)])) - clean)
    source_changes = []
    for s in sources:
        hook_name, q = ("hook_embed", s) if s < n else ("hook_pos_embed", s - n)

        def zero(embedding, hook, q=q):
            embedding = embedding.clone()
            embedding[:, q] = 0
            return embedding
        source_changes.append(target(model.run_with_hooks(tokens, fwd_hooks=[*held, (hook_name, zero)])) - clean)
    return torch.stack(latent_changes) if latent_changes else torch.zeros(0), \
        torch.stack(source_changes) if source_changes else torch.zeros(0)


# ---------------------------------------------------------------------------- the graph


def node_names(model, frozen: FrozenRun, attribution: Attribution) -> list[str]:
    """Names of the graph's nodes, in compute_attribution_matrix's order."""
    tokens = frozen.tokens[attribution.row, : attribution.position + 1].tolist()
    names = [f"tok {q} {model.to_single_str_token(t)!r}" for q, t in enumerate(tokens)]
    names += [f"pos {q}" for q in range(len(tokens))]
    names += [f"latent {f}" for f in attribution.active.tolist()]
    return names + ["error", "bias", "logit"]


def compute_attribution_matrix(attribution: Attribution) -> Float[Tensor, "node node"]:
    """A[target, source]: how much each node adds to each node it feeds, over the graph's nodes in the
    order sources, active latents, error, bias, logit. In one layer the edges run source -> latent,
    source -> logit, latent -> logit, error -> logit and bias -> latent / logit (no latent -> latent).
    Each row sums to its node's value: an active latent's activation, or the logit."""
    n_sources, n_active = attribution.inputs.shape[0], len(attribution.active)
    n = n_sources + n_active + 3
    error, bias, logit = n - 3, n - 2, n - 1
    A = torch.zeros(n, n)
    latents = slice(n_sources, n_sources + n_active)
    A[latents, :n_sources] = attribution.latent_edges.sum(-1)  # over paths
    A[latents, bias] = attribution.latent_bias
    A[logit, :n_sources] = attribution.inputs.sum(-1)
    A[logit, latents] = attribution.latents[attribution.active]
    A[logit, error] = attribution.error
    A[logit, bias] = attribution.bias
    return A


def compute_influence(A: Float[Tensor, "node node"], target: int = -1) -> Float[Tensor, " node"]:
    """Each node's total influence on the target node: the edges' absolute values, each row normalised to
    sum to 1 (a node's inputs as shares of what drives it), summed over every path to the target:
    e_target (Â + Â² + ...) = e_target ((I - Â)^-1 - I). The graph is a DAG, so the series is finite and
    the inverse exact (the `circuit-tracer` library sums the same series term by term on larger graphs,
    starting from the probabilities of the top logits rather than one target)."""
    weights = A.abs()
    totals = weights.sum(-1, keepdim=True)
    normalised = torch.where(totals > 0, weights / totals.clamp(min=1e-30), torch.zeros_like(weights))
    identity = torch.eye(len(A), dtype=A.dtype)
    paths = torch.linalg.inv(identity - normalised) - identity
    return paths[target]


def prune_graph(influence: Float[Tensor, " node"], share: float = 0.8) -> Tensor:
    """Which nodes to keep: the most influential ones, in order, until they carry `share` of the total
    influence (the node that crosses the line is kept); the target (zero influence on itself) is always
    kept. Returns a bool mask over the nodes."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], not {share}")
    order = influence.argsort(descending=True)
    cumulative = influence[order].cumsum(0) / influence.sum()
    n_keep = int((cumulative < share).sum()) + 1
    keep = torch.zeros(len(influence), dtype=torch.bool)
    keep[order[:n_keep]] = True
    keep[-1] = True
    return keep


# ---------------------------------------------------------------------------- reading a latent


def de_embedding(model, transcoder: Transcoder, latent: int, scale: float | Tensor) -> Float[Tensor, " d_vocab"]:
    """What each vocabulary token adds to `latent`'s pre-activation directly, through the residual stream
    at its own position, when ln2's frozen scale there is `scale`: centre(W_E[t]) / scale @ W_enc[:, latent],
    for every token t at once [d_vocab]. The transcoder reads hook_normalized, before ln2's w and b, so
    neither appears. The rest of the pre-activation (the position, the heads, the biases) is not in it."""
    return frozen_layer_norm(model.W_E, scale) @ transcoder.W_enc[:, latent]
