# %% [markdown]
# # 4. Interpreting features, ablating them, and training your own SAE
#
# *About 90 minutes. Prerequisites: section 3.*
#
# Section 3 measured the SAEs as a whole. Here we open single latents up and ask what each one *is*.
# A latent can be read from two ends:
#
# * **its input**: which tokens make it fire (exercise 1), read in context (the views after it);
# * **its output**: what its direction, added to the MLP's output, does to the next-token prediction,
#   directly (exercise 2) and in the whole model when we remove it (exercise 4).
#
# A latent is a candidate *feature* when both ends tell the same story. In between, exercise 3 asks
# how the same latent looks in the basis the model itself uses, its 512 MLP neurons, and shows why
# we need the SAE at all. Exercise 5 trains an SAE of your own, on a hook point of your choice, and
# the last part hands it to SAELens, to carry on with bigger tools.
#
# We follow one latent of SAE A through every view: **latent 274**. Guess nothing yet.

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
import json
import tempfile

import einops
import torch
from IPython.display import display
from jaxtyping import Float, Int
from torch import Tensor

import utils
from solutions.interpretation import (
    display_latent_examples,
    display_top_sequences,
    export_to_saelens,
    feature_dashboard,
    format_context,
    latent_activations,
    neuron_basis,
    summary,
    top_tokens,
)
from solutions.llm_sae import MLP_HOOK, ActivationBuffer, get_mlp_activations, stop_layer
from solutions.sae import AutoEncoder, AutoEncoderConfig
from tests.checks.interpretation import (
    check_feature_ablation_effect,
    check_feature_logit_effect,
    check_highest_activating_tokens,
    check_neuron_shares,
    check_train_sae,
)
from utils.loading import BUNDLED_DIR, load_autoencoder, load_model, load_tokens

utils.use_offline_renderer()
utils.set_seed(0)

MODEL_NAME = "bundled"  # or "gelu-1l" (online: TransformerLens's model and Neel Nanda's SAEs)
model = load_model(MODEL_NAME)
autoencoder = load_autoencoder(MODEL_NAME)
model.requires_grad_(False)
autoencoder.requires_grad_(False)
tokens = load_tokens(65_536, seq_len=128, split="test", tokenizer=model.tokenizer)  # held out, as in section 3
LATENT = 274  # the latent we follow (SAE A's); with gelu-1l, pick one of yours
print(f"{tuple(tokens.shape)} tokens; SAEs {autoencoder.cfg.n_input_ae} -> {autoencoder.cfg.n_hidden_ae}")


# %% [markdown]
# ## Exercise 1: where does a latent fire most?
#
# `highest_activating_tokens(tokens, model, autoencoder, feature_idx, instance_idx=0, k=10)` returns
# the `k` positions where latent `feature_idx` of SAE `instance_idx` is most active: `indices`,
# `[k, 2]` of `(batch, seq)` pairs, and `values`, `[k]`, its activations there, highest first.
#
# * **Compute only this latent.** Its activation is `ReLU((h - b_dec) · W_enc[:, f] + b_enc[f])`:
#   one dot product per token with the latent's encoder column. Running the whole SAE, or multiplying
#   by all of `W_enc[instance_idx]`, would compute all 4096 latents to keep one (the check stops both).
# * **In batches.** 65,536 tokens at once would mean 65,536 × 512 MLP activations and the model's
#   intermediate tensors in memory. Run the model `batch_size` sequences at a time (with section 3's
#   `names_filter` and `stop_at_layer`), and keep the best `k` seen so far.
# * **Flat indices.** `scores.flatten().topk(k)` gives positions in the flattened `[batch, seq]`
#   tensor: flat index `i` is sequence `i // seq`, position `i % seq` (of *this* batch: add its start).
#
# The original course ranked the latents' activations with their `b_dec` and `b_enc` left out, so its
# "values" were not the latent's activations. Ours are exactly what the SAE computes, which lets us
# read them next to the histogram of exercise 5's dashboard.

# %% tags=["exercise"] reference="interpretation:highest_activating_tokens"
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
    raise NotImplementedError("highest_activating_tokens: not implemented yet")


# %% tags=["check"]
check_highest_activating_tokens(highest_activating_tokens)

