"""Realistic wrong implementations of section 1b's exercises, each with words its hint must contain, and right
answers written differently, which the checks must accept.

Written as a learner who knows PyTorch but not the topic would write them: one draw per feature where a pair
shares one, `einops.repeat` with the axes the other way round, `torch.cat` instead of interleaving, the pair's
probability taken from the wrong column, section 1's forward reused, the target x instead of |x|.
"""

import einops
import torch
from torch.nn import functional as F

from solutions.superposition import NeuronComputationModel, NeuronModel, ToyModel
from tests.mutants import alternative, mutant


def _where(fires, shape, device, low=0.0):
    values = low + (1 - low) * torch.rand(shape, device=device)
    return torch.where(fires, values, 0.0)


# ------------------------------------------------------------------------------- generate_correlated_features


@mutant("ToyModel.generate_correlated_features", "one draw per feature makes them independent")
class CorrelatedOneDrawPerFeature(ToyModel):
    def generate_correlated_features(self, batch_size, n_correlated_pairs):
        shape = (batch_size, self.cfg.n_instances, 2 * n_correlated_pairs)
        p = self.feature_probability[:, :2 * n_correlated_pairs]
        return _where(torch.rand(shape) < p, shape, self.W.device)


@mutant("ToyModel.generate_correlated_features", "'(two pair)' puts pair k")
class CorrelatedRepeatAxesSwapped(ToyModel):
    def generate_correlated_features(self, batch_size, n_correlated_pairs):
        p = self.feature_probability[:, 0:2 * n_correlated_pairs:2]
        fires = torch.rand(batch_size, self.cfg.n_instances, n_correlated_pairs) < p
        fires = einops.repeat(fires, "batch inst pair -> batch inst (two pair)", two=2)
        return _where(fires, fires.shape, self.W.device)


@mutant("ToyModel.generate_correlated_features", "not feature_probability[:, k]")
class CorrelatedProbabilityOfFeatureK(ToyModel):
    def generate_correlated_features(self, batch_size, n_correlated_pairs):
        p = self.feature_probability[:, :n_correlated_pairs]  # "one p per pair": the first n columns
        fires = torch.rand(batch_size, self.cfg.n_instances, n_correlated_pairs) < p
        fires = einops.repeat(fires, "batch inst pair -> batch inst (pair two)", two=2)
        return _where(fires, fires.shape, self.W.device)


@mutant("ToyModel.generate_correlated_features", "each takes its own value")
class CorrelatedSameValue(ToyModel):
    def generate_correlated_features(self, batch_size, n_correlated_pairs):
        p = self.feature_probability[:, 0:2 * n_correlated_pairs:2]
        shape = (batch_size, self.cfg.n_instances, n_correlated_pairs)
        pair = torch.where(torch.rand(shape) < p, torch.rand(shape), 0.0)
        return einops.repeat(pair, "batch inst pair -> batch inst (pair two)", two=2)


@mutant("ToyModel.generate_correlated_features", "a draw of shape [batch, inst, 1] makes every pair fire together")
class CorrelatedOneDrawPerRow(ToyModel):
    def generate_correlated_features(self, batch_size, n_correlated_pairs):
        p = self.feature_probability[:, 0:2 * n_correlated_pairs:2]
        fires = torch.rand(batch_size, self.cfg.n_instances, 1) < p
        fires = einops.repeat(fires, "batch inst pair -> batch inst (pair two)", two=2)
        return _where(fires, fires.shape, self.W.device)


@mutant("ToyModel.generate_correlated_features", "use the n_correlated_pairs argument")
class CorrelatedConfigNotArgument(ToyModel):
    def generate_correlated_features(self, batch_size, n_correlated_pairs):
        return super().generate_correlated_features(batch_size, self.cfg.n_correlated_pairs)


