"""Checks for section 1b (notebooks/1b_superposition_more): correlated and anticorrelated data, NeuronModel,
NeuronComputationModel.

The data generators are random, so their checks are statistical: shape and range, each feature's firing rate,
and the joint rates that make a pair a pair (always together, never together) or make two things independent.
Every pair has its own probability, different in every instance, so using the wrong feature's probability shows.
"""

from __future__ import annotations

import copy

import torch
from torch.nn import functional as F

from solutions import superposition as ref
from solutions.toy_model import ToyModelConfig
from tests.checks.core import (
    DETACHED_HINT,
    CheckFailed,
    call_learner,
    compare,
    compare_gradients,
    exercise_check,
    expect_tensor,
)
from tests.checks.toy_model import check_leading_dims

#: Data checks: 1 correlated pair, 3 anticorrelated pairs, 1 independent feature; or 3 correlated, 1
#: anticorrelated. Neither is the notebook's layout, and a pair's position differs between the two.
CFG_CORR = ToyModelConfig(n_instances=3, n_features=9, n_hidden=4, n_correlated_pairs=3, n_anticorrelated_pairs=1)
CFG_ANTI = ToyModelConfig(n_instances=3, n_features=9, n_hidden=4, n_correlated_pairs=1, n_anticorrelated_pairs=3)
#: Model checks: sizes that are not the notebook's, with n_hidden != n_features so a transposed matrix fails.
CFG = ToyModelConfig(n_instances=3, n_features=7, n_hidden=4)
N = 40_000  # rows drawn by the statistical checks: a rate is then known to about ±0.01 (5 standard errors)


def pair_probabilities(cfg: ToyModelConfig) -> torch.Tensor:
    """feature_probability [inst, feat]: one value per pair (both features), in (0.04, 0.4], all different."""
    n_pairs = cfg.n_correlated_pairs + cfg.n_anticorrelated_pairs
    n_free = cfg.n_features - 2 * n_pairs
    values = torch.linspace(0.04, 0.4, cfg.n_instances * (n_pairs + n_free))
    values = values[torch.randperm(len(values))].reshape(cfg.n_instances, n_pairs + n_free)
    return torch.cat([values[:, :n_pairs].repeat_interleave(2, dim=1), values[:, n_pairs:]], dim=1)


def build(exercise: str, Learner, cfg: ToyModelConfig, params=("W", "b_final"), **kwargs):
    """The reference model with random parameters (never a zero bias), and the learner's model built from the
    same arguments with those parameters copied in."""
    Reference = {"NeuronComputationModel": ref.NeuronComputationModel, "NeuronModel": ref.NeuronModel}.get(
        exercise.split(".")[0], ref.ToyModel)
    reference = Reference(cfg, device="cpu", **kwargs)
    with torch.no_grad():
        reference.b_final.copy_(0.3 * torch.randn_like(reference.b_final))
    learner = call_learner(exercise, Learner, cfg, device="cpu", **kwargs)
    for name in (*params, "feature_probability", "importance"):
        mine, theirs = getattr(learner, name, None), getattr(reference, name)
        if not isinstance(mine, torch.Tensor) or mine.shape != theirs.shape:
            raise CheckFailed(exercise, f"your model has no {name} of shape {list(theirs.shape)}.",
                              "keep the given __init__ as it is.")
        with torch.no_grad():
            mine.data = theirs.detach().clone()
    return reference, learner


