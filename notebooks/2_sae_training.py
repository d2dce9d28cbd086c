# %% [markdown]
# # 2. Sparse autoencoders: finding the features again
#
# *About 2 hours. Prerequisites: section 1.*
#
# Section 1 ended with five features squeezed into two dimensions as a pentagon. Looking at the two
# hidden dimensions alone, you cannot tell that there are five features, or which direction each one
# has. Real models are like that: their neurons mix many features. A **sparse autoencoder (SAE)**
# recovers them. It learns a dictionary of directions (more than there are dimensions) such that
# every activation is a *sparse* sum of a few of them:
#
# $$z = \mathrm{ReLU}\big((h - b_\text{dec})\,W_\text{enc} + b_\text{enc}\big), \qquad
#   h' = z\,W_\text{dec} + b_\text{dec}, \qquad
#   \mathcal{L} = \lVert h - h'\rVert^2 + \lambda\,\lVert z\rVert_1 .$$
#
# The reconstruction term makes the dictionary faithful; the L1 term makes it sparse. If the data
# really are sparse combinations of features, the cheapest sparse dictionary is the features
# themselves. Here we can check this, because we know the toy model's features exactly.
#
# **What you will build:** the SAE (`__init__`, `normalize_and_return_W_dec`, `forward`) and two ways
# of reviving **dead latents** (dictionary entries that stop firing and never recover): simple random
# resampling, and Anthropic's method from *Towards Monosemanticity*; then the two architectures most SAEs
# are trained with today, **TopK** and **JumpReLU**, and what they change. Names: the SAE's hidden units
# are called **latents** (the original course calls them "neurons"; the code keeps `neuron` in the
# resampling method names so you can match it to ARENA).

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
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import einops
import torch
from jaxtyping import Bool, Float
from torch import Tensor, nn
from torch.nn import functional as F

import utils
from solutions.toy_model import ToyModel, ToyModelConfig, optimize, optimizer_step
from tests.checks.sae import (
    check_forward,
    check_init,
    check_jumprelu_forward,
    check_normalize_and_return_W_dec,
    check_resample_neurons_advanced,
    check_resample_neurons_simple,
    check_step_backward,
    check_topk_forward,
)
from utils.device import get_device
from utils.progress import progress_bar
from utils.threads import threads_for, torch_threads

utils.use_offline_renderer()
utils.set_seed(0)
device = get_device()
print("running on", device)

# %% [markdown]
# ## The data: a toy model in superposition
#
# Eight instances of section 1's model, 5 features in 2 dimensions, every feature present with
# probability 0.01 and equally important. (The reference `ToyModel` from section 1 is imported.)
# Sparse enough that each instance stores all five features as a pentagon. The SAE will see only the
# hidden activations $h = Wx$: points in 2D that lie on five lines through the origin.

# %% tags=["experiment"]
utils.set_seed(0)
toy_cfg = ToyModelConfig(n_instances=8, n_features=5, n_hidden=2)
model = ToyModel(toy_cfg, feature_probability=0.01)
optimize(model, steps=10_000)
utils.plot_features_in_2d(model.W, title="The toy model's features: what the SAE should find").show()


# %% [markdown]
# ## The SAE
#
# One SAE per toy-model instance, all trained at once, so every tensor has an `inst` axis again:
#
# | tensor | shape | role |
# |---|---|---|
# | `W_enc` | `[n_instances, n_input_ae, n_hidden_ae]` | column *j*: what latent *j* looks for |
# | `b_enc` | `[n_instances, n_hidden_ae]` | latent *j*'s threshold (usually negative) |
# | `W_dec` | `[n_instances, n_hidden_ae, n_input_ae]` | row *j*: latent *j*'s direction in the data |
# | `b_dec` | `[n_instances, n_input_ae]` | the data's centre |
#
# `n_input_ae` is the toy model's `n_hidden` (2); `n_hidden_ae` is the dictionary size (5 here, one per
# feature). Read the config and the two helpers; they are given.

# %% reference="sae:AutoEncoderConfig"
@dataclass
class AutoEncoderConfig:
    n_instances: int
    n_input_ae: int
    n_hidden_ae: int
    l1_coeff: float = 0.5
    tied_weights: bool = False
    weight_normalize_eps: float = 1e-8


# %% reference="sae:xavier_normal"
def xavier_normal(*shape: int) -> Tensor:
    """Xavier-normal init for a stack of [fan_in, fan_out] matrices (the last two dims)."""
    return torch.randn(*shape) * math.sqrt(2.0 / (shape[-2] + shape[-1]))


# %% reference="sae:reset_adam_state"
def reset_adam_state(optimizer: torch.optim.Adam, sae: "AutoEncoder", resampled: Bool[Tensor, "inst d_hidden"]) -> None:
    """Forget Adam's running gradient averages for resampled latents: they belong to the old direction,
    and would push the new one straight back."""
    if not resampled.any():
        return
    inst_idx, latent_idx = torch.nonzero(resampled.to(sae.W_enc.device), as_tuple=True)
    for param, index in [(sae.W_enc, (inst_idx, slice(None), latent_idx)), (sae.b_enc, (inst_idx, latent_idx))] + (
        [] if sae.cfg.tied_weights else [(sae.W_dec, (inst_idx, latent_idx, slice(None)))]
    ) + ([(sae.log_threshold, (inst_idx, latent_idx))] if hasattr(sae, "log_threshold") else []):
        state = optimizer.state.get(param, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key][index] = 0.0


# %% reference="sae:toy_model_hidden"
def toy_model_hidden(model: ToyModel, cfg: AutoEncoderConfig) -> Callable[[int], Float[Tensor, "batch inst hidden"]]:
    """A sampler of the toy model's hidden activations h = W x, for fresh random feature vectors x."""
    if model.cfg.n_hidden != cfg.n_input_ae or model.cfg.n_instances != cfg.n_instances:
        raise ValueError(
            f"the SAE (n_instances={cfg.n_instances}, n_input_ae={cfg.n_input_ae}) does not fit the"
            f" toy model (n_instances={model.cfg.n_instances}, n_hidden={model.cfg.n_hidden})"
        )

    def sample(batch_size: int) -> Float[Tensor, "batch inst hidden"]:
        features = model.generate_batch(batch_size)
        h = einops.einsum(features, model.W, "batch inst feat, inst hidden feat -> batch inst hidden")
        if not torch.isfinite(h).all():
            raise ValueError("the toy model's hidden activations contain NaN or inf: retrain the toy model"
                             " (its own training probably diverged) before training an SAE on it")
        return h

    return sample


# %% reference="sae:resample_pool"
def resample_pool(sample: Callable[[int], Tensor], batch_size: int, n_batches: int
                  ) -> Float[Tensor, "pool inst d_in"]:
    """Fresh inputs for advanced resampling: `n_batches` batches from the training source, stacked."""
    if n_batches < 1:
        raise ValueError(f"resample_pool_batches must be at least 1, not {n_batches}")
    return torch.cat([sample(batch_size) for _ in range(n_batches)])


# %% reference="sae:check_activations"
def check_activations(h: Tensor, cfg: AutoEncoderConfig, batch_size: int) -> None:
    """Stop before training on activations of the wrong shape, or on NaN."""
    expected = (batch_size, cfg.n_instances, cfg.n_input_ae)
    if not isinstance(h, Tensor) or tuple(h.shape) != expected:
        got = tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__
        raise ValueError(f"the activations should be [batch, n_instances, n_input_ae] = {expected}, not {got}")
    if not torch.isfinite(h).all():
        raise ValueError("the activations contain NaN or inf: check the model they come from before training an SAE")


