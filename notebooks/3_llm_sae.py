# %% [markdown]
# # 3. An SAE on a language model's MLP
#
# *About 60–90 minutes. Prerequisites: sections 2 and 2b.*
#
# In section 2 we knew the toy model's features, so we could check that the SAE found them. A
# language model gives no such answer key. This section is about how we judge an SAE anyway, with the
# measures papers and tools (SAELens, Neuronpedia) report, and what each one means.
#
# **The model.** A 1-layer transformer with a GELU MLP (`d_model` 256, `d_mlp` 512, vocabulary of 4096
# byte-level BPE tokens), trained by this workbook's `scripts/train_model.py` on the Python standard
# library's own source: code, docstrings and comments. It is a TransformerLens `HookedTransformer`, so
# everything here works on other models. `checkpoints/bundled/MODEL_CARD.md` says how it was made.
#
# **The SAEs.** Two SAEs, **A** and **B**, on the MLP's output activations `blocks.0.mlp.hook_post`,
# with 8 latents per neuron (4096). They saw the same activations and differ only in their random
# seed. Like section 2's instances, they are stored as *one* SAE with `n_instances=2`. They are
# **TopK SAEs** (section 2b's `TopKAutoEncoder`, trained by section 2's `optimize` with Anthropic's resampling):
# instead of buying sparsity with an L1 penalty, each token keeps only its **30** largest latents and
# the rest are set to zero, so the loss is the reconstruction error alone. TopK (Gao et al. 2024) is
# one of the architectures in common use today, with JumpReLU (Rajamanoharan et al. 2024, used for
# Gemma Scope) and BatchTopK (Bussmann et al. 2024); the model card says why we chose it. Everything
# you write below works the same on section 2's L1 SAEs: a TopK SAE has the same parameters, and a
# `forward` with the same inputs and outputs.
#
# **Online instead?** `MODEL_NAME = "gelu-1l"` below loads TransformerLens's `gelu-1l` and Neel
# Nanda's two published SAEs (runs 1 and 2), the original course's setup; it downloads about 500 MB
# and needs a network. Everything else in the notebook is the same.
#
# **What you will build:** caching the MLP activations, firing frequencies, a comparison of the two
# SAEs, the reconstruction loss, the substitution (cross-entropy) loss, the fraction of loss
# recovered, and the summary metrics.

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
import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor
from torch.nn import functional as F

import utils
from solutions.llm_sae import (
    MLP_HOOK,
    batched_mean,
    explained_variance,
    kl_divergence_score,
    mean_squared_activation,
    stop_layer,
)
from tests.checks.llm_sae import (
    check_get_feature_probability,
    check_get_mlp_activations,
    check_get_reconstruction_loss,
    check_get_substitution_loss,
    check_get_summary_metrics,
    check_loss_recovered,
    check_max_cosine_similarity,
)
from utils.loading import load_autoencoder, load_model, load_tokens

utils.use_offline_renderer()
utils.set_seed(0)

MODEL_NAME = "bundled"  # or "gelu-1l" (online)
model = load_model(MODEL_NAME)
autoencoder = load_autoencoder(MODEL_NAME)
model.requires_grad_(False)  # nothing in this section trains: no gradients, no memory spent on them
autoencoder.requires_grad_(False)
print(f"model: {model.cfg.n_layers} layer, d_model {model.cfg.d_model}, d_mlp {model.cfg.d_mlp},"
      f" vocabulary {model.cfg.d_vocab}")
print(f"SAEs: {autoencoder.cfg.n_instances} instances, {autoencoder.cfg.n_input_ae} -> {autoencoder.cfg.n_hidden_ae}")

# %% [markdown]
# The tokens: 512 sequences of 128 tokens (65,536 tokens) from standard-library files that neither
# the model nor the SAEs trained on (`split="test"`). Every sequence starts with the BOS token
# `<|endoftext|>`. Here is the start of one, token by token:

# %% tags=["setup"]
tokens = load_tokens(65_536, seq_len=128, split="test", tokenizer=model.tokenizer)
print(tuple(tokens.shape))
print(model.to_str_tokens(tokens[0, :24]))