def _value_checks(ex: str, batch: torch.Tensor, low: float = 0.0) -> None:
    """Present features take uniform values in [low, 1), drawn independently of whether they fire."""
    if (batch == -1).float().mean() > 0.01:  # uniform values hit exactly -1 about once in 2^24 draws
        raise CheckFailed(ex, f"{100 * (batch == -1).float().mean():.0f}% of the values are exactly -1.",
                          "a feature that does not fire is 0, not -1: torch.where(fires, values, 0.0).")
    present = batch[batch != 0]
    if present.numel() and (present == present[0]).all():
        raise CheckFailed(ex, f"every nonzero value is {present[0].item():g}.",
                          "a feature that fires takes a uniform random value (torch.rand), not 1.")
    span = "[-1, 1)" if low < 0 else "[0, 1)"
    if low == 0 and batch.min() >= -1 and batch.max() < 1 and (batch < 0).any():
        raise CheckFailed(ex, f"some values are negative (min {batch.min().item():.3f}).",
                          "these features are uniform on [0, 1): torch.rand as it is, not rescaled to [-1, 1) (only"
                          " the computation model's data is).")
    if (batch < low).any() or (batch >= 1).any():
        raise CheckFailed(ex, f"some values lie outside {span} (min {batch.min().item():.3f}, max"
                              f" {batch.max().item():.3f}).",
                          f"values must be uniform on {span}: " + ("2 * torch.rand(...) - 1, not torch.randn."
                                                                   if low < 0 else "torch.rand, not torch.randn."))
    if present.unique().numel() < 100:
        raise CheckFailed(ex, f"the nonzero values take only {present.unique().numel()} different values.",
                          f"a feature that fires takes a uniform random value on {span}.")


def _rates(ex: str, fired: torch.Tensor, p: torch.Tensor, what: str, mistakes: dict[str, torch.Tensor],
           fallback: str = "compare your probabilities with the docstring's.") -> None:
    """Each feature fires at its rate p [inst, feat]; otherwise name the mistake whose rates match (`fallback`
    when none does)."""
    rate = fired.float().mean(0)
    tolerance = 5 * (p * (1 - p) / len(fired)).sqrt() + 0.005
    if ((rate - p).abs() <= tolerance).all():
        return
    for hint, wrong in mistakes.items():
        if ((rate - wrong).abs() <= tolerance).all():
            raise CheckFailed(ex, f"{what} fire at the wrong rates.", hint)
    i, f = [int(v) for v in torch.nonzero((rate - p).abs() == (rate - p).abs().max())[0]]
    raise CheckFailed(ex, f"{what}: feature {f} of instance {i} fires {100 * rate[i, f]:.1f}% of the time;"
                          f" expected {100 * p[i, f]:.1f}%.", fallback)


def _independent(ex: str, a: torch.Tensor, b: torch.Tensor, what: str, hint: str) -> None:
    """Boolean [n, ...] firing patterns a and b are independent: P(a and b) = P(a) P(b) everywhere."""
    a, b = a.float(), b.float()
    excess = ((a * b).mean(0) - a.mean(0) * b.mean(0)).abs()
    if excess.max() > 0.015:
        raise CheckFailed(ex, f"{what} fire together more (or less) often than independent draws would.", hint)


def _coins_independent(ex: str, first: torch.Tensor, either: torch.Tensor) -> None:
    """Each (row, instance, pair) has its own fair coin. Where two pairs (or two instances' pair) both fire, their
    coins pick the same side half the time; one coin shared by them always does. The firing rates cannot see
    this (each coin alone is fair), nor can the pairs' firing patterns (they are independent either way)."""
    n_inst, n_pairs = first.shape[1:]
    couples = [((slice(None), i, j), (slice(None), i, k), "pairs") for i in range(n_inst)
               for j in range(n_pairs) for k in range(j + 1, n_pairs)]
    couples += [((slice(None), 0, j), (slice(None), 1, j), "instances") for j in range(n_pairs)]
    for a, b, what in couples:
        both = either[a] & either[b]
        if both.sum() < 200:  # too few rows where both fire to tell a share of 1/2 from 1
            continue
        agree = (first[a] == first[b])[both].float().mean()
        if (agree - 0.5).abs() > 0.15:  # with >= 200 rows, 1/2 is known to about +-0.035
            shape = "[batch, inst, 1]" if what == "pairs" else "[batch, 1, n_pairs]"
            where = "two pairs both fire" if what == "pairs" else "a pair fires in instances 0 and 1 alike"
            raise CheckFailed(ex, f"where {where}, the same side fires in {100 * agree:.0f}% of rows; independent"
                                  " coins agree in 50%.",
                              f"every pair needs its own coin: draw it with shape [batch, inst, n_pairs], not {shape}"
                              f" (one coin shared by all the {what}).")