# %% [markdown]
# The class below holds the first five exercises (and the given training loop, `optimize`, at the end).
# Fill in one method at a time, re-run the cell, then run that exercise's check further down.
#
# ### Exercise 1: `__init__`
#
# > **Difficulty** 1/5 · **Estimated time** 10 min · **Why it matters:** the dictionary's parameters and their shapes; every later SAE in the course (TopK, JumpReLU, the bundled ones) builds on this class.
#
# Create `W_enc`, `W_dec` (only when `cfg.tied_weights` is False), `b_enc` and `b_dec` as
# `nn.Parameter`s with the shapes in the table: weights with the given `xavier_normal(*shape)`, biases
# zero. Why not `nn.init.xavier_normal_`? On a stacked `[inst, a, b]` tensor it would treat the
# instance axis as part of the fan-out and start every SAE too small; `xavier_normal` treats each
# instance's `[a, b]` matrix on its own.
#
# **Tied weights** means the decoder *is* the encoder, transposed: there is no `W_dec` parameter at all.

# %% tags=["exercise"] reference="sae:AutoEncoder"
class AutoEncoder(nn.Module):
    W_enc: Float[Tensor, "inst d_in d_hidden"]
    W_dec: Float[Tensor, "inst d_hidden d_in"]
    b_enc: Float[Tensor, "inst d_hidden"]
    b_dec: Float[Tensor, "inst d_in"]

    def __init__(self, cfg: AutoEncoderConfig, device: str | torch.device | None = None):
        """Create the parameters (Xavier-normal weights via `xavier_normal`, zero biases):

        W_enc: [n_instances, n_input_ae, n_hidden_ae]
        W_dec: [n_instances, n_hidden_ae, n_input_ae], only when cfg.tied_weights is False
        b_enc: [n_instances, n_hidden_ae]
        b_dec: [n_instances, n_input_ae]
        Call super().__init__() first, store cfg as self.cfg, and finally move the module to
        `get_device(device)`.
        """
        raise NotImplementedError("AutoEncoder.__init__: not implemented yet")

    def normalize_and_return_W_dec(self) -> Float[Tensor, "inst d_hidden d_in"]:
        """The decoder with every row (one latent's direction, over d_in) scaled to unit norm.

        Untied: normalise W_dec's rows in place (on .data, so W_dec itself stays unit-norm) and
        return W_dec. Tied: return W_enc transposed to [inst, d_hidden, d_in], rows normalised
        (W_enc itself is left alone). Add cfg.weight_normalize_eps to the norms.
        """
        raise NotImplementedError("AutoEncoder.normalize_and_return_W_dec: not implemented yet")

    def forward(self, h: Float[Tensor, "batch inst d_in"]) -> tuple[
        Float[Tensor, "batch inst"],
        Float[Tensor, "batch inst"],
        Float[Tensor, ""],
        Float[Tensor, "batch inst d_hidden"],
        Float[Tensor, "batch inst d_in"],
    ]:
        """Encode, decode, and score one batch.

        acts = ReLU((h - b_dec) @ W_enc + b_enc)              [batch, inst, d_hidden]
        h_reconstructed = acts @ W_dec_normalised + b_dec    [batch, inst, d_in]
        l1_loss = acts summed over d_hidden                  [batch, inst]
        l2_loss = squared error averaged over d_in           [batch, inst]
        loss = (l1_coeff * l1_loss + l2_loss), mean over batch, summed over instances (a scalar)
        returns (l1_loss, l2_loss, loss, acts, h_reconstructed)
        """
        raise NotImplementedError("AutoEncoder.forward: not implemented yet")

    @torch.no_grad()
    def resample_neurons_simple(
        self,
        h: Float[Tensor, "batch inst d_in"],
        frac_active_in_window: Float[Tensor, "window inst d_hidden"],
        neuron_resample_scale: float,
    ) -> Bool[Tensor, "inst d_hidden"]:
        """Give every dead latent (one that never fired in the window) a fresh random direction.

        For each dead latent: a random unit vector v (torch.randn, normalised) becomes its decoder
        row (W_dec[inst, latent, :] = v, untied only), v * neuron_resample_scale its encoder column
        (W_enc[inst, :, latent]), and its b_enc is set to 0. Live latents are left alone.
        returns: which latents were resampled, [n_instances, n_hidden_ae] bool
        """
        raise NotImplementedError("AutoEncoder.resample_neurons_simple: not implemented yet")

    @torch.no_grad()
    def resample_neurons_advanced(
        self,
        h: Float[Tensor, "batch inst d_in"],
        frac_active_in_window: Float[Tensor, "window inst d_hidden"],
        neuron_resample_scale: float,
    ) -> Bool[Tensor, "inst d_hidden"]:
        """Anthropic's resampling: point dead latents at the inputs the SAE reconstructs worst.

        For each instance with dead latents and a nonzero reconstruction loss:
        1. sample one input per dead latent, with probability proportional to the *square* of
           its l2_loss (torch.multinomial, with replacement);
        2. centre it by b_dec and normalise it: that unit vector is the latent's decoder row;
        3. its encoder column is the same vector times neuron_resample_scale times the mean norm
           of the instance's live encoder columns (1.0 if none is alive);
        4. its b_enc is 0.
        Instances with no dead latents, or zero loss on every input, are left alone.
        returns: which latents were resampled, [n_instances, n_hidden_ae] bool
        """
        raise NotImplementedError("AutoEncoder.resample_neurons_advanced: not implemented yet")

    def optimize(
        self,
        source: ToyModel | Callable[[int], Float[Tensor, "batch inst d_in"]],
        batch_size: int = 1024,
        steps: int = 10_000,
        lr: float = 1e-3,
        log_freq: int = 100,
        neuron_resample_window: int | None = None,
        dead_neuron_window: int | None = None,
        neuron_resample_scale: float = 0.2,
        resample_method: str = "advanced",
        log_weights: bool = True,
        resample_pool_batches: int = 16,
    ) -> dict[str, Tensor]:
        """Train on activations: the frozen toy model's hidden layer h = W x, or, when `source` is a
        function of the batch size, whatever it returns (a language model's MLP activations in
        sections 3 and 4).

        Every `neuron_resample_window` steps (but not in the final window, which resampled latents
        would have no time to use), latents that never fired in the last `dead_neuron_window` steps
        (default: the whole resample window) are resampled, and Adam's running averages for them
        are reset. Advanced resampling chooses its inputs from a pool of `resample_pool_batches` fresh
        batches (16 x 1,024 = 16,384 inputs by default; Anthropic drew from 819,200): one batch of a
        sparse dataset holds too few badly reconstructed inputs, and dead latents would share them.
        Returns a log for plotting, one entry per `log_freq`
        steps: `steps`, `W_dec` [time, inst, d_hidden, d_in], `frac_active` [time, inst, d_hidden]
        (mean over the last log_freq steps), `resampled` [time, inst, d_hidden], `l1_loss`,
        `l2_loss` [time, inst]. (`log_weights=False` leaves out W_dec: large for a language model's SAE.)
        """
        if resample_method not in ("simple", "advanced"):
            raise ValueError(f"resample_method must be 'simple' or 'advanced', not {resample_method!r}")
        sample = toy_model_hidden(source, self.cfg) if isinstance(source, ToyModel) else source
        dead_neuron_window = dead_neuron_window or neuron_resample_window
        resample = self.resample_neurons_simple if resample_method == "simple" else self.resample_neurons_advanced
        optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        # Firing fractions of recent steps: enough for the dead-latent window and for logging.
        frac_active_history: deque[Tensor] = deque(maxlen=max(dead_neuron_window or 1, log_freq))
        log: dict[str, list] = {k: [] for k in ("steps", "W_dec", "frac_active", "resampled", "l1_loss", "l2_loss")}
        resampled_since_log = torch.zeros(self.cfg.n_instances, self.cfg.n_hidden_ae, dtype=torch.bool)

        bar = progress_bar(range(steps), desc=f"Training SAE ({resample_method} resampling)"
                           if neuron_resample_window else "Training SAE")
        # Small SAEs (the toy model's) run on one CPU thread, which does not stall when the machine is busy;
        # a language model's SAE keeps every core (utils/threads.py explains why).
        cfg = self.cfg
        with torch_threads(threads_for(batch_size * cfg.n_instances * cfg.n_input_ae * cfg.n_hidden_ae)):
            for step in bar:
                with torch.no_grad():  # the model is frozen: we only read its activations
                    h = sample(batch_size)
                if step == 0:
                    check_activations(h, self.cfg, batch_size)
                l1_loss, l2_loss, loss, acts, _ = self.forward(h)
                optimizer_step(optimizer, loss, step, lr)
                frac_active_history.append((acts.detach() > 0).float().mean(0).cpu())

                # Resample every window, except in the last one: a latent needs steps to learn its new direction.
                window_ends = neuron_resample_window and (step + 1) % neuron_resample_window == 0
                if window_ends and step + neuron_resample_window < steps:
                    window = torch.stack(list(frac_active_history)[-dead_neuron_window:])
                    with torch.no_grad():
                        pool = h if resample_method == "simple" else resample_pool(sample, batch_size,
                                                                                   resample_pool_batches)
                    resampled = resample(pool, window.to(h.device), neuron_resample_scale).cpu()
                    reset_adam_state(optimizer, self, resampled)
                    resampled_since_log |= resampled

                if step % log_freq == 0 or step + 1 == steps:
                    recent = torch.stack(list(frac_active_history)[-log_freq:]).mean(0)
                    log["steps"].append(step)
                    if log_weights:
                        log["W_dec"].append(self.normalize_and_return_W_dec().detach().cpu().clone())
                    log["frac_active"].append(recent)
                    log["resampled"].append(resampled_since_log.clone())
                    log["l1_loss"].append(l1_loss.detach().mean(0).cpu())
                    log["l2_loss"].append(l2_loss.detach().mean(0).cpu())
                    resampled_since_log.zero_()
                    bar.set_postfix(l1=f"{log['l1_loss'][-1].mean():.3f}", l2=f"{log['l2_loss'][-1].mean():.4f}",
                                    dead=f"{(recent == 0).float().mean():.0%}")
        return {k: (torch.tensor(v) if k == "steps" else torch.stack(v)) for k, v in log.items() if v}


