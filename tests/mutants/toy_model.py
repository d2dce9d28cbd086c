"""Realistic wrong implementations of section 1's exercises, each with words its hint must contain.

Each mutant is the reference ToyModel with one exercise method written the way learners get it
wrong. tests/test_checks.py asserts that every one fails its check with the named hint.
"""

import einops
import torch
from torch.nn import functional as F

from solutions.toy_model import ToyModel
from tests.mutants import alternative, mutant

# ------------------------------------------------------------------------------------------ forward


@mutant("ToyModel.forward", "forgot to add the bias")
class NoBias(ToyModel):
    def forward(self, features):
        h = einops.einsum(features, self.W, "... inst feat, inst hidden feat -> ... inst hidden")
        return F.relu(einops.einsum(h, self.W, "... inst hidden, inst hidden feat -> ... inst feat"))


@mutant("ToyModel.forward", "forgot the ReLU")
class NoReLU(ToyModel):
    def forward(self, features):
        h = einops.einsum(features, self.W, "... inst feat, inst hidden feat -> ... inst hidden")
        return einops.einsum(h, self.W, "... inst hidden, inst hidden feat -> ... inst feat") + self.b_final


@mutant("ToyModel.forward", "ReLU comes after adding b_final")
class ReLUBeforeBias(ToyModel):
    def forward(self, features):
        h = einops.einsum(features, self.W, "... inst feat, inst hidden feat -> ... inst hidden")
        return F.relu(einops.einsum(h, self.W, "... inst hidden, inst hidden feat -> ... inst feat")) + self.b_final


@mutant("ToyModel.forward", "ReLU to the hidden layer")
class ReLUOnHidden(ToyModel):
    def forward(self, features):
        h = F.relu(einops.einsum(features, self.W, "... inst feat, inst hidden feat -> ... inst hidden"))
        return F.relu(einops.einsum(h, self.W, "... inst hidden, inst hidden feat -> ... inst feat") + self.b_final)


@mutant("ToyModel.forward", "use '...' in your einsum")
class OnlyOneBatchDim(ToyModel):
    def forward(self, features):
        h = einops.einsum(features, self.W, "batch inst feat, inst hidden feat -> batch inst hidden")
        return F.relu(einops.einsum(h, self.W, "batch inst hidden, inst hidden feat -> batch inst feat") + self.b_final)


@mutant("ToyModel.forward", "raised")
class TransposedW(ToyModel):
    def forward(self, features):  # treats W as [inst, feat, hidden]
        h = torch.einsum("bif,ifh->bih", features, self.W)
        return F.relu(torch.einsum("bih,ifh->bif", h, self.W) + self.b_final)


@mutant("ToyModel.forward", "changed its input tensor in place")
class InPlaceInput(ToyModel):
    def forward(self, features):
        features.clamp_(max=0.9)  # "clean up" the input, modifying the caller's tensor
        return ToyModel.forward(self, features)


@mutant("ToyModel.forward", "dtype")
class Float64Output(ToyModel):
    def forward(self, features):
        return ToyModel.forward(self, features).double()


@mutant("ToyModel.forward", "did you forget `return`")
class NoReturn(ToyModel):
    def forward(self, features):
        ToyModel.forward(self, features)


# ----------------------------------------------------------------------------------- generate_batch


@mutant("ToyModel.generate_batch", "not where rand > p")
class WrongWayRound(ToyModel):
    def generate_batch(self, batch_size):
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        return torch.where(torch.rand(shape) > self.feature_probability, torch.rand(shape), 0.0)


@mutant("ToyModel.generate_batch", "not -1")
class BatchAbsentIsMinusOne(ToyModel):
    def generate_batch(self, batch_size):
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        fires = torch.rand(shape, device=self.W.device) < self.feature_probability
        return torch.where(fires, torch.rand(shape, device=self.W.device), -1.0)


@mutant("ToyModel.generate_batch", "torch.rand, not torch.randn")
class Gaussian(ToyModel):
    def generate_batch(self, batch_size):
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        return torch.where(torch.rand(shape) < self.feature_probability, torch.randn(shape), 0.0)


