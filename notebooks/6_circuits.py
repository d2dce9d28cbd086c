# %% [markdown]
# # 6. Circuits: a transcoder and exact attribution graphs
#
# *About 2 hours. Prerequisites: sections 3 to 5.*
#
# Section 5 asked which latents matter for a prediction, one latent at a time. Here we ask *how* the
# prediction is computed: which input tokens drive which latents, and which of them push the logit up or
# down. The field's tool for this is the **attribution graph** (Anthropic's "Circuit Tracing", 2025; the
# `circuit-tracer` library): replace each MLP by a **transcoder**, a sparse dictionary trained to
# *predict the MLP's output from its input* (Dunefsky et al. 2024; Anthropic uses cross-layer
# transcoders, whose latents write into every later layer), freeze the attention patterns and the
# LayerNorm scales at their values in the real run, and add an error node for what the transcoder misses:
# Anthropic's *local replacement model*. Everything left is linear except each latent's own activation;
# with the active latents' activations as nodes, every logit is an exact sum of contributions of token
# and position embeddings, latents, the error node and biases.
#
# On a large model that needs a GPU and a library. On our one-layer model it is small, exact and cheap:
#
# 1. **the transcoder**, its encoder and decoder (exercises 1 and 2), and one you train yourself;
# 2. **the replacement model**: the transcoder in place of the MLP, attention and LayerNorm frozen, an
#    error node, and the clean logits back (exercise 3);
# 3. **direct effects**: each node's contribution to a logit, which sum to it (exercises 4 and 5);
# 4. **the graph**: the attribution matrix, influence, and pruning (exercise 6);
# 5. **a case study**: one prediction read from its graph, its latents read by their de-embeddings
#    (exercise 7) and top activations, and the graph's claims tested in the real model;
# 6. **checking the graph by intervention** over many prompts, where nothing is frozen, and which frozen
#    quantity each miss comes from.
#
# Each part ends with a measurement, and the prose says only what it printed.

# %% tags=["setup"] reference="bootstrap"
# Make this notebook work wherever it is opened. Inside the workbook's folder this only makes the
# folder importable. Opened alone (in Colab, or a fresh Jupyter), it first clones the workbook from
# WORKBOOK_GIT_URL and installs the few packages that Colab lacks (once; the torch already there is kept).
import os
import subprocess
import sys
from pathlib import Path

# Set by `python -m utils.build --git-url URL` (see README, "Teaching with it"); the environment variable
# WORKBOOK_GIT_URL, where set, takes precedence.
WORKBOOK_GIT_URL = ""
CLONE_TO = Path(os.environ.get("WORKBOOK_DIR") or ("/content/workbook" if "google.colab" in sys.modules
                                                   else "superposition-workbook")).resolve()


def find_workbook() -> Path | None:
    for folder in [Path.cwd(), *Path.cwd().parents, CLONE_TO]:
        if (folder / "utils" / "build.py").exists():
            return folder
    return None


WORKBOOK = find_workbook()
git_url = os.environ.get("WORKBOOK_GIT_URL") or WORKBOOK_GIT_URL
if WORKBOOK is None and git_url:
    print(f"fetching the workbook from {git_url} into {CLONE_TO} (once) ...")
    subprocess.run(["git", "clone", "--quiet", "--depth=1", git_url, str(CLONE_TO)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-r",
                    str(CLONE_TO / "utils" / "requirements-colab.txt")], check=True)
    WORKBOOK = find_workbook()
if WORKBOOK is None:
    raise RuntimeError("Cannot find the workbook's folder (the one with utils/, solutions/ and tests/): open this"
                       " notebook from inside it, or set WORKBOOK_GIT_URL (an environment variable, or"
                       " `python -m utils.build --git-url URL`) to the course's git repository.")
if str(WORKBOOK) not in sys.path:
    sys.path.insert(0, str(WORKBOOK))

# %% tags=["setup"]
import time
from dataclasses import dataclass

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from torch.nn import functional as F

import utils
from solutions.circuits import (
    MLP_IN_HOOK,
    MLP_OUT_HOOK,
    FrozenRun,
    PairedActivationBuffer,
    TranscoderConfig,
    centred,
    freeze,
    frozen_layer_norm,
    measured_removals,
    node_names,
    source_totals,
    train_transcoder,
    transcoder_metrics,
)
from solutions.interpretation import format_context
from tests.checks.circuits import (
    check_compute_influence,
    check_de_embedding,
    check_logit_direction,
    check_replacement_logits,
    check_source_vectors,
    check_transcoder_decode,
    check_transcoder_encode,
)
from utils.device import get_device
from utils.loading import load_model, load_tokens, load_transcoder

utils.use_offline_renderer()
utils.set_seed(0)

model = load_model("bundled")
model.requires_grad_(False)
device = model.cfg.device
tokens = load_tokens(4096, seq_len=128, split="test", tokenizer=model.tokenizer).to(device)  # 32 held out
print(f"{tuple(tokens.shape)} held-out tokens; the MLP reads {MLP_IN_HOOK} and writes {MLP_OUT_HOOK}")