# %% [markdown]
# ## Exercise 1: caching the MLP's activations
#
# > **Difficulty** 1/5 · **Estimated time** 10 min · **Why it matters:** every measurement of sections 3 and 4 starts from these activations, and caching one hook is the TransformerLens skill they all use.
#
# The SAEs read `blocks.0.mlp.hook_post`: the MLP's hidden layer after the GELU, one 512-vector per
# token. `model.run_with_cache(tokens)` would store every activation of the model; we need one.
#
# * `names_filter=hook_name` keeps only that one (a name, a list of names, or a function of a name).
# * `stop_at_layer=1` stops after block 0. In a 1-layer model that skips the unembedding, a
#   `[d_model, d_vocab]` matrix product for every token: the most expensive step, and useless here.
#   (`stop_layer(hook_name)`, imported above, works out the right value for any `blocks.{i}.` hook.)
#
# Then lay the activations out for the SAE: `[batch, seq, d_mlp]` becomes `[batch*seq, n_instances,
# d_mlp]`, the *same* vector repeated for each instance (`einops.repeat`), since both SAEs read
# the same activations. Flatten in the order `(batch seq)`, so that row `b * seq + s` is token
# `(b, s)`: later exercises put reconstructions back into the model, and need the same order.
#
# Write it for any `hook_name` (section 4 trains an SAE on another hook point).

# %% tags=["exercise"] reference="llm_sae:get_mlp_activations"
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
    raise NotImplementedError("get_mlp_activations: not implemented yet")


# %% tags=["check"]
check_get_mlp_activations(get_mlp_activations)


# %% [markdown]
# The 512 numbers for one token are *neurons*. Could we not read them directly? Section 4 looks at
# that: most neurons respond to many unrelated things, which is what superposition predicts.

# %% [markdown]
# ## Exercise 2: how often does each latent fire?
#
# > **Difficulty** 2/5 · **Estimated time** 10 min · **Why it matters:** firing frequencies are the first health check of any SAE: dead and dense latents show up here.
#
# `get_feature_probability(tokens, model, autoencoder)` returns, for each SAE and each latent, the
# fraction of tokens on which the latent is active (activation > 0): shape `[n_instances,
# n_hidden_ae]`. Use your `get_mlp_activations`, run the SAE (`autoencoder(h)` returns `l1_loss,
# l2_loss, loss, acts, h_reconstructed`), and average `acts > 0` over tokens.
#
# **It is a frequency, not the mean activation.** A latent that fires on 1% of tokens has
# probability 0.01 whether it fires at 0.1 or at 10 when it does.

# %% tags=["exercise"] reference="llm_sae:get_feature_probability"
@torch.no_grad()
def get_feature_probability(
    tokens: Int[Tensor, "batch seq"], model, autoencoder
) -> Float[Tensor, "inst n_hidden_ae"]:
    """For each SAE and latent, the fraction of tokens (batch, position) on which the latent fires.

    "Fires" means its activation is > 0. This is a frequency, not the latent's mean activation: a
    latent that fires on 1% of tokens has probability 0.01 however strongly it fires.
    """
    raise NotImplementedError("get_feature_probability: not implemented yet")


# %% tags=["check"]
check_get_feature_probability(get_feature_probability)

# %% [markdown]
# For many tokens the latents would not fit in memory at once (`[65536, 2, 4096]` floats are 2 GB),
# so we call the exercise on batches of 32 sequences with `batched_mean` (given) and average.

# %% tags=["experiment"]
frequency = batched_mean(get_feature_probability, tokens, model, autoencoder)
utils.plot_firing_frequency_histogram(frequency).show()
bands = [(0.0, 1e-4), (1e-4, 1e-2), (1e-2, 10**-1.5), (10**-1.5, 1e-1), (1e-1, 1.0)]
for i, name in enumerate("AB"):
    f = frequency[i]
    counts = ", ".join(f"{int(((f > lo) & (f <= hi)).sum())} on {lo:.2%} to {hi:.2%}" for lo, hi in bands)
    print(f"SAE {name}: the median live latent fires on {f[f > 0].median():.2%} of tokens; {int((f == 0).sum())} dead;"
          f" {counts} of tokens")