DEVICE_HINT = ("create every tensor on the model's device (torch.rand(..., device={where})), and leave the model's"
               " tensors where they are (no .cpu()): on a GPU the model's tensors live there.")


def _on_models_device(ex: str, model, generate, where: str = "self.W.device") -> None:
    """The generator makes its tensors on the model's device. The check has no GPU, so it moves the model to
    PyTorch's "meta" device (tensors with a shape but no data): a tensor made on the CPU shows up there."""
    model = copy.deepcopy(model).to("meta")  # a copy: a module cannot come back from "meta"
    try:
        with torch.random.fork_rng(devices=[]):
            out = generate(model)
    except Exception as e:  # NotImplementedError too: it is what .cpu() raises on "meta"
        raise CheckFailed(ex, f"your code fails when the model is not on the CPU ({type(e).__name__}: "
                              f"{str(e).strip().splitlines()[0][:120] if str(e).strip() else ''}).",
                          DEVICE_HINT.format(where=where)) from None
    if isinstance(out, torch.Tensor) and out.device.type != "meta":
        raise CheckFailed(ex, f"with the model on another device, your result is on {out.device.type}.",
                          DEVICE_HINT.format(where=where))


def _fresh(ex: str, generate, batch: torch.Tensor) -> None:
    if torch.equal(batch[0], batch[1]) or torch.equal(batch, generate()):
        raise CheckFailed(ex, "batches repeat themselves.", "draw fresh random numbers on every call and every row.")


# ----------------------------------------------------------------------------- correlated and anticorrelated

def draw_block(ex: str, learner, kind: str, n_pairs: int, cfg: ToyModelConfig) -> torch.Tensor:
    """N rows of the learner's generate_{kind}_features(N, n_pairs), after checking its shape, and that it uses
    its n_pairs argument (called with 2 as well) rather than the config's count."""
    name, arg = f"generate_{kind}_features", f"n_{kind}_pairs"
    generate = getattr(learner, name)
    batch = call_learner(ex, generate, N, n_pairs)
    if isinstance(batch, torch.Tensor) and batch.shape[:2] == (N, cfg.n_instances) and batch.shape[2] != 2 * n_pairs:
        raise CheckFailed(ex, f"{name}({N}, {n_pairs}) has {batch.shape[2]} features; expected 2 * {arg} ="
                              f" {2 * n_pairs}.",
                          f"return only this block: two features per pair, [batch, inst, 2 * {arg}].")
    expect_tensor(ex, batch, f"{name}({N}, {n_pairs})", (N, cfg.n_instances, 2 * n_pairs), f"batch, inst, 2 * {arg}")
    fewer = call_learner(ex, generate, 8, 2)
    if not isinstance(fewer, torch.Tensor) or tuple(fewer.shape) != (8, cfg.n_instances, 4):
        got = list(fewer.shape) if isinstance(fewer, torch.Tensor) else type(fewer).__name__
        raise CheckFailed(ex, f"{name}(8, 2) returned {got}; expected [8, inst, 4].",
                          f"use the {arg} argument, not self.cfg.{arg}: generate_batch passes the count it wants.")
    return batch


PAIR_LAYOUT_HINT = ("pair k is features 2k and 2k + 1, side by side: repeat each pair's draw with"
                    " einops.repeat(..., 'batch inst pair -> batch inst (pair two)', two=2); '(two pair)' puts pair k"
                    " at features k and k + n_pairs.")