# %% [markdown]
# ## Part 1: the transcoder
#
# An SAE reconstructs an activation from itself. A **transcoder** reads the MLP's *input* and predicts
# its *output*, through a few active latents:
#
# ```
# acts      = TopK(ReLU(x @ W_enc + b_enc))        [batch, d_hidden]   x: the MLP's input
# predicted = acts @ W_dec + b_dec + x @ W_skip     [batch, d_out]      the MLP's output
# ```
#
# Replace the MLP by it and the MLP's computation becomes a sum of a few decoder rows, each switched on
# by a linear read of the input: the form a graph needs. `W_skip` is a **skip connection** (Paulo et al.
# 2025, "skip transcoders"): a linear map from input to output, so that the latents need not spend
# themselves on what the MLP does linearly.
#
# The input here is `blocks.0.ln2.hook_normalized`. In TransformerLens this hook holds LayerNorm's output
# *before* its weight and bias, `(x - mean) / scale`; the MLP reads `normalized * ln2.w + ln2.b`. The
# transcoder learns that affine map into its encoder and skip connection: the same functions, with one
# map fewer to carry through the graph.

# %% [markdown]
# ## Exercise 1: `Transcoder.encode`
#
# > **Difficulty** 1/5 · **Estimated time** 10 min · **Why it matters:** the encoder decides which latents a token switches on, and every edge into a latent in the graph is a piece of its pre-activation.
#
# `encode(x)`: `pre = x @ W_enc + b_enc` (`[batch, d_hidden]`), keep each input's `cfg.k` largest
# pre-activations through a ReLU, and set every other latent to 0 (as the TopK SAE of section 2b). Keep
# the ReLU: some of an input's k largest can be negative.
#
# ## Exercise 2: `Transcoder.decode`
#
# > **Difficulty** 1/5 · **Estimated time** 5 min · **Why it matters:** the decoder rows are what each latent writes into the residual stream, and the skip connection is a path of its own in the graph.
#
# `decode(acts, x)`: `acts @ W_dec + b_dec`, plus `x @ W_skip` when the transcoder has a skip connection
# (`W_skip` is `None` when `cfg.skip` is False). Both are trained through: no `.detach()`.

# %% tags=["exercise"] reference="circuits:Transcoder"
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
        raise NotImplementedError("Transcoder.encode: not implemented yet")

    def decode(self, acts: Float[Tensor, "batch d_hidden"], x: Float[Tensor, "batch d_in"]
               ) -> Float[Tensor, "batch d_out"]:
        """The predicted MLP output: acts @ W_dec + b_dec, plus the skip connection x @ W_skip when the
        transcoder has one (cfg.skip; W_skip is None otherwise). x is the transcoder's input, [batch, d_in]."""
        raise NotImplementedError("Transcoder.decode: not implemented yet")

    def forward(self, x: Float[Tensor, "batch d_in"]
                ) -> tuple[Float[Tensor, "batch d_hidden"], Float[Tensor, "batch d_out"]]:
        """(acts, predicted MLP output)."""
        acts = self.encode(x)
        return acts, self.decode(acts, x)


# %% tags=["check"]
check_transcoder_encode(Transcoder)
check_transcoder_decode(Transcoder)

# %% [markdown]
# **Train one yourself.** A small transcoder (1,024 latents, k = 16) on 300 steps of 1,024 tokens of the
# training split, with section 2's Adam step, a warm-up and a decay (`train_transcoder`, given). Then it
# and the bundled one (4,096 latents, k = 30, trained by `scripts/train_transcoder.py` on about 6 million
# tokens; the model card has its record) are measured on 32 held-out sequences: the loss with the
# transcoder in place of the MLP, as the share of the loss increase from zero-ablating the MLP (its output
# set to its bias `b_out`) that the transcoder wins back (section 3's "loss recovered"), the variance of the
# MLP's output it explains, L0 and dead latents.

# %% tags=["experiment"]
utils.set_seed(0)
train_rows = load_tokens(300 * 1024, seq_len=128, split="train", tokenizer=model.tokenizer)
mine = Transcoder(TranscoderConfig(d_in=model.cfg.d_model, d_out=model.cfg.d_model, d_hidden=1024, k=16),
                  device=device)
started = time.perf_counter()
train_transcoder(mine, PairedActivationBuffer(model, train_rows.to(device)), batch_size=1024, steps=300, lr=2e-3,
                 log_freq=100, warmup_steps=20)
print(f"trained in {time.perf_counter() - started:.0f} s (wall)")
transcoder = load_transcoder()
transcoder.requires_grad_(False)
mine.requires_grad_(False)
for name, t in [("yours", mine), ("bundled", transcoder)]:
    m = transcoder_metrics(model, t, tokens)
    print(f"{name:>8}: loss recovered {m['loss_recovered']:.0%}, explained variance of the MLP's output"
          f" {m['explained_variance']:.0%}, L0 {m['l0']:.0f}, dead {m['dead_fraction']:.0%}")
print(f"loss: clean {m['loss_clean']:.3f}, with the bundled transcoder {m['loss_replaced']:.3f},"
      f" with the MLP zero-ablated {m['loss_mlp_ablated']:.3f} nats")


# %% [markdown]
# The bundled transcoder is the better of the two (it has four times the latents, k = 30 rather than 16,
# and twenty times the training tokens; which of these matters was not measured), and neither is the
# MLP: the rest of this notebook uses the bundled one, and what it misses comes back as the **error
# node**. Most of the bundled transcoder's latents never fire on these 4,096 tokens (the last column); on
# the model card's 65,536 held-out tokens (`checkpoints/bundled/MODEL_CARD.md`), 56.2% never fire. They
# died during training, under each of the three recipes tried (listed in `scripts/train_transcoder.py`),
# for a reason not yet established. A dead latent is never a node of a graph, so the graphs
# below are built from the live ones.

