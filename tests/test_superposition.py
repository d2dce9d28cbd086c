"""Section 1b's reference, tested on its own terms (the exercise checks compare learners with it; these show it is
right): the joint statistics of generate_batch with every kind of feature at once, weights by hand for which the
two models' outputs are known exactly, and clear errors for data that cannot be generated."""

import pytest
import torch

from solutions.superposition import NeuronComputationModel, NeuronModel, ToyModel, pair_cosines
from solutions.toy_model import ToyModelConfig


def test_generate_batch_lays_out_correlated_then_anticorrelated_then_independent_features():
    torch.manual_seed(0)
    cfg = ToyModelConfig(n_instances=2, n_features=7, n_hidden=2, n_correlated_pairs=1, n_anticorrelated_pairs=2)
    p = torch.tensor([[0.3, 0.3, 0.2, 0.2, 0.1, 0.1, 0.25], [0.1, 0.1, 0.4, 0.4, 0.3, 0.3, 0.05]])
    batch = ToyModel(cfg, feature_probability=p, device="cpu").generate_batch(100_000)
    fired = batch != 0
    assert batch.shape == (100_000, 2, 7) and (batch >= 0).all() and (batch < 1).all()
    assert torch.allclose(fired.float().mean(0), p, atol=0.01)  # every feature at its own rate
    assert torch.equal(fired[..., 0], fired[..., 1])  # the correlated pair: always together
    assert not (fired[..., 2] & fired[..., 3]).any() and not (fired[..., 4] & fired[..., 5]).any()  # never together
    rate = fired.float().mean(0)
    for f, g in [(0, 2), (2, 4), (1, 6), (3, 6)]:  # different pairs and the free feature: independent
        joint = (fired[..., f] & fired[..., g]).float().mean(0)
        assert torch.allclose(joint, rate[:, f] * rate[:, g], atol=0.005), (f, g)
    both = fired[..., 0] & fired[..., 1]
    assert (batch[..., 0][both] != batch[..., 1][both]).float().mean() > 0.99  # each its own value


def test_a_neuron_per_sign_computes_the_absolute_value_exactly():
    """|x| = ReLU(x) + ReLU(-x): W1 = [I; -I] and W2 = [I, I] compute it with no error, so the loss is zero."""
    n = 3
    model = NeuronComputationModel(ToyModelConfig(n_instances=1, n_features=n, n_hidden=2 * n), device="cpu")
    eye = torch.eye(n)
    with torch.no_grad():
        model.W1.copy_(torch.cat([eye, -eye])[None])  # [inst, hidden, feat]
        model.W2.copy_(torch.cat([eye, eye], dim=1)[None])  # [inst, feat, hidden]
        model.b_final.zero_()
    x = model.generate_batch(1000)
    assert (x < 0).any() and (x > 0).any() and x.abs().max() <= 1
    assert torch.allclose(model(x), x.abs())
    assert model.calculate_loss(model(x), x).item() == pytest.approx(0.0, abs=1e-12)
    assert model.calculate_loss(torch.zeros_like(x), x).item() == pytest.approx(x.pow(2).mean().item(), rel=1e-5)


def test_neuron_model_with_identity_weights_copies_its_nonnegative_input():
    model = NeuronModel(ToyModelConfig(n_instances=2, n_features=4, n_hidden=4), device="cpu")
    with torch.no_grad():
        model.W.copy_(torch.eye(4).expand(2, 4, 4))
        model.b_final.zero_()
    x = torch.rand(5, 2, 4)
    assert torch.allclose(model(x), x)
    with torch.no_grad():
        model.W.copy_(-torch.eye(4).expand(2, 4, 4))  # every neuron's input is negative: the hidden ReLU zeroes it
    assert torch.equal(model(x), torch.zeros_like(x))


def test_pair_cosines_reads_pairs_side_by_side():
    W = torch.tensor([[[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 2.0]]])  # [inst 1, hidden 2, feat 4]
    assert torch.allclose(pair_cosines(W, 0, 2), torch.tensor([[-1.0, 1.0]]))


@pytest.mark.parametrize("cfg,p,words", [
    (ToyModelConfig(1, 4, 2, n_correlated_pairs=2, n_anticorrelated_pairs=1), 0.1, "need 6 features"),
    (ToyModelConfig(1, 4, 2, n_anticorrelated_pairs=2), 0.6, "at most 0.5"),
    (ToyModelConfig(1, 4, 2, n_correlated_pairs=1), torch.tensor([[0.1, 0.2, 0.1, 0.1]]), "same feature_probability"),
])
def test_data_that_cannot_be_generated_is_refused_clearly(cfg, p, words):
    with pytest.raises(ValueError, match=words):
        ToyModel(cfg, feature_probability=p, device="cpu")
