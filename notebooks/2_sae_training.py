# %% [markdown]
# # 2. Sparse autoencoders: finding the features again
#
# *About 1.5 hours. Prerequisites: section 1.*
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
# resampling, and Anthropic's method from *Towards Monosemanticity*. Section 2b then builds the
# architectures most SAEs are trained with today (TopK, JumpReLU, BatchTopK) on this SAE, and scores them
# against features whose truth is known. Names: the SAE's hidden units
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
    check_normalize_and_return_W_dec,
    check_resample_neurons_advanced,
    check_resample_neurons_simple,
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
    ) + ([(sae.threshold, (inst_idx, latent_idx))] if isinstance(getattr(sae, "threshold", None), nn.Parameter)
         else []):  # a JumpReLU SAE's learned thresholds (section 2b)
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

    def after_step(self, sparsity: Float[Tensor, "batch inst"]) -> None:
        """Called by `optimize` after each optimizer step with the batch's sparsity term (forward's first
        output). Nothing to do here; section 2b's JumpReLU SAE keeps its thresholds in range and steers its
        L0 coefficient in it."""

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
        self.train()  # a module left in eval mode (BatchTopK) would otherwise train through its inference path
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
                self.after_step(l1_loss.detach())
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
# section 2b's `describe` counts on 50,000 fresh inputs; sections 3 and 4 count on held-out tokens, and say how
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
#
# **Section 2b** measures what the L1 penalty costs (it shrinks every activation it keeps) and builds the
# architectures that take it off: TopK, JumpReLU and BatchTopK SAEs, each scored on data whose features are
# known. **Section 3** then trains and evaluates SAEs on a real language model's MLP, where we do *not*
# know the features, and needs ways of measuring an SAE that do not need them.