@exercise_check("ToyModel.generate_correlated_features")
def check_generate_correlated_features(ToyModel) -> None:
    ex = "ToyModel.generate_correlated_features"
    cfg = CFG_CORR
    p = pair_probabilities(cfg)
    _, learner = build(ex, ToyModel, cfg, feature_probability=p)
    n_pairs = cfg.n_correlated_pairs
    batch = draw_block(ex, learner, "correlated", n_pairs, cfg)
    _value_checks(ex, batch)
    fired = batch != 0
    first, second = fired[..., 0::2], fired[..., 1::2]  # [N, inst, pair]
    if (first != second).any():
        if (fired[..., :n_pairs] == fired[..., n_pairs:]).all():
            raise CheckFailed(ex, "the features that fire together are not side by side.", PAIR_LAYOUT_HINT)
        raise CheckFailed(ex, f"the two features of a pair fire apart in {100 * (first != second).float().mean():.1f}%"
                              " of rows; they must always fire together.",
                          "draw one random number per (row, instance, pair), shape [batch, inst, n_pairs], and use it"
                          " for both features of the pair; one draw per feature makes them independent.")
    p_block = p[:, :2 * n_pairs]
    _rates(ex, fired, p_block, "the correlated features", {
        "a pair fires when rand < p, not rand > p.": 1 - p_block,
        "pair k's probability is feature_probability[:, 2k] (its first feature, the same as its second), not"
        " feature_probability[:, k]: the pairs take every other column.":
            p[:, :n_pairs].repeat_interleave(2, dim=1),
        "each pair fires with probability p, its own feature_probability: not p squared (that is two independent"
        " features firing together).": p_block ** 2,
    })
    _independent(ex, first[..., 0], first[..., 1], "pairs 0 and 1",
                 "each pair has its own draw: a draw of shape [batch, inst, 1] makes every pair fire together.")
    _independent(ex, first[:, 0], first[:, 1], "instances 0 and 1",
                 "draw with the full shape [batch, n_instances, n_pairs]: a [batch, 1, n_pairs] draw is shared by"
                 " every instance.")
    both = batch[..., 0::2][first]
    if (both == batch[..., 1::2][first]).float().mean() > 0.5:
        raise CheckFailed(ex, "the two features of a pair always take the same value.",
                          "they fire together, but each takes its own value: draw the values with shape"
                          " [batch, inst, 2 * n_pairs].")
    mean_value = torch.where(fired, batch, torch.nan).nanmean(0)
    if (mean_value - 0.5).abs().max() > 0.03:
        raise CheckFailed(ex, f"present features have mean value {mean_value.min():.3f} to {mean_value.max():.3f};"
                              " expected 0.5.",
                          "draw the values and the firing decision from two separate torch.rand calls: reusing one"
                          " draw ties a feature's value to whether it fires.")
    _fresh(ex, lambda: learner.generate_correlated_features(N, n_pairs), batch)
    _on_models_device(ex, learner, lambda m: m.generate_correlated_features(8, n_pairs))