# %% [markdown]
# Here is where latent 274 fires most, first as text (`format_context` marks the token `[[like
# this]]`, shows a newline as `⏎` and the BOS token as `⟨BOS⟩`):

# %% tags=["experiment"]
indices, values = highest_activating_tokens(tokens, model, autoencoder, LATENT, k=10)
for (row, pos), value in zip(indices.tolist(), values.tolist(), strict=True):
    print(f"{value:6.3f}  {format_context(tokens, model, row, pos)}")

# %% [markdown]
# ## Reading latents at a glance
#
# Text works in any terminal. In a notebook, `display_top_sequences(indices, values, tokens, model)`
# (given) draws the same examples with circuitsvis, the activating token coloured by its value.
# (circuitsvis normally fetches its JavaScript from the internet; the workbook's version carries it
# inside the notebook, so it works offline. Printed, the view is the text above.)

# %% tags=["experiment"]
display_top_sequences(indices, values, tokens, model, label=f"latent {LATENT}")

# %% [markdown]
# **Your reading.** Every top example is the ` in` after the loop variable of a `for` statement
# (`for value in ...`). Is that what the latent means? The top ten are only its ten *strongest*
# activations. Count over all 65,536 tokens instead, with the latent's activation at every token
# (`latent_activations`, given: your exercise's formula, kept for every position):

# %% tags=["experiment"]
activation = latent_activations(tokens, model, autoencoder, LATENT)  # [batch, seq]
is_in = tokens == model.to_single_token(" in")
after_for = torch.zeros_like(is_in)  # a " for" among the 4 tokens before
for back in range(1, 5):
    after_for[:, back:] |= tokens[:, :-back] == model.to_single_token(" for")
for name, where in [("` in` after a ` for`", is_in & after_for), ("any other ` in`", is_in & ~after_for),
                    ("every other token", ~is_in)]:
    a = activation[where]
    print(f"{name:>20}: {int(where.sum()):6d} tokens, fires on {(a > 0).float().mean():6.1%},"
          f" mean activation {a.mean():.3f}")

# %% [markdown]
# So the label "the ` in` of a `for` loop" is too narrow. The latent fires on *every* ` in`, also in
# comparisons (`if x in y`) and in prose; it fires almost twice as strongly in a `for` header. It also
# fires, weakly, on about 2% of all other tokens, and those are most of its firings. Read it as
# "` in`, most of all in a `for` header". Top examples show what a latent does at its strongest, and
# that is where labels usually come from; the rest of its activations can be more mixed. A label is a
# hypothesis: the exercises below test it from the output side.
#
# **Now you.** Here are six more latents of SAE A in one view: pick one with the selector, read its
# examples, and write down what you think it responds to *before* reading our labels below.

# %% tags=["experiment"]
labels = {item["latent"]: item["label"] for item in json.loads((BUNDLED_DIR / "feature_labels.json").read_text())}
OTHERS = [2576, 1170, 1707, 1359, 3847, 2081]
examples = {f"latent {f}": highest_activating_tokens(tokens, model, autoencoder, f, k=6) for f in OTHERS}
display(display_latent_examples(examples, tokens, model, before=10, after=2))

# %% [markdown]
# Our readings (from `checkpoints/bundled/feature_labels.json`, where 14 such labels are kept):

# %% tags=["experiment"]
for f in [LATENT, *OTHERS]:
    print(f"latent {f:4d}: {labels[f]}")

# %% [markdown]
# These latents are *syntactic*: Python's grammar, the layout of docstrings, the stock phrases of the
# test suite and of Unicode tables. That is what a 1-layer model of source code mostly knows. Most of
# the dictionary is harder to read than these: we picked latents whose top examples agree, and
# section 3 found that only a minority of latents have a twin in the other SAE. Treat a clean top-10
# as the start of an argument, not its end: the top examples are the latent's *strongest* activations,
# and most of its firing happens at weaker ones (the dashboard below shows how much).

