"""Unit tests of section 1's given code: broadcasting, dimensionality, training, device choice."""

import math

import pytest
import torch

from solutions.toy_model import ToyModel, ToyModelConfig, compute_dimensionality, optimize
from utils.device import get_device


def test_feature_probability_and_importance_broadcast():
    cfg = ToyModelConfig(n_instances=3, n_features=4)
    m = ToyModel(cfg, feature_probability=torch.tensor([0.1, 0.2, 0.3]), importance=torch.arange(4.0)[None])
    assert m.feature_probability.shape == m.importance.shape == (3, 4)
    assert m.feature_probability[2].tolist() == pytest.approx([0.3] * 4)
    assert m.importance[1].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert ToyModel(cfg, feature_probability=0.5).feature_probability.unique().tolist() == [0.5]


@pytest.mark.parametrize("bad,words", [
    (torch.ones(4), "[1, n_features]"),  # per-feature values need a leading axis
    (torch.ones(3, 4, 1), "got shape (3, 4, 1)"),
    (1.5, "must lie in [0, 1]"),
])
def test_bad_feature_probability_gets_a_clear_error(bad, words):
    with pytest.raises(ValueError, match=None) as error:
        ToyModel(ToyModelConfig(n_instances=3, n_features=4), feature_probability=bad)
    assert words in str(error.value)


def test_xavier_normal_per_instance():
    torch.manual_seed(0)
    m = ToyModel(ToyModelConfig(n_instances=64, n_features=40, n_hidden=20))
    assert m.W.std().item() == pytest.approx(math.sqrt(2 / 60), rel=0.05)


def _directions(angles):
    return torch.tensor([[math.cos(a) for a in angles], [math.sin(a) for a in angles]])[None]


def test_dimensionality_of_known_geometries():
    pentagon = _directions([2 * math.pi * k / 5 for k in range(5)])
    assert compute_dimensionality(pentagon)[0].tolist() == pytest.approx([0.4] * 5, abs=1e-5)
    antipodal = _directions([0, math.pi])
    assert compute_dimensionality(antipodal)[0].tolist() == pytest.approx([0.5, 0.5], abs=1e-5)
    square = _directions([0, math.pi / 2])
    assert compute_dimensionality(square)[0].tolist() == pytest.approx([1.0, 1.0], abs=1e-5)


def test_training_reduces_the_loss():
    torch.manual_seed(0)
    m = ToyModel(ToyModelConfig(n_instances=2), feature_probability=0.1)
    batch = m.generate_batch(4096)
    before = m.calculate_loss(m(batch), batch).item()
    optimize(m, steps=300, lr=1e-2)
    assert m.calculate_loss(m(batch), batch).item() < 0.6 * before


def test_divergence_stops_with_a_clear_message():
    m = ToyModel(ToyModelConfig(n_instances=2))
    with torch.no_grad():
        m.W.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="smaller learning rate"):
        optimize(m, steps=5)


def test_device_override(monkeypatch):
    monkeypatch.setenv("WORKBOOK_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    assert get_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            get_device("cuda")