@exercise_check("ToyModel.generate_anticorrelated_features")
def check_generate_anticorrelated_features(ToyModel) -> None:
    ex = "ToyModel.generate_anticorrelated_features"
    cfg = CFG_ANTI
    p = pair_probabilities(cfg)
    _, learner = build(ex, ToyModel, cfg, feature_probability=p)
    n_pairs, start = cfg.n_anticorrelated_pairs, 2 * cfg.n_correlated_pairs
    batch = draw_block(ex, learner, "anticorrelated", n_pairs, cfg)
    _value_checks(ex, batch)
    fired = batch != 0
    first, second = fired[..., 0::2], fired[..., 1::2]
    if (first & second).any():
        if not (fired[..., :n_pairs] & fired[..., n_pairs:]).any():
            raise CheckFailed(ex, "the features that never fire together are not side by side.",
                              "pair k is features 2k and 2k + 1 of the block: interleave the two choices, e.g."
                              " torch.stack([a, b], dim=-1) then rearrange 'batch inst pair two -> batch inst"
                              " (pair two)'; torch.cat([a, b], dim=-1) puts pair k at features k and k + n_pairs.")
        raise CheckFailed(ex, f"both features of a pair fire in {100 * (first & second).float().mean():.2f}% of"
                              " rows; they must never fire together.",
                          "decide per (row, instance, pair) whether one of the two fires (probability 2p), then pick"
                          " which one with a coin: independent draws per feature let both fire.")
    p_block = p[:, start:start + 2 * n_pairs]
    either = first | second
    # The coin: of the rows where pair k fires, the share in which its first feature is the one (1/2).
    share = first.float().sum(0) / either.float().sum(0).clamp(min=1)  # [inst, pair]
    coin_fixed = ((share < 0.02) | (share > 0.98)).all() and (share < 0.02).any() and (share > 0.98).any()
    p_pair = p_block[:, 0::2]
    same_draw = torch.stack([(2 * p_pair).clamp(max=0.5), (2 * p_pair - 0.5).clamp(min=0)], -1).flatten(-2)
    _rates(ex, fired, p_block, "the anticorrelated features", {
        "each feature fires with probability p/2: one of the pair fires with probability 2p (not p), then a fair"
        " coin picks which.": p_block / 2,
        "one feature of every pair fires in every row: first decide whether the pair fires at all (rand < 2p),"
        " and only then which one.": torch.full_like(p_block, 0.5),
        "the anticorrelated block starts after the correlated pairs: its probabilities are"
        " feature_probability[:, 2 * n_correlated_pairs + 2k], not feature_probability[:, 2k].":
            p[:, :2 * n_pairs],
        "the anticorrelated block's probabilities start at feature 2 * n_correlated_pairs, and pair k's is"
        " that block's feature 2k, not feature k.":
            p[:, start:start + n_pairs].repeat_interleave(2, dim=1),
        "features fire when rand < 2p: with rand > 2p the pair fires with probability 1 - 2p.": (1 - 2 * p_block) / 2,
        "the second feature fires only when the pair fires: one_fires & ~first, not ~first alone.":
            torch.stack([p_block[:, 0::2], torch.full_like(p_block[:, 0::2], 0.5)], -1).flatten(-2),
        "two draws (a = rand < p, then b = rand < p where a is not) make the second feature rarer, p(1 - p):"
        " decide whether the pair fires (rand < 2p), then a fair coin picks which.":
            torch.stack([p_block[:, 0::2], p_block[:, 0::2] * (1 - p_block[:, 0::2])], -1).flatten(-2),
        "a fair coin (probability 1/2) picks which of the two fires, not a coin weighted by p.":
            torch.stack([2 * p_block[:, 0::2] ** 2, 2 * p_block[:, 0::2] * (1 - p_block[:, 0::2])], -1).flatten(-2),
        # u < 2p decides that the pair fires, then u < 0.5 (the same u) is no coin: below 2p it is nearly always true.
        "the coin reuses the draw that decided whether the pair fires (u < 2p, then u < 0.5): given u < 2p that is"
        " not a fair coin. Draw the coin separately, torch.rand(...) < 0.5.": same_draw,
        "the same draw decides whether the pair fires and which one (u < 2p, then u > 0.5): draw the coin"
        " separately, torch.rand(...) < 0.5.": same_draw.unflatten(-1, (-1, 2)).flip(-1).flatten(-2),
    }, fallback=("the coin that picks which feature fires is the same in every row: draw it with the batch axis,"
                 " shape [batch, inst, n_pairs], not [1, inst, n_pairs].") if coin_fixed else
       "compare your probabilities with the docstring's.")
    _independent(ex, either[..., 0], either[..., 1], "pairs 0 and 1",
                 "each pair has its own draws: draws of shape [batch, inst, 1] make every pair fire at once.")
    _independent(ex, either[:, 0], either[:, 1], "instances 0 and 1",
                 "draw with the full shape [batch, n_instances, n_pairs], not [batch, 1, n_pairs].")
    _coins_independent(ex, first, either)
    mean_value = torch.where(fired, batch, torch.nan).nanmean(0)
    if (mean_value - 0.5).abs().max() > 0.03:
        raise CheckFailed(ex, f"present features have mean value {mean_value.min():.3f} to {mean_value.max():.3f};"
                              " expected 0.5.",
                          "draw the values separately from the decisions of which feature fires.")
    _fresh(ex, lambda: learner.generate_anticorrelated_features(N, n_pairs), batch)
    _on_models_device(ex, learner, lambda m: m.generate_anticorrelated_features(8, n_pairs))