# %% [markdown]
# ## Exercise 2: what does a latent do to the prediction?
#
# When latent `f` fires with activation `a`, the SAE's reconstruction gains `a · W_dec[f]`, a vector
# over the 512 MLP neurons. The MLP writes its neurons into the residual stream through `W_out`
# (`[d_mlp, d_model]`), and the unembedding `W_U` (`[d_model, d_vocab]`) turns the residual stream
# into logits. So the latent's **direct effect on the logits**, per unit of activation, is
#
# `W_dec[instance, f] @ W_out[0] @ W_U`  →  `[d_vocab]`.
#
# `feature_logit_effect(model, autoencoder, feature_idx, instance_idx=0)` returns it. It is the *direct*
# path only: it ignores the final LayerNorm's scaling (the same for every token of the vocabulary at a
# given position, so the ranking barely changes) and everything after the MLP (nothing, in a 1-layer
# model). Use `W_dec`, the latent's *output* direction, not `W_enc`, what it *reads*.

# %% tags=["exercise"] reference="interpretation:feature_logit_effect"
@torch.no_grad()
def feature_logit_effect(model, autoencoder, feature_idx: int, instance_idx: int = 0) -> Float[Tensor, " d_vocab"]:
    """The direct effect of one latent on the logits, per unit of its activation.

    The latent adds W_dec[instance_idx, feature_idx] (a d_mlp vector) to the MLP's hidden layer; W_out
    ([d_mlp, d_model], block 0) maps it into the residual stream; the unembedding W_U ([d_model,
    d_vocab]) reads the logits off it. (The final LayerNorm and every other path are ignored: this is
    the direct path only.)
    """
    raise NotImplementedError("feature_logit_effect: not implemented yet")


# %% tags=["check"]
check_feature_logit_effect(feature_logit_effect)

# %% tags=["experiment"]
effect = feature_logit_effect(model, autoencoder, LATENT)
print("raised most:  ", top_tokens(effect, model, 10))
print("lowered most: ", top_tokens(effect, model, 10, largest=False))

# %% [markdown]
# **Reading it.** The tokens latent 274 pushes up are what comes after `for x in`: ` range`, ` zip`,
# an opening bracket or quote (` ("`, ` ['`) for a literal to loop over. Input side and output side
# agree: the latent recognises "we are in a `for` header, just after `in`" and predicts "an iterable
# comes next". The tokens it pushes down are less telling: fragments of identifiers that rarely
# start an iterable. That is common: the raised tokens of a latent are usually easier to read than
# the lowered ones.
#
# One latent adds about 0.3 to a logit per unit of activation, and it fires at up to 4: a shift of
# about one nat, from one latent among the ~200 active on that token.

# %% [markdown]
# ## Exercise 3: the same latent in the neuron basis
#
# Why not read the MLP's 512 neurons directly? Each neuron is a direction too (neuron `n` is the
# unit vector `e_n`); if the model gave each feature its own neuron, we would not need an SAE.
# Look at latent 274's direction in neuron coordinates: which neurons carry it?
#
# `neuron_shares(autoencoder, feature_idx, instance_idx=0)` returns, for each neuron, its share of
# the latent's decoder direction: `|W_dec[instance, f]|` divided by its sum, so the shares are
# positive and add up to 1 (`[d_mlp]`). A latent that *is* one neuron would give that neuron a share
# of 1; a direction spread evenly over all 512 gives each about 0.002. Do not change `W_dec` while
# you are at it (no in-place `abs_`).

# %% tags=["exercise"] reference="interpretation:neuron_shares"
def neuron_shares(autoencoder, feature_idx: int, instance_idx: int = 0) -> Float[Tensor, " d_mlp"]:
    """How much of one latent's decoder direction each MLP neuron carries: |W_dec[instance_idx,
    feature_idx]| divided by its sum, so the shares are positive and add up to 1."""
    raise NotImplementedError("neuron_shares: not implemented yet")


# %% tags=["check"]
check_neuron_shares(neuron_shares)

# %% tags=["experiment"]
shares = neuron_shares(autoencoder, LATENT)
ordered = shares.sort(descending=True).values
print(f"largest share: {ordered[0]:.1%} (one neuron);  top 10 neurons: {ordered[:10].sum():.1%};"
      f"  top 50: {ordered[:50].sum():.1%}")
print(f"neurons needed for half of the direction: {int((ordered.cumsum(0) < 0.5).sum()) + 1} of {len(shares)}")