# %% tags=["check"]
check_init(AutoEncoder)

# %% [markdown]
# ### Exercise 2: `normalize_and_return_W_dec`
#
# > **Difficulty** 2/5 · **Estimated time** 10 min · **Why it matters:** without unit-norm decoder rows an SAE escapes the L1 penalty by shrinking its activations and growing its decoder.
#
# Return the decoder with every **row** (one latent's direction, a vector in the data's space) scaled
# to unit norm: divide by `W_dec.norm(dim=-1, keepdim=True) + cfg.weight_normalize_eps`.
# - Untied: normalise `self.W_dec.data` in place (so the stored decoder is always unit-norm), then
#   return `self.W_dec`, the parameter, so gradients still reach it.
# - Tied: return `W_enc` transposed to `[inst, d_hidden, d_in]`, rows normalised. Leave `W_enc` itself alone.
#
# **Why normalise `W_dec` and not `W_enc`?** Without it, the L1 penalty can be cheated. Multiply a
# latent's encoder column by 1/1000 and its decoder row by 1000: the reconstruction is exactly the same,
# but the latent's activation, and so its L1 cost, is 1000 times smaller. Training would shrink every
# activation towards zero and grow the decoder without limit, and the L1 term would stop meaning
# "use few latents". Fixing the decoder rows at norm 1 blocks this. The encoder needs no constraint:
# its scale *is* the activation's scale, which is what the L1 is meant to measure. Here is the cheat in
# numbers (the reference implementation, on random data):

# %% tags=["experiment"]
from solutions.sae import AutoEncoder as ReferenceAutoEncoder  # noqa: E402

utils.set_seed(0)
demo = ReferenceAutoEncoder(AutoEncoderConfig(n_instances=1, n_input_ae=2, n_hidden_ae=5), device="cpu")
h_demo = torch.randn(256, 1, 2)


def unnormalised_losses(sae, h):
    """Reconstruction and L1 with the raw decoder: what the loss would be without normalisation."""
    acts = F.relu(einops.einsum(h - sae.b_dec, sae.W_enc, "b i d, i d h -> b i h") + sae.b_enc)
    h_rec = einops.einsum(acts, sae.W_dec, "b i h, i h d -> b i d") + sae.b_dec
    return (h_rec - h).pow(2).mean().item(), acts.sum(-1).mean().item()


with torch.no_grad():
    print("before the cheat: reconstruction error {:.5f}, L1 {:.4f}".format(*unnormalised_losses(demo, h_demo)))
    demo.W_enc /= 1000
    demo.W_dec *= 1000
    print("after the cheat:  reconstruction error {:.5f}, L1 {:.7f}".format(*unnormalised_losses(demo, h_demo)))

# %% tags=["check"]
check_normalize_and_return_W_dec(AutoEncoder)

# %% [markdown]
# ### Exercise 3: `forward`
#
# > **Difficulty** 2/5 · **Estimated time** 15 min · **Why it matters:** this loss is the trade between sparsity and reconstruction that everything after it measures.
#
# ```
# acts            = ReLU((h - b_dec) @ W_enc + b_enc)           [batch, inst, d_hidden]
# h_reconstructed = acts @ W_dec_normalised + b_dec             [batch, inst, d_in]
# l1_loss         = acts summed over d_hidden                   [batch, inst]
# l2_loss         = (h_reconstructed - h)^2 averaged over d_in  [batch, inst]
# loss            = (l1_coeff * l1_loss + l2_loss).mean(0).sum()   (scalar)
# ```
# Return `(l1_loss, l2_loss, loss, acts, h_reconstructed)`.
#
# **Why subtract `b_dec` before encoding?** `b_dec` is where the decoder puts the reconstruction when no
# latent fires: the data's centre. Subtracting it first means the encoder looks at how an input
# *differs* from that centre, which is what the latents should explain. In this toy data every feature
# is usually absent, so most inputs are exactly 0 and the centre should end near the origin (we
# check below). On a language model's MLP (section 3) the activations have a large mean, and whether
# `b_dec` learns it is a question section 3 measures.
#
# **The `einsum` with `W_dec: [inst, d_hidden, d_in]`.** Rows of `W_dec` are the latents' directions,
# so the reconstruction is `sum_j acts[j] * W_dec[j]`: a weighted sum of rows. In einsum terms,
# `"batch inst d_hidden, inst d_hidden d_in -> batch inst d_in"` sums over `d_hidden`, the axis the two
# share. No transpose is hidden anywhere: einsum matches axes by name, not by position.
#
# **Why is L1 summed over latents but L2 averaged over input dimensions?** The L1 term counts how much
# the latents are used in total: every active latent costs, so adding latents must not make each one
# cheaper. The L2 term is the reconstruction *error per input dimension*, so its scale does not depend
# on how wide the input is. (Conventions differ between papers; what matters is that `l1_coeff` is
# tuned for the one you use.)
#
# **Why sum the loss over instances?** As in section 1: the instances are independent SAEs; summing
# gives each one its own gradient, unscaled by how many others train beside it.

# %% tags=["check"]
check_forward(AutoEncoder)

# %% [markdown]
# ## Training, and dead latents
#
# `AutoEncoder.optimize` (given, in the class) trains on the frozen toy model's hidden activations and
# logs, every `log_freq` steps, the decoder directions and each latent's **firing fraction**: the share
# of inputs on which it is nonzero. First without resampling. We use `l1_coeff=0.2`: at the default
# 0.5 the penalty is strong enough to bend the learned directions visibly away from the features.
#
# **What "dead" means, in this section and the next two.** A latent is *dead on a set of inputs* if it
# fires on none of them. That depends on how many inputs are looked at (a latent silent on a thousand
# inputs may fire on the next million), so every count of dead latents in the course says what it
# counted: here, each point of the firing-fraction plot covers the last `log_freq` = 250 steps of 1,024
# inputs (256,000 inputs); resampling looks at the last `dead_neuron_window` = 400 steps (409,600 inputs);
# `describe` below counts on 50,000 fresh inputs; sections 3 and 4 count on held-out tokens, and say how
# many.