# ----------------------------------------------------------------------------------------------- NeuronModel


def _inputs(n: int, cfg: ToyModelConfig, low: float = 0.0) -> torch.Tensor:
    values = low + (1 - low) * torch.rand(n, cfg.n_instances, cfg.n_features)
    return values * (torch.rand(n, cfg.n_instances, cfg.n_features) < 0.5)


def _input_untouched(ex: str, learner, cfg: ToyModelConfig) -> None:
    """forward must not change its input: the caller may use it again (as the loss does)."""
    x = torch.randn(4, cfg.n_instances, cfg.n_features)  # negative values too, so a stray relu_() shows
    before = x.clone()
    with torch.no_grad():
        call_learner(ex, learner, x)
    if not torch.equal(x, before):
        raise CheckFailed(ex, "forward changed its input tensor in place.",
                          "use out-of-place ops (F.relu(x), x + b), not x.relu_() or x += b, on the input.")


@exercise_check("NeuronModel.forward")
def check_neuron_model_forward(NeuronModel) -> None:
    ex = "NeuronModel.forward"
    reference, learner = build(ex, NeuronModel, CFG)
    x = _inputs(16, CFG)
    with torch.no_grad():
        out = call_learner(ex, learner, x)
    expect_tensor(ex, out, "forward(features)", (16, CFG.n_instances, CFG.n_features), "batch, inst, feat")
    W, b = reference.W.detach(), reference.b_final.detach()
    h = torch.einsum("bif,ihf->bih", x, W)
    compare(ex, out, reference(x), "forward(features)", mistakes={
        "that is section 1's model: NeuronModel also puts a ReLU on the hidden layer, ReLU(W x).":
            F.relu(torch.einsum("bih,ihf->bif", h, W) + b),
        "you forgot the ReLU at the output: ReLU(W^T ReLU(W x) + b_final).":
            torch.einsum("bih,ihf->bif", F.relu(h), W) + b,
        "you forgot to add the bias b_final.": F.relu(torch.einsum("bih,ihf->bif", F.relu(h), W)),
        "the output ReLU comes after adding b_final: ReLU(... + b_final), not ReLU(...) + b_final.":
            F.relu(torch.einsum("bih,ihf->bif", F.relu(h), W)) + b,
    }, generic_hint="out = ReLU(W^T ReLU(W x) + b_final), per instance.")
    out = call_learner(ex, learner, x)
    compare_gradients(ex, out, reference(x), "forward(features)", dict(learner.named_parameters()),
                      dict(reference.named_parameters()), hints={
                          "W": "W is used twice (into the neurons and back out): both einsums must use self.W itself,"
                               " not a detached copy or .data.",
                          "b_final": "add self.b_final itself, not a detached copy or its .data."})
    _input_untouched(ex, learner, CFG)
    check_leading_dims(ex, learner, reference, CFG)


# ---------------------------------------------------------------------------------------- NeuronComputationModel

COMPUTATION_PARAMS = ("W1", "W2", "b_final")
W2_CRASH = ("W1 is [inst, hidden, feat] and W2 is [inst, feat, hidden]: name W2's axes 'inst feat hidden' in your"
            " einsum (it is not W1's shape).")


