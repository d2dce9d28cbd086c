"""Section 1c's reference, tested on its own terms: phases of weights built by hand, the presence-pattern loss
against plain sampling and against its exact value, training on finite sets that really uses only each
instance's own points, and clear errors for what cannot be trained."""

import math

import pytest
import torch

from solutions.geometry import (
    PHASES,
    PhaseModel,
    classify_phase,
    loss_on,
    normalised_sparse_data,
    size_buckets,
    train_on_finite_sets,
    warmup_cosine_lr,
)
from solutions.toy_model import ToyModel, ToyModelConfig


def test_classify_phase_names_the_extra_features_fate():
    W = torch.tensor([[1.0, 0.0], [0.0, -1.0], [0.8, -0.9], [0.1, 0.2], [-0.6, 0.7]])[:, None, :]
    assert classify_phase(W).tolist() == [0, 1, 2, 0, 2]
    assert classify_phase(W, threshold=0.85).tolist() == [0, 1, 1, 0, 0]
    assert classify_phase(W).dtype == torch.int64 and PHASES[2] == "superposition"


def test_pattern_probabilities_are_those_of_independent_features():
    cfg = ToyModelConfig(n_instances=2, n_features=2, n_hidden=1)
    model = PhaseModel(cfg, feature_probability=torch.tensor([[0.3, 0.3], [0.1, 0.6]]), device="cpu")
    assert model.presence_patterns().tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    P = model.pattern_probabilities()  # [pattern, inst]
    expected = torch.tensor([[0.7 * 0.7, 0.9 * 0.4], [0.7 * 0.3, 0.9 * 0.6], [0.3 * 0.7, 0.1 * 0.4], [0.09, 0.06]])
    assert torch.allclose(P, expected) and torch.allclose(P.sum(0), torch.ones(2))


def test_expected_loss_is_the_sampled_loss_without_the_sampling():
    """Averaging the ordinary loss over a huge sampled batch gives the same number, for trained-looking weights."""
    torch.manual_seed(0)
    cfg = ToyModelConfig(n_instances=3, n_features=2, n_hidden=1)
    model = PhaseModel(cfg, feature_probability=torch.tensor([0.8, 0.3, 0.05]),
                       importance=torch.tensor([[1.0, 0.5], [1.0, 2.0], [1.0, 1.0]]), device="cpu")
    with torch.no_grad():
        model.W.copy_(torch.tensor([[[1.0, 0.2]], [[0.9, -0.8]], [[-1.1, 1.0]]]))
        model.b_final.copy_(torch.tensor([[-0.1, 0.0], [-0.2, -0.1], [0.05, -0.3]]))
        batch = model.generate_batch(1_000_000)
        per_row = (model.importance * (batch - model(batch)) ** 2).mean(dim=2)  # [batch, inst]
        exact = model.expected_loss(model.value_grid(256))
    sampled, standard_error = per_row.mean(0), per_row.std(0) / math.sqrt(len(per_row))
    assert ((exact - sampled).abs() < 4 * standard_error).all(), (exact, sampled, standard_error)
    assert (standard_error < 0.02 * exact).all()  # and the comparison is tight enough to mean something


def test_expected_loss_of_a_silent_model_is_p_over_three():
    """W = 0, b = 0 outputs 0, so the loss is the mean over features of importance * p * E[x^2] = importance * p / 3."""
    cfg = ToyModelConfig(n_instances=2, n_features=2, n_hidden=1)
    p, importance = torch.tensor([0.5, 0.02]), torch.tensor([[1.0, 3.0]])
    model = PhaseModel(cfg, feature_probability=p, importance=importance, device="cpu")
    with torch.no_grad():
        model.W.zero_()
        loss = model.expected_loss(model.value_grid(256))
    assert torch.allclose(loss, p * importance.mean() / 3, rtol=1e-4)


def test_phase_model_refuses_too_many_patterns():
    with pytest.raises(ValueError, match="2\\^n_features"):
        PhaseModel(ToyModelConfig(n_instances=1, n_features=20, n_hidden=2), device="cpu").presence_patterns()


def test_normalised_data_has_unit_rows_at_rate_p():
    x = normalised_sparse_data(20_000, 50, 0.04, torch.Generator().manual_seed(0))
    norms = x.norm(dim=-1)
    assert torch.allclose(norms[norms > 0], torch.ones(int((norms > 0).sum())), atol=1e-5)
    assert abs((x > 0).float().mean().item() - 0.04) < 0.002
    assert (norms == 0).float().mean().item() == pytest.approx(0.96**50, abs=0.01)  # empty rows stay zero


def test_warmup_then_cosine():
    assert warmup_cosine_lr(0, 100) == pytest.approx(0.2)  # 5 warmup steps
    assert warmup_cosine_lr(4, 100) == pytest.approx(1.0)
    assert warmup_cosine_lr(52, 100) == pytest.approx(0.5 * (1 + math.cos(math.pi * 47 / 95)))
    assert 0 <= warmup_cosine_lr(99, 100) < 0.001


def test_size_buckets_group_sizes_within_a_ratio():
    assert size_buckets([3, 5, 8, 13, 20, 30, 50, 800]) == [[0, 1, 2], [3, 4, 5, 6], [7]]


def test_each_instance_trains_on_its_own_points_only():
    """Changing the pool after row 5 leaves the T = 5 instance exactly as it was, and moves the T = 40 one."""
    sizes = [5, 40]
    pool = normalised_sparse_data(40, 30, 0.1, torch.Generator().manual_seed(1))
    other = pool.clone()
    other[5:] = normalised_sparse_data(35, 30, 0.1, torch.Generator().manual_seed(2))
    trained = []
    for data in (pool, other):
        torch.manual_seed(0)
        model = ToyModel(ToyModelConfig(n_instances=2, n_features=30, n_hidden=2), device="cpu")
        train_on_finite_sets(model, data, sizes, steps=30)
        trained.append(model.W.detach().clone())
    assert torch.equal(trained[0][0], trained[1][0])
    assert not torch.allclose(trained[0][1], trained[1][1])


def test_loss_on_is_the_plain_mean_squared_error():
    torch.manual_seed(0)
    model = ToyModel(ToyModelConfig(n_instances=3, n_features=10, n_hidden=2), device="cpu")
    x = normalised_sparse_data(500, 10, 0.2)
    with torch.no_grad():
        direct = ((model(x[:, None, :].expand(500, 3, 10)) - x[:, None, :]) ** 2).mean(dim=(0, 2))
    assert torch.allclose(loss_on(model, x, chunk=64), direct, atol=1e-6)


def test_finite_set_training_refuses_sizes_it_cannot_use():
    model = ToyModel(ToyModelConfig(n_instances=2, n_features=10, n_hidden=2), device="cpu")
    pool = normalised_sparse_data(20, 10, 0.2)
    for sizes in ([5], [5, 30], [10, 5]):
        with pytest.raises(ValueError, match="training-set size per instance"):
            train_on_finite_sets(model, pool, sizes, steps=1)