# %% [markdown]
# ## Part 2: the replacement model
#
# ## Exercise 3: `replacement_logits`
#
# > **Difficulty** 3/5 · **Estimated time** 25 min · **Why it matters:** freezing attention and the LayerNorm scales is what makes every edge of the graph linear, so that a logit splits exactly into contributions; it is also an approximation of the real model, tested in parts 5 and 6.
#
# `freeze(model, tokens)` (given) runs the model once and keeps, in a `FrozenRun`, the attention
# patterns `[batch, head, query, key]`, the three LayerNorm scales `[batch, seq, 1]`, the MLP's input and
# output, and the clean logits. `replacement_logits(model, transcoder, frozen, latent_hook=None)`
# recomputes the logits from the embeddings with those frozen values, the transcoder in place of the MLP
# and the error node added back (the docstring has every line). Without an edit the result is the clean
# model's logits; `latent_hook` may edit the latents (`[batch, seq, d_hidden]`).
#
# Shapes: `model.W_E [d_vocab, d_model]`, `model.W_pos [n_ctx, d_model]`, `model.W_V[0] [head, d_model,
# d_head]`, `model.W_O[0] [head, d_head, d_model]`, `model.b_V[0] [head, d_head]`, `model.b_O[0]
# [d_model]`, `model.blocks[0].ln1.w`, `.b` `[d_model]`, `model.ln_final.w`, `.b`, `model.W_U [d_model,
# d_vocab]`, `model.b_U`. `frozen_layer_norm(x, scale)` and `error_node(transcoder, frozen)` are given.
#
# *Hint:* the model's own forward pass (or `run_with_hooks`) would recompute the attention and the
# scales; write the few lines yourself, with `einops.einsum` for the heads.

# %% reference="circuits:error_node"
def error_node(transcoder: Transcoder, frozen: FrozenRun) -> Float[Tensor, "batch seq d_model"]:
    """What the transcoder misses in the clean run: the MLP's output minus the transcoder's prediction of it
    from the MLP's clean input. A constant of the replacement model: an edit does not change it."""
    predicted = transcoder(einops.rearrange(frozen.mlp_in, "batch seq d -> (batch seq) d"))[1]
    return frozen.mlp_out - predicted.reshape(frozen.mlp_out.shape)


# %% tags=["exercise"] reference="circuits:replacement_logits"
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
    raise NotImplementedError("replacement_logits: not implemented yet")


# %% tags=["check"]
check_replacement_logits(replacement_logits)

# %% [markdown]
# On 8 held-out sequences: the replacement model against the clean run, and how large the error node is
# against the MLP's output it stands in for (the ratio of their norms, over every token).

# %% tags=["experiment"]
sample = tokens[:8]
frozen = freeze(model, sample)
with torch.no_grad():
    replaced = replacement_logits(model, transcoder, frozen)
    errors = error_node(transcoder, frozen)
print(f"largest |replacement - clean| logit below 1e-3: {bool((replaced - frozen.logits).abs().max() < 1e-3)}")
ratio = errors.norm(dim=-1) / frozen.mlp_out.norm(dim=-1)
print(f"|error node| / |MLP output|: median {ratio.median():.2f}, 90th percentile {ratio.quantile(0.9):.2f}")


# %% [markdown]
# The logits are the clean ones, and the error node is not small: at the median token its norm is 0.29
# of the MLP output's, and at the 90th percentile 0.38. A graph that left it out would explain a
# different model. It stays in every graph below as a node of its own, so that its part in each logit
# is visible.

# %% [markdown]
# ## Part 3: direct effects
#
# With everything frozen, the logit of token `t` at position `p` is linear in the residual stream there:
# `logit = resid_post[p] @ g + c`. And `resid_post[p]` is a sum of pieces: each token's and position's
# embedding up to `p`, carried by each head (and, for position `p`'s own two, by the residual stream),
# directly and through the skip connection; each active latent's decoder row; the error node; constants. Each piece's dot product with `g` is its **direct effect**,
# and they sum to the logit exactly.
#
# ## Exercise 4: `logit_direction`
#
# > **Difficulty** 2/5 · **Estimated time** 15 min · **Why it matters:** the final LayerNorm stands between the residual stream and the logits; frozen, it is a fixed linear read, and getting its centring and scale right is what makes the sums exact.
#
# `logit_direction(model, frozen, row, position, token, other=None)` returns `(g, c)` with
# `logit[token] - logit[other] = resid_post @ g + c` under the frozen final LayerNorm (without `other`,
# the logit itself). The docstring has the algebra: the centring moves onto the direction.

# %% tags=["exercise"] reference="circuits:logit_direction"
def logit_direction(model, frozen: FrozenRun, row: int, position: int, token: int, other: int | None = None
                    ) -> tuple[Float[Tensor, " d_model"], float]:
    """The direction g [d_model] and constant c (a float) with target = resid_post[row, position] @ g + c,
    exactly, under the frozen final LayerNorm; target = logit[token], minus logit[other] if it is given.

    logit = ((x - mean(x)) / s * w + b) @ u + b_U[token], with u = W_U[:, token], s the frozen
    ln_final scale at (row, position), w, b ln_final's weight and bias. (x - mean(x)) @ v = x @ (v - mean(v)),
    so g = centre(w * u) / s and c = b @ u + b_U[token]; for a difference, u and b_U[token] are differences."""
    raise NotImplementedError("logit_direction: not implemented yet")