# %% tags=["experiment"]
def train_sae(resample_method=None, steps=10_000, **cfg_overrides):
    """Train a fresh SAE (same seed every time) on the toy model's hidden layer."""
    utils.set_seed(1)
    cfg = AutoEncoderConfig(n_instances=8, n_input_ae=2, n_hidden_ae=5, l1_coeff=0.2, **cfg_overrides)
    sae = AutoEncoder(cfg)
    log = sae.optimize(model, steps=steps, lr=3e-3, log_freq=250,
                       neuron_resample_window=1000 if resample_method else None, dead_neuron_window=400,
                       neuron_resample_scale=0.5, resample_method=resample_method or "advanced")
    return sae, log


sae_plain, log_plain = train_sae()
utils.plot_features_in_2d(log_plain["W_dec"][-1].transpose(-1, -2), background=model.W,
                          title="SAE decoder directions (blue) over the toy model's features (grey), no resampling").show()
utils.plot_firing_fractions(log_plain, title="Firing fraction of each latent, no resampling").show()

# %% [markdown]
# **Three kinds of latent.** Hover over the lines and compare with the picture above:
# - **Monosemantic**: fires on about 1% of inputs (one feature's probability) and its decoder row sits on
#   a feature's line. This is what we want.
# - **Polysemantic**: fires more often than any single feature does (above the 1% of one feature's
#   probability; the report two cells below prints each instance's most frequent latent) and points
#   *between* features: one latent doing several features' jobs.
# - **Dead**: its firing fraction drops to zero (the bottom of the plot). Once a latent's
#   pre-activation is negative on every input, the ReLU passes it no gradient: it cannot move itself.
#   Only changes elsewhere (`b_dec` drifting, say) can bring it back, and they rarely do: in this run a
#   latent or two climbs back late, by chance (which ones, and whether any, changes from run to run).
#   Meanwhile its feature is left to a polysemantic neighbour.
#
# How many features did each instance's SAE find? `feature_recovery` (given) matches features and
# latents one to one (the Hungarian method) and counts features whose latent's decoder row has cosine
# similarity above 0.95 with the feature's direction.

# %% reference="sae:feature_recovery"
def feature_recovery(
    model: ToyModel, sae: AutoEncoder, threshold: float = 0.95, min_norm: float = 0.5
) -> Float[Tensor, " inst"]:
    """Per instance, the fraction of the toy model's represented features (||W_i|| > min_norm) that
    are matched, one to one, by a distinct SAE latent whose decoder row has cosine similarity above
    `threshold` with the feature's direction. (The best one-to-one matching, by the Hungarian method.)"""
    from scipy.optimize import linear_sum_assignment

    W = model.W.detach().cpu()  # [inst, hidden, feat]
    W_dec = sae.normalize_and_return_W_dec().detach().cpu()  # [inst, d_hidden, d_in]
    fractions = []
    for inst in range(W.shape[0]):
        features = W[inst].T  # [feat, hidden]
        represented = features.norm(dim=-1) > min_norm
        if not represented.any():
            fractions.append(1.0)
            continue
        feature_dirs = F.normalize(features[represented], dim=-1)
        cos = feature_dirs @ W_dec[inst].T  # [represented feat, d_hidden]
        rows, cols = linear_sum_assignment(-cos.numpy())
        matched = (cos[rows, cols] > threshold).sum().item()
        fractions.append(matched / int(represented.sum()))
    return torch.tensor(fractions)


# %% tags=["experiment"]
def report(name, sae):
    recovered = feature_recovery(model, sae)
    complete = int((recovered == 1).sum())
    print(f"{name}: {complete}/{len(recovered)} instances recover every feature;"
          f" features recovered per instance: {[round(5 * x) for x in recovered.tolist()]} of 5")


report("no resampling", sae_plain)
final_fraction = log_plain["frac_active"][-1]  # [inst, d_hidden]: the last 250 steps (256,000 inputs)
dead_at_end = (final_fraction == 0).sum().item()
print(f"dead latents at the end (firing on none of the last 256,000 inputs): {dead_at_end} of {8 * 5}")
print("each instance's most frequent latent at the end fires on (% of inputs):",
      [round(100 * x, 2) for x in final_fraction.max(-1).values.tolist()])

# %% [markdown]
# ### Exercise 4: `resample_neurons_simple`
#
# > **Difficulty** 3/5 · **Estimated time** 15 min · **Why it matters:** a dead latent is a dictionary entry wasted; resampling is the standard repair.
#
# Every `neuron_resample_window` steps, `optimize` calls the resampling method with the firing fractions
# of the last `dead_neuron_window` steps, `frac_active_in_window: [window, inst, d_hidden]`. A latent is
# **dead** if it never fired in the whole window: `frac_active_in_window.sum(0) == 0` (summed over the
# window axis; a latent that fired once is alive).
#
# For each dead latent, draw a random direction `v` (`torch.randn(n_input_ae)`, normalised to unit norm):
# - its decoder row becomes `v` (untied weights only),
# - its encoder column becomes `v * neuron_resample_scale`, so the latent starts by firing, weakly, on
#   inputs along `v`,
# - its `b_enc` becomes 0.
#
# Leave live latents alone, and return the `[inst, d_hidden]` boolean mask of resampled latents. Mind
# the case where nothing is dead. (The method is decorated with `@torch.no_grad()`, so you may write
# into the parameters with plain indexing, e.g. `self.W_enc[inst, :, latent] = ...`.)

# %% tags=["check"]
check_resample_neurons_simple(AutoEncoder)

# %% tags=["experiment"]
sae_simple, log_simple = train_sae("simple")
utils.plot_firing_fractions(log_simple, title="Firing fractions with simple resampling (dotted: resampling)").show()
report("simple resampling", sae_simple)

# %% [markdown]
# ### Exercise 5: `resample_neurons_advanced` (Anthropic's method)
#
# > **Difficulty** 4/5 · **Estimated time** 25 min · **Why it matters:** the method of *Towards Monosemanticity*; the record after this exercise measures whether aiming beats a random direction.
#
# A random direction is a guess: nothing in the data chose it. *Towards Monosemanticity* aims instead: it
# points dead latents at the inputs the SAE currently reconstructs **worst**, because those are exactly
# the inputs whose features no latent covers yet. `optimize` hands the method not the last training
# batch but a **pool** of 16 fresh batches (16,384 inputs; Anthropic drew from 819,200): at a feature
# probability of 0.01 one batch of 1,024 holds only about 50 inputs with any feature at all, and the few
# badly reconstructed ones among them would be shared out between several dead latents. For each
# instance with dead latents:
# 1. compute each input's `l2_loss` (call `self.forward(h)`), and sample one input per dead latent with
#    probability proportional to its **square** (`torch.multinomial(p, n_dead, replacement=True)`);
# 2. centre the chosen inputs by `b_dec` and normalise them: these are the new decoder rows;
# 3. the encoder columns are the same directions times `neuron_resample_scale` times the **mean norm of
#    the live latents' encoder columns**, so a new latent starts at a scale comparable to, but smaller
#    than, the working ones;
# 4. `b_enc` of the resampled latents is 0.
#
# Skip instances with no dead latents, and instances whose loss is zero on every input (there is
# nothing to sample from; `torch.multinomial` would fail). `optimize` then resets Adam's running
# averages for the resampled parameters (`reset_adam_state`, given), so the old direction's momentum
# does not push the new one away.

# %% tags=["check"]
check_resample_neurons_advanced(AutoEncoder)

# %% tags=["experiment"]
sae_advanced, log_advanced = train_sae("advanced")
# One frame every 500 steps (every other log entry); mark latents resampled since the previous frame.
resampled = log_advanced["resampled"]
marks = resampled[::2].clone()
marks[1:] |= resampled[1::2][: len(marks) - 1]
utils.plot_features_in_2d(
    log_advanced["W_dec"][::2].transpose(-1, -2), background=model.W, highlight=marks,
    frame_labels=[str(s) for s in log_advanced["steps"][::2].tolist()],
    title="Advanced resampling through training (x: resampled since the last frame); press Play").show()
