"""Our section-3 metrics against SAELens's own evaluation (`sae_lens.evals.run_evals`) on the same tokens.

SAE A, exported to SAELens (`to_saelens`), is evaluated by SAELens; the bundled one by our functions. Both
ways SAELens can treat special tokens are compared:

* kept (`exclude_special_tokens=False`): every number must agree with ours, to float32 rounding. SAELens's
  MSE is a sum over the neurons (ours a mean: they differ by d_mlp exactly).
* left out (the default, `True`): SAELens drops the BOS positions from every average and leaves their
  activations unreplaced. Our functions never leave anything out (the notebook says so); here the same
  maths, restricted to the other positions, must give SAELens's numbers.
"""

import pytest
import torch

from solutions.interpretation import to_saelens
from solutions.llm_sae import MLP_HOOK, get_mlp_activations, summary_metrics
from utils.loading import load_autoencoder, load_model, load_tokens

N_PROMPTS, BATCH = 8, 4  # 2 batches of 4 held-out sequences of 128 tokens
SAME = {"rel": 2e-4, "abs": 2e-5}  # float32 rounding, summed differently


class _Tokens:
    """What run_evals reads from an ActivationsStore: our token batches, in order, again after a reset."""

    def __init__(self, tokens: torch.Tensor):
        self.tokens, self.position = tokens, 0
        self.store_batch_size_prompts, self.context_size = BATCH, tokens.shape[1]

    def get_batch_tokens(self, n: int) -> torch.Tensor:
        batch = self.tokens[self.position : self.position + n]
        self.position += n
        return batch

    def reset_input_dataset(self) -> None:
        self.position = 0


@pytest.fixture(scope="module")
def setup():
    model = load_model(device="cpu")
    autoencoder = load_autoencoder(device="cpu")
    model.requires_grad_(False)
    autoencoder.requires_grad_(False)
    tokens = load_tokens(65_536, split="test")[:N_PROMPTS]
    return model, autoencoder, tokens


def _saelens(model, autoencoder, tokens, exclude_special_tokens):
    from sae_lens.evals import EvalConfig, run_evals
    from sae_lens.training.activation_scaler import ActivationScaler

    config = EvalConfig(batch_size_prompts=BATCH, n_eval_reconstruction_batches=N_PROMPTS // BATCH,
                        n_eval_sparsity_variance_batches=N_PROMPTS // BATCH, compute_kl=True, compute_ce_loss=True,
                        compute_sparsity_metrics=True, compute_variance_metrics=True)
    metrics, _ = run_evals(to_saelens(autoencoder, 0), _Tokens(tokens), model, ActivationScaler(), config,
                           exclude_special_tokens=exclude_special_tokens)
    return {k: v for group in metrics.values() for k, v in group.items()}


def test_our_metrics_equal_saelens_with_special_tokens_kept(setup):
    model, autoencoder, tokens = setup
    theirs = _saelens(model, autoencoder, tokens, exclude_special_tokens=False)
    metrics = summary_metrics(tokens, model, autoencoder, BATCH)
    ours = {k: (v[0] if isinstance(v, list) else v) for k, v in metrics.items()}
    pairs = {
        "ce_loss_without_sae": ours["loss_clean"], "ce_loss_with_sae": ours["loss_reconstructed"],
        "ce_loss_with_ablation": ours["loss_zero_ablation"], "ce_loss_score": ours["loss_recovered"],
        "kl_div_score": ours["kl_divergence_score"], "l0": ours["l0"],
        "explained_variance": ours["explained_variance"], "cossim": ours["cosine_similarity"],
        "mse": ours["reconstruction_loss"] * autoencoder.cfg.n_input_ae,  # SAELens sums over neurons, we average
    }
    for name, value in pairs.items():
        assert theirs[name] == pytest.approx(value, rel=SAME["rel"],
                                             abs=SAME["abs"]), name
    # Explained variance per batch, averaged (SAELens's "legacy" number), reads lower: the reason we use one mean.
    assert theirs["explained_variance_legacy"] < theirs["explained_variance"]


def test_saelens_leaving_out_special_tokens_is_our_maths_on_the_other_positions(setup):
    model, autoencoder, tokens = setup
    theirs = _saelens(model, autoencoder, tokens, exclude_special_tokens=True)
    special = torch.zeros_like(tokens, dtype=torch.bool)
    for token_id in (model.tokenizer.bos_token_id, model.tokenizer.eos_token_id, model.tokenizer.pad_token_id):
        if token_id is not None:
            special |= tokens == token_id
    assert special[:, 0].all(), "every sequence starts with BOS"
    kept = ~special.flatten()

    with torch.no_grad():
        h = get_mlp_activations(tokens, model, 1)[:, 0]  # [tokens, d_mlp]
        _, _, _, acts, h_reconstructed = autoencoder(h[:, None].expand(-1, 2, -1))
        acts, h_reconstructed = acts[kept, 0], h_reconstructed[kept, 0]
        h = h[kept]
        l0 = (acts > 0).float().sum(-1).mean().item()
        variance = (h - h.mean(0)).pow(2).sum(-1).mean()
        explained = 1 - (h - h_reconstructed).pow(2).sum(-1).mean() / variance

        # CE: BOS positions keep their own activations; their losses (the token after BOS) leave the average.
        def per_token_loss(replace):
            def hook(activations, hook):
                return torch.where(special[..., None], activations, replace(activations))
            return model.run_with_hooks(tokens, return_type="loss", loss_per_token=True, fwd_hooks=[(MLP_HOOK, hook)])

        def reconstruct(activations):
            flat = activations.flatten(0, 1)[:, None].expand(-1, 2, -1)
            return autoencoder(flat)[4][:, 0].reshape(activations.shape)

        scored = ~special[:, :-1]
        clean = model(tokens, return_type="loss", loss_per_token=True)[scored].mean()
        reconstructed = per_token_loss(reconstruct)[scored].mean()
        zeroed = model.run_with_hooks(tokens, return_type="loss", loss_per_token=True,
                                      fwd_hooks=[(MLP_HOOK, lambda a, hook: torch.zeros_like(a))])[scored].mean()

    assert theirs["l0"] == pytest.approx(l0, **SAME)
    assert theirs["explained_variance"] == pytest.approx(explained.item(), **SAME)
    assert theirs["ce_loss_without_sae"] == pytest.approx(clean.item(), **SAME)
    assert theirs["ce_loss_with_sae"] == pytest.approx(reconstructed.item(), **SAME)
    assert theirs["ce_loss_with_ablation"] == pytest.approx(zeroed.item(), **SAME)
    # And the difference is real: leaving BOS out changes what is measured.
    ours = summary_metrics(tokens, model, autoencoder, BATCH)
    assert abs(theirs["explained_variance"] - ours["explained_variance"][0]) > 1e-4
