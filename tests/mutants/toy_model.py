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