@mutant("ToyModel.generate_batch", "not 1")
class OnlyTheMask(ToyModel):
    def generate_batch(self, batch_size):
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        return (torch.rand(shape) < self.feature_probability).float()


@mutant("ToyModel.generate_batch", "two separate torch.rand calls")
class OneDraw(ToyModel):
    def generate_batch(self, batch_size):
        values = torch.rand(batch_size, self.cfg.n_instances, self.cfg.n_features)
        return torch.where(values < self.feature_probability, values, 0.0)


@mutant("ToyModel.generate_batch", "full [inst, feat] feature_probability")
class PerInstanceOnly(ToyModel):
    def generate_batch(self, batch_size):
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        p = self.feature_probability.mean(-1, keepdim=True)
        return torch.where(torch.rand(shape) < p, torch.rand(shape), 0.0)


@mutant("ToyModel.generate_batch", "one draw shared by the whole batch")
class SameMaskEveryRow(ToyModel):
    def generate_batch(self, batch_size):
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        fires = torch.rand(1, *shape[1:]) < self.feature_probability
        return torch.where(fires, torch.rand(shape), 0.0)


@mutant("ToyModel.generate_batch", "shape")
class HardCodedSizes(ToyModel):
    def generate_batch(self, batch_size):
        shape = (batch_size, 8, 5)  # the notebook's default config
        return torch.where(torch.rand(shape) < 0.5, torch.rand(shape), 0.0)


@mutant("ToyModel.generate_batch", "≥ 1")
class ValuesPlusMask(ToyModel):
    def generate_batch(self, batch_size):
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        fires = (torch.rand(shape) < self.feature_probability).float()
        return fires * (torch.rand(shape) + fires)


@mutant("ToyModel.generate_batch", "batches repeat themselves")
class CachedBatch(ToyModel):
    def generate_batch(self, batch_size):
        if not hasattr(self, "_cached"):
            self._cached = ToyModel.generate_batch(self, batch_size)
        return self._cached


# ----------------------------------------------------------------------------------- calculate_loss


def _error(self, out, batch):
    return self.importance * (batch - out) ** 2


@mutant("ToyModel.calculate_loss", "averaged over instances")
class MeanOverInstances(ToyModel):
    def calculate_loss(self, out, batch):
        return _error(self, out, batch).mean()


@mutant("ToyModel.calculate_loss", "forgot to weight")
class NoImportance(ToyModel):
    def calculate_loss(self, out, batch):
        return ((batch - out) ** 2).mean(dim=(0, 2)).sum()


@mutant("ToyModel.calculate_loss", "summed over features")
class SumOverFeatures(ToyModel):
    def calculate_loss(self, out, batch):
        return _error(self, out, batch).sum(-1).mean(0).sum()


@mutant("ToyModel.calculate_loss", "summed over the batch")
class SumOverBatch(ToyModel):
    def calculate_loss(self, out, batch):
        return _error(self, out, batch).sum(0).mean(-1).sum()


@mutant("ToyModel.calculate_loss", "you squared the importance")
class ImportanceInsideSquare(ToyModel):
    def calculate_loss(self, out, batch):
        return ((self.importance * (batch - out)) ** 2).mean(dim=(0, 2)).sum()


@mutant("ToyModel.calculate_loss", "absolute error")
class AbsoluteError(ToyModel):
    def calculate_loss(self, out, batch):
        return (self.importance * (batch - out).abs()).mean(dim=(0, 2)).sum()


@mutant("ToyModel.calculate_loss", "one loss per instance")
class PerInstanceLoss(ToyModel):
    def calculate_loss(self, out, batch):
        return _error(self, out, batch).mean(dim=(0, 2))


@mutant("ToyModel.calculate_loss", "don't call .item()")
class ItemLoss(ToyModel):
    def calculate_loss(self, out, batch):
        return ToyModel.calculate_loss(self, out, batch).item()


@mutant("ToyModel.calculate_loss", "no gradient")
class DetachedLoss(ToyModel):
    def calculate_loss(self, out, batch):
        return ToyModel.calculate_loss(self, out.detach(), batch)