# %% tags=["check"]
check_logit_direction(logit_direction)


# %% [markdown]
# ## Exercise 5: `source_vectors`
#
# > **Difficulty** 3/5 · **Estimated time** 25 min · **Why it matters:** these are the graph's input nodes: which earlier tokens reach a position, through which head, and how much through the residual stream.
#
# `source_vectors(model, frozen, row, position)` returns what each source adds to the residual stream at
# `position` before the MLP, through each path: `[source, path, d_model]`. Sources: the token embeddings
# at positions `0..position`, then the positional embeddings at the same positions. Paths: the residual
# stream (only the two sources at `position` itself have one), then each head, where a source at `q`
# arrives weighted by `pattern[row, h, position, q]` after ln1 (frozen, with its own position's scale) and
# the head's OV circuit. Biases are left out: they belong to the bias node (`bias_vector`, given).

# %% tags=["exercise"] reference="circuits:source_vectors"
def source_vectors(model, frozen: FrozenRun, row: int, position: int) -> Float[Tensor, "source path d_model"]:
    """What each source adds to the residual stream at `position` (sequence `row`) before the MLP, through
    each path, with attention and ln1 frozen: [source, path, d_model].

    Sources, 2 (position + 1) of them: the token embeddings W_E[tokens[row, q]] for q = 0..position, then
    the positional embeddings W_pos[q] for the same q. Paths: 0 is the residual stream (only the two
    sources at q = position have one: the embedding itself), 1 + h is head h: a source e at position q
    reaches `position` as  pattern[row, h, position, q] * ((e - mean(e)) / ln1_scale[row, q] * ln1.w)
    @ W_V[h] @ W_O[h]. Biases (ln1.b, b_V, b_O) are not part of any source: they belong to the bias node."""
    raise NotImplementedError("source_vectors: not implemented yet")


# %% tags=["check"]
check_source_vectors(source_vectors)


# %% [markdown]
# `attribute` (given) puts the pieces together for one target: each source's direct effect through each
# path (the skip connection included: a source reaches the output also through `x @ W_skip`), each active
# latent's (activation times `W_dec[f] @ g`), the error node's and the biases'; and the **edges into each
# latent**, the pieces of its pre-activation. The test of the whole construction is **completeness**:
# the parts must sum to the logit. 200 random targets (a sequence, a position, a vocabulary token) on the
# 8 sequences:

# %% reference="circuits:Attribution"
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


# %% reference="circuits:bias_vector"
def bias_vector(model, frozen: FrozenRun, row: int, position: int) -> Float[Tensor, " d_model"]:
    """The constant part of the residual stream at `position` before the MLP: the attention's output bias,
    and ln1's bias and the value bias carried through each head's OV circuit (each pattern row sums to 1)."""
    per_head = einops.einsum(model.blocks[0].ln1.b, model.W_V[0], "d_model, head d_model d_head -> head d_head")
    per_head = per_head + model.b_V[0]
    return model.b_O[0] + einops.einsum(per_head, model.W_O[0], "head d_head, head d_head d_out -> d_out")


# %% reference="circuits:attribute"
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


# %% tags=["experiment"]
generator = torch.Generator().manual_seed(0)
gaps, edge_gaps = [], []
for _ in range(200):
    row, position = int(torch.randint(8, (1,), generator=generator)), int(torch.randint(128, (1,), generator=generator))
    target = int(torch.randint(model.cfg.d_vocab, (1,), generator=generator))
    parts = attribute(model, transcoder, frozen, row, position, target)
    gaps.append(abs(parts.total() - parts.logit))
    edge_gaps.append(float((parts.latent_edges.sum((1, 2)) + parts.latent_bias - parts.activations).abs().max()))
print(f"completeness, |sum of the parts - logit| below 1e-4 for all 200: {max(gaps) < 1e-4}")
print(f"edges into each active latent sum to its activation (to 1e-4) for all 200: {max(edge_gaps) < 1e-4}")

# %% [markdown]
# **One prediction, read from its parts.** The prompt below ends in `def __init__(`; the model's top
# prediction, and the parts of its logit: the total of each kind of node, the five sources with the
# largest direct effects (with their split over the residual stream and the heads), and the five
# latents with the largest.

# %% tags=["experiment"]
prompt = model.to_tokens("class Point:\n    def __init__(")
case = freeze(model, prompt)
position = prompt.shape[1] - 1
top = int(case.logits[0, position].argmax())
print(f"prompt ends {model.to_single_str_token(int(prompt[0, -1]))!r}; top prediction {model.to_single_str_token(top)!r},"
      f" probability {case.logits[0, position].softmax(-1)[top]:.2f}")
parts = attribute(model, transcoder, case, 0, position, top)
names = node_names(model, case, parts)
n_sources = parts.inputs.shape[0]
print(f"logit {parts.logit:.2f} = inputs {parts.inputs.sum():.2f} + latents {parts.latents.sum():.2f}"
      f" + error {parts.error:.2f} + bias {parts.bias:.2f}")
for s in parts.inputs.sum(-1).abs().topk(5).indices.tolist():
    split = ", ".join(f"{'residual' if k == 0 else f'head {k - 1}'} {v:+.2f}" for k, v in enumerate(parts.inputs[s].tolist()))
    print(f"  {names[s]:<24} {parts.inputs[s].sum():+.2f}  ({split})")
activation = dict(zip(parts.active.tolist(), parts.activations.tolist(), strict=True))
for f in parts.latents.abs().topk(5).indices.tolist():
    print(f"  latent {f:>4}: activation {activation[f]:.2f}, direct effect {parts.latents[f]:+.2f}")