# %% [markdown]
# No neuron carries more than a few percent: the direction is spread over a hundred neurons or more.
# So are the neurons themselves about `for ... in`? We can ask them with your own exercises 1 and 2,
# because **the neuron basis is itself a dictionary**: an "SAE" whose encoder and decoder are the
# identity and whose biases are zero. `neuron_basis(d_mlp)` (given) builds it; latent `n` of it is
# neuron `n`. (The ReLU does no harm: we only look at the top activations, which are positive.)

# %% tags=["experiment"]
neurons = neuron_basis(model.cfg.d_mlp)
top_neurons = shares.topk(3).indices.tolist()
neuron_examples = {}
for n in top_neurons:
    neuron_examples[f"neuron {n} ({shares[n]:.1%} of latent {LATENT})"] = highest_activating_tokens(
        tokens, model, neurons, n, k=8)
    print(f"neuron {n} raises most: {top_tokens(feature_logit_effect(model, neurons, n), model, 6)}")
print(display_latent_examples(neuron_examples, tokens, model, before=8, after=2))  # as text, this time

# %% [markdown]
# **Polysemantic neurons.** The neurons that carry most of latent 274 fire on ` in` after `def`
# (`def inverse`), on ` the` in prose, on ` in` in comments: a mix. Each neuron takes part in several
# features, and each feature is spread over many neurons. That is superposition, as in section 1's toy
# model, where 5 features shared 2 dimensions: the model represents more features than it has
# neurons, in directions that are not the neurons. The SAE's job is to find those directions, and
# latent 274 is one that the neurons, read one at a time, would not have shown us.

# %% [markdown]
# ## Exercise 4: removing a latent
#
# The logit effect is a prediction made from weights. The test: take the latent out of the running
# model and see where its predictions get worse.
#
# `feature_ablation_effect(tokens, model, autoencoder, feature_idx, instance_idx=0)` returns the change
# in next-token loss at each position, `loss_ablated - loss_clean`, `[batch, seq - 1]`:
#
# 1. Run the model and get `blocks.0.mlp.hook_post` and the clean loss per token
#    (`return_type="loss", loss_per_token=True` gives `[batch, seq - 1]`).
# 2. Encode the activations with the SAE (flattened to `[batch*seq, n_instances, d_mlp]`, as in
#    section 3), set latent `feature_idx` of instance `instance_idx` to zero, and decode.
# 3. **Add back the SAE's error term**, `h - h_reconstructed`. Without it you would be replacing the
#    activations by the SAE's (imperfect) reconstruction *and* removing the latent, and most of what
#    you measured would be the SAE's reconstruction error (section 3's 0.06 nats). With it, the patched
#    activations are exactly `h - z_f · W_dec[f]`: the real activations minus this latent.
# 4. Patch that into the model with `run_with_hooks` (reshaped back to `[batch, seq, d_mlp]` in
#    `(batch seq)` order, `.contiguous()`), and subtract the clean loss.

# %% tags=["exercise"] reference="interpretation:feature_ablation_effect"
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
    raise NotImplementedError("feature_ablation_effect: not implemented yet")


# %% tags=["check"]
check_feature_ablation_effect(feature_ablation_effect)

# %% [markdown]
# Run it on 128 sequences (the full SAE runs on every token here, so we take fewer of them), 32 at a
# time. The change at position `p` is in predicting token `p + 1`: we show the context up to that token
# and the token the model had to predict.

# %% tags=["experiment"]
ablation_tokens = tokens[:128]
change = torch.cat([feature_ablation_effect(ablation_tokens[i : i + 32], model, autoencoder, LATENT)
                    for i in range(0, len(ablation_tokens), 32)])  # [128, 127]
print(f"mean change in loss: {change.mean():+.5f} nats per token;"
      f" changed by more than 0.1 nats: {(change.abs() > 0.1).float().mean():.2%} of tokens")
seq_minus_1 = change.shape[1]
for title, order in [("loss rose most (the latent helped)", True), ("loss fell most (the latent hurt)", False)]:
    print(title)
    values_, flat = change.flatten().topk(6, largest=order)
    for value, i in zip(values_.tolist(), flat.tolist(), strict=True):
        row, pos = divmod(i, seq_minus_1)
        target = model.to_single_str_token(int(ablation_tokens[row, pos + 1]))
        print(f"  {value:+.3f}  {format_context(ablation_tokens, model, row, pos, after=0)}  -> {target!r}")

