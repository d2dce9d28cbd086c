"""Realistic wrong implementations of section 1c's exercise, each with words its hint must contain."""

import torch

from tests.mutants import alternative, mutant


@mutant("classify_phase", "length |w|")
def signed(W, threshold=0.5):  # "represented = weight above the threshold"
    w = W[:, 0, :]
    return torch.where(w[:, 1] > threshold, torch.where(w[:, 0] > threshold, 2, 1), 0)


@mutant("classify_phase", "named after feature 1")
def features_swapped(W, threshold=0.5):
    r = W[:, 0, :].abs() > threshold
    return torch.where(r[:, 0], torch.where(r[:, 1], 2, 1), 0)


@mutant("classify_phase", "not its square")
def squared_norm(W, threshold=0.5):  # the diagonal of W^T W, as section 1 plots it
    diag = (W**2).sum(1)  # [inst, 2]
    return torch.where(diag[:, 1] > threshold, torch.where(diag[:, 0] > threshold, 2, 1), 0)


@mutant("classify_phase", "swapped")
def codes_swapped(W, threshold=0.5):
    r = W[:, 0, :].abs() > threshold
    return torch.where(r[:, 1], torch.where(r[:, 0], 1, 2), 0)


@mutant("classify_phase", "neither feature is represented")
def first_feature_first(W, threshold=0.5):  # "if feature 0 is gone, the extra one has the dimension"
    r = W[:, 0, :].abs() > threshold
    return torch.where(~r[:, 0], 1, torch.where(r[:, 1], 2, 0))


@mutant("classify_phase", "opposite")
def requires_antipodal(W, threshold=0.5):
    w = W[:, 0, :]
    r = w.abs() > threshold
    return torch.where(r[:, 1], torch.where(r[:, 0] & (w[:, 0] * w[:, 1] < 0), 2, 1), 0)


@mutant("classify_phase", "threshold")
def hard_coded_threshold(W, threshold=0.5):
    r = W[:, 0, :].abs() > 0.5
    return torch.where(r[:, 1], torch.where(r[:, 0], 2, 1), 0)


@mutant("classify_phase", "int64")
def float_codes(W, threshold=0.5):
    r = (W[:, 0, :].abs() > threshold).float()
    return r[:, 1] * (1 + r[:, 0])


@mutant("classify_phase", "int64")
def superposition_mask(W, threshold=0.5):  # returns 'is it in superposition?', a boolean
    r = W[:, 0, :].abs() > threshold
    return r[:, 1] & r[:, 0]


@mutant("classify_phase", "shape")
def keeps_hidden_axis(W, threshold=0.5):
    r = W.abs() > threshold  # [inst, 1, 2]
    return torch.where(r[..., 1], torch.where(r[..., 0], 2, 1), 0)


@mutant("classify_phase", "changed W in place")
def abs_in_place(W, threshold=0.5):
    r = W.abs_()[:, 0, :] > threshold
    return torch.where(r[:, 1], torch.where(r[:, 0], 2, 1), 0)


@mutant("classify_phase", "W.squeeze()")
def squeezed(W, threshold=0.5):
    r = W.squeeze().abs() > threshold  # [inst, 2], but [2] for a single instance
    return torch.where(r[..., 1], torch.where(r[..., 0], 2, 1), 0)


@alternative("classify_phase")
def with_a_loop(W, threshold=0.5):
    codes = []
    for w0, w1 in W[:, 0, :].tolist():
        codes.append(0 if abs(w1) <= threshold else 2 if abs(w0) > threshold else 1)
    return torch.tensor(codes)


@alternative("classify_phase")
def arithmetic(W, threshold=0.5):
    r = (W.norm(dim=1) > threshold).long()  # [inst, 2]; the norm over one hidden dim is |w|
    return r[:, 1] * (1 + r[:, 0])


@mutant("classify_phase", "whatever their signs")
def only_negative_extra_is_superposition(W, threshold=0.5):  # the table's [w, -v] read literally
    w = W[:, 0, :]
    first = w[:, 0].abs() > threshold
    superposed = first & (w[:, 1] < -threshold)
    dedicated = ~first & (w[:, 1].abs() > threshold)
    return torch.where(superposed, 2, torch.where(dedicated, 1, 0))


@mutant("classify_phase", "longer than the extra")
def compares_the_two_weights(W, threshold=0.5):
    length = W[:, 0, :].abs()
    return torch.where(length[:, 1] > threshold, torch.where(length[:, 1] > length[:, 0], 1, 2), 0)


@alternative("classify_phase")
def through_numpy(W, threshold=0.5):
    import numpy as np

    w = np.abs(W[:, 0, :].cpu().numpy())
    codes = np.where(w[:, 1] > threshold, np.where(w[:, 0] > threshold, 2, 1), 0)
    return torch.from_numpy(codes.astype(np.int64)).to(W.device)


@mutant("classify_phase", "with >= a weight of exactly the threshold")
def at_or_above_threshold(W, threshold=0.5):
    represented = W[:, 0, :].abs() >= threshold  # "at least the threshold"
    return torch.where(represented[:, 1], torch.where(represented[:, 0], 2, 1), 0)
