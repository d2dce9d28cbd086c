"""SAE architectures beyond section 2's (issue 32): their maths, and how they do on the ground-truth
benchmark (utils/ground_truth.py)."""

import pytest
import torch

from solutions.sae import AutoEncoderConfig, BatchTopKAutoEncoder, TopKAutoEncoder
from utils.ground_truth import GroundTruth, GroundTruthConfig, mcc


def _batchtopk(k=3.0, n_instances=2, d_in=6, d_hidden=20, seed=0):
    torch.manual_seed(seed)
    sae = BatchTopKAutoEncoder(AutoEncoderConfig(n_instances=n_instances, n_input_ae=d_in, n_hidden_ae=d_hidden), k=k)
    with torch.no_grad():
        sae.b_enc.add_(0.1 * torch.randn_like(sae.b_enc))
    return sae


def test_batchtopk_keeps_k_per_input_on_average_over_the_batch_per_instance():
    sae, h = _batchtopk(k=3.0), torch.randn(50, 2, 6)
    acts = sae(h)[3]
    pre = torch.einsum("bid,idh->bih", h - sae.b_dec, sae.W_enc) + sae.b_enc
    for inst in range(2):
        fired = acts[:, inst] > 0
        assert fired.sum() == 3 * 50  # the batch's budget, exactly (far more than 150 are positive here)
        # The kept values are the batch's largest, unchanged; the rest are zero.
        kept = pre[:, inst][fired]
        assert kept.min() >= pre[:, inst][~fired].max()
        torch.testing.assert_close(acts[:, inst][fired], kept)
    per_input = (acts > 0).sum(-1)
    assert per_input.min() < 3 < per_input.max()  # unlike TopK, inputs differ


def test_batchtopk_trains_through_the_kept_values_and_learns_its_inference_threshold():
    sae, h = _batchtopk(), torch.randn(40, 2, 6)
    loss = sae(h)[2]
    loss.backward()
    assert sae.W_enc.grad.abs().sum() > 0 and sae.b_enc.grad.abs().sum() > 0
    # One training step moves the threshold (from 0) by threshold_lr of the way to the smallest value kept.
    sae2 = _batchtopk()
    with torch.no_grad():
        acts = sae2(h)[3]
    smallest = torch.stack([acts[:, i][acts[:, i] > 0].min() for i in range(2)])
    torch.testing.assert_close(sae2.threshold, 0.01 * smallest)
    # In eval mode: a JumpReLU with that threshold, the same for every input, and nothing is updated.
    sae2.eval()
    sae2.threshold.fill_(0.2)
    with torch.no_grad():
        acts = sae2(h)[3]
    pre = torch.einsum("bid,idh->bih", h - sae2.b_dec, sae2.W_enc) + sae2.b_enc
    torch.testing.assert_close(acts, pre * (pre > 0.2))
    assert (sae2.threshold == 0.2).all()
    one = sae2(h[:1])[3]
    torch.testing.assert_close(one, acts[:1])  # an input alone gets what it got in the batch


@pytest.mark.parametrize("bad", [{"k": 0.0}, {"threshold_lr": 0.0}])
def test_batchtopk_bad_arguments_are_named(bad):
    kwargs = {"k": 2.0} | bad
    with pytest.raises(ValueError, match="k must|threshold_lr"):
        BatchTopKAutoEncoder(AutoEncoderConfig(n_instances=1, n_input_ae=4, n_hidden_ae=8), **kwargs)


def test_batchtopk_and_topk_on_the_ground_truth_at_the_same_l0():
    """TopK finds features a random dictionary does not; BatchTopK in eval mode lands near its k. Not
    asserted: BatchTopK's recovery. With this recipe (600 steps, lr 3e-3, no AuxK) it loses most of its
    latents (81% dead, mcc 0.57 against TopK's 1.6% and 0.82); why is open (issue 32)."""
    truth = GroundTruth(GroundTruthConfig(seed=0))
    cfg = AutoEncoderConfig(n_instances=1, n_input_ae=truth.cfg.d_model, n_hidden_ae=512)
    reports = {}
    makers = {"topk": lambda: TopKAutoEncoder(cfg, k=8), "batchtopk": lambda: BatchTopKAutoEncoder(cfg, k=8)}
    for name, make in makers.items():
        torch.manual_seed(0)
        sae = make()
        sae.optimize(truth.sampler(1), batch_size=1024, steps=600, lr=3e-3, log_freq=600)
        sae.eval()
        W_dec = sae.normalize_and_return_W_dec()[0].detach()
        reports[name] = truth.evaluate(W_dec, lambda x, sae=sae: sae(x[:, None])[3][:, 0], n=8192)
    chance = mcc(truth.features, torch.randn(512, truth.cfg.d_model, generator=torch.Generator().manual_seed(1)))
    assert reports["topk"]["mcc"] > chance + 0.1 and reports["topk"]["dead"] < 0.1
    assert 4 < reports["batchtopk"]["l0"] < 16