attention = case.pattern[0, 0, position]  # head 0, from the last position, over the keys
print("head 0's attention from the last position, largest three: " + ", ".join(
    f"{names[q]} {attention[q]:.2f}" for q in attention.topk(3).indices.tolist()))


# %% [markdown]
# The model is sure (`self`, probability 0.99), and the parts say where that comes from: more than half
# of the logit (7.82 of 13.82) is the transcoder's latents, with latent 361 alone +3.08; the input
# nodes give 5.71, the error node 0.97 and the biases −0.70. Among the inputs, the token `__(` itself
# counts most, and mostly through the residual stream, directly and through the skip connection (+1.98 of
# its +2.66): what the current token is. The
# ` def` three tokens back comes next, through head 0 (+1.50, more than its total +1.30), and head 0 does
# look there: it puts 0.47 of its attention from this position on ` def` (last line). One reading, not
# tested here: head 0 marks the position as inside a signature. `init` and ` __` arrive mostly through
# head 3.

# %% [markdown]
# ## Part 4: the graph
#
# `compute_attribution_matrix` (given) lays the parts out as a matrix `A[target, source]` over the nodes:
# sources, active latents, error, bias, and the logit last. In one layer, attention comes before the MLP,
# so the edges run source → latent, source → logit, latent → logit, error → logit and bias → latent or
# logit, and there are no latent → latent edges. (In a deeper model a latent of layer 1 reads the output
# of layer 0's latents through the residual stream and the heads: those are the edges a second layer adds,
# and why graphs of real models are deep.)
#
# ## Exercise 6: `compute_influence`
#
# > **Difficulty** 2/5 · **Estimated time** 15 min · **Why it matters:** a node can matter without a large edge to the logit, through the latents it drives; influence counts every path, and it is what pruning ranks by.
#
# `compute_influence(A, target=-1)`: take `|A|`, normalise each row (a node's incoming edges) to sum to 1
# (rows of zeros stay zero): that is `Â`, each input as a share of what drives the node. A node's
# influence on the target is the sum over every path from it to the target of the product of the shares
# along the path: row `target` of `Â + Â² + Â³ + ... = (I - Â)⁻¹ - I`. The graph has no cycles, so the
# series ends and the inverse is exact (`circuit-tracer` sums the same series term by term on large
# graphs).

# %% reference="circuits:compute_attribution_matrix"
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


# %% tags=["exercise"] reference="circuits:compute_influence"
def compute_influence(A: Float[Tensor, "node node"], target: int = -1) -> Float[Tensor, " node"]:
    """Each node's total influence on the target node: the edges' absolute values, each row normalised to
    sum to 1 (a node's inputs as shares of what drives it), summed over every path to the target:
    e_target (Â + Â² + ...) = e_target ((I - Â)^-1 - I). The graph is a DAG, so the series is finite and
    the inverse exact (the `circuit-tracer` library sums the same series term by term on larger graphs,
    starting from the probabilities of the top logits rather than one target)."""
    raise NotImplementedError("compute_influence: not implemented yet")


# %% tags=["check"]
check_compute_influence(compute_influence)


# %% [markdown]
# In one layer a latent feeds only the logit, so a latent's influence is simply its share of the logit's
# incoming |edges|; a token's adds its shares through the latents it drives. The bias node counts in
# those shares too, so every other node's share is smaller than it would be in `circuit-tracer`, which
# has no bias node.
#
# `prune_graph` (given) keeps the most influential nodes until they carry a chosen share of the total
# influence (`SHARE` below). It is a simplified version of `circuit-tracer`'s pruning, which always keeps
# the token and logit nodes, also prunes edges, and has no bias node. The graph of the prediction above,
# pruned:

# %% reference="circuits:prune_graph"
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


# %% tags=["experiment"]
SHARE = 0.8
A = compute_attribution_matrix(parts)
influence = compute_influence(A)
keep = prune_graph(influence, SHARE)
print(f"{len(A)} nodes ({n_sources} sources, {len(parts.active)} active latents, error, bias, logit); kept"
      f" {int(keep.sum())}: the logit and the fewest nodes that carry at least {SHARE:.0%} of the total influence")
for i in influence.topk(8).indices.tolist():
    print(f"  {names[i]:<24} influence {influence[i]:.3f}")
utils.plot_attribution_graph(A, names, keep, f"Why {model.to_single_str_token(top)!r} after 'def __init__(':"
                             " the pruned attribution graph").show()

# %% [markdown]
# ## Part 5: a case study, from the graph to the real model
#
# The graph says which nodes carry the prediction of `self`, but a node called `latent 361` explains
# nothing yet, and the graph is exact only for the replacement model. So, in order: read the graph's
# most influential latents, with two views of each; then test what the graph says in the real model,
# where nothing is frozen.
#
# The two views: a latent's **top activations** (section 4: the tokens in context where it fires most),
# and its **de-embedding**, a reading of the weights alone: the tokens whose embeddings drive it directly,
# through the residual stream at their own position (Dunefsky et al. 2024 read transcoder latents the same
# way). Set side by side, they say how much of a latent is the current token and how much is its context.
#
# ## Exercise 7: `de_embedding`
#
# > **Difficulty** 2/5 · **Estimated time** 10 min · **Why it matters:** a de-embedding is the graph's token → latent edge through the residual stream for every token of the vocabulary at once, read from the weights: no data needed, and a check on what the top activations suggest.
#
# `de_embedding(model, transcoder, latent, scale)`: for every token `t`, what its embedding adds to the
# latent's pre-activation through the residual stream at its own position, when ln2's frozen scale
# there is `scale`: `centre(W_E[t]) / scale @ W_enc[:, latent]`, `[d_vocab]`. The transcoder reads
# `hook_normalized`, so ln2's weight and bias do not appear. For the current token of a graph, with its
# position's scale, it is the edge from the token's node to the latent along the residual path (the check
# tests this). `scale` is one positive number: it sets the values, never the ranking. `scale` may be a float or a tensor of shape `[1]`.