@mutant("ToyModel.generate_correlated_features", "not p squared")
class CorrelatedProbabilitySquared(ToyModel):
    def generate_correlated_features(self, batch_size, n_correlated_pairs):
        # "both fire with p each, so together with p * p"
        p = self.feature_probability[:, 0:2 * n_correlated_pairs:2] ** 2
        fires = torch.rand(batch_size, self.cfg.n_instances, n_correlated_pairs) < p
        fires = einops.repeat(fires, "batch inst pair -> batch inst (pair two)", two=2)
        return _where(fires, fires.shape, self.W.device)


@mutant("ToyModel.generate_correlated_features", "two separate torch.rand calls")
class CorrelatedValueIsTheDraw(ToyModel):
    def generate_correlated_features(self, batch_size, n_correlated_pairs):
        p = self.feature_probability[:, 0:2 * n_correlated_pairs:2]
        draw = torch.rand(batch_size, self.cfg.n_instances, 2 * n_correlated_pairs)
        fires = einops.repeat(draw[..., 0::2] < p, "batch inst pair -> batch inst (pair two)", two=2)
        return torch.where(fires, draw, 0.0)


@mutant("ToyModel.generate_correlated_features", "return only this block")
class CorrelatedWholeBatch(ToyModel):
    def generate_correlated_features(self, batch_size, n_correlated_pairs):
        fires = torch.rand(batch_size, self.cfg.n_instances, self.cfg.n_features) < self.feature_probability
        return _where(fires, fires.shape, self.W.device)


@mutant("ToyModel.generate_correlated_features", "create every tensor on the model's device")
class CorrelatedOnCPU(ToyModel):
    def generate_correlated_features(self, batch_size, n_correlated_pairs):
        p = self.feature_probability[:, 0:2 * n_correlated_pairs:2].cpu()
        fires = torch.rand(batch_size, self.cfg.n_instances, n_correlated_pairs) < p
        fires = einops.repeat(fires, "batch inst pair -> batch inst (pair two)", two=2)
        return torch.where(fires, torch.rand(fires.shape), 0.0)


@mutant("ToyModel.generate_correlated_features", "not rescaled to [-1, 1)")
class CorrelatedSignedValues(ToyModel):
    def generate_correlated_features(self, batch_size, n_correlated_pairs):
        p = self.feature_probability[:, 0:2 * n_correlated_pairs:2]
        fires = torch.rand(batch_size, self.cfg.n_instances, n_correlated_pairs) < p
        fires = einops.repeat(fires, "batch inst pair -> batch inst (pair two)", two=2)
        return torch.where(fires, 2 * torch.rand(fires.shape) - 1, 0.0)


@alternative("ToyModel.generate_correlated_features")
class CorrelatedRepeatInterleave(ToyModel):
    def generate_correlated_features(self, batch_size, n_correlated_pairs):
        p = self.feature_probability[:, : 2 * n_correlated_pairs]
        pair_draw = torch.rand(batch_size, self.cfg.n_instances, n_correlated_pairs, device=self.W.device)
        fires = pair_draw.repeat_interleave(2, dim=-1) < p
        values = torch.rand(fires.shape, device=self.W.device)
        return values * fires


# --------------------------------------------------------------------------- generate_anticorrelated_features


def _anti(model, batch_size, n_pairs, p, first_prob=0.5, layout="interleave", both_ok=False):
    shape = (batch_size, model.cfg.n_instances, n_pairs)
    one = torch.rand(shape) < 2 * p
    first = torch.rand(shape) < first_prob
    a, b = (one & first, one & ~first) if not both_ok else (torch.rand(shape) < p, torch.rand(shape) < p)
    fires = torch.stack([a, b], -1).flatten(-2) if layout == "interleave" else torch.cat([a, b], -1)
    return _where(fires, fires.shape, model.W.device)


def _anti_p(model, n_pairs):
    start = 2 * model.cfg.n_correlated_pairs
    return model.feature_probability[:, start:start + 2 * n_pairs:2]