# ------------------------------------------------------------- what learners wrote, tried without reading tests/

@mutant("ToyModel.forward", "both einsums must use self.W itself")
class DetachedWInCompress(ToyModel):
    def forward(self, features):  # "W is only a lookup here": detached in the first einsum
        h = einops.einsum(features, self.W.detach(), "... inst feat, inst hidden feat -> ... inst hidden")
        return F.relu(einops.einsum(h, self.W, "... inst hidden, inst hidden feat -> ... inst feat") + self.b_final)


@mutant("ToyModel.forward", "add self.b_final itself")
class DetachedBias(ToyModel):
    def forward(self, features):
        h = einops.einsum(features, self.W, "... inst feat, inst hidden feat -> ... inst hidden")
        out = einops.einsum(h, self.W, "... inst hidden, inst hidden feat -> ... inst feat")
        return F.relu(out + self.b_final.data)


@mutant("ToyModel.generate_batch", "one number per row")
class OneMaskPerInstance(ToyModel):
    def generate_batch(self, batch_size):
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        fires = torch.rand(batch_size, self.cfg.n_instances, 1) < self.feature_probability
        return torch.where(fires, torch.rand(shape), 0.0)


@mutant("ToyModel.generate_batch", "shared by every instance")
class MaskSharedByInstances(ToyModel):
    def generate_batch(self, batch_size):
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        fires = torch.rand(batch_size, 1, self.cfg.n_features) < self.feature_probability
        return torch.where(fires, torch.rand(shape), 0.0)


@mutant("ToyModel.generate_batch", "all take the same value")
class OneValuePerRow(ToyModel):
    def generate_batch(self, batch_size):
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        values = torch.rand(batch_size, self.cfg.n_instances, 1).expand(shape)
        return torch.where(torch.rand(shape) < self.feature_probability, values, 0.0)


@mutant("ToyModel.calculate_loss", "must reach the loss with its gradient")
class LossOnDetachedOutput(ToyModel):
    def calculate_loss(self, out, batch):  # "the target must not get gradients" -- but detaches the wrong side
        error = self.importance * (batch - out.detach()) ** 2 + 0 * out
        return einops.reduce(error, "batch inst feat -> inst", "mean").sum()


# --------------------------------------------------------------- right answers, written differently

@alternative("ToyModel.forward")
class ForwardWithMatmul(ToyModel):
    def forward(self, features):  # W^T W first, then applied to the features: same maths, other op order
        WtW = self.W.transpose(-1, -2) @ self.W  # [inst, feat, feat]
        return F.relu((features.unsqueeze(-2) @ WtW).squeeze(-2) + self.b_final)


@alternative("ToyModel.generate_batch")
class BatchWithBernoulli(ToyModel):
    def generate_batch(self, batch_size):
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        mask = torch.bernoulli(self.feature_probability.expand(shape))
        return mask * torch.rand(shape)


# ---------------------------------------------- a second round of learners' answers (issue 17), section 1

@mutant("ToyModel.forward", "instance 0's b_final[0]")
class BiasOfInstance0(ToyModel):
    def forward(self, features):
        h = einops.einsum(features, self.W, "... inst feat, inst hidden feat -> ... inst hidden")
        return F.relu(einops.einsum(h, self.W, "... inst hidden, inst hidden feat -> ... inst feat") + self.b_final[0])


@mutant("ToyModel.forward", "instances got mixed")
class InstancesMixed(ToyModel):
    def forward(self, features):  # a new letter for W's instance axis: einsum sums over it
        h = einops.einsum(features, self.W, "... inst feat, j hidden feat -> ... inst hidden")
        return F.relu(einops.einsum(h, self.W, "... inst hidden, j hidden feat -> ... inst feat") + self.b_final)