# %% tags=["exercise"] reference="circuits:de_embedding"
def de_embedding(model, transcoder: Transcoder, latent: int, scale: float | Tensor) -> Float[Tensor, " d_vocab"]:
    """What each vocabulary token adds to `latent`'s pre-activation directly, through the residual stream
    at its own position, when ln2's frozen scale there is `scale`: centre(W_E[t]) / scale @ W_enc[:, latent],
    for every token t at once [d_vocab]. The transcoder reads hook_normalized, before ln2's w and b, so
    neither appears. The rest of the pre-activation (the position, the heads, the biases) is not in it."""
    raise NotImplementedError("de_embedding: not implemented yet")


# %% tags=["check"]
check_de_embedding(de_embedding)

# %% [markdown]
# The three most influential latents of the graph above, each with: its activation here and the edges
# into it (the current token through the residual stream, the other sources, the biases), and its three
# strongest edges (which token or position, through which path); its
# de-embedding's top 8 tokens, at this position's ln2 scale; and its 5 top activations on the 4,096
# held-out tokens. The last line asks whether the tokens it fires on most are ones its weights favour
# directly: the (up to) four commonest tokens under its 20 top activations, how many of the 20 each has,
# and its rank in the de-embedding (1 is the top, of the whole vocabulary).

# %% tags=["experiment"]
with torch.no_grad():
    held_out_in = model.run_with_cache(tokens, names_filter=MLP_IN_HOOK)[1][MLP_IN_HOOK]
    held_out_acts = transcoder.encode(einops.rearrange(held_out_in, "batch seq d -> (batch seq) d"))
scale = case.ln2_scale[0, position]
n_sources = parts.inputs.shape[0]
case_latents = [int(parts.active[i]) for i in influence[n_sources : n_sources + len(parts.active)].topk(3).indices]
current = int(prompt[0, position])
print(f"(de-embedding ranks are out of the vocabulary's {model.cfg.d_vocab:,} tokens)")
for f in case_latents:
    i = parts.active.tolist().index(f)
    own = parts.latent_edges[i, position, 0]
    print(f"latent {f}: activation {parts.activations[i]:.2f} = current token {model.to_single_str_token(current)!r}"
          f" via the residual stream {own:+.2f} + other sources and paths {parts.latent_edges[i].sum() - own:+.2f}"
          f" + biases {parts.latent_bias[i]:+.2f}; fires on {(held_out_acts[:, f] > 0).float().mean():.1%} of held-out tokens")
    edges = parts.latent_edges[i]  # [source, path]
    paths = ["residual", *(f"head {h}" for h in range(model.cfg.n_heads))]
    print("  strongest edges in: " + ", ".join(f"{names[k // len(paths)]} via {paths[k % len(paths)]} {edges.flatten()[k]:+.2f}"
                                              for k in edges.flatten().abs().topk(3).indices.tolist()))
    with torch.no_grad():
        reading = de_embedding(model, transcoder, f, scale)
    print("  de-embedding, top 8: " + ", ".join(f"{model.to_single_str_token(t)!r} {reading[t]:+.2f}"
                                                for t in reading.topk(8).indices.tolist()))
    values, where = held_out_acts[:, f].topk(20)
    for value, index in zip(values[:5].tolist(), where[:5].tolist(), strict=True):
        print(f"  {value:6.2f}  {format_context(tokens, model, *divmod(index, tokens.shape[1]))}")
    rank = torch.empty_like(reading, dtype=torch.long)
    rank[reading.argsort(descending=True)] = torch.arange(1, len(reading) + 1)
    under = torch.bincount(tokens.flatten()[where], minlength=len(reading))
    print("  under its 20 top activations (token: count, de-embedding rank): " + ", ".join(
        f"{model.to_single_str_token(t)!r}: {int(under[t])}, {int(rank[t])}" for t in under.argsort(descending=True)[:4].tolist()
        if under[t] > 0))