@mutant("ToyModel.generate_anticorrelated_features", "independent draws per feature let both fire")
class AntiIndependent(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        return _anti(self, batch_size, n_anticorrelated_pairs, _anti_p(self, n_anticorrelated_pairs), both_ok=True)


@mutant("ToyModel.generate_anticorrelated_features", "with probability p/2")
class AntiHalfRate(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        # "the pair fires with p, then one of the two"
        return _anti(self, batch_size, n_anticorrelated_pairs, _anti_p(self, n_anticorrelated_pairs) / 2)


@mutant("ToyModel.generate_anticorrelated_features", "only then which one")
class AntiAlwaysOne(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        first = torch.rand(batch_size, self.cfg.n_instances, n_anticorrelated_pairs) < 0.5
        fires = torch.stack([first, ~first], -1).flatten(-2)
        return _where(fires, fires.shape, self.W.device)


@mutant("ToyModel.generate_anticorrelated_features", "the anticorrelated block starts after the correlated pairs")
class AntiIgnoresOffset(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        p = self.feature_probability[:, 0:2 * n_anticorrelated_pairs:2]
        return _anti(self, batch_size, n_anticorrelated_pairs, p)


@mutant("ToyModel.generate_anticorrelated_features", "torch.cat([a, b], dim=-1) puts pair k")
class AntiConcatenated(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        return _anti(self, batch_size, n_anticorrelated_pairs, _anti_p(self, n_anticorrelated_pairs), layout="cat")


@mutant("ToyModel.generate_anticorrelated_features", "use the n_anticorrelated_pairs argument")
class AntiConfigNotArgument(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        return super().generate_anticorrelated_features(batch_size, self.cfg.n_anticorrelated_pairs)


@mutant("ToyModel.generate_anticorrelated_features", "a fair coin")
class AntiCoinUsesP(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        p = _anti_p(self, n_anticorrelated_pairs)
        return _anti(self, batch_size, n_anticorrelated_pairs, p, first_prob=p)


@mutant("ToyModel.generate_anticorrelated_features", "with rand > 2p")
class AntiComparisonFlipped(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        p = _anti_p(self, n_anticorrelated_pairs)
        shape = (batch_size, self.cfg.n_instances, n_anticorrelated_pairs)
        one = torch.rand(shape) > 2 * p
        first = torch.rand(shape) < 0.5
        fires = torch.stack([one & first, one & ~first], -1).flatten(-2)
        return _where(fires, fires.shape, self.W.device)


@mutant("ToyModel.generate_anticorrelated_features", "draws of shape [batch, inst, 1]")
class AntiOneDrawPerRow(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        p = _anti_p(self, n_anticorrelated_pairs)
        one = torch.rand(batch_size, self.cfg.n_instances, 1) < 2 * p
        first = torch.rand(batch_size, self.cfg.n_instances, n_anticorrelated_pairs) < 0.5
        fires = torch.stack([one & first, one & ~first], -1).flatten(-2)
        return _where(fires, fires.shape, self.W.device)


@mutant("ToyModel.generate_anticorrelated_features", "one_fires & ~first, not ~first alone")
class AntiSecondWithoutPairDraw(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        p = _anti_p(self, n_anticorrelated_pairs)
        shape = (batch_size, self.cfg.n_instances, n_anticorrelated_pairs)
        one_fires, first = torch.rand(shape) < 2 * p, torch.rand(shape) < 0.5
        fires = torch.stack([one_fires & first, ~first], -1).flatten(-2)
        return _where(fires, fires.shape, self.W.device)


@mutant("ToyModel.generate_anticorrelated_features", "make the second feature rarer")
class AntiSecondOnlyWhereFirstIsNot(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        p = _anti_p(self, n_anticorrelated_pairs)
        shape = (batch_size, self.cfg.n_instances, n_anticorrelated_pairs)
        a = torch.rand(shape) < p
        b = (torch.rand(shape) < p) & ~a
        fires = torch.stack([a, b], -1).flatten(-2)
        return _where(fires, fires.shape, self.W.device)


@alternative("ToyModel.generate_anticorrelated_features")
class AntiOneUniformDraw(ToyModel):
    """One uniform draw u per pair: the first fires when u < p, the second when p <= u < 2p."""

    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        start = 2 * self.cfg.n_correlated_pairs
        p = self.feature_probability[:, start:start + 2 * n_anticorrelated_pairs:2]
        u = torch.rand(batch_size, self.cfg.n_instances, n_anticorrelated_pairs, device=self.W.device)
        fires = einops.rearrange([u < p, (u >= p) & (u < 2 * p)], "two batch inst pair -> batch inst (pair two)")
        return torch.rand(fires.shape, device=self.W.device) * fires


def _anti_fires(one_fires, first):
    """Interleave the two sides of each pair: [batch, inst, pair] -> [batch, inst, 2 * pair]."""
    return torch.stack([one_fires & first, one_fires & ~first], -1).flatten(-2)


@mutant("ToyModel.generate_anticorrelated_features", "not -1")
class AntiAbsentIsMinusOne(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        p = _anti_p(self, n_anticorrelated_pairs)
        shape = (batch_size, self.cfg.n_instances, n_anticorrelated_pairs)
        fires = _anti_fires(torch.rand(shape, device=self.W.device) < 2 * p,
                            torch.rand(shape, device=self.W.device) < 0.5)
        return torch.where(fires, torch.rand(fires.shape, device=self.W.device), -1.0)  # "absent" as -1


@mutant("ToyModel.generate_anticorrelated_features", "the coin reuses the draw")
class AntiCoinFromThePairsDraw(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        p = _anti_p(self, n_anticorrelated_pairs)
        u = torch.rand(batch_size, self.cfg.n_instances, n_anticorrelated_pairs, device=self.W.device)
        fires = _anti_fires(u < 2 * p, u < 0.5)  # "one uniform number is enough"
        return _where(fires, fires.shape, self.W.device)


@mutant("ToyModel.generate_anticorrelated_features", "one coin shared by all the pairs")
class AntiOneCoinForAllPairs(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        p = _anti_p(self, n_anticorrelated_pairs)
        one = torch.rand(batch_size, self.cfg.n_instances, n_anticorrelated_pairs, device=self.W.device) < 2 * p
        coin = torch.rand(batch_size, self.cfg.n_instances, 1, device=self.W.device) < 0.5  # broadcast over pairs
        fires = _anti_fires(one, coin)
        return _where(fires, fires.shape, self.W.device)


@mutant("ToyModel.generate_anticorrelated_features", "one coin shared by all the instances")
class AntiOneCoinForAllInstances(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        p = _anti_p(self, n_anticorrelated_pairs)
        one = torch.rand(batch_size, self.cfg.n_instances, n_anticorrelated_pairs, device=self.W.device) < 2 * p
        coin = torch.rand(batch_size, 1, n_anticorrelated_pairs, device=self.W.device) < 0.5
        fires = _anti_fires(one, coin)
        return _where(fires, fires.shape, self.W.device)


@mutant("ToyModel.generate_anticorrelated_features", "the same in every row")
class AntiCoinOncePerBatch(ToyModel):
    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        p = _anti_p(self, n_anticorrelated_pairs)
        one = torch.rand(batch_size, self.cfg.n_instances, n_anticorrelated_pairs, device=self.W.device) < 2 * p
        coin = torch.rand(1, self.cfg.n_instances, n_anticorrelated_pairs, device=self.W.device) < 0.5
        fires = _anti_fires(one, coin)
        return _where(fires, fires.shape, self.W.device)


@alternative("ToyModel.generate_anticorrelated_features")
class AntiEachSideItsOwnDraw(ToyModel):
    """A coin picks the side; each side then fires with probability 2p on a draw of its own. The two sides still
    never fire together, each fires with probability p, and every coin is its own."""

    def generate_anticorrelated_features(self, batch_size, n_anticorrelated_pairs):
        start = 2 * self.cfg.n_correlated_pairs
        p = self.feature_probability[:, start:start + 2 * n_anticorrelated_pairs]
        shape = (batch_size, self.cfg.n_instances, n_anticorrelated_pairs)
        side = torch.rand(shape, device=self.W.device) < 0.5
        picked = torch.stack([side, ~side], -1).flatten(-2)
        fires = picked & (torch.rand(picked.shape, device=self.W.device) < 2 * p)
        return torch.where(fires, torch.rand(fires.shape, device=self.W.device), 0.0)


# -------------------------------------------------------------------------------------------- NeuronModel.forward


def _hidden(features, W):
    return einops.einsum(features, W, "... inst feat, inst hidden feat -> ... inst hidden")


def _back(hidden, W):
    return einops.einsum(hidden, W, "... inst hidden, inst hidden feat -> ... inst feat")


@mutant("NeuronModel.forward", "that is section 1's model")
class NeuronNoHiddenReLU(NeuronModel):
    def forward(self, features):
        return F.relu(_back(_hidden(features, self.W), self.W) + self.b_final)


@mutant("NeuronModel.forward", "forgot the ReLU at the output")
class NeuronNoOutputReLU(NeuronModel):
    def forward(self, features):
        return _back(F.relu(_hidden(features, self.W)), self.W) + self.b_final


@mutant("NeuronModel.forward", "forgot to add the bias")
class NeuronNoBias(NeuronModel):
    def forward(self, features):
        return F.relu(_back(F.relu(_hidden(features, self.W)), self.W))


@mutant("NeuronModel.forward", "comes after adding b_final")
class NeuronBiasAfterReLU(NeuronModel):
    def forward(self, features):
        return F.relu(_back(F.relu(_hidden(features, self.W)), self.W)) + self.b_final


@mutant("NeuronModel.forward", "W is used twice")
class NeuronDetachedReadout(NeuronModel):
    def forward(self, features):
        return F.relu(_back(F.relu(_hidden(features, self.W)), self.W.detach()) + self.b_final)


@mutant("NeuronModel.forward", "use '...' in your einsum")
class NeuronOneBatchDim(NeuronModel):
    def forward(self, features):
        h = F.relu(torch.einsum("bif,ihf->bih", features, self.W))
        return F.relu(torch.einsum("bih,ihf->bif", h, self.W) + self.b_final)


@mutant("NeuronModel.forward", "changed its input tensor in place")
class NeuronReluInPlaceOnInput(NeuronModel):
    def forward(self, features):
        features.relu_()  # "features are never negative anyway"
        return F.relu(_back(F.relu(_hidden(features, self.W)), self.W) + self.b_final)


@alternative("NeuronModel.forward")
class NeuronViaSuper(NeuronModel):
    """Section 1's forward computes ReLU(W^T h + b) from h = W x; here the hidden ReLU is added with a matmul."""

    def forward(self, features):
        h = torch.relu(features.unsqueeze(-2) @ self.W.transpose(-1, -2)).squeeze(-2)  # [..., inst, hidden]
        return torch.relu((h.unsqueeze(-2) @ self.W).squeeze(-2) + self.b_final)


# --------------------------------------------------------------------------------- NeuronComputationModel.forward


def _c_hidden(features, W1):
    return einops.einsum(features, W1, "... inst feat, inst hidden feat -> ... inst hidden")


def _c_out(hidden, W2):
    return einops.einsum(hidden, W2, "... inst hidden, inst feat hidden -> ... inst feat")


@mutant("NeuronComputationModel.forward", "forgot the ReLU on the hidden layer")
class ComputationNoHiddenReLU(NeuronComputationModel):
    def forward(self, features):
        return F.relu(_c_out(_c_hidden(features, self.W1), self.W2) + self.b_final)


@mutant("NeuronComputationModel.forward", "forgot the ReLU at the output")
class ComputationNoOutputReLU(NeuronComputationModel):
    def forward(self, features):
        return _c_out(F.relu(_c_hidden(features, self.W1)), self.W2) + self.b_final


@mutant("NeuronComputationModel.forward", "forgot to add the bias")
class ComputationNoBias(NeuronComputationModel):
    def forward(self, features):
        return F.relu(_c_out(F.relu(_c_hidden(features, self.W1)), self.W2))


@mutant("NeuronComputationModel.forward", "the output uses W2, not W1 transposed")
class ComputationTiedW1(NeuronComputationModel):
    def forward(self, features):  # section 1's habit: read back with the same matrix
        h = F.relu(_c_hidden(features, self.W1))
        return F.relu(einops.einsum(h, self.W1, "... inst hidden, inst hidden feat -> ... inst feat") + self.b_final)


@mutant("NeuronComputationModel.forward", "name W2's axes 'inst feat hidden'")
class ComputationW2AxesLikeW1(NeuronComputationModel):
    def forward(self, features):
        h = F.relu(_c_hidden(features, self.W1))
        return F.relu(einops.einsum(h, self.W2, "... inst hidden, inst hidden feat -> ... inst feat") + self.b_final)


@mutant("NeuronComputationModel.forward", "use self.W2 itself")
class ComputationDetachedW2(NeuronComputationModel):
    def forward(self, features):
        return F.relu(_c_out(F.relu(_c_hidden(features, self.W1)), self.W2.data) + self.b_final)


@mutant("NeuronComputationModel.forward", "comes after adding b_final")
class ComputationBiasAfterReLU(NeuronComputationModel):
    def forward(self, features):
        return F.relu(_c_out(F.relu(_c_hidden(features, self.W1)), self.W2)) + self.b_final


@alternative("NeuronComputationModel.forward")
class ComputationMatmul(NeuronComputationModel):
    def forward(self, features):
        h = torch.relu(torch.einsum("...if,ihf->...ih", features, self.W1))
        return torch.relu(torch.einsum("...ih,ifh->...if", h, self.W2) + self.b_final)


# --------------------------------------------------------------------------- NeuronComputationModel.generate_batch


def _batch_shape(model, batch_size):
    return (batch_size, model.cfg.n_instances, model.cfg.n_features)


@mutant("NeuronComputationModel.generate_batch", "no value is negative")
class ComputationBatchPositive(NeuronComputationModel):
    def generate_batch(self, batch_size):  # section 1's generate_batch, copied
        shape = _batch_shape(self, batch_size)
        return torch.where(torch.rand(shape) < self.feature_probability, torch.rand(shape), 0.0)


@mutant("NeuronComputationModel.generate_batch", "not -1")
class ComputationBatchAbsentIsMinusOne(NeuronComputationModel):
    def generate_batch(self, batch_size):
        shape = _batch_shape(self, batch_size)
        fires = torch.rand(shape) < self.feature_probability
        return torch.where(fires, 2 * torch.rand(shape) - 1, -1.0)  # "absent" at the bottom of the range


@mutant("NeuronComputationModel.generate_batch", "not torch.randn")
class ComputationBatchRandn(NeuronComputationModel):
    def generate_batch(self, batch_size):
        shape = _batch_shape(self, batch_size)
        return torch.where(torch.rand(shape) < self.feature_probability, torch.randn(shape), 0.0)


@mutant("NeuronComputationModel.generate_batch", "rand - 0.5 only reaches")
class ComputationBatchHalfRange(NeuronComputationModel):
    def generate_batch(self, batch_size):
        shape = _batch_shape(self, batch_size)
        return torch.where(torch.rand(shape) < self.feature_probability, torch.rand(shape) - 0.5, 0.0)


@mutant("NeuronComputationModel.generate_batch", "rand < p, not rand > p")
class ComputationBatchFlipped(NeuronComputationModel):
    def generate_batch(self, batch_size):
        shape = _batch_shape(self, batch_size)
        return torch.where(torch.rand(shape) > self.feature_probability, 2 * torch.rand(shape) - 1, 0.0)


@mutant("NeuronComputationModel.generate_batch", "two separate torch.rand calls")
class ComputationBatchOneDraw(NeuronComputationModel):
    def generate_batch(self, batch_size):
        draw = torch.rand(_batch_shape(self, batch_size))
        return torch.where(draw < self.feature_probability, 2 * draw - 1, 0.0)


@mutant("NeuronComputationModel.generate_batch", "the full shape [batch, n_instances, n_features]")
class ComputationBatchSharedMask(NeuronComputationModel):
    def generate_batch(self, batch_size):
        shape = _batch_shape(self, batch_size)
        fires = torch.rand(batch_size, self.cfg.n_instances, 1) < self.feature_probability
        return torch.where(fires, 2 * torch.rand(shape) - 1, 0.0)


@mutant("NeuronComputationModel.generate_batch", "create every tensor on the model's device")
class ComputationBatchOnCPU(NeuronComputationModel):
    def generate_batch(self, batch_size):
        shape = _batch_shape(self, batch_size)
        return torch.where(torch.rand(shape) < self.feature_probability.cpu(), 2 * torch.rand(shape) - 1, 0.0)


@mutant("NeuronComputationModel.generate_batch", "has no self.W")
class ComputationBatchUsesW(NeuronComputationModel):
    def generate_batch(self, batch_size):  # section 1's habit
        shape = _batch_shape(self, batch_size)
        fires = torch.rand(shape, device=self.W.device) < self.feature_probability
        return torch.where(fires, 2 * torch.rand(shape, device=self.W.device) - 1, 0.0)


@alternative("NeuronComputationModel.generate_batch")
class ComputationBatchUniform(NeuronComputationModel):
    def generate_batch(self, batch_size):
        shape = _batch_shape(self, batch_size)
        values = torch.empty(shape, device=self.b_final.device).uniform_(-1, 1)
        return values * (torch.rand(shape, device=self.b_final.device) < self.feature_probability)


# --------------------------------------------------------------------------- NeuronComputationModel.calculate_loss


@mutant("NeuronComputationModel.calculate_loss", "the target is |x|, not x")
class ComputationLossTargetX(NeuronComputationModel):
    def calculate_loss(self, out, batch):  # section 1's loss
        return (self.importance * (batch - out) ** 2).mean(dim=(0, 2)).sum()


@mutant("NeuronComputationModel.calculate_loss", "averaged over instances")
class ComputationLossMean(NeuronComputationModel):
    def calculate_loss(self, out, batch):
        return (self.importance * (batch.abs() - out) ** 2).mean()


@mutant("NeuronComputationModel.calculate_loss", "forgot to weight by self.importance")
class ComputationLossNoImportance(NeuronComputationModel):
    def calculate_loss(self, out, batch):
        return ((batch.abs() - out) ** 2).mean(dim=(0, 2)).sum()


@mutant("NeuronComputationModel.calculate_loss", "you squared the importance")
class ComputationLossImportanceSquared(NeuronComputationModel):
    def calculate_loss(self, out, batch):
        return ((self.importance * (batch.abs() - out)) ** 2).mean(dim=(0, 2)).sum()


@mutant("NeuronComputationModel.calculate_loss", "changed the batch in place")
class ComputationLossInPlace(NeuronComputationModel):
    def calculate_loss(self, out, batch):
        return (self.importance * (batch.abs_() - out) ** 2).mean(dim=(0, 2)).sum()


@mutant("NeuronComputationModel.calculate_loss", "detached from `out`")
class ComputationLossDetached(NeuronComputationModel):
    def calculate_loss(self, out, batch):
        return (self.importance * (batch.abs() - out.detach()) ** 2).mean(dim=(0, 2)).sum()


@mutant("NeuronComputationModel.calculate_loss", "summed over features")
class ComputationLossSumFeatures(NeuronComputationModel):
    def calculate_loss(self, out, batch):
        return (self.importance * (batch.abs() - out) ** 2).sum(-1).mean(0).sum()


@alternative("NeuronComputationModel.calculate_loss")
class ComputationLossEinops(NeuronComputationModel):
    def calculate_loss(self, out, batch):
        target = torch.where(batch < 0, -batch, batch)
        per_instance = einops.reduce(self.importance * (out - target).pow(2), "b i f -> i", "mean")
        return per_instance.sum()