# %% [markdown]
# **How to read this plot.** It is a histogram *of frequencies*: each latent is one count, placed on
# the x-axis by log10 of how often it fires; the y-axis is the fraction of the SAE's latents in that
# bin. So a bar at x = -2 with height 0.1 says "a tenth of the latents fire on about 1% of tokens".
# (It is not a histogram of activations, nor of tokens.)
#
# **What ours show.** Two clusters. Most latents fire on between 0.01% and 1% of tokens (3396 of A's
# 4096; its median live latent fires on 0.13%). A separate cluster of 381 latents in each SAE fires on 3.16%
# to 10% of tokens: exercise 3 finds that almost all of them have a twin in the other SAE. And a thin
# tail of rare latents reaches down to latents that fired once or twice in these 65,536 tokens: the
# rarest frequency 65,536 tokens can show is 1/65,536, about 10^-4.8.
#
# The L1 SAEs of Anthropic's *Towards Monosemanticity* often showed a different second cluster, far
# *below* the main one (around 10^-7 in one of their runs): the **ultralow density cluster**. Almost
# none of its latents were interpretable, training longer killed more of them, and Anthropic read the
# cluster as an artifact of training, not a property of the model; Neel Nanda's replication found that
# their encoder directions are nearly all the same direction. That is one reason to look at this plot.
# Whether ours have such a cluster, this plot cannot say: a latent firing once in 10^7 tokens would
# most likely not fire at all in 65,536, and be counted with the 31 (A) and 33 (B) that never fired.
# Seeing that far down would take tens of millions of tokens (going further, question 3, goes part of
# the way). And ours are TopK SAEs, not L1 SAEs like Anthropic's: the comparison that would test the
# architecture is going further, question 4.
#
# In this section a latent is **dead** if it fires on none of these 65,536 held-out tokens (it is
# not on the log axis: the note counts them). Section 2 counted a window of training steps instead;
# either way "dead" means "silent on the tokens we looked at", and a latent silent on these may fire
# on others. A latent is **dense** if it fires on a large share of tokens (we say more than 10%): a dense
# latent explains little about any one token. Exercise 7 counts both.

# %% [markdown]
# ## Exercise 3: do two SAEs find the same features?
#
# > **Difficulty** 2/5 · **Estimated time** 15 min · **Why it matters:** a language model has no answer key; two seeds agreeing on a direction is evidence it belongs to the model.
#
# There is no answer key for a language model. One indirect test: train two SAEs that differ only in
# their seed and see whether they learn the same directions. A direction both find from different
# starting points is more likely to be a property of the model than an accident of training.
#
# `max_cosine_similarity(directions_A, directions_B)` takes two sets of directions, one per row
# (`[n_hidden, d]` and `[n_hidden_B, d]`) and returns, for each row of A, its highest cosine
# similarity with any row of B: `[n_hidden]`. Normalise the rows of both, take all the dot products
# (a `[n_hidden, n_hidden_B]` matrix), and keep the maximum for each row of A. A latent whose best
# match is opposite (cosine -1) has *no* match: do not take absolute values.

# %% tags=["exercise"] reference="llm_sae:max_cosine_similarity"
def max_cosine_similarity(
    directions_A: Float[Tensor, "n_hidden d"], directions_B: Float[Tensor, "n_hidden_B d"], chunk: int = 1024
) -> Float[Tensor, " n_hidden"]:
    """For each direction of A (a row), its highest cosine similarity with any direction of B.

    Normalise both sets of rows, take all dot products (A's rows against B's), and keep the maximum
    over B. (Computed in chunks of A's rows, so memory stays small for large dictionaries.)
    """
    raise NotImplementedError("max_cosine_similarity: not implemented yet")


# %% tags=["check"]
check_max_cosine_similarity(max_cosine_similarity)

# %% [markdown]
# The decoder's rows (`W_dec[i]`, `[n_hidden_ae, d_mlp]`) are each latent's direction in activation
# space; the encoder's columns (`W_enc[i]`, transposed) are what each latent looks for. We compare
# both, leaving out the dead latents of each SAE (their directions mean nothing).

# %% tags=["experiment"]
live_A, live_B = frequency[0] > 0, frequency[1] > 0
W_dec, W_enc = autoencoder.W_dec, autoencoder.W_enc  # [inst, n_hidden_ae, d_mlp], [inst, d_mlp, n_hidden_ae]
decoder_match = max_cosine_similarity(W_dec[0][live_A], W_dec[1][live_B])
encoder_match = max_cosine_similarity(W_enc[0].T[live_A], W_enc[1].T[live_B])
utils.plot_histograms({"decoder directions": decoder_match, "encoder directions": encoder_match},
                      "Each latent of SAE A: its best match among SAE B's latents", "highest cosine similarity",
                      value_range=(0.0, 1.0), yaxis_title="fraction of A's live latents").show()