# %% [markdown]
# **The three share their largest edge**: ` def`, three tokens back, through head 0 (+2.59 of 361's
# activation 3.29, +1.13 of 198's 2.71, +3.21 of 3599's 2.33, which its biases −2.17 offset); the current
# token `__(` through the residual stream gives +0.64 to +0.87. That fits what part 3 printed: from here,
# head 0 looks at ` def` (0.47 of its attention). **What their de-embeddings say differs.** Latent 3599
# fires most on the tokens its weights favour most: 16 of its 20 top activations are on `(`, its
# de-embedding's first, and 4 on `__(`, its second (the five printed: `(` after `def name`). Latent 198
# is in between: 13 of its 20 are on `__(`, 21st in its de-embedding, and none of its de-embedding's top
# eight (`'un'`, `'Un'`, ...) is among them; the five printed are all `__(` after `def __eq`, `def __init`
# or `def __new`, the opening bracket of a dunder method, as in the prompt. Latent 361 fires most on
# tokens its weights do not favour (`(` ranks 938, `self` 508, `stderr` 3109): the five printed are in a
# test method's name or at its `(` (four visibly after `def test_`), and 3 of the 20 are on `self`, the
# parameter after it; what they share is context, not a token. These readings rest on 20 top activations of 4,096 tokens, not on every token
# the latents fire on (section 4's precision and recall would test them).
#
# **Tested in the real model.** The graph predicts what removing a node takes from the logit: a latent's
# direct effect; a token embedding's direct effect plus what it adds through the latents it drives
# (`source_totals`, given), with those latents held active. `measured_removals` (given) removes each in
# the real model, where attention, every LayerNorm and the MLP are recomputed: a latent by subtracting its
# activation times its decoder row from the MLP's output (the error term kept), a token by setting its
# embedding to zero. The three latents above, and the three most influential token embeddings:

# %% tags=["experiment"]
case_sources = influence[: position + 1].topk(3).indices.tolist()  # token embeddings only
totals = source_totals(parts)
case_nodes = [f"latent {f}" for f in case_latents] + [names[s] for s in case_sources]
case_predicted = torch.cat([-parts.latents[case_latents], -totals[case_sources]])
case_measured = {}
for hold in [(), ("attention",), ("attention", "layer_norm")]:
    with torch.no_grad():
        case_measured[hold] = torch.cat(measured_removals(model, transcoder, prompt, position, top, case_latents,
                                                          case_sources, hold=hold))
print(f"the logit of {model.to_single_str_token(top)!r}, {parts.logit:.2f}, when a node is removed: the graph's"
      " prediction; the real model's change; the same with attention held; with attention and LayerNorm held")
for i, name in enumerate(case_nodes):
    print(f"  {name:<24} predicted {case_predicted[i]:+.2f}; measured {case_measured[()][i]:+.2f};"
          f" attention held {case_measured['attention',][i]:+.2f}; both held {case_measured['attention', 'layer_norm'][i]:+.2f}")

# %% [markdown]
# The graph's signs hold in the real model for all six nodes, and its order for the three latents; the
# order of the tokens and every size do not. Each latent takes less from the logit than predicted (−2.46
# against −3.08 for 361). With attention and the LayerNorm scales held (the last column) the three are
# exact, and attention alone changes nothing for them, as it cannot in one layer (a latent is removed
# after attention): the difference is the final LayerNorm's scale, which the removal changes. Among the
# tokens, the graph ranks ` def` first (−8.56) and `__(` second (−5.54); in the real model removing `__(`
# costs far more (−13.06), and with attention held only −2.23: the current token also sets where the
# heads at its position look, which a graph with frozen attention cannot see (the scales count too: with
# them held as well, −6.07). With attention and the
# scales held, every prediction is close to the measurement (the largest gap is ` def`'s: −8.56
# predicted, −7.90 measured). Part 6 measures this over many prompts.

# %% [markdown]
# ## Part 6: checking the graph by intervention
#
# The graph is exact for the replacement model, where attention and LayerNorm are frozen. The real model
# recomputes them. So test its predictions where nothing is frozen: for 24 targets (a held-out sequence, a
# position, the token that came next), remove each of the 5 most influential latents (the MLP's output
# minus activation × decoder row, the error term kept) and each of the 5 most influential token
# embeddings (set to zero), and measure the change in the logit (`measured_removals`, given). The graph
# predicts minus the latent's direct effect, and minus the source's total effect (direct, plus through
# the latents it drives, which the graph holds active).

# %% tags=["experiment"]
results = {"latent": ([], []), "token embedding": ([], [])}
removals = []  # what was removed where, to measure again below with some of the frozen values held
generator = torch.Generator().manual_seed(1)
for _ in utils.progress_bar(range(24), desc="interventions"):
    row, position = int(torch.randint(8, (1,), generator=generator)), int(torch.randint(8, 127, (1,), generator=generator))
    target = int(sample[row, position + 1])
    parts = attribute(model, transcoder, frozen, row, position, target)
    influence = compute_influence(compute_attribution_matrix(parts))
    n = parts.inputs.shape[0]
    latents = [int(parts.active[i]) for i in influence[n : n + len(parts.active)].topk(5).indices.tolist()]
    sources = influence[: position + 1].topk(min(5, position + 1)).indices.tolist()  # token embeddings only
    with torch.no_grad():
        latent_changes, source_changes = measured_removals(model, transcoder, sample[row : row + 1], position, target,
                                                           latents, sources)
    removals.append((row, position, target, latents, sources))
    totals = source_totals(parts)
    results["latent"][0].extend((-parts.latents[latents]).tolist())
    results["latent"][1].extend(latent_changes.tolist())
    results["token embedding"][0].extend((-totals[sources]).tolist())
    results["token embedding"][1].extend(source_changes.tolist())
for kind, (predicted, measured) in results.items():
    predicted, measured = torch.tensor(predicted), torch.tensor(measured)
    r = torch.corrcoef(torch.stack([predicted, measured]))[0, 1]
    off = (predicted - measured).abs()
    print(f"{kind:>16}: {len(predicted)} removals, correlation {r:.3f}, median |predicted - measured| {off.median():.3f},"
          f" largest {off.max():.2f} (predicted {predicted[off.argmax()]:+.2f}, measured {measured[off.argmax()]:+.2f})")