utils.plot_firing_fractions(log_advanced, title="Firing fractions with advanced resampling").show()

# %% [markdown]
# ## The result
#
# With the same seed, data and number of steps, the three runs recover:

# %% tags=["experiment"]
report("no resampling      ", sae_plain)
report("simple resampling  ", sae_simple)
report("advanced resampling", sae_advanced)
print(f"b_dec norms (advanced): {[round(x, 3) for x in sae_advanced.b_dec.norm(dim=-1).tolist()]}"
      f"  (the hidden activations are 0 on {100 * 0.99 ** 5:.0f}% of inputs)")

# %% [markdown]
# One seed is one draw. `scripts/compare_resampling.py` repeated the comparison over 24 seeds, each a
# new toy model and a new SAE trained with this section's recipe (`train_sae`'s: l1 0.2, lr 3e-3,
# resampling every 1,000 steps the latents silent for the last 400, scale 0.5), so the runs above are one
# more draw of what it counts. (Seed 0 trains its toy model as above, with the same seed; its SAEs start
# from another.) It also put the question on which the case for Anthropic's method rests to the
# language model of section 3 (`--language-model`): an L1 SAE of 2,048 latents on its MLP
# (l1_coeff 1.5e-3) trained 3,000 steps without resampling; the latents that fired fewer than 5 times
# in 409,600 training tokens were resampled once by each method (scale 0.2, the default), and each copy
# trained 600 more steps on the same batches. And `scripts/train_frontier.py` trained section 4's
# recipe (the same SAE, 600 steps, resampling every 150) with each method. What they recorded:

# %% tags=["experiment"]
import json  # noqa: E402

from utils.loading import ROOT, load_frontier  # noqa: E402

record = json.loads((ROOT / "checkpoints" / "resampling.json").read_text())
n_seeds, n = len(record["seeds"]), 8 * len(record["seeds"])
print(f"Toy model, {n_seeds} seeds x 8 instances = {n}, this section's recipe. Instances that recover all five"
      " features, and how the others ended:")
modes = list(next(iter(record["failures"].values())))
print(f"{'':>28} {'recover all':>11} | " + " | ".join(modes))
for name, counts in record["instances_recovering_all"].items():
    print(f"{name:>28} {sum(counts):>11} | "
          + " | ".join(f"{record['failures'][name][mode]:>{len(mode)}}" for mode in modes))
per_seed = {name: torch.tensor(counts, dtype=torch.float) for name, counts in record["instances_recovering_all"].items()}
pool = per_seed["advanced, pool of 16 batches"]
for other in ("simple", "advanced, last batch"):
    difference = pool - per_seed[other]
    print(f"pool minus {other}, seed by seed: mean {difference.mean():+.2f} instances"
          f" (standard error {difference.std() / n_seeds ** 0.5:.2f})")
lm = record["language_model"]
settings = lm["settings"]
counted = settings["count_batches"] * settings["batch_size"]
print(f"\nLanguage model: of {settings['n_hidden_ae']:,} latents, {lm['never_firing']} never fired on {counted:,}"
      f" training tokens and {lm['rare']} fired fewer than {settings['rare_below']} times. Those {lm['rare']},"
      " resampled once by each method (median share of tokens each fires on):")
print(f"{'':>10} {'right after':>12} {str(settings['steps_after']) + ' steps later':>16} {'still rare':>11}"
      f" | whole SAE: {'L0':>5} {'expl. var.':>10} {'CE recovered':>12}")
for name in ("none", "simple", "advanced"):
    r, m = lm[name], lm[name]["held_out"]
    print(f"{name:>10} {r['right_after']['median_frequency']:12.0%} {r['after_training']['median_frequency']:16.2%}"
          f" {r['after_training']['still_rare']:11} | {'':>11} {m['l0']:5.1f} {m['explained_variance']:10.1%}"
          f" {m['loss_recovered']:12.1%}")
on_lm = load_frontier()
language = {"none": on_lm["resampling_l1"]["none"], "simple": on_lm["resampling_l1"]["simple"],
            "advanced": next(p for p in on_lm["points"] if p["architecture"] == "l1"
                             and p["l1_coeff"] == on_lm["resampling_l1"]["l1_coeff"])}
print(f"\nSection 4's recipe (L1 SAE, l1_coeff {on_lm['resampling_l1']['l1_coeff']:g}, 2,048 latents, 600 steps),"
      f" on {on_lm['points'][0]['tokens']:,} held-out tokens:")
print(f"{'':>10} {'dead':>6} {'L0':>6} {'expl. var.':>10} {'CE recovered':>12}")
for name, m in language.items():
    print(f"{name:>10} {m['dead_fraction']:6.1%} {m['l0']:6.1f} {m['explained_variance']:10.1%} {m['loss_recovered']:12.1%}")

# %% [markdown]
# Without resampling, latents that die early leave their features to polysemantic neighbours for good:
# over 24 seeds, 16 of 192 instances recover every feature, and 172 of the other 176 end with a latent
# that stayed silent. With resampling, 184 to 190 do, so the single runs above (1 of 8, then 8 of 8 and
# 8 of 8) are typical. *Which* resampling matters much less. Simple resampling recovered 186, Anthropic's
# 184 drawing from a pool of 16 batches and 190 drawing from the last batch alone. Seed by seed, the
# pool's count minus simple's averages -0.08 instances (standard error 0.16), and the pool's minus the
# last batch's -0.25 (0.12): the first is well within luck, the second about two standard errors,
# weak evidence that, if anything, the pool does worse. On this toy, Anthropic's method is no better
# than random directions. In two dimensions a random direction is never far from some feature, and the inputs
# Anthropic's method picks are single features' own directions, so both methods aim dead latents at
# features. The few instances resampling does not rescue are mostly not dead-latent failures: the script
# read the end of every instance that missed a feature (a latent counts as silent if it fired in none of
# the last 1,000 steps, 1,024,000 inputs), and in 4 of simple's 6 and 7 of the pool's 8 every latent is
# alive, with either two of them on one feature or one aligned with no feature. Only 2 and 1 end with a
# latent that stayed silent through the last resampling (step 9,000), the one case a resampling method
# answers for. Resampling dead latents cannot move live latents that sit in the wrong place. (And
# `b_dec` ends near the origin, the centre of this data, as argued above.)
#
# On the language model, the usual argument for Anthropic's method fails its first test. It goes: in
# 512 dimensions a random direction is nearly orthogonal to every activation, so a latent resampled at
# random never fires. Measured, the random directions fired on a median 53% of tokens right after
# resampling. Nearly orthogonal is not negative: with `b_enc` at 0 a latent fires wherever its encoder's
# dot product with the centred input is positive, and for a random direction that is about half the
# inputs. (Anthropic's fired on 75%: a centred input of this MLP points partly the same way as most
# others.) What differs is what training makes of them. 600 steps later, the latents aimed at badly
# reconstructed inputs fire on a median 4.1% of tokens, while the random ones fire on 0.08%: alive, but
# rare again. Left alone, 43 of the 51 stay rare. On the SAE as a whole, 51 of 2,048 latents hardly
# show: explained variance 70.1%, 70.1% and 70.3%, CE loss recovered 82.8%, 82.8% and 83.0% (none,
# simple, Anthropic's), and Anthropic's pays for its 0.2 points with a higher L0 (36.4 against 34.9).
# Anthropic introduced it for long runs of large SAEs, in which far more latents die; this workbook has
# not measured that. At section 4's shorter recipe no latent stayed silent for a whole window of 150
# steps (153,600 tokens), so simple resampling and none came out identical to the last digit. (The
# advanced run differs slightly only because its pools used up batches of the buffer.)
#
# **Which direction is "the feature"?** With untied weights a latent has two directions: its encoder
# column (what it *detects*) and its decoder row (what it *writes*). We take the **decoder row** as the
# feature's direction. The decoder row is what the latent adds to the reconstruction, so it says where
# the feature *lives* in the activation space. The encoder column is a detector, and the best detector
# is not always parallel to the feature: it should lean away from directions that would make it fire by
# mistake. In this symmetric pentagon the two nearly agree:

# %% tags=["experiment"]
enc = F.normalize(sae_advanced.W_enc.detach(), dim=1).transpose(-1, -2)  # [inst, d_hidden, d_in]
dec = sae_advanced.normalize_and_return_W_dec().detach()
print("cosine(encoder column, decoder row) per latent, instance 0:",
      [round(x, 3) for x in (enc[0] * dec[0]).sum(-1).tolist()])

# %% [markdown]
# They part when features are correlated, or packed unevenly: try optional exercise 3, and section 4
# looks at the same question on a language model.
#
# ## Beyond the L1 penalty: TopK and JumpReLU SAEs
#
# The L1 penalty charges every latent for *how strongly* it fires, so training pays to make every
# activation a little smaller than the input needs: **shrinkage**. Measure it. For the inputs on which an
# SAE fires at all, compare its reconstruction with the input, both measured from `b_dec`: the
# reconstruction's length along the input, as a fraction of the input's length (1: full size).

# %% tags=["experiment"]
def describe(name, sae, n=50_000):
    """What an SAE does on fresh inputs: sparsity, shrinkage, dead latents and reconstruction error. The size
    and the error are medians over the instances, so that one instance stuck in a poor optimum does not
    decide them (the per-instance numbers are shown where that matters)."""
    with torch.no_grad():
        h = toy_model_hidden(model, sae.cfg)(n)  # [n, inst, 2]: fresh inputs from the toy model
        _, l2_loss, _, acts, h_reconstructed = sae(h)
        fires = (acts > 0).any(-1)  # [n, inst]: the inputs the SAE says anything about
        centred, rebuilt = h - sae.b_dec, h_reconstructed - sae.b_dec
        size = (centred * rebuilt).sum(-1) / centred.pow(2).sum(-1).clamp(min=1e-12)  # [n, inst]
        size_per_instance = torch.stack([size[fires[:, i], i].mean() for i in range(sae.cfg.n_instances)])
        l0 = (acts > 0).float().sum(-1)[fires].mean()
        dead = (acts > 0).sum(0) == 0  # [inst, d_hidden]: never fired on any of the n inputs
    print(f"{name}: L0 {l0:.2f} when firing, reconstruction at {size_per_instance.median():.0%} of the input's size"
          f" where it fires, dead latents {int(dead.sum())} of {dead.numel()}, error {l2_loss.mean(0).median():.2e}"
          f" (medians over instances)")


describe("L1 (advanced resampling)", sae_advanced)


# %% [markdown]
# The L1 SAE finds the right directions, but its reconstructions come out well short of the inputs:
# the penalty's price for firing at full strength. Two architectures, now the usual ones (SAELens and
# most recent papers train them), take the penalty off the activations' size.
#
# * **TopK** (Gao et al. 2024): keep each input's `k` largest pre-activations and zero the rest. The
#   sparsity is *set* (L0 ≤ k), so there is no penalty at all: the loss is the reconstruction error.
# * **JumpReLU** (Rajamanoharan et al. 2024): a latent fires only above its own learned **threshold**,
#   and then at full strength; the penalty counts how many latents fire (L0), not how strongly.
#
# Both are subclasses of your `AutoEncoder`, with the same config, parameters and 5-tuple `forward`, so
# `optimize`, resampling and every measurement of sections 3 and 4 work on them unchanged.
#
# ### Exercise 6: `TopKAutoEncoder.forward`
#
# > **Difficulty** 2/5 · **Estimated time** 10 min · **Why it matters:** TopK sets the number of active latents directly and has no L1 penalty to shrink them; the bundled SAEs of sections 3 and 4 are TopK.
#
# ```
# pre  = (h - b_dec) @ W_enc + b_enc                 [batch, inst, d_hidden]
# acts = ReLU(pre) on each input's k largest entries of pre (over d_hidden), 0 elsewhere
# ```
# then decode (with `self.normalize_and_return_W_dec()`, as before) and measure `l1_loss` and `l2_loss` as
# before, but `loss = l2_loss.mean(0).sum()`: no L1 term. `pre.topk(self.k, dim=-1)` gives the values and indices of the k largest; `torch.zeros_like(pre)
# .scatter(-1, indices, values)` puts values back in their places. Keep the ReLU: with few latents
# active, some of an input's k largest can still be negative. (`__init__`, given, also starts the decoder
# as the encoder's transpose, which Gao et al. found leaves fewer latents dead.)

# %% tags=["exercise"] reference="sae:TopKAutoEncoder"
class TopKAutoEncoder(AutoEncoder):
    """An SAE whose sparsity is set, not bought: each input keeps its k largest pre-activations (after a
    ReLU) and every other latent is zero, so L0 <= k by construction (Gao et al. 2024, "Scaling and
    evaluating sparse autoencoders"). There is no L1 penalty to shrink the activations that remain, so the
    loss is the reconstruction error alone (l1_loss is still returned, for logging). The decoder starts as
    the encoder's transpose, which Gao et al. found keeps fewer latents from dying early.
    """

    def __init__(self, cfg: AutoEncoderConfig, k: int, device: str | torch.device | None = None):
        super().__init__(cfg, device)
        if not 0 < k <= cfg.n_hidden_ae:
            raise ValueError(f"k must be between 1 and n_hidden_ae = {cfg.n_hidden_ae}, not {k}")
        self.k = k
        if not cfg.tied_weights:
            with torch.no_grad():
                self.W_dec.copy_(self.W_enc.transpose(-1, -2))
            self.normalize_and_return_W_dec()

    def forward(self, h: Float[Tensor, "batch inst d_in"]) -> tuple[
        Float[Tensor, "batch inst"],
        Float[Tensor, "batch inst"],
        Float[Tensor, ""],
        Float[Tensor, "batch inst d_hidden"],
        Float[Tensor, "batch inst d_in"],
    ]:
        """Encode keeping only each input's k largest pre-activations, decode, and score.

        pre  = (h - b_dec) @ W_enc + b_enc                   [batch, inst, d_hidden]
        acts = ReLU of pre's k largest values (self.k, per input and instance), 0 everywhere else
        h_reconstructed, l1_loss and l2_loss as in AutoEncoder.forward
        loss = l2_loss, mean over batch, summed over instances: no L1 term (k sets the sparsity)
        returns (l1_loss, l2_loss, loss, acts, h_reconstructed)
        """
        raise NotImplementedError("TopKAutoEncoder.forward: not implemented yet")


# %% tags=["check"]
check_topk_forward(TopKAutoEncoder)


