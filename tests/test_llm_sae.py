"""Section 3's helpers, the activation buffer that trains the bundled SAEs, and the agreement between
the executed notebook's numbers and the model card's."""

import json
import re

import nbformat
import pytest
import torch

from solutions.llm_sae import ActivationBuffer, batched_mean, get_summary_metrics, loss_recovered, stop_layer
from tests.checks.llm_sae import tiny_model, tiny_sae, tiny_tokens
from utils.build import SOLUTION_NOTEBOOKS
from utils.loading import BUNDLED_DIR

#: What "the same activations" promises when two paths compute them with differently shaped operations (other
#: pass sizes, fused attention): float32 rounding, accumulated over sums of a few hundred terms, with margin.
#: Bit equality holds only on one CPU with one thread count, and is not promised.
SAME_MATHS = {"rtol": 1e-5, "atol": 1e-5}


def test_stop_layer():
    assert stop_layer("blocks.0.mlp.hook_post") == 1
    assert stop_layer("blocks.3.hook_resid_post") == 4
    assert stop_layer("hook_embed") == 0
    assert stop_layer("ln_final.hook_normalized") is None


def test_batched_mean_equals_the_whole_for_equal_batches():
    model, sae, tokens = tiny_model(), tiny_sae(), tiny_tokens(batch=6)
    whole = get_summary_metrics(tokens, model, sae)
    batched = batched_mean(get_summary_metrics, tokens, model, sae, batch_size=3)
    torch.testing.assert_close(batched["l0"], whole["l0"])
    torch.testing.assert_close(loss_recovered(torch.tensor(2.0), torch.tensor([2.5]), torch.tensor(4.0)),
                               torch.tensor([0.75]))


def test_activation_buffer_serves_shuffled_batches_of_every_sequence():
    model, tokens = tiny_model(), tiny_tokens(batch=10)
    buffer = ActivationBuffer(model, tokens, n_instances=2, n_batches=2, seed=0)
    first = buffer(8)
    assert first.shape == (8, 2, 12) and torch.equal(first[:, 0], first[:, 1])
    # it holds n_batches batches, rounded up to whole sequences: no more
    assert 2 * 8 <= len(buffer.store) < 2 * 8 + tokens.shape[1]
    seen = torch.cat([buffer(8)[:, 0] for _ in range(20)])
    assert buffer.epoch >= 1, "the buffer went through every sequence and started another pass"
    _, cache = model.run_with_cache(tokens)
    everything = cache["blocks.0.mlp.hook_post"].reshape(-1, 12)
    # every served vector is one of the model's activations
    distance = torch.cdist(seen, everything, compute_mode="donot_use_mm_for_euclid_dist")
    assert distance.min(-1).values.max() < 1e-5


def _output_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def test_notebook_numbers_agree_with_the_model_card():
    nb = nbformat.read(SOLUTION_NOTEBOOKS / "3_llm_sae.ipynb", as_version=4)
    text = next(_output_of(c) for c in nb.cells if "model card" in _output_of(c))
    lines = [line for line in text.splitlines() if "yours" in line]
    assert len(lines) == 4
    for line in lines:
        yours, card = re.match(r".*yours (.*),\s+model card (.*)", line).groups()
        assert yours.strip() == card.strip(), line
    held_out = json.loads((BUNDLED_DIR / "saes_config.json").read_text())["held_out"]
    assert min(held_out["loss_recovered"]) >= 0.90, "issue 4's target: at least 90% of the loss recovered"
    assert max(held_out["dead_fraction"]) < 0.10, "issue 4's target: under 10% dead latents"
    assert max(held_out["l0"]) <= 40, "issue 18's target: sparse SAEs, L0 at most 40"


@pytest.mark.parametrize("name", ["MODEL_CARD.md", "feature_labels.json"])
def test_model_card_and_labels_exist(name):
    assert (BUNDLED_DIR / name).exists()
    if name.endswith(".json"):
        assert len(json.loads((BUNDLED_DIR / name).read_text())) >= 10


def test_collect_activations_stops_at_the_hook_and_leaves_no_hook():
    """The buffer's fast path gives the exercise's activations, at any hook, and leaves the model as it
    found it (the hook that interrupts the forward pass is removed). At hook_post it computes block 0
    itself (fused attention); everywhere the match is to float rounding (other pass sizes, other kernels)."""
    from solutions.llm_sae import collect_activations, get_mlp_activations
    from tests.checks.llm_sae import tiny_model, tiny_tokens

    model, tokens = tiny_model(), tiny_tokens()
    fused = collect_activations(tokens, model, "blocks.0.mlp.hook_post")
    torch.testing.assert_close(fused.flatten(0, 1), get_mlp_activations(tokens, model, 1)[:, 0], rtol=1e-5, atol=1e-5)
    for hook in ("blocks.0.hook_resid_mid", "blocks.0.ln2.hook_normalized"):
        fast = collect_activations(tokens, model, hook)
        torch.testing.assert_close(fast.flatten(0, 1), get_mlp_activations(tokens, model, 1, hook)[:, 0], **SAME_MATHS)
    assert not any(hp.fwd_hooks for hp in model.hook_dict.values())


def test_the_bundled_model_gets_the_fused_path_and_its_activations():
    """The speed-up must not vanish silently: the bundled model passes the fused path's check, and the
    fused activations match run_with_cache's on held-out text."""
    from solutions.llm_sae import MLP_HOOK, _fused_path_fits, collect_activations
    from utils.loading import load_model, load_tokens

    model, tokens = load_model(device="cpu"), load_tokens(4 * 128, split="test").reshape(4, 128)
    assert _fused_path_fits(tokens, model, MLP_HOOK)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=MLP_HOOK)
    torch.testing.assert_close(collect_activations(tokens, model), cache[MLP_HOOK], rtol=1e-5, atol=1e-5)