for threshold in (0.9, 0.7, 0.5):
    print(f"A's live latents with a match in B above {threshold}: decoder {(decoder_match > threshold).float().mean():.0%},"
          f" encoder {(encoder_match > threshold).float().mean():.0%}")
# Does agreement depend on how often a latent fires?
log_freq_A = torch.log10(frequency[0][live_A])
for lo, hi in [(-7.0, -2.0), (-2.0, -1.5), (-1.5, -1.0), (-1.0, 0.0)]:
    band = (log_freq_A >= lo) & (log_freq_A < hi)
    print(f"A's latents firing on 10^{lo:g} to 10^{hi:g} of tokens ({int(band.sum())} latents):"
          f" {(decoder_match[band] > 0.7).float().mean():.0%} have a twin in B (decoder cosine > 0.7)")


# %% [markdown]
# **What this says.** Fewer than half of A's latents have a close twin in B (decoder cosine above 0.7),
# and agreement depends strongly on how often a latent fires. The cluster of frequent latents (3% to
# 10% of tokens) is found by both SAEs almost without exception; so are most latents firing on 1% to
# 3%. The bulk, firing on under 1% of tokens, mostly is not: only about a third have a twin. A
# direction found twice from different random starts is evidence that it is a property of the
# model's activations rather than of training; one found once may still be real (the bulk of a
# 4096-latent dictionary can be carved up in many nearly equivalent ways), and needs the evidence of
# section 4: what makes it fire, what it does. Found twice does not mean easy to read, either: the
# frequent cluster is a good place to test that (section 4, going further). Encoders agree less than
# decoders: an encoder column must also avoid firing on *other* latents' directions, and which those
# are depends on the rest of the dictionary.

# %% [markdown]
# ## Exercise 4: the reconstruction loss
#
# > **Difficulty** 2/5 · **Estimated time** 10 min · **Why it matters:** the SAE's own objective, measured on tokens it never trained on.
#
# `get_reconstruction_loss(tokens, model, autoencoder)` returns two `[n_instances]` tensors:
#
# * `reconstruction_loss`: the squared error `(h' - h)²`, averaged over the 512 neurons (this is the
#   SAE's own `l2_loss`) and then over tokens.
# * `cosine_similarity`: between each token's activation vector `h` and its reconstruction `h'`,
#   averaged over tokens.
#
# **Why squared, and why averaged?** Squaring makes every error count whatever its sign, and weighs
# large errors most (it is what the SAE was trained to minimise). Averaging over neurons and tokens
# gives a number that does not grow with the width of the layer or the number of tokens. On its own,
# though, the number means nothing: it is in the activations' units squared. Compare it with the
# activations' own **mean square**, the loss of an SAE that always outputs zero. (A convention to
# state whenever you compare: ours is a *mean* over the neurons; SAELens's evaluations report the
# squared error *summed* over them, `d_mlp` = 512 times larger for the same SAE.)

# %% tags=["exercise"] reference="llm_sae:get_reconstruction_loss"
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
    raise NotImplementedError("get_reconstruction_loss: not implemented yet")


# %% tags=["check"]
check_get_reconstruction_loss(get_reconstruction_loss)

# %% tags=["experiment"]
reconstruction_loss, cosine_similarity = batched_mean(get_reconstruction_loss, tokens, model, autoencoder)
mean_square = batched_mean(mean_squared_activation, tokens, model, autoencoder)
print(f"mean square of the activations: {mean_square:.4f}")
for i, name in enumerate("AB"):
    print(f"SAE {name}: reconstruction loss {reconstruction_loss[i]:.4f}"
          f" ({reconstruction_loss[i] / mean_square:.1%} of the mean square),"
          f" cosine similarity {cosine_similarity[i]:.3f}")


# %% [markdown]
# The error is about 14% of the activations' mean square, and each reconstruction points almost the
# same way as its activation (cosine ≈ 0.93). Good, not perfect: exercise 5 asks whether what is
# missing matters to the model.
#
# **Why does the SAE subtract `b_dec` before encoding?** MLP activations are not centred on zero:
# after the GELU each neuron has a mean of its own (the cell below prints the mean vector's length).
# Subtracting `b_dec` lets the latents describe how a token *differs* from the typical activation,
# instead of each spending part of its budget on the common offset; adding it back after decoding
# restores it. Training should therefore push `b_dec` towards the activations' mean. Does it?

