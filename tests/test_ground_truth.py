"""The ground-truth benchmark (utils/ground_truth.py): the data has the structure it promises, and each
measure gives its known answer on dictionaries whose answer is known. (SAEs trained on it: in
tests/test_sae_variants.py.)"""

import pytest
import torch

from utils.ground_truth import (
    GroundTruth,
    GroundTruthConfig,
    absorption,
    match_latents,
    mcc,
    mean_max_cosine,
    recovered,
)

N = 40_000


@pytest.fixture(scope="module")
def truth():
    return GroundTruth(GroundTruthConfig(seed=0))


@pytest.fixture(scope="module")
def data(truth):
    return truth.sample(N, torch.Generator().manual_seed(5))


def test_a_child_fires_only_with_its_parent_and_one_child_at_a_time(truth, data):
    _, codes = data
    fires = codes > 0
    parent = truth.parent_of()
    for child in truth.children.flatten().tolist():
        assert (fires[:, child] <= fires[:, parent[child]]).all()
    assert (fires[:, truth.children].sum(-1) <= 1).all()  # [n, parent, child] summed over children
    # A firing parent has a child about child_given_parent of the time.
    share = fires[:, truth.children].any(-1)[fires[:, truth.parents]].float().mean()
    assert abs(share - truth.cfg.child_given_parent) < 0.02


def test_firing_rates_follow_the_zipf_profile_and_pairs_fire_together(truth, data):
    _, codes = data
    rate = (codes > 0).float().mean(0)
    plain = [f for f in range(truth.cfg.n_features)
             if truth.probability[f] > 0 and f not in truth.pair_second.tolist()]
    expected = truth.probability[plain]
    sigma = (expected * (1 - expected) / N).sqrt()
    assert ((rate[plain] - expected).abs() < 5 * sigma + 1e-4).all()
    assert truth.probability[truth.parents].min() > truth.probability[truth.pair_first].max()  # parents ranked first
    fires = codes > 0
    for a, b in zip(truth.pair_first.tolist(), truth.pair_second.tolist(), strict=True):
        given = fires[fires[:, a], b].float().mean()
        assert given > truth.cfg.pair_correlation - 0.06  # on top of b's own rate, which is far lower
        assert truth.probability[b] < 0.1


def test_inputs_are_the_codes_times_the_unit_features(truth, data):
    x, codes = data
    torch.testing.assert_close(x, codes @ truth.features)
    torch.testing.assert_close(truth.features.norm(dim=-1), torch.ones(truth.cfg.n_features))
    assert (codes >= 0).all() and x.shape == (N, truth.cfg.d_model)
    batch = truth.sampler(3)(7)
    assert batch.shape == (7, 3, truth.cfg.d_model)


def test_same_norm_inputs_keep_their_direction_and_take_one_length(truth, data):
    x, _ = data
    rescaled = truth.same_norm(x)
    nonzero = x.norm(dim=-1) > 0
    assert (~nonzero).any(), "the data must hold inputs with no feature"
    torch.testing.assert_close(rescaled.norm(dim=-1)[nonzero], torch.full((int(nonzero.sum()),), truth.rms_norm))
    torch.testing.assert_close(torch.nn.functional.cosine_similarity(rescaled[nonzero], x[nonzero], dim=-1),
                               torch.ones(int(nonzero.sum())))
    assert (rescaled[~nonzero] == 0).all()
    assert abs(x.pow(2).sum(-1).mean().sqrt() - truth.rms_norm) < 0.05 * truth.rms_norm
    batch = truth.sampler(2, seed=0, same_norm=True)(64)
    assert torch.allclose(batch.norm(dim=-1)[batch.norm(dim=-1) > 0], torch.tensor(truth.rms_norm))


def test_the_true_dictionary_scores_perfectly(truth):
    report = truth.evaluate(truth.features, lambda x: _true_codes(truth, x))
    assert report["mcc"] > 0.999 and report["recovered"] == 1 and report["mean_max_cosine"] > 0.999
    assert report["absorption"] == 0 and report["absorption_pairs"] == truth.children.numel()


def _true_codes(truth, x):
    """The codes that made x: the evaluation's own stream, sampled again (x is only checked to match)."""
    generator = torch.Generator().manual_seed(truth.cfg.seed + 2)
    again, codes = truth.sample(len(x), generator)
    torch.testing.assert_close(again, x)
    return codes


def test_a_dictionary_that_absorbs_every_parent_scores_absorption_one(truth, data):
    """Each child's latent points at child + parent; the parent's latent is silent wherever a child fires."""
    x, codes = data
    W_dec = truth.features.clone()
    parent = truth.parent_of()
    children = truth.children.flatten()
    W_dec[children] = truth.features[children] + truth.features[parent[children]]
    acts = codes.clone()
    acts[:, truth.parents] *= ~(codes[:, truth.children] > 0).any(-1)
    latent, cosine = match_latents(truth.features, W_dec)
    assert torch.equal(latent, torch.arange(truth.cfg.n_features))  # still matched to the right features
    scores = absorption(truth, codes, acts, latent)
    assert scores.shape == truth.children.shape
    assert (scores > 0.99).all()
    assert cosine[children].max() < 0.9  # the absorbing latents are no longer the children's directions


def test_absorption_is_scored_only_where_the_parents_latent_is_the_parent(truth, data):
    """A dead latent is silent everywhere alike, so it would score no absorption: it is left out, as is one
    whose direction is not the parent's."""
    x, codes = data
    W_dec = truth.features.clone()
    acts = codes.clone()
    acts[:, truth.parents[0]] = 0  # parent 0's latent is dead
    W_dec[truth.parents[1]] = torch.randn(truth.cfg.d_model, generator=torch.Generator().manual_seed(3))
    latent, cosine = match_latents(truth.features, W_dec)
    scores = absorption(truth, codes, acts, latent, cosine)
    assert scores[1].isnan().all() and not scores[2:].isnan().any()
    assert absorption(truth, codes, acts, latent)[0].eq(0).all()  # without the cosines, the dead one scores 0


def test_the_measures_ignore_the_latents_order_and_see_a_random_dictionary(truth):
    generator = torch.Generator().manual_seed(9)
    random_dictionary = torch.randn(512, truth.cfg.d_model, generator=generator)
    shuffled = truth.features[torch.randperm(truth.cfg.n_features, generator=generator)]
    assert abs(mcc(truth.features, shuffled) - 1) < 1e-5
    assert mcc(truth.features, random_dictionary) < 0.7
    assert mean_max_cosine(truth.features, random_dictionary) >= mcc(truth.features, random_dictionary)
    assert recovered(truth.features, random_dictionary).float().mean() < 0.05
    # Fewer latents than features: the unmatched get -1 and cosine 0.
    latent, cosine = match_latents(truth.features, truth.features[:10])
    assert (latent >= 0).sum() == 10 and (cosine[latent < 0] == 0).all()


@pytest.mark.parametrize("bad", [{"n_features": 50}, {"max_firing": 1.5}, {"d_model": 0}])
def test_impossible_configurations_are_named(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        GroundTruthConfig(**bad)