# %% [markdown]
# ### Exercise 7: a step function that can learn (`Step.backward`)
#
# > **Difficulty** 4/5 · **Estimated time** 25 min · **Why it matters:** a straight-through estimator is how a JumpReLU SAE learns thresholds that the true gradient cannot move.
#
# A JumpReLU latent is `z * H(z - θ)`, with `H` the step function (1 above 0, else 0) and `z` the latent's
# pre-activation, `(h - b_dec) @ W_enc + b_enc`. To learn `θ` we need the loss's gradient for it, and the
# true derivative of a step is 0 everywhere except at the jump, where it does not exist: for any one batch,
# gradient descent would never move `θ`.
#
# The loss we care about is the *expected* one, averaged over inputs, and that one does change smoothly with
# `θ`: raising `θ` a little switches off the inputs whose `z` sits just above it, so
# `d E[H(z - θ)] / dθ = -p(θ)`, minus the density of `z` at the threshold. The **straight-through estimator**
# (Rajamanoharan et al. 2024) estimates that density from the batch: in the backward pass only, it pretends
# the step is a steep ramp of width ε (the `bandwidth`) centred on `θ`, so the inputs whose `z` lies within
# ε/2 of the threshold, and only those, contribute:
#
# ```
# d H(z - θ) / dz := 0
# d H(z - θ) / dθ := -(1/ε) * rectangle((z - θ) / ε)      rectangle(x) = 1 where |x| < 1/2, else 0
# ```
#
# **Worked by hand.** One latent, θ = 0.5, ε = 0.2, a batch of five inputs with z = 0.45, 0.52, 0.58, 0.9,
# −0.3, and `grad_output` = 1 for each (the loss is the count itself). The window is |z − 0.5| < 0.1, which
# holds 0.45, 0.52 and 0.58. Summed over the batch, the threshold's gradient is −(1/0.2) × 3 = −15; per
# input, −3. That is minus the density the batch shows: 3 inputs of 5 in a window 0.2 wide, 3 / (5 × 0.2)
# = 3 per unit of z. Gradient descent on the count therefore *raises* θ, faster where more inputs crowd
# the threshold. The L0 penalty only ever pushes thresholds up; what pulls one down is the reconstruction
# error, through `JumpReLU`'s own estimator below, whenever the inputs just above θ are worth keeping.
#
# `Step.forward` (given) saves `z` and `threshold` for the backward pass. Write `Step.backward`: it
# receives `grad_output` (the loss's gradient for the step's output, `[batch, inst, d_hidden]`) and returns
# one gradient per input of `forward`: zeros for `z`, the pseudo-gradient times `grad_output` for the
# threshold (whose shape is `[inst, d_hidden]`: sum over the batch, or let autograd do it), and `None`
# for the bandwidth, a plain number.

# %% reference="sae:rectangle"
def rectangle(x: Tensor) -> Tensor:
    """The kernel of the straight-through estimators: 1 where |x| < 1/2, else 0."""
    return (x.abs() < 0.5).to(x.dtype)


# %% tags=["exercise"] reference="sae:Step"
class Step(torch.autograd.Function):
    """H(z - threshold): 1 where z > threshold, else 0, with a *pseudo*-gradient for the threshold.

    The true derivative of a step is 0 almost everywhere, so nothing could learn the threshold. The
    straight-through estimator (Rajamanoharan et al. 2024, "Jumping Ahead") pretends the step is a
    steep ramp of width `bandwidth` around the threshold:
        d/dz         := 0
        d/dthreshold := -(1 / bandwidth) * rectangle((z - threshold) / bandwidth)
    Only inputs z near the threshold (within bandwidth / 2) contribute. Summed over a batch, this counts them and
    divides by the window's width: an estimate of how densely z lies at the threshold, which is what the true
    derivative of the *expected* loss depends on (the paper's section 4).
    """

    @staticmethod
    def forward(ctx, z: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(z, threshold)
        ctx.bandwidth = bandwidth
        return (z > threshold).to(z.dtype)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, Tensor, None]:
        """The gradients for (z, threshold, bandwidth), given the loss's gradient for the output:
        z gets zeros; threshold gets grad_output * -(1/bandwidth) * rectangle((z - threshold) / bandwidth),
        summed over every axis `threshold` was broadcast along (the batch), so it has threshold's shape;
        bandwidth, a plain number, gets None."""
        raise NotImplementedError("Step.backward: not implemented yet")


# %% tags=["check"]
check_step_backward(Step)


# %% [markdown]
# `JumpReLU` (given) is the same idea for `z * H(z - θ)` itself: its gradient for `z` is the true one
# (1 above the threshold), and for `θ` the step's pseudo-gradient times the height of the jump, `θ`
# (switching a latent off removes an activation of about θ). With the five inputs above and `g` the loss's
# gradient for each input's activation, the threshold's gradient is −(0.5 / 0.2)(g₁ + g₂ + g₃). Where a
# larger activation would lower the reconstruction error (g < 0), it is positive, and gradient descent
# lowers θ: this is the force that balances the L0 penalty.

# %% reference="sae:JumpReLU"
class JumpReLU(torch.autograd.Function):
    """z * H(z - threshold): z itself where it exceeds the threshold, else 0 (given).

        d/dz         := H(z - threshold)                 (the true derivative, away from the jump)
        d/dthreshold := -(threshold / bandwidth) * rectangle((z - threshold) / bandwidth)
    The jump at the threshold has height `threshold`, so its pseudo-gradient is the step's times it.
    """

    @staticmethod
    def forward(ctx, z: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(z, threshold)
        ctx.bandwidth = bandwidth
        return z * (z > threshold).to(z.dtype)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, Tensor, None]:
        z, threshold = ctx.saved_tensors
        bandwidth = ctx.bandwidth
        grad_z = grad_output * (z > threshold).to(z.dtype)
        grad_threshold = -grad_output * threshold * rectangle((z - threshold) / bandwidth) / bandwidth
        return grad_z, grad_threshold.sum_to_size(threshold.shape), None


# %% [markdown]
# ### Exercise 8: `JumpReLUAutoEncoder.forward`
#
# > **Difficulty** 3/5 · **Estimated time** 15 min · **Why it matters:** JumpReLU is one of the architectures SAEs are trained with today (Gemma Scope's, for one).
#
# ```
# z       = (h - b_dec) @ W_enc + b_enc                                [batch, inst, d_hidden]: no ReLU
# acts    = JumpReLU.apply(z, self.threshold, self.bandwidth)          z where z > θ, else 0
# l0_loss = Step.apply(z, self.threshold, self.bandwidth).sum(-1)      [batch, inst]: latents firing
# loss    = (self.l0_coeff * l0_loss + l2_loss).mean(0).sum()
# ```
# Decode (with `self.normalize_and_return_W_dec()`) and compute `l2_loss` as before, and return `l0_loss`
# first, where `AutoEncoder` returns its `l1_loss`. The thresholds are stored as `log_threshold` (a
# parameter), so they stay positive; `self.threshold` (given) is `exp(log_threshold)`.
#
# Both estimators are fed the raw pre-activations `z`, as in the paper and SAELens, for one reason: the
# density estimate above needs each input's true `z` on *both* sides of the threshold.
# - Not `acts`: it has already moved every input below θ to 0, so only the upper half of the window would
#   be counted.
# - Not `ReLU(z)` either: no ReLU is needed (θ > 0, so `acts` is never negative), and one moves every
#   negative pre-activation to exactly 0. Whenever θ < ε/2, 0 lies inside the window: with this notebook's
#   ε = 0.05 and a threshold at 0.02, an input with z = −0.3 would count as sitting at the threshold.
#
# `__init__` and resampling are given (resampling also resets a latent's threshold).