# %% tags=["experiment"]
h_mean = batched_mean(lambda t, m, a: get_mlp_activations(t, m, 1)[:, 0].mean(0), tokens, model, autoencoder)
for i, name in enumerate("AB"):
    b_dec = autoencoder.b_dec[i]
    print(f"SAE {name}: |b_dec| = {b_dec.norm():.3f}, |mean activation| = {h_mean.norm():.3f},"
          f" cosine {F.cosine_similarity(b_dec, h_mean, dim=0):.3f}, |b_dec - mean| = {(b_dec - h_mean).norm():.3f}")

# %% [markdown]
# **Not here.** `b_dec` points partly *away* from the mean (cosine about -0.3) and is almost twice
# as long, so it is further from the mean than the origin is. Nothing in the loss pulls `b_dec` to the
# mean by itself: the part every token shares can as well be carried by latents that fire on many
# tokens, like the frequent cluster of exercise 2, and the reconstruction loss does not mind which.
# So trainers do not leave it to chance: they *initialise* `b_dec` at the data's mean or geometric
# median (SAELens's `b_dec_init_method`). Ours started at zero, as section 2's code does. (In section
# 2 the question did not arise: the toy model's activations are centred on the origin.)

# %% [markdown]
# ## Exercise 5: the substitution loss
#
# > **Difficulty** 3/5 · **Estimated time** 20 min · **Why it matters:** what the model loses when it must run on the reconstruction: the test that counts.
#
# A small reconstruction error could still matter to the model, if it lies in directions the model
# reads. The test that counts: put the reconstruction *into* the model instead of the real
# activations and see how much worse it predicts the next token.
#
# `get_substitution_loss(tokens, model, autoencoder)` returns `(loss_clean, loss_reconstructed,
# loss_zero_ablation)`: the model's mean next-token cross-entropy as it is (a scalar); with
# `blocks.0.mlp.hook_post` replaced at every position by each SAE's reconstruction (`[n_instances]`);
# and with it replaced by zeros (a scalar).
#
# * `model(tokens, return_type="loss")` is the mean cross-entropy over all predicted tokens. Every
#   position counts here, the BOS token's included. (SAELens's evaluations leave BOS and other special
#   tokens out by default, so their numbers for the same SAE differ a little: say which you use.)
# * `model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(MLP_HOOK, hook_fn)])` calls
#   `hook_fn(activations, hook)` and uses what it returns instead. It removes the hook afterwards
#   (a hook added with `model.add_hook` stays until `model.reset_hooks()`).
# * Reshape each instance's reconstruction back to `[batch, seq, d_mlp]` with the same `(batch seq)`
#   order as in exercise 1, and call `.contiguous()` on it: TransformerLens reshapes the hook's
#   output with `.view`, which fails on a tensor einops has only re-indexed.

# %% tags=["exercise"] reference="llm_sae:get_substitution_loss"
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
    raise NotImplementedError("get_substitution_loss: not implemented yet")


# %% tags=["check"]
check_get_substitution_loss(get_substitution_loss)

# %% [markdown]
# ## Exercise 6: the fraction of loss recovered
#
# > **Difficulty** 1/5 · **Estimated time** 5 min · **Why it matters:** the one number SAE papers compare across models; section 4's frontier is drawn in it.
#
# Three losses are hard to compare across models and SAEs; one number is easy. Removing the MLP
# (zero-ablation) costs `loss_zero_ablation - loss_clean`: everything the MLP contributes. The SAE
# keeps part of that, and loses `loss_reconstructed - loss_clean`. The **fraction of loss recovered**
# is the part it keeps:
#
#     (loss_zero_ablation - loss_reconstructed) / (loss_zero_ablation - loss_clean)
#
# 1 means substituting the SAE costs nothing; 0 means it is as bad as having no MLP at all. Papers
# and SAELens report it as "CE loss score". Write it so that it broadcasts: a scalar clean loss
# against `[n_instances]` reconstructed losses gives one fraction per SAE, and per-token losses
# `[batch, seq]` give one per token. Don't clamp it: an SAE worse than no MLP (below 0) or a token
# where the reconstruction beats the MLP (above 1) is something to see, not to hide. On single tokens
# removing the MLP can even *lower* the loss; the denominator is then negative, and must stay so.