# %% [markdown]
# **What this says.** Averaged over all tokens, removing latent 274 changes almost nothing: it fires on
# about 2% of them, and fewer than 1 token in 300 changes by more than 0.1 nats. Where it matters, it
# matters a lot. The loss rises most when the token to predict is ` range`, the token exercise 2 said
# the latent raises most: the weights' prediction and the model's behaviour agree. The loss *falls*
# most when the loop runs over a plain variable (`for d in` ` data`, `for client in` ` client`): the
# latent bets on `range`, a bracket or a quote, and when the iterable is a name instead, the bet
# costs. Removing it helps there about as much as it hurts elsewhere, so the average is close to zero
# (it would be positive for a latent the model relies on more broadly).
#
# This is the strongest evidence in the section: not "the latent correlates with `for ... in`" but
# "the model *uses* this direction to predict what follows `for ... in`".

# %% [markdown]
# ## A feature dashboard
#
# Everything together, in one call (given): `feature_dashboard(tokens, model, autoencoder, feature_idx)`
# draws the latent's activation histogram (how often and how strongly it fires), the tokens it raises
# and lowers most, and its top examples with the latent's activation on *every* token of their
# contexts (not only the top one). This is what Neuronpedia and SAELens's dashboards show, on a small
# scale.

# %% tags=["experiment"]
feature_dashboard(tokens, model, autoencoder, LATENT, label=f"latent {LATENT}: ` in`, strongest in a for loop")

# %% [markdown]
# The histogram says most of the latent's firing is weak: almost nine firings in ten are below 1, and
# only its top examples reach 3 to 4. What we labelled is the latent's strong end; what it does at
# 0.2 is another question (going further, question 1). The colours of the contexts show it firing on
# the ` in`s (some contexts hold two `for` loops) and barely anywhere else. Try the dashboard on the
# other latents above, e.g. 1170.

# %% [markdown]
# ## Exercise 5: train your own SAE, where you choose
#
# The bundled SAEs read the MLP. SAEs are trained on many other hook points: the residual stream (what
# every later layer reads), attention outputs, the MLP's input. With the pieces of the course you can
# train one anywhere:
#
# * an `ActivationBuffer(model, tokens, 1, hook_name, seed=seed)` (from section 3's code, given): it
#   runs the model on a few sequences at a time, keeps the activations at `hook_name` and serves them
#   shuffled, `buffer(batch_size)` → `[batch_size, 1, d]`;
# * section 2's `AutoEncoder` and its `optimize(source, batch_size=..., steps=..., lr=...,
#   neuron_resample_window=..., resample_method="advanced", log_weights=False)`, which takes the
#   buffer as its source of activations.
#
# `train_sae(model, tokens, hook_name, n_hidden_ae, steps, batch_size, l1_coeff, lr, seed)` trains one
# SAE (`n_instances=1`) and returns it. The input size is the activations' size at that hook
# (`d_model` for the residual stream, `d_mlp` for the MLP): read it off one batch of activations
# rather than hard-coding it. Seed torch with `seed` before creating the SAE (two runs with the same
# seed must give the same SAE), and resample dead latents every `steps // 4` steps.

# %% tags=["exercise"] reference="interpretation:train_sae"
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
    raise NotImplementedError("train_sae: not implemented yet")


# %% tags=["check"]
check_train_sae(train_sae)

# %% [markdown]
# Now train one on the **residual stream after attention**, `blocks.0.hook_resid_mid` (256 dimensions),
# with 2048 latents, on 400,000 tokens of the *training* split. It takes about a minute on 2 CPU cores
# (the first run also tokenizes the training split, once). Then section 3's measures, on the held-out
# tokens. Try another `HOOK` (`blocks.0.hook_resid_post`, `blocks.0.ln2.hook_normalized`,
# `blocks.0.mlp.hook_pre`) or another `L1_COEFF`, and compare.

# %% tags=["experiment"]
HOOK = "blocks.0.hook_resid_mid"
L1_COEFF = 1e-3
train_tokens = load_tokens(400_000, seq_len=128, split="train", tokenizer=model.tokenizer)
my_sae = train_sae(model, train_tokens, HOOK, n_hidden_ae=2048, steps=600, batch_size=1024, l1_coeff=L1_COEFF)
my_sae.requires_grad_(False)
with torch.no_grad():
    mine = summary(model, tokens[:64], my_sae, HOOK)