@exercise_check("NeuronComputationModel.forward")
def check_computation_forward(NeuronComputationModel) -> None:
    ex = "NeuronComputationModel.forward"
    reference, learner = build(ex, NeuronComputationModel, CFG, params=COMPUTATION_PARAMS)
    x = _inputs(16, CFG, low=-1.0)
    with torch.no_grad():
        out = call_learner(ex, learner, x, crash_hint=W2_CRASH)
    expect_tensor(ex, out, "forward(features)", (16, CFG.n_instances, CFG.n_features), "batch, inst, feat")
    W1, W2, b = reference.W1.detach(), reference.W2.detach(), reference.b_final.detach()
    h = torch.einsum("bif,ihf->bih", x, W1)
    out_of = lambda hidden, W=W2: torch.einsum("bih,ifh->bif", hidden, W)  # noqa: E731
    compare(ex, out, reference(x), "forward(features)", mistakes={
        "you forgot the ReLU on the hidden layer: ReLU(W2 ReLU(W1 x) + b_final).": F.relu(out_of(h) + b),
        "you forgot the ReLU at the output.": out_of(F.relu(h)) + b,
        "you forgot to add the bias b_final.": F.relu(out_of(F.relu(h))),
        "the output ReLU comes after adding b_final: ReLU(... + b_final), not ReLU(...) + b_final.":
            F.relu(out_of(F.relu(h))) + b,
        "the output uses W2, not W1 transposed: this model has two matrices.":
            F.relu(torch.einsum("bih,ihf->bif", F.relu(h), W1) + b),
    }, generic_hint="out = ReLU(W2 ReLU(W1 x) + b_final), per instance.")
    out = call_learner(ex, learner, x)
    compare_gradients(ex, out, reference(x), "forward(features)", dict(learner.named_parameters()),
                      dict(reference.named_parameters()), hints={
                          "W1": "use self.W1 itself (not a detached copy or .data) to compute the hidden layer.",
                          "W2": "use self.W2 itself (not a detached copy or .data) to compute the output.",
                          "b_final": "add self.b_final itself, not a detached copy or its .data."})
    _input_untouched(ex, learner, CFG)
    check_leading_dims(ex, learner, reference, CFG)


@exercise_check("NeuronComputationModel.generate_batch")
def check_computation_generate_batch(NeuronComputationModel) -> None:
    ex = "NeuronComputationModel.generate_batch"
    p = torch.linspace(0.05, 0.6, CFG.n_instances * CFG.n_features)
    p = p[torch.randperm(len(p))].reshape(CFG.n_instances, CFG.n_features)
    _, learner = build(ex, NeuronComputationModel, CFG, params=COMPUTATION_PARAMS, feature_probability=p)
    batch = call_learner(ex, learner.generate_batch, N, crash_hint="NeuronComputationModel has no self.W (it has"
                         " W1 and W2): put new tensors on self.b_final.device, shape [batch, n_instances, n_features].")
    expect_tensor(ex, batch, f"generate_batch({N})", (N, CFG.n_instances, CFG.n_features), "batch, inst, feat")
    if not (batch < 0).any():
        raise CheckFailed(ex, "no value is negative.",
                          "present features are uniform on [-1, 1): 2 * torch.rand(...) - 1, not torch.rand (the"
                          " model is to compute |x|, which needs negative inputs).")
    _value_checks(ex, batch, low=-1.0)
    fired = batch != 0
    present = batch[fired]
    if present.abs().mean() < 0.4:
        raise CheckFailed(ex, f"present values have mean size {present.abs().mean():.3f}; uniform on [-1, 1) gives"
                              " 0.5.", "stretch torch.rand to [-1, 1) with 2 * rand - 1: rand - 0.5 only reaches"
                                       " ±0.5.")
    _rates(ex, fired, p, "the features", {
        "a feature fires when rand < p, not rand > p.": 1 - p,
        "each feature fires with its own feature_probability[inst, feat], not instance 0's.": p[:1].expand_as(p),
    })
    _independent(ex, fired[:, :, 0], fired[:, :, 1], "features 0 and 1",
                 "draw the firing mask with the full shape [batch, n_instances, n_features].")
    _independent(ex, fired[:, 0], fired[:, 1], "instances 0 and 1",
                 "draw the firing mask with the full shape [batch, n_instances, n_features].")
    mean_value = torch.where(fired, batch, torch.nan).nanmean(0)
    if mean_value.abs().max() > 0.05:
        raise CheckFailed(ex, f"present features have mean value {mean_value.min():.3f} to {mean_value.max():.3f};"
                              " expected 0 (uniform on [-1, 1)).",
                          "draw the values and the firing mask from two separate torch.rand calls.")
    _fresh(ex, lambda: learner.generate_batch(N), batch)
    _on_models_device(ex, learner, lambda m: m.generate_batch(8), where="self.b_final.device")