# %% tags=["exercise"] reference="llm_sae:loss_recovered"
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
    raise NotImplementedError("loss_recovered: not implemented yet")


# %% tags=["check"]
check_loss_recovered(loss_recovered)

# %% tags=["experiment"]
loss_clean, loss_reconstructed, loss_zero_ablation = batched_mean(get_substitution_loss, tokens, model, autoencoder)
recovered = loss_recovered(loss_clean, loss_reconstructed, loss_zero_ablation)
print(f"clean loss {loss_clean:.4f}, zero-ablated MLP {loss_zero_ablation:.4f}")
for i, name in enumerate("AB"):
    print(f"SAE {name}: loss with the reconstruction {loss_reconstructed[i]:.4f}, fraction recovered {recovered[i]:.1%}")


# %% [markdown]
# Substituting either SAE raises the loss by about 0.1 nats, where removing the MLP raises it by
# about 1.7: some 94% of what the MLP contributes survives the trip through the SAE. What the SAE
# misses of the activations costs little, but not nothing. Which tokens pay for it is
# "going further" question 1. (Zero-ablation is a harsh baseline: replacing the MLP's output by its
# *mean* instead usually costs less, which gives a smaller denominator and a lower fraction.)
#
# **A second view: the KL divergence.** The loss looks only at the probability of the token that came
# next. Substituting the SAE can also reshuffle the rest of the prediction. The KL divergence from the
# clean next-token distribution to the substituted one measures all of it, at every position; SAELens
# reports it as a score, `1 - KL(reconstructed) / KL(zero-ablated)`, read like the fraction of loss
# recovered. `kl_divergence_score` (given) computes both divergences:

# %% tags=["experiment"]
_, kl_reconstructed, kl_zero_ablation = batched_mean(kl_divergence_score, tokens, model, autoencoder)
kl_score = 1 - kl_reconstructed / kl_zero_ablation
print(f"KL divergence from the clean prediction, zero-ablated MLP: {kl_zero_ablation:.4f} nats per position")
for i, name in enumerate("AB"):
    print(f"SAE {name}: {kl_reconstructed[i]:.4f} nats per position with the reconstruction;"
          f" KL divergence score {kl_score[i]:.1%} (fraction of loss recovered {recovered[i]:.1%})")

# %% [markdown]
# The two scores roughly agree, the KL score a little lower (93.1% against 94.3%): measured on the whole
# distribution, the substitution costs slightly more than on the right token alone. Papers report
# both; compare like with like (SAELens's defaults leave the BOS position out of both). Told to keep
# special tokens (`run_evals(..., exclude_special_tokens=False)`), SAELens's evaluation of SAE A gives
# the same CE losses, KL score, L0, explained variance and cosine as this section's functions, to
# float rounding, and an MSE exactly 512 times ours: the workbook's tests compare them
# (`tests/test_saelens_evals.py`, both ways of treating special tokens).

# %% [markdown]
# ## Exercise 7: the summary metrics
#
# > **Difficulty** 3/5 · **Estimated time** 20 min · **Why it matters:** the metrics SAELens and SAEBench report, computed as they compute them, so your numbers compare with theirs.
#
# `get_summary_metrics(tokens, model, autoencoder, dense_threshold=0.1)` returns a dict of
# `[n_instances]` tensors, with the names SAELens uses for them:
#
# * `"l0"`: how many latents fire on a token, on average: the SAE's sparsity (an L1 SAE gets it from
#   its penalty, a TopK SAE sets it with k).
# * `"explained_variance"`: `1 - Σ(h - h')² / Σ(h - mean(h))²`, summed over tokens and neurons: the
#   fraction of the activations' variance around their mean that the SAE reconstructs. Unlike the
#   mean square of exercise 4, this does not credit the SAE for the part a constant output (the
#   activations' mean) would get for free.
# * `"dead_fraction"`: latents that fire on none of the tokens given (so it depends on how many).
# * `"dense_fraction"`: latents that fire on more than `dense_threshold` of them.

# %% tags=["exercise"] reference="llm_sae:get_summary_metrics"
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
    raise NotImplementedError("get_summary_metrics: not implemented yet")


# %% tags=["check"]
check_get_summary_metrics(get_summary_metrics)