print(f"your SAE on {HOOK}: L0 {mine['l0']:.1f}, explained variance {mine['explained_variance']:.1%},"
      f" dead {mine['dead_fraction']:.1%}")

# %% [markdown]
# A minute of a laptop's time is enough for a usable SAE on a model this small, but not for a good
# one: an hour (the bundled ones) buys a better trade-off, and the SAEs in papers train for days on
# GPUs. The L1 coefficient is the dial: raise it and L0 falls with the explained variance. To find
# the latents of your SAE, call `highest_activating_tokens`-style code with your hook (the exercise
# reads the MLP; going further, question 2).

# %% [markdown]
# ## Outgrowing the laptop: SAELens
#
# [SAELens](https://github.com/jbloomAus/SAELens) trains SAEs on GPUs, loads hundreds of published
# ones, and draws dashboards. Our `AutoEncoder` computes exactly what its `StandardSAE` computes,
# `ReLU((x - b_dec) W_enc + b_enc)` to encode and `z W_dec + b_dec` to decode, so one instance
# converts directly. `export_to_saelens(autoencoder, folder, hook_name)` (given) writes each instance
# in SAELens's format; `SAE.load_from_disk` reads it back. (Here into a temporary folder inside the
# workbook's `.cache/`, removed afterwards; give it a folder of your own to keep the files.) Do SAELens's
# latents match ours?

# %% tags=["experiment"]
from sae_lens import SAE  # noqa: E402

(WORKBOOK / ".cache").mkdir(exist_ok=True)  # the workbook writes nothing outside its own folder
with tempfile.TemporaryDirectory(dir=WORKBOOK / ".cache") as folder:
    paths = export_to_saelens(autoencoder, folder, hook_name=MLP_HOOK)
    paths += export_to_saelens(my_sae, f"{folder}/mine", hook_name=HOOK)
    loaded = [SAE.load_from_disk(path) for path in paths]
with torch.no_grad():
    h = get_mlp_activations(tokens[:8], model, 2)  # [1024, 2, 512]
    _, _, _, acts, h_reconstructed = autoencoder(h)
    for i, sae in enumerate(loaded[:2]):
        z = sae.encode(h[:, i])
        same = torch.allclose(z, acts[:, i], atol=1e-5) and torch.allclose(sae.decode(z), h_reconstructed[:, i],
                                                                           atol=1e-5)
        print(f"SAE {'AB'[i]} in SAELens: hook {sae.cfg.metadata.hook_name},"
              f" same latents and reconstructions (to 1e-5): {same}")
    print(f"yours in SAELens: hook {loaded[2].cfg.metadata.hook_name}, {loaded[2].cfg.d_in} -> {loaded[2].cfg.d_sae}")

# %% [markdown]
# From here, SAELens's `LanguageModelSAERunnerConfig` and trainer take over (on a GPU, any
# TransformerLens model), and `HookedSAETransformer` runs a model with SAEs spliced in at their hooks,
# which is what exercise 4 did by hand.

# %% [markdown]
# ## Going further
#
# 1. **Follow another latent through every view.** Pick one from the selector above (or a random live
#    latent) and write its label from the examples alone; then check it with its logit effect and an
#    ablation. How often do the two ends agree?
# 2. **Your SAE's latents.** Write the residual-stream version of `highest_activating_tokens` (read
#    `HOOK` instead of the MLP) and find an interpretable latent of your SAE. Its logit effect is then
#    `W_dec[0, f] @ W_U`, without `W_out`: why?
# 3. **Twins.** For latent 274, find its best match in SAE B (section 3's `max_cosine_similarity`):
#    does the twin fire on the same tokens?
# 4. **Dense latents.** Section 3 found a hundred latents firing on more than 10% of tokens. Open a
#    few with the dashboard: are they features, or do they carry the activations' mean (section 3's
#    discussion of `b_dec`)?
# 5. **Online.** With a network, set `MODEL_NAME = "gelu-1l"` and find Neel Nanda's SAEs' features on
#    text from the Pile (pick `LATENT` and `OTHERS` again: the numbers are specific to our SAEs).