@mutant("ToyModel.generate_batch", "fixed number of rows")
class FixedCountPerBatch(ToyModel):
    def generate_batch(self, batch_size):  # "exactly p of the rows": right on average, wrong for small batches
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        out = torch.zeros(shape)
        values = torch.rand(shape)
        for i in range(self.cfg.n_instances):
            for f in range(self.cfg.n_features):
                rows = torch.randperm(batch_size)[: int(round(self.feature_probability[i, f].item() * batch_size))]
                out[rows, i, f] = values[rows, i, f]
        return out


@mutant("ToyModel.generate_batch", "as dropout does")
class ScaledLikeDropout(ToyModel):
    def generate_batch(self, batch_size):
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        present = torch.rand(shape) < self.feature_probability
        return torch.rand(shape) * present / self.feature_probability


@mutant("ToyModel.calculate_loss", "weighted by feature_probability")
class WeightedByProbability(ToyModel):
    def calculate_loss(self, out, batch):
        return (self.feature_probability * (batch - out) ** 2).mean(dim=(0, 2)).sum()


@mutant("ToyModel.calculate_loss", "summed over everything")
class SummedOverEverything(ToyModel):
    def calculate_loss(self, out, batch):
        return (self.importance * (batch - out) ** 2).sum()


@mutant("ToyModel.calculate_loss", "weighted mean")
class ImportanceWeightedMean(ToyModel):
    def calculate_loss(self, out, batch):
        return ((self.importance * (batch - out) ** 2).sum(-1) / self.importance.sum(-1)).mean(0).sum()


@mutant("ToyModel.calculate_loss", "changed its inputs in place")
class SubtractsInPlace(ToyModel):
    def calculate_loss(self, out, batch):
        diff = batch.sub_(out)  # saves memory, overwrites the caller's batch
        return (self.importance * diff**2).mean(dim=(0, 2)).sum()


@mutant("ToyModel.forward", "clamp(min=0) only")
class ClampedToOne(ToyModel):
    def forward(self, features):  # "features live in [0, 1], so the output should too"
        h = einops.einsum(features, self.W, "... inst feat, inst hidden feat -> ... inst hidden")
        out = einops.einsum(h, self.W, "... inst hidden, inst hidden feat -> ... inst feat") + self.b_final
        return out.clamp(0, 1)


@mutant("ToyModel.calculate_loss", "not instance 0's row")
class ImportanceOfInstance0(ToyModel):
    def calculate_loss(self, out, batch):
        return (self.importance[0] * (batch - out) ** 2).mean(dim=(0, 2)).sum()


# ------------------------------------------------------------------------------- compute_dimensionality
# A learner's compute_dimensionality(W) -> [inst, feat], written the ways the formula gets misread.


def _unit(W):
    return W / W.norm(dim=1, keepdim=True).clamp(min=1e-8)


@mutant("compute_dimensionality", "uses the direction W_i_hat")
def dots_not_normalised(W):
    return W.norm(dim=1) ** 2 / (einops.einsum(W, W, "n h i, n h j -> n i j") ** 2).sum(-1).clamp(min=1e-8)


@mutant("compute_dimensionality", "normalised both columns")
def cosines_only(W):
    cosines = einops.einsum(_unit(W), _unit(W), "n h i, n h j -> n i j")
    return W.norm(dim=1) ** 2 / (cosines**2).sum(-1).clamp(min=1e-8)


@mutant("compute_dimensionality", "squared norm")
def norm_not_squared(W):
    return W.norm(dim=1) / (einops.einsum(_unit(W), W, "n h i, n h j -> n i j") ** 2).sum(-1).clamp(min=1e-8)


@mutant("compute_dimensionality", "square each dot product before summing")
def square_of_sum(W):
    return W.norm(dim=1) ** 2 / einops.einsum(_unit(W), W, "n h i, n h j -> n i").pow(2).clamp(min=1e-8)


@mutant("compute_dimensionality", "square the dot products in the denominator")
def denominator_not_squared(W):
    return W.norm(dim=1) ** 2 / einops.einsum(_unit(W), W, "n h i, n h j -> n i j").sum(-1).clamp(min=1e-8)