# %% tags=["experiment"]
metrics = batched_mean(get_summary_metrics, tokens, model, autoencoder)
variance_explained = explained_variance(tokens, model, autoencoder)  # one mean over all the tokens (given)
dead = (frequency == 0).float().mean(-1)
dense = (frequency > 0.1).float().mean(-1)
for i, name in enumerate("AB"):
    print(f"SAE {name}: L0 {metrics['l0'][i]:.1f}, explained variance {variance_explained[i]:.1%},"
          f" dead {dead[i]:.1%}, dense {dense[i]:.1%}")

# %% [markdown]
# (Dead and dense are counted on all 65,536 tokens at once, from `frequency`: averaged over batches
# they would count a latent as dead if it was silent in each batch alone. The explained variance, too,
# is taken over all the tokens at once, with one mean (`explained_variance`, given, from running sums):
# averaging each batch's own explained variance would measure every batch around its own mean, and
# read slightly lower. L0 averages over batches exactly.)
#
# **L0 = 30.0**: at most 30 by construction, and on these tokens every one of the 30 latents each token
# keeps is positive: each token keeps its 30 largest latents, 0.7% of the
# dictionary. Published SAEs often have L0 between 10 and 100. An L1 SAE buys its sparsity with a
# penalty that also shrinks every activation it keeps; a TopK SAE sets its sparsity directly, and
# spends its whole loss on the reconstruction. Either way sparsity and fidelity trade off: a smaller k
# (or a stronger L1 penalty) gives sparser latents, usually easier to interpret, and a worse
# reconstruction. That trade-off is the main dial of SAE training, and papers compare SAEs by plotting
# one against the other (L0 against loss recovered). Few latents are dead (0.8%: exercise 2's 31 in A
# and 33 in B fire on none of these 65,536 tokens) and almost none dense (0.1%: five latents of A and
# three of B fire on more than 10% of tokens). Explained variance (85.8%) is a little below 1 minus
# exercise 4's share (13.8% of the mean square) because it measures the error against the variance
# *around the mean*, which is smaller than the mean square.

# %% [markdown]
# ## Your numbers and the model card's
#
# The bundled SAEs come with a model card (`checkpoints/bundled/MODEL_CARD.md`) whose numbers were
# measured on these same held-out tokens by the training script. Yours should agree:

# %% tags=["experiment"]
import json  # noqa: E402

from utils.loading import BUNDLED_DIR  # noqa: E402

if MODEL_NAME == "bundled":
    card = json.loads((BUNDLED_DIR / "saes_config.json").read_text())["held_out"]
    rows = [("loss recovered", recovered, card["loss_recovered"], "{:.1%}"),
            ("reconstruction loss", reconstruction_loss, card["reconstruction_loss"], "{:.4f}"),
            ("L0", metrics["l0"], card["l0"], "{:.1f}"),
            ("dead fraction", dead, card["dead_fraction"], "{:.1%}")]
    for label, yours, theirs, fmt in rows:
        print(f"{label:>20}: yours " + " / ".join(fmt.format(float(x)) for x in yours)
              + ",  model card " + " / ".join(fmt.format(x) for x in theirs))

# %% [markdown]
# ## Going further
#
# 1. **Which tokens does the SAE reconstruct worst?** Compute the per-token substitution loss
#    (`loss_per_token=True`) and look at the tokens where it rises most.
# 2. **The published SAEs.** Online, set `MODEL_NAME = "gelu-1l"` and rerun: how do Neel Nanda's
#    runs 1 and 2 compare on these measures? Do they have a cluster of ultra-rare latents?
# 3. **More tokens.** Rare latents need many tokens to be seen at all: does the tail of rare latents
#    change with `load_tokens(400_000, tokenizer=model.tokenizer)`?
# 4. **Other SAEs.** Train a pair with another k (`python -m scripts.train_saes --k 15 --out
#    .cache/k15`, about an hour on 2 CPU cores; the folder gets a copy of the model) or L1 SAEs
#    (`--architecture l1 --l1-coeff 1e-3`), load them with `load_autoencoder(directory=...)`, and
#    compare L0, loss recovered, dead latents, the firing-frequency histogram and the agreement between
#    seeds.
#
# Section 4 opens the latents up: what makes each fire, what it does to the output, and what
# happens when it is removed.