@exercise_check("NeuronComputationModel.calculate_loss")
def check_computation_loss(NeuronComputationModel) -> None:
    ex = "NeuronComputationModel.calculate_loss"
    importance = torch.rand(CFG.n_instances, CFG.n_features) + 0.1
    reference, learner = build(ex, NeuronComputationModel, CFG, params=COMPUTATION_PARAMS, importance=importance,
                               feature_probability=0.5)
    batch = 2 * torch.rand(32, CFG.n_instances, CFG.n_features) - 1
    out = torch.rand(32, CFG.n_instances, CFG.n_features, requires_grad=True)
    batch_before = batch.clone()
    loss = call_learner(ex, learner.calculate_loss, out, batch)
    if not torch.equal(batch, batch_before):
        raise CheckFailed(ex, "calculate_loss changed the batch in place.",
                          "batch.abs() makes a new tensor; batch.abs_() overwrites the data.")
    if isinstance(loss, torch.Tensor) and loss.shape == (CFG.n_instances,):
        raise CheckFailed(ex, "returned one loss per instance; expected a scalar.", "sum over instances.")
    expect_tensor(ex, loss, "calculate_loss(out, batch)", (), "")
    o = out.detach()
    expected = reference.calculate_loss(o, batch)
    per = lambda err: err.mean(dim=(0, 2)).sum()  # noqa: E731
    compare(ex, loss, expected, "the loss", mistakes={
        "the target is |x|, not x: this model computes the absolute value (batch.abs() - out).":
            per(importance * (batch - o) ** 2),
        "you averaged over instances; sum over them.": expected / CFG.n_instances,
        "you forgot to weight by self.importance.": per((batch.abs() - o) ** 2),
        "you summed over features; take the mean over batch and features.": expected * CFG.n_features,
        "you used the absolute error; the loss is the squared error against |x|.":
            per(importance * (batch.abs() - o).abs()),
        "you squared the importance: importance * (|x| - out)^2, not (importance * (|x| - out))^2.":
            per(importance ** 2 * (batch.abs() - o) ** 2),
    }, generic_hint="L = sum over instances of mean over (batch, feat) of importance * (|x| - out)^2.")
    if not loss.requires_grad:
        raise CheckFailed(ex, "the loss has no gradient: it was detached from `out`.", DETACHED_HINT)
    out_ref = o.clone().requires_grad_(True)
    compare_gradients(ex, loss, reference.calculate_loss(out_ref, batch), "the loss", {"out": out}, {"out": out_ref},
                      hints=f"the model's output must reach the loss with its gradient. {DETACHED_HINT}")


#: Exercise name -> (check, name of the notebook object it takes), in notebook order.
CHECKS = {
    "ToyModel.generate_correlated_features": (check_generate_correlated_features, "ToyModel"),
    "ToyModel.generate_anticorrelated_features": (check_generate_anticorrelated_features, "ToyModel"),
    "NeuronModel.forward": (check_neuron_model_forward, "NeuronModel"),
    "NeuronComputationModel.forward": (check_computation_forward, "NeuronComputationModel"),
    "NeuronComputationModel.generate_batch": (check_computation_generate_batch, "NeuronComputationModel"),
    "NeuronComputationModel.calculate_loss": (check_computation_loss, "NeuronComputationModel"),
}