utils.plot_graph_vs_intervention({kind: (torch.tensor(p), torch.tensor(m)) for kind, (p, m) in results.items()},
                                 "The graph's predictions against removals in the real model").show()

# %% [markdown]
# **Latents.** Removing a latent changes the real model in one place: the final LayerNorm's scale at
# that position, which the graph freezes. The predictions follow the measurements (correlation 0.904)
# with a median miss of 0.151, and the largest miss (predicted −1.39, measured +0.30) has the opposite
# sign. This tests the frozen final LayerNorm only, not whether a latent stands for what the MLP
# computes: the removal is the graph's own term, activation × decoder row.
#
# **Token embeddings.** Removing a token's embedding changes far more: the attention patterns at that
# position and every later one, all three LayerNorm scales, and which latents are active (the top k, and
# the ReLU). The graph holds all of that still, and its predictions are worse: correlation 0.762, a
# median miss of 0.838, and a largest miss of 10.78 (predicted −6.55, measured −17.32).
#
# **Which frozen quantity?** `measured_removals(..., hold=...)` repeats each removal with some of what the
# graph freezes put back at the clean run's values: the attention patterns (`"attention"`), the three
# LayerNorm scales (`"layer_norm"`), or both. With both held, what is left between the graph and the real
# model is the MLP: recomputed in the real model, the transcoder with its active latents held on in the
# graph. The last row splits that too: both held and the transcoder (plus the clean run's error node) in
# the MLP's place (`"transcoder"`), its latents recomputed. What remains there is latents switching on or
# off (TopK and the ReLU), which the graph's linear reading cannot follow; what that row closes is the
# transcoder not following the MLP. The same 240 removals:

# %% tags=["experiment"]
holds = {"nothing held (the real model)": (), "attention held": ("attention",),
         "LayerNorm scales held": ("layer_norm",), "both held": ("attention", "layer_norm"),
         "both held, MLP -> transcoder": ("attention", "layer_norm", "transcoder")}
predicted = {kind: torch.tensor(results[kind][0]) for kind in results}
misses = {}
for label, hold in utils.progress_bar(holds.items(), desc="holds"):
    measured = {"latent": [], "token embedding": []}
    for row, position, target, latents, sources in removals:
        with torch.no_grad():
            latent_changes, source_changes = measured_removals(model, transcoder, sample[row : row + 1], position,
                                                               target, latents, sources, hold=hold)
        measured["latent"].extend(latent_changes.tolist())
        measured["token embedding"].extend(source_changes.tolist())
    for kind in measured:
        off = (predicted[kind] - torch.tensor(measured[kind])).abs()
        misses[label, kind] = off
        r = torch.corrcoef(torch.stack([predicted[kind], torch.tensor(measured[kind])]))[0, 1]
        print(f"{label:>30}, {kind:>15}: correlation {r:.3f}, median |predicted - measured| {off.median():.3f},"
              f" largest {off.max():.3f}")
worst = misses["nothing held (the real model)", "token embedding"].topk(5).indices
print("the five largest token-embedding misses, as each hold leaves them:")
for i in worst.tolist():
    print("  " + ", ".join(f"{label.split(' (')[0]} {misses[label, 'token embedding'][i]:.2f}" for label in holds))

# %% [markdown]
# **Latents**: with the LayerNorm scales held every prediction is exact (largest miss 0.000), and with
# attention alone held nothing changes (0.904), as the construction says it must: a latent's miss is the
# final LayerNorm's scale, all of it. **Token embeddings**: each hold helps. The median miss is 0.838
# with nothing held, 0.566 with attention held, 0.433 with the scales held, 0.230 with both, and 0.161
# with the transcoder in the MLP's place as well (correlation 0.762, 0.780, 0.843, 0.933, 0.958). Of the
# five largest misses, holding attention and the scales closes four to 0.78 or less; in three of those,
# attention alone closes far more than the scales alone (1.25 against 6.81, 2.61 against 7.38, 1.10
# against 5.19), in the fourth about as much (2.61 against 2.74). The remaining one, the second largest
# (8.32), is still 5.32 with both held and 4.13 with the transcoder in the MLP's place too: most of what
# the two holds leave is latents switching on or off as the token goes, which the graph's linear reading
# cannot follow. So for a typical token removal the frozen LayerNorm scales cost the graph a little more
# than the frozen attention (median misses 0.433 and 0.566 with one or the other held), and for four of
# the five largest misses the frozen attention costs more (clearly for three). The
# error node absorbs none of this: it is a constant, the clean run's.

# %% [markdown]
# ## Going further
#
# 1. **A logit difference.** `attribute(..., token, other)` explains `logit[token] - logit[other]`: take
#    `)` against `]` where one of them comes next. Which sources decide the bracket?
# 2. **Through the heads.** The de-embedding reads the residual path only. A latent's edges from earlier
#    tokens through a head (`latent_edges[:, :, 1:]`) can be read for the whole vocabulary too: the
#    token's embedding through ln1, `W_V`, `W_O`, ln2 and `W_enc`, times the attention it gets. Read the
#    case study's three latents through head 0 this way: which earlier tokens besides ` def` drive them?
# 3. **No skip connection.** Train your transcoder with `TranscoderConfig(..., skip=False)`: how much
#    larger is the error node?
# 4. **Deeper models.** With a second layer, a latent reads earlier latents: the matrix gains latent →
#    latent edges and influence gains paths of length three and more. Cross-layer transcoders and
#    `circuit-tracer` do this for real models.