def _reference(tokens, model, hook="blocks.0.mlp.hook_post"):
    from solutions.llm_sae import get_mlp_activations

    return get_mlp_activations(tokens, model, 1, hook)[:, 0].unflatten(0, tokens.shape)


def test_collect_activations_runs_the_models_hooks():
    """A hook a learner left on the model must still act: the fused path would skip it, so it steps
    aside and the activations are TransformerLens's (to float rounding: passes of another size)."""
    from solutions.llm_sae import _fused_path_fits, collect_activations
    from tests.checks.llm_sae import tiny_model, tiny_tokens

    model, tokens = tiny_model(), tiny_tokens()
    plain = collect_activations(tokens, model)  # the fused path, now known to fit this model
    model.add_hook("blocks.0.hook_attn_out", lambda attn_out, hook: 0 * attn_out)  # knock attention out
    assert not _fused_path_fits(tokens, model, "blocks.0.mlp.hook_post")
    hooked = collect_activations(tokens, model)
    torch.testing.assert_close(hooked, _reference(tokens, model), **SAME_MATHS)
    assert not torch.allclose(hooked, plain, atol=1e-3)
    model.reset_hooks()
    assert _fused_path_fits(tokens, model, "blocks.0.mlp.hook_post")


@pytest.mark.parametrize("change", [{"positional_embedding_type": "rotary", "rotary_dim": 4},
                                    {"attention_dir": "bidirectional"}, {"attn_scores_soft_cap": 0.5},
                                    {"act_fn": "solu_ln"}])
def test_collect_activations_falls_back_where_the_fused_path_does_not_fit(change):
    """On an architecture the fused path does not compute (it fails, or its check on the first
    sequence disagrees), collect_activations gives TransformerLens's activations (to float rounding)."""
    from transformer_lens import HookedTransformer

    from solutions.llm_sae import _fused_path_fits, collect_activations
    from tests.checks.llm_sae import _tiny_model_state, tiny_tokens

    cfg, _ = _tiny_model_state()
    torch.manual_seed(0)
    model = HookedTransformer(cfg.__class__(**{**cfg.to_dict(), **change})).eval()
    tokens = tiny_tokens()
    assert not _fused_path_fits(tokens, model, "blocks.0.mlp.hook_post")
    torch.testing.assert_close(collect_activations(tokens, model), _reference(tokens, model), **SAME_MATHS)


def test_collect_activations_does_not_depend_on_the_pass_size():
    """collect_activations runs the model a few sequences at a time (for speed); the activations must
    not change with the pass size, whether it divides the batch or not. (Equal as maths, not as bits: how a
    CPU's matrix product splits its sums depends on the batch's shape, so the last bits may differ.)"""
    from solutions.llm_sae import collect_activations
    from tests.checks.llm_sae import tiny_model, tiny_tokens

    model, tokens = tiny_model(), tiny_tokens()
    whole = collect_activations(tokens, model, sequences_per_pass=len(tokens))
    for per_pass in (1, 2):  # 2 leaves a shorter last pass
        torch.testing.assert_close(collect_activations(tokens, model, sequences_per_pass=per_pass), whole, **SAME_MATHS)


def test_explained_variance_uses_one_mean_whatever_the_batch_size():
    """The pooled explained variance equals the exercise's formula on every token at once, for any batch size,
    and differs from averaging each batch's own (which measures each batch around its own mean)."""
    from solutions.llm_sae import batched_mean, explained_variance, get_summary_metrics
    from tests.checks.llm_sae import tiny_model, tiny_sae, tiny_tokens

    model, sae, tokens = tiny_model(), tiny_sae(), tiny_tokens(batch=7)
    at_once = get_summary_metrics(tokens, model, sae)["explained_variance"]
    for batch_size in (1, 2, 7):
        torch.testing.assert_close(explained_variance(tokens, model, sae, batch_size), at_once, rtol=1e-5, atol=1e-5)
    per_batch = batched_mean(get_summary_metrics, tokens, model, sae, batch_size=2)["explained_variance"]
    assert not torch.allclose(per_batch, at_once, atol=1e-3)


def test_kl_divergence_score_is_1_for_a_perfect_reconstruction_and_0_for_none():
    from solutions.llm_sae import kl_divergence_score
    from solutions.sae import AutoEncoder
    from tests.checks.llm_sae import tiny_model, tiny_sae, tiny_tokens

    class Returns(AutoEncoder):  # instance 0 reconstructs perfectly, instance 1 outputs zero
        def forward(self, h):
            out = torch.stack([h[:, 0], torch.zeros_like(h[:, 1])], dim=1)
            return None, None, None, None, out

    model, sae, tokens = tiny_model(), tiny_sae(), tiny_tokens(batch=4)
    fake = Returns(sae.cfg, device="cpu")
    score, kl_reconstructed, kl_zero = kl_divergence_score(tokens, model, fake)
    assert kl_zero > 0 and torch.allclose(kl_reconstructed[0], torch.tensor(0.0), atol=1e-6)
    torch.testing.assert_close(score, torch.tensor([1.0, 0.0]), atol=1e-5, rtol=0)
    real, _, _ = kl_divergence_score(tokens, model, sae)
    assert bool((real < 1).all())
