"""Checks for section 1c (notebooks/1c_geometry_and_phases): classify_phase."""

from __future__ import annotations

import torch

from solutions import geometry as ref
from tests.checks.core import CheckFailed, call_learner, compare, exercise_check, expect_tensor

#: [inst, 1, 2] weights with known phases at threshold 0.5, each a case a wrong answer gets wrong:
#: negative weights, both features dropped, lengths between threshold^2 and threshold, ...
PHASE_TEST_WEIGHTS = torch.tensor([
    [1.00, 0.00],  # 0: extra feature dropped
    [0.02, 1.10],  # 1: dedicated dimension
    [0.90, -0.80],  # 2: antipodal superposition
    [-0.95, 0.70],  # 2: the other sign
    [0.10, 0.05],  # 0: neither feature represented
    [0.65, 0.60],  # 2: both represented, though their squares (0.42, 0.36) are below 0.5
    [0.00, -1.20],  # 1: dedicated, negative weight
    [-1.05, 0.03],  # 0: extra dropped, feature 0 negative
    [0.45, 0.35],  # 0 at 0.5; 2 at threshold 0.3
    [0.20, 0.45],  # 0 at 0.5; 1 at threshold 0.3
    [0.60, -0.90],  # 2: both represented, the extra feature the longer one
    [0.70, 0.80],  # 2: both represented, same sign
    [0.50, 0.70],  # 1: a length of exactly the threshold is not above it (a >= slip gives 2)
    [0.90, -0.50],  # 0: the extra feature exactly at the threshold is not represented (>= gives 2)
])[:, None, :]


def _codes(represented_first: torch.Tensor, represented_extra: torch.Tensor) -> torch.Tensor:
    return torch.where(represented_extra, torch.where(represented_first, 2, 1), 0)


@exercise_check("classify_phase")
def check_classify_phase(classify_phase) -> None:
    ex = "classify_phase"
    W = PHASE_TEST_WEIGHTS.clone()
    n = W.shape[0]
    got = call_learner(ex, classify_phase, W)
    if not torch.equal(W, PHASE_TEST_WEIGHTS):
        raise CheckFailed(ex, "classify_phase changed W in place.", "compute new tensors (W.abs()), not W.abs_().")
    if isinstance(got, torch.Tensor) and got.shape == (n,) and got.dtype != torch.int64:
        raise CheckFailed(ex, f"returned dtype {got.dtype}; expected int64 codes 0, 1, 2.",
                          "torch.where(condition, 2, 1) with Python ints gives int64; avoid float codes"
                          " (.float(), 2.0) and booleans.")
    expect_tensor(ex, got, "classify_phase(W)", (n,), "inst", dtype=torch.int64)

    expected = ref.classify_phase(W)
    w = W[:, 0, :]
    length = w.abs()
    first, extra = length[:, 0] > 0.5, length[:, 1] > 0.5
    compare(ex, got, expected, "classify_phase(W)", rtol=0, atol=0, mistakes={
        "a negative weight counts as represented too: compare the length |w| (.abs()) with the threshold, not w.":
            _codes(w[:, 0] > 0.5, w[:, 1] > 0.5),
        "you judged feature 0 as the extra feature: the phase is named after feature 1 (W[:, 0, 1]).":
            _codes(extra, first),
        "compare the length |w| with the threshold, not its square w^2 (W^T W's diagonal).":
            _codes(w[:, 0] ** 2 > 0.5, w[:, 1] ** 2 > 0.5),
        "codes 1 and 2 are swapped: 1 is a dedicated dimension (only the extra feature represented), 2 is"
        " superposition (both).": torch.where(extra, torch.where(first, 1, 2), 0),
        "an instance where neither feature is represented has the extra feature not represented: code 0, not"
        " 1. Decide on feature 1 first.": torch.where(~first, 1, torch.where(extra, 2, 0)),
        "superposition means both features are represented, whatever their signs; you also required opposite"
        " signs.": torch.where(extra, torch.where(first & (w[:, 0] * w[:, 1] < 0), 2, 1), 0),
        "superposition means both features are represented, whatever their signs: a positive extra weight counts"
        " as much as a negative one (compare |w| with the threshold for both features).":
            torch.where(first & (w[:, 1] < -0.5), 2, torch.where(~first & extra, 1, 0)),
        "a feature is represented when |w| is above the threshold, |w| > threshold: with >= a weight of exactly"
        " the threshold counts too.": _codes(length[:, 0] >= 0.5, length[:, 1] >= 0.5),
        "feature 0 counts as represented when |w_0| is above the threshold, not when it is longer than the extra"
        " feature.": torch.where(extra, torch.where(length[:, 1] > length[:, 0], 1, 2), 0),
    }, generic_hint="0 if |W[:, 0, 1]| <= threshold; else 2 if |W[:, 0, 0]| > threshold, else 1.")

    # The threshold is an argument: a learner who hard-codes 0.5 passes the default and fails here.
    for threshold in (0.3, 1.0):
        got = call_learner(ex, classify_phase, W, threshold=threshold)
        expected = ref.classify_phase(W, threshold=threshold)
        if isinstance(got, torch.Tensor) and torch.equal(got, ref.classify_phase(W)):
            raise CheckFailed(ex, f"classify_phase(W, threshold={threshold}) gives the same codes as the default"
                                  " threshold 0.5.", "use the `threshold` argument, not a hard-coded 0.5.")
        expect_tensor(ex, got, f"classify_phase(W, threshold={threshold})", (n,), "inst", dtype=torch.int64)
        compare(ex, got, expected, f"classify_phase(W, threshold={threshold})", rtol=0, atol=0,
                generic_hint="a feature is represented when |w| > threshold.")

    # One instance: W.squeeze() would drop the instance axis too.
    single = torch.tensor([[[0.9, -0.8]]])
    got = call_learner(ex, classify_phase, single)
    if isinstance(got, torch.Tensor) and got.shape != (1,):
        raise CheckFailed(ex, f"for W of shape [1, 1, 2] (one instance) classify_phase returned shape"
                              f" {list(got.shape)}; expected [1].",
                          "take W[:, 0, :]: W.squeeze() also drops the instance axis when there is only one instance.")
    compare(ex, got, torch.tensor([2]), "classify_phase(W) for one instance", rtol=0, atol=0)

    # Trained weights, as the notebook passes them (model.W.detach()), for many instances.
    big = torch.randn(50, 1, 2)
    got = call_learner(ex, classify_phase, big)
    expect_tensor(ex, got, "classify_phase(W) on 50 instances", (50,), "inst", dtype=torch.int64)
    compare(ex, got, ref.classify_phase(big), "classify_phase(W) on 50 instances", rtol=0, atol=0,
            generic_hint="work on any number of instances: W[:, 0, :] holds each instance's two weights.")


#: Exercise name -> (check, name of the notebook object it takes), in notebook order.
CHECKS = {
    "classify_phase": (check_classify_phase, "classify_phase"),
}