# %% tags=["exercise"] reference="sae:JumpReLUAutoEncoder"
class JumpReLUAutoEncoder(AutoEncoder):
    """An SAE whose latents switch on only above a learned per-latent threshold, and penalised by how
    many fire (L0), not by how strongly (Rajamanoharan et al. 2024). A latent that fires passes its
    pre-activation through unshrunk; the threshold, not a penalty on size, keeps weak noise out. The
    threshold is stored as `log_threshold` (so it stays positive) and learned through straight-through
    estimators (`Step`, `JumpReLU`), since the step has no useful true gradient.
    """

    log_threshold: Float[Tensor, "inst d_hidden"]

    def __init__(self, cfg: AutoEncoderConfig, l0_coeff: float, threshold: float = 0.1, bandwidth: float = 1e-3,
                 device: str | torch.device | None = None):
        super().__init__(cfg, device)
        if l0_coeff < 0 or threshold <= 0 or bandwidth <= 0:
            raise ValueError(f"l0_coeff must be >= 0, threshold and bandwidth > 0; got l0_coeff={l0_coeff},"
                             f" threshold={threshold}, bandwidth={bandwidth}")
        self.l0_coeff, self.bandwidth, self.initial_threshold = l0_coeff, bandwidth, threshold
        self.log_threshold = nn.Parameter(torch.full((cfg.n_instances, cfg.n_hidden_ae), math.log(threshold),
                                                     device=self.W_enc.device))

    @property
    def threshold(self) -> Float[Tensor, "inst d_hidden"]:
        return self.log_threshold.exp()

    # A resampled latent starts small; its old threshold, learned for another direction, could keep it
    # silent for good. Resampling therefore also puts its threshold back at the initial value.
    @torch.no_grad()
    def resample_neurons_simple(self, h, frac_active_in_window, neuron_resample_scale):
        resampled = super().resample_neurons_simple(h, frac_active_in_window, neuron_resample_scale)
        self.log_threshold[resampled] = math.log(self.initial_threshold)
        return resampled

    @torch.no_grad()
    def resample_neurons_advanced(self, h, frac_active_in_window, neuron_resample_scale):
        resampled = super().resample_neurons_advanced(h, frac_active_in_window, neuron_resample_scale)
        self.log_threshold[resampled] = math.log(self.initial_threshold)
        return resampled

    def forward(self, h: Float[Tensor, "batch inst d_in"]) -> tuple[
        Float[Tensor, "batch inst"],
        Float[Tensor, "batch inst"],
        Float[Tensor, ""],
        Float[Tensor, "batch inst d_hidden"],
        Float[Tensor, "batch inst d_in"],
    ]:
        """Encode through a learned threshold, decode, and score with an L0 penalty.

        z    = (h - b_dec) @ W_enc + b_enc, the raw pre-activations (no ReLU)   [batch, inst, d_hidden]
        acts = JumpReLU.apply(z, self.threshold, self.bandwidth)     z where z > threshold, else 0
        l0_loss = Step.apply(z, self.threshold, self.bandwidth) summed over d_hidden   [batch, inst]
        h_reconstructed and l2_loss as in AutoEncoder.forward
        loss = (self.l0_coeff * l0_loss + l2_loss), mean over batch, summed over instances
        returns (l0_loss, l2_loss, loss, acts, h_reconstructed): the sparsity term first, where
        AutoEncoder returns its l1_loss
        """
        raise NotImplementedError("JumpReLUAutoEncoder.forward: not implemented yet")


# %% tags=["check"]
check_jumprelu_forward(JumpReLUAutoEncoder)

# %% [markdown]
# Now train both on the toy model, as the L1 SAE was (same seed, steps and resampling): TopK with
# k = 1 (the data mostly has one feature at a time) and JumpReLU with an L0 coefficient of 0.02. The
# JumpReLU's bandwidth is 0.05, wider than the paper's 0.001, because the toy's activations are small
# and few: the threshold learns only from inputs within half a bandwidth of it.

# %% tags=["experiment"]
def train_architecture(make_sae, steps=10_000):
    """Train an SAE made by make_sae(cfg) like train_sae("advanced") trains the L1 SAE."""
    utils.set_seed(1)
    sae = make_sae(AutoEncoderConfig(n_instances=8, n_input_ae=2, n_hidden_ae=5, l1_coeff=0.2))
    sae.optimize(model, steps=steps, lr=3e-3, log_freq=250, neuron_resample_window=1000, dead_neuron_window=400,
                 neuron_resample_scale=0.5, resample_method="advanced")
    return sae


sae_topk = train_architecture(lambda cfg: TopKAutoEncoder(cfg, k=1))
sae_jumprelu = train_architecture(lambda cfg: JumpReLUAutoEncoder(cfg, l0_coeff=0.02, bandwidth=0.05))
for name, sae in [("L1      ", sae_advanced), ("TopK    ", sae_topk), ("JumpReLU", sae_jumprelu)]:
    describe(name, sae)
    report(name, sae)
print(f"JumpReLU thresholds, mean per instance: {[round(x, 2) for x in sae_jumprelu.threshold.mean(-1).tolist()]}")


def per_instance(sae, n=50_000):
    """Each instance's reconstruction error on fresh inputs, and the length of its b_dec."""
    with torch.no_grad():
        l2_loss = sae(toy_model_hidden(model, sae.cfg)(n))[1]  # [n, inst]
    return l2_loss.mean(0).cpu(), sae.b_dec.detach().norm(dim=-1).cpu()


missed = (feature_recovery(model, sae_topk) < 1).cpu()  # [inst]: TopK instances that miss a feature
error, b_dec_norm = per_instance(sae_topk)
print(f"TopK instances that miss a feature: {missed.nonzero().squeeze(-1).tolist()}; each of them has")
print(f"  a longer b_dec than every instance that finds all five: {bool(b_dec_norm[missed].min() > b_dec_norm[~missed].max())}")
print(f"  a larger error than every instance that finds all five: {bool(error[missed].min() > error[~missed].max())}")

# %% [markdown]
# The per-instance numbers behind those two lines. (This cell's exact numbers for the instances that miss
# a feature change from machine to machine: such an instance ends in a different poor optimum when the
# arithmetic differs in the last bits, so the course's verification does not compare this cell's output.
# The two lines above, which do hold across machines, it does compare.)

# %% tags=["experiment", "nbval-ignore-output"]
for i in range(sae_topk.cfg.n_instances):
    print(f"TopK instance {i}: {'misses a feature' if missed[i] else 'finds all five  '}  error {error[i]:.2e}"
          f"  |b_dec| {b_dec_norm[i]:.3f}")

# %% [markdown]
# Both architectures take the shrinkage away: where they fire, their reconstructions come out at about
# full size (against the L1 SAE's 60%), and their median reconstruction error is more than 20 times (TopK)
# and 6 times (JumpReLU) smaller.
# The JumpReLU thresholds rose from 0.1 to about a third: inputs weaker than that are not reconstructed
# at all, which is JumpReLU's side of the bargain. But neither finds the features as reliably here.
# TopK recovers all five in most instances and at most one in the others; JumpReLU finds 4 of the 5 in
# most instances. (The exact counts depend on the random numbers: read them for this run.)
#
# The TopK instances that miss the features have not found another good dictionary. Each reconstructs
# worse than every instance that found them, and each has moved `b_dec` far from the data's centre (the
# hidden activations are 0 on most inputs, so a good `b_dec` is near 0): the per-instance numbers are
# printed above. They are stuck in poor optima, which an error averaged over instances would hide. (Try
# `k=2`: does a second latent per input help recovery here, or hurt it?) On a language model, where far
# more features than dimensions compete for a few latents per token, what counts is how much an SAE
# reconstructs at a given sparsity: section 4 compares L1 and TopK SAEs there.

# %% [markdown]
# ## Optional exercises
#
# 1. **Tied weights.** Train with `tied_weights=True` (`train_sae("advanced", steps=5_000,
#    tied_weights=True)`, then `report` it). Does it still recover the features, and as fast? When
#    would you expect tied weights to do worse? (Hint: tied weights force the detector and the
#    direction it writes to be the same vector.)
# 2. **An overcomplete SAE.** Use `n_hidden_ae=10` for 5 features. What do the extra latents do: die,
#    duplicate a feature, or split one?
# 3. **Correlated features.** Make two features always fire together: section 1b's `ToyModel`
#    (`from solutions.superposition import ToyModel`) takes `ToyModelConfig(..., n_correlated_pairs=1)`.
#    Does the SAE learn them as one latent? Where do the encoder and decoder directions part?

# %% [markdown]
# ## Summary
#
# - An SAE learns a sparse, overcomplete dictionary; on data made of sparse features, the dictionary
#   it finds is the features.
# - Decoder rows are unit-norm (or the L1 can be cheated); inputs are centred by `b_dec`; L1 sums over
#   latents, L2 averages over input dimensions; independent instances sum their losses.
# - Latents die, and resampling brings them back; Anthropic's method aims them at what is not yet
#   explained.
# - The L1 penalty shrinks every activation it keeps. TopK SAEs set the sparsity directly (k latents
#   per input); JumpReLU SAEs learn a threshold per latent through a straight-through estimator and
#   penalise how many latents fire. Where they fire, both reconstruct at about full size.
#
# **Section 3** trains and evaluates SAEs on a real language model's MLP, where we do *not* know the
# features, and needs ways of measuring an SAE that do not need them.