@mutant("compute_dimensionality", "includes j = i")
def without_self_term(W):  # "interference with the *other* features", as the superposition measure of section 1
    dots = einops.einsum(_unit(W), W, "n h i, n h j -> n i j") ** 2
    others = dots.sum(-1) - dots.diagonal(dim1=-2, dim2=-1)
    return W.norm(dim=1) ** 2 / others.clamp(min=1e-8)


@mutant("compute_dimensionality", "summed over the wrong index")
def summed_over_i(W):
    return W.norm(dim=1) ** 2 / (einops.einsum(_unit(W), W, "n h i, n h j -> n i j") ** 2).sum(-2).clamp(min=1e-8)


@mutant("compute_dimensionality", "wrong axis")
def normalised_over_features(W):
    W_hat = W / W.norm(dim=2, keepdim=True)
    return W.norm(dim=1) ** 2 / (einops.einsum(W_hat, W, "n h i, n h j -> n i j") ** 2).sum(-1).clamp(min=1e-8)


@mutant("compute_dimensionality", "instances got mixed")
def instances_mixed(W):
    dots = torch.einsum("nhi,mhj->nij", _unit(W), W) ** 2
    return W.norm(dim=1) ** 2 / dots.sum(-1).clamp(min=1e-8)


@mutant("compute_dimensionality", "gives NaN")
def no_clamp(W):
    norms = W.norm(dim=1, keepdim=True)
    W_hat = W / norms
    return norms.squeeze(1) ** 2 / (einops.einsum(W_hat, W, "n h i, n h j -> n i j") ** 2).sum(-1)


@mutant("compute_dimensionality", "changed W in place")
def normalises_in_place(W):
    norms = W.norm(dim=1, keepdim=True)
    sq = norms.squeeze(1) ** 2
    W_hat = W.div_(norms.clamp(min=1e-8))  # saves a copy; also rescales the model's weights
    return sq / (einops.einsum(W_hat, W_hat * norms, "n h i, n h j -> n i j") ** 2).sum(-1).clamp(min=1e-8)


@mutant("compute_dimensionality", "shape")
def per_feature_pair(W):  # returned the interference matrix itself
    return einops.einsum(_unit(W), W, "n h i, n h j -> n i j") ** 2


@alternative("compute_dimensionality")
def from_gram_matrix(W):
    """D_i = G_ii^2 / sum_j G_ij^2 with G = W^T W: the same number, from the Gram matrix."""
    G = einops.einsum(W, W, "inst hidden i, inst hidden j -> inst i j")
    return G.diagonal(dim1=-2, dim2=-1) ** 2 / (G**2).sum(-1).clamp(min=1e-12)


@alternative("compute_dimensionality")
def with_f_normalize(W):
    W_hat = F.normalize(W, dim=1)
    num = (W**2).sum(1)
    den = (torch.einsum("nhi,nhj->nij", W_hat, W) ** 2).sum(-1)
    return torch.where(den > 0, num / den, torch.zeros_like(num))


@mutant("compute_dimensionality", "includes j = i")
def without_self_term_unclamped(W):  # the same mistake with a much smaller clamp: D explodes for a lone feature
    dots = einops.einsum(_unit(W), W, "n h i, n h j -> n i j") ** 2
    return W.norm(dim=1) ** 2 / (dots.sum(-1) - dots.diagonal(dim1=-2, dim2=-1)).clamp(min=1e-12)


@mutant("compute_dimensionality", "does not match")
def clamps_short_features(W):  # "dropped" taken as shorter than 0.1: a short feature's D becomes far too big
    norms = W.norm(dim=1, keepdim=True).clamp(min=0.1)
    dots = einops.einsum(W / norms, W, "n h i, n h j -> n i j") ** 2
    return W.norm(dim=1) ** 2 / dots.sum(-1).clamp(min=1e-8)


@mutant("compute_dimensionality", "summed over the wrong index, or normalised W_j")
def normalises_the_other_column(W):
    dots = einops.einsum(W, _unit(W), "n h i, n h j -> n i j") ** 2  # (W_i . W_j_hat)^2
    return W.norm(dim=1) ** 2 / dots.sum(-1).clamp(min=1e-8)
