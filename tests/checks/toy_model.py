"""Checks for section 1 (notebooks/1_toy_bottleneck): ToyModel.forward, generate_batch, calculate_loss,
compute_dimensionality.

Every check uses a config that is not the notebook's default (7 features, 4 hidden, 3 instances),
so code with hard-coded sizes fails here rather than later.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from solutions import toy_model as ref
from tests.checks.core import (
    DETACHED_HINT,
    CheckFailed,
    call_learner,
    close,
    compare,
    compare_gradients,
    exercise_check,
    expect_tensor,
)

CFG = ref.ToyModelConfig(n_instances=3, n_features=7, n_hidden=4)


def make_pair(exercise: str, Learner, feature_probability=1.0, importance=1.0):
    """The reference model with random weights and a random (never zero) bias, and the learner's
    model built from the same arguments with those parameters copied in."""
    reference = ref.ToyModel(CFG, feature_probability, importance, device="cpu")
    with torch.no_grad():
        reference.b_final.copy_(0.3 * torch.randn_like(reference.b_final))
    learner = call_learner(exercise, Learner, CFG, feature_probability, importance, device="cpu")
    for name in ("W", "b_final", "feature_probability", "importance"):
        mine = getattr(learner, name, None)
        if not isinstance(mine, torch.Tensor) or mine.shape != getattr(reference, name).shape:
            raise CheckFailed(exercise, f"your ToyModel has no {name} of shape {list(getattr(reference, name).shape)}.",
                              "keep the given __init__ as it is.")
        with torch.no_grad():
            mine.data = getattr(reference, name).detach().clone()
    return reference, learner


@exercise_check("ToyModel.forward")
def check_forward(ToyModel) -> None:
    ex = "ToyModel.forward"
    reference, learner = make_pair(ex, ToyModel)
    features = torch.rand(16, CFG.n_instances, CFG.n_features) * (torch.rand(16, CFG.n_instances, CFG.n_features) < 0.5)
    features_before = features.clone()
    with torch.no_grad():
        out = call_learner(ex, learner, features)
    expect_tensor(ex, out, "forward(features)", (16, CFG.n_instances, CFG.n_features), "batch, inst, feat")
    if not torch.equal(features, features_before):
        raise CheckFailed(ex, "forward changed its input tensor in place.", "use out-of-place ops (x + b, not x += b).")

    W, b = reference.W.detach(), reference.b_final.detach()
    WtWx = torch.einsum("bif,ihf,ihg->big", features, W, W)
    compare(ex, out, reference(features), "forward(features)", mistakes={
        "you forgot to add the bias b_final.": F.relu(WtWx),
        "you forgot the ReLU at the end.": WtWx + b,
        "the ReLU comes after adding b_final: ReLU(W^T W x + b), not ReLU(W^T W x) + b.": F.relu(WtWx) + b,
        "you applied the ReLU to the hidden layer h = W x too; only the output has a ReLU.":
            F.relu(torch.einsum("bih,ihg->big", F.relu(torch.einsum("bif,ihf->bih", features, W)), W) + b),
        "clamp(0, 1) also caps the output at 1: the nonlinearity is a ReLU, clamp(min=0) only.":
            (WtWx + b).clamp(0, 1),
        "each instance has its own bias: add b_final (shape [inst, feat]), not instance 0's b_final[0].":
            F.relu(WtWx + b[0]),
        "the instances got mixed: each instance's input goes through its own W only. Give W's instance axis the"
        " same einsum letter as the input's ('inst hidden feat'), not a letter of its own that gets summed.":
            F.relu(torch.einsum("bif,jhf,khg->big", features, W, W) + b),
    }, generic_hint="out = ReLU(W^T (W x) + b_final), per instance.")

    # Training follows the gradient: W is used twice (compress, reconstruct) and must get its gradient from both.
    out = call_learner(ex, learner, features)
    compare_gradients(ex, out, reference(features), "forward(features)", dict(learner.named_parameters()),
                      dict(reference.named_parameters()), hints={
                          "W": "W is used twice, to compress (h = W x) and to reconstruct (W^T h): both einsums must"
                               " use self.W itself, not self.W.detach() or self.W.data, so W learns from both.",
                          "b_final": "add self.b_final itself, not a detached copy or its .data."})

    check_leading_dims(ex, learner, reference, CFG)


def check_leading_dims(ex: str, learner, reference, cfg) -> None:
    """Any number of leading dims: [inst, feat] and [2, 5, inst, feat] must work too (section 1b's models too)."""
    for shape in [(cfg.n_instances, cfg.n_features), (2, 5, cfg.n_instances, cfg.n_features)]:
        x = torch.rand(shape)
        with torch.no_grad():
            try:
                out = learner(x)
            except Exception as e:
                raise CheckFailed(ex, f"forward fails on input of shape {list(shape)} ({type(e).__name__}).",
                                  "features has shape [..., inst, feat]: use '...' in your einsum patterns.") from None
        expect_tensor(ex, out, f"forward on shape {list(shape)}", shape, "..., inst, feat")
        compare(ex, out, reference(x), f"forward on input of shape {list(shape)}")


@exercise_check("ToyModel.generate_batch")
def check_generate_batch(ToyModel) -> None:
    ex = "ToyModel.generate_batch"
    # A different firing probability for every (instance, feature), so each must be used.
    p = torch.linspace(0.05, 0.95, CFG.n_instances * CFG.n_features).reshape(CFG.n_instances, CFG.n_features)
    p = p[:, torch.randperm(CFG.n_features)]
    _, learner = make_pair(ex, ToyModel, feature_probability=p)
    n = 20_000
    batch = call_learner(ex, learner.generate_batch, n)
    expect_tensor(ex, batch, f"generate_batch({n})", (n, CFG.n_instances, CFG.n_features), "batch, inst, feat")
    present = batch[batch != 0]
    if present.numel() and (present == present[0]).all():
        raise CheckFailed(ex, f"every nonzero value is {present[0].item():g}.",
                          "a feature that fires takes a uniform random value (torch.rand), not 1.")
    if (batch == -1).float().mean() > 0.01:  # before the range check: -1 is an absent feature, not a randn value
        raise CheckFailed(ex, f"{100 * (batch == -1).float().mean():.0f}% of the values are exactly -1.",
                          "a feature that does not fire is 0, not -1: torch.where(fires, values, 0.0).")
    if (batch < 0).any():
        raise CheckFailed(ex, f"some values are negative (min {batch.min().item():.3f}).",
                          "values must be uniform on [0, 1): torch.rand, not torch.randn.")
    if (batch >= 1).any():
        raise CheckFailed(ex, f"some values are ≥ 1 (max {batch.max().item():.3f}).",
                          "values must be uniform on [0, 1): torch.rand, neither divided by the probability (as"
                          " dropout does) nor with the mask added to them.")

    fires = (batch != 0).float().mean(0)  # [inst, feat]
    tolerance = 5 * (p * (1 - p) / n).sqrt() + 0.005
    if not ((fires - p).abs() <= tolerance).all():
        i, f = [int(v) for v in torch.nonzero((fires - p).abs() == (fires - p).abs().max())[0]]
        if ((fires == 0) | (fires == 1)).all():
            hint = ("every row has the same features firing: draw the firing mask with the full shape [batch, inst,"
                    " feat], not [1, inst, feat] (one draw shared by the whole batch).")
        elif ((fires - (1 - p)).abs() <= tolerance).all():
            hint = "features fire with probability 1 - p: keep a feature where rand < p, not where rand > p."
        elif ((fires - p.mean(-1, keepdim=True)).abs() <= tolerance).all():
            hint = "every feature of an instance fires equally often: use the full [inst, feat] feature_probability."
        else:
            hint = "a feature should be nonzero with probability self.feature_probability[inst, feat]."
        raise CheckFailed(ex, f"feature {f} of instance {i} is nonzero {100 * fires[i, f]:.1f}% of the time;"
                              f" expected {100 * p[i, f]:.1f}%.", hint)

    # Features fire independently: within an instance (one draw per feature, not one per row) and across
    # instances. Marginal rates alone cannot see this; P(f and g) = P(f) P(g) can.
    fired = (batch != 0).float()
    joint = torch.einsum("nif,nig->ifg", fired, fired) / n  # [inst, feat, feat]
    excess = (joint - fires[:, :, None] * fires[:, None, :]).abs()
    excess = excess * (1 - torch.eye(CFG.n_features))  # a feature with itself is not a pair
    if excess.max() > 0.03:
        i, f, g = [int(v) for v in torch.nonzero(excess == excess.max())[0]]
        raise CheckFailed(ex, f"features {f} and {g} of instance {i} fire together {100 * joint[i, f, g]:.1f}% of the"
                              f" time; independent features would {100 * fires[i, f] * fires[i, g]:.1f}%.",
                          "draw one random number per (batch, instance, feature) for the firing mask, shape"
                          " [batch, n_instances, n_features]: one number per row (shape [batch, n_instances, 1])"
                          " makes an instance's features fire together.")
    across = (torch.einsum("nf,nf->f", fired[:, 0], fired[:, 1]) / n - fires[0] * fires[1]).abs()
    if across.max() > 0.03:
        raise CheckFailed(ex, "instances 0 and 1 fire their features together, not independently.",
                          "draw the firing mask with the full shape [batch, n_instances, n_features]: a mask of shape"
                          " [batch, 1, n_features] is shared by every instance.")
    both = (batch[..., 0] != 0) & (batch[..., 1] != 0)
    if both.any() and (batch[..., 0][both] == batch[..., 1][both]).float().mean() > 0.5:
        raise CheckFailed(ex, "features that fire in the same row all take the same value.",
                          "draw one value per (batch, instance, feature): torch.rand of the full shape.")

    if present.unique().numel() < 100:
        raise CheckFailed(ex, f"the nonzero values take only {present.unique().numel()} different values.",
                          "a feature that fires takes a uniform random value (torch.rand) on [0, 1).")
    # Value and firing must be independent: for every feature the mean nonzero value is 0.5.
    mean_value = torch.where(batch != 0, batch, torch.nan).nanmean(0)  # [inst, feat]
    worst = (mean_value - 0.5).abs().max().item()
    if worst > 0.03:
        hint = ("the value of a feature depends on whether it fires: draw the values and the firing mask"
                " from two separate torch.rand calls.") if ((mean_value - p / 2).abs() < 0.03).all() else \
            "the values of present features should be uniform on [0, 1) (mean 0.5)."
        raise CheckFailed(ex, f"present features have mean value {mean_value.min().item():.3f} to"
                              f" {mean_value.max().item():.3f}; expected 0.5.", hint)
    if torch.equal(batch[0], batch[1]) or torch.equal(batch, call_learner(ex, learner.generate_batch, n)):
        raise CheckFailed(ex, "batches repeat themselves.",
                          "draw fresh random numbers on every call and for every row.")

    # Small batches: the number of rows where a feature fires varies from batch to batch (binomially), and a
    # rare feature still fires sometimes. A fixed count per batch, round(p * batch_size), has the right rate in
    # a large batch and neither property.
    small = torch.stack([call_learner(ex, learner.generate_batch, 8) for _ in range(400)])  # [400, 8, inst, feat]
    counts = (small != 0).float().sum(1)  # [400, inst, feat]
    variance = counts.var(0).mean().item()
    binomial = (8 * p * (1 - p)).mean().item()
    if variance < 0.3 * binomial:
        raise CheckFailed(ex, f"in batches of 8 rows, a feature fires in nearly the same number of rows every time"
                              f" (variance {variance:.2f}; independent rows give {binomial:.2f}).",
                          "decide each (row, instance, feature) independently, rand < p: not a fixed number of rows"
                          " per batch, round(p * batch_size), which never lets a rare feature fire in a small batch.")


@exercise_check("ToyModel.calculate_loss")
def check_calculate_loss(ToyModel) -> None:
    ex = "ToyModel.calculate_loss"
    importance = torch.rand(CFG.n_instances, CFG.n_features) + 0.1
    probability = torch.rand(CFG.n_instances, CFG.n_features) * 0.8 + 0.1  # not 1: a mix-up with importance shows
    reference, learner = make_pair(ex, ToyModel, feature_probability=probability, importance=importance)
    batch = torch.rand(32, CFG.n_instances, CFG.n_features)
    out = torch.rand(32, CFG.n_instances, CFG.n_features, requires_grad=True)
    out_before, batch_before = out.detach().clone(), batch.clone()
    loss = call_learner(ex, learner.calculate_loss, out, batch)
    if not (torch.equal(batch, batch_before) and torch.equal(out.detach(), out_before)):
        raise CheckFailed(ex, "calculate_loss changed its inputs in place.",
                          "compute new tensors, batch - out, not batch.sub_(out) or -=.")
    if isinstance(loss, torch.Tensor) and loss.shape == (CFG.n_instances,):
        raise CheckFailed(ex, f"returned one loss per instance (shape {list(loss.shape)}); expected a scalar.",
                          "sum the per-instance losses into one number.")
    if isinstance(loss, float):
        raise CheckFailed(ex, "returned a Python float; expected a scalar tensor.",
                          "don't call .item(): loss.backward() needs the tensor.")
    expect_tensor(ex, loss, "calculate_loss(out, batch)", (), "")
    if not loss.requires_grad:
        raise CheckFailed(ex, "the loss has no gradient: it was detached from `out`.",
                          "avoid .detach(), .item() and torch.tensor(...) on the way.")

    sq = (batch - out.detach()) ** 2
    n_inst, n_feat = CFG.n_instances, CFG.n_features
    expected = reference.calculate_loss(out.detach(), batch)
    compare(ex, loss, expected, "the loss", mistakes={
        "you averaged over instances; sum over them (each instance is its own model).": expected / n_inst,
        "you forgot to weight the squared error by self.importance.": sq.mean(dim=(0, 2)).sum(),
        "you summed over features; take the mean over batch and features.": expected * n_feat,
        "you summed over the batch; take the mean over batch and features.": expected * 32,
        "you squared the importance: weight the squared error, importance * (x - x')^2,"
        " not (importance * (x - x'))^2.": (importance**2 * sq).mean(dim=(0, 2)).sum(),
        "you used the absolute error; the loss is the squared error.":
            (importance * (batch - out.detach()).abs()).mean(dim=(0, 2)).sum(),
        "each instance has its own importance: weight by self.importance ([inst, feat]), not instance 0's row.":
            (importance[0] * sq).mean(dim=(0, 2)).sum(),
        "you weighted by feature_probability; the weights are self.importance.":
            (probability * sq).mean(dim=(0, 2)).sum(),
        "you summed over everything; take the mean over batch and features, then sum over instances.":
            (importance * sq).sum(),
        "that is a weighted mean (divided by the importances' sum); the loss is the plain mean over batch and"
        " features of importance * (x - x')^2.": ((importance * sq).sum(-1) / importance.sum(-1)).mean(0).sum(),
    }, generic_hint="L = sum over instances of mean over (batch, feat) of importance * (x - x')^2.")
    out_ref = out.detach().clone().requires_grad_(True)
    compare_gradients(ex, loss, reference.calculate_loss(out_ref, batch), "the loss", {"out": out}, {"out": out_ref},
                      hints=f"the model's output `out` must reach the loss with its gradient. {DETACHED_HINT}")


def dimensionality_test_weights() -> torch.Tensor:
    """[3 instances, 4 hidden, 7 features]: random columns of different lengths, with known shapes planted:
    instance 1 has a dropped feature (a zero column) and an antipodal pair; instance 2 an orthogonal feature."""
    W = torch.randn(3, 4, 7) * (0.5 + torch.rand(3, 1, 7))
    W[1, :, 6] = 0.0  # dropped
    W[1, :, 5] = -0.8 * W[1, :, 4]  # antipodal to feature 4, shorter
    W[2, :, 0] = 0.0
    W[2, 0, 0] = 1.3  # along hidden axis 0 ...
    W[2, 0, 1:] = 0.0  # ... which no other feature uses: D = 1
    W[0, :, 3] *= 0.03 / W[0, :, 3].norm()  # short but present (a clamp meant for 0 must not touch it)
    return W


@exercise_check("compute_dimensionality")
def check_compute_dimensionality(compute_dimensionality) -> None:
    ex = "compute_dimensionality"
    W = dimensionality_test_weights()
    W_before = W.clone()
    got = call_learner(ex, compute_dimensionality, W)
    if not torch.equal(W, W_before):
        raise CheckFailed(ex, "compute_dimensionality changed W in place.",
                          "the notebook passes model.W.detach(), which shares memory with the model's weights: compute"
                          " new tensors (W / norms), never W /= norms or W.div_(...).")
    if isinstance(got, torch.Tensor) and got.shape == (3, 7) and got.is_floating_point():
        nan = ~torch.isfinite(got)
        if nan.any() and nan[1, 6] and not nan[1, :6].any() and not nan[[0, 2]].any():
            raise CheckFailed(ex, "a dropped feature (a zero column of W) gives NaN.",
                              "0 / 0: clamp the norms (and the denominator) away from 0, e.g. .clamp(min=1e-8), so"
                              " that a dropped feature gets D = 0.")
    expect_tensor(ex, got, "compute_dimensionality(W)", (3, 7), "inst, feat")

    expected = ref.compute_dimensionality(W)
    norms = W.norm(dim=1, keepdim=True)  # [inst, 1, feat]
    W_hat = W / norms.clamp(min=1e-8)
    dots = torch.einsum("nha,nhb->nab", W_hat, W)  # [inst, i, j]: W_hat_i . W_j
    sq_norms = norms.squeeze(1) ** 2  # [inst, feat]
    eye = torch.eye(7, dtype=torch.bool)

    def ratio(num, den):
        return num / den.clamp(min=1e-8)

    mixed = torch.einsum("nha,mhb->nab", W_hat, W) ** 2  # every instance's W_j, summed over instances
    # Leaving out j = i divides by ~0 for a feature orthogonal to all others: compare where that is not so.
    others = (dots ** 2).masked_fill(eye, 0).sum(-1)
    finite = others > 1e-3
    if isinstance(got, torch.Tensor) and close(got[finite], ratio(sq_norms, others)[finite]):
        raise CheckFailed(ex, "compute_dimensionality(W) does not match the reference.",
                          "the sum over j includes j = i (its term is ||W_i||^2, which is why D is at most 1).")
    compare(ex, got, expected, "compute_dimensionality(W)", mistakes={
        "the denominator uses W_i itself, (W_i . W_j)^2; it uses the direction W_i_hat = W_i / ||W_i||.":
            ratio(sq_norms, (torch.einsum("nha,nhb->nab", W, W) ** 2).sum(-1)),
        "you normalised both columns, (W_i_hat . W_j_hat)^2: only W_i is normalised, W_j keeps its length.":
            ratio(sq_norms, (torch.einsum("nha,nhb->nab", W_hat, W_hat) ** 2).sum(-1)),
        "the numerator is the squared norm ||W_i||^2, not the norm.": ratio(norms.squeeze(1), (dots ** 2).sum(-1)),
        "square each dot product before summing over j: sum_j (W_i_hat . W_j)^2, not (sum_j W_i_hat . W_j)^2.":
            ratio(sq_norms, dots.sum(-1) ** 2),
        "square the dot products in the denominator: sum_j (W_i_hat . W_j)^2.": ratio(sq_norms, dots.sum(-1)),
        "you summed over the wrong index, or normalised W_j instead of W_i: the denominator is, for each feature"
        " i, the sum over j of (W_i_hat . W_j)^2.": ratio(sq_norms, (dots ** 2).sum(-2)),
        "you normalised over the wrong axis: a feature's direction is a column of W, W[inst, :, i], so take the"
        " norm over the hidden axis (dim=1).":
            ratio(sq_norms, (torch.einsum("nha,nhb->nab", W / W.norm(dim=2, keepdim=True), W) ** 2).sum(-1)),
        "the instances got mixed: each instance's features interfere only with that instance's features. Give"
        " the instance axis the same einsum letter in both inputs.": ratio(sq_norms, mixed.sum(-1)),
    }, generic_hint="D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2, per instance; W_i is column i of W[inst].")


#: Exercise name -> (check, name of the notebook object it takes), in notebook order.
CHECKS = {
    "ToyModel.forward": (check_forward, "ToyModel"),
    "ToyModel.generate_batch": (check_generate_batch, "ToyModel"),
    "ToyModel.calculate_loss": (check_calculate_loss, "ToyModel"),
    "compute_dimensionality": (check_compute_dimensionality, "compute_dimensionality"),
}
