"""Section 4's given pieces: a latent's top-activating tokens (computed by the SAE itself, in batches),
every latent's activations kept sparse, interval sampling, token classes, top-token purity, the neuron
basis as an SAE, the circuitsvis views (offline, stable ids, a text fallback), and the export to
SAELens's format (L1 and TopK), round-tripped through SAELens."""

import math
import re

import pytest
import torch

from solutions.interpretation import export_to_saelens, format_context, highest_activating_tokens
from tests.checks.llm_sae import tiny_model, tiny_sae, tiny_tokens


def test_highest_activating_tokens_match_the_full_sae_in_batches():
    model, sae, tokens = tiny_model(), tiny_sae(), tiny_tokens(batch=7)
    h = model.run_with_cache(tokens)[1]["blocks.0.mlp.hook_post"]
    acts = sae(h.reshape(-1, 1, h.shape[-1]).expand(-1, 2, -1))[3][:, 1]  # instance 1: [tokens, latents]
    latent = int((acts > 0).float().sum(0).argmax())
    expected = acts[:, latent].reshape(tokens.shape).flatten().topk(5)
    indices, values = highest_activating_tokens(tokens, model, sae, latent, instance_idx=1, k=5, batch_size=2)
    torch.testing.assert_close(values, expected.values)
    # The positions hold those values. (Not `indices == expected.indices`: two near-equal activations computed
    # in batches of another shape may swap places, so only the values at the positions are promised.)
    grid = acts[:, latent].reshape(tokens.shape)
    torch.testing.assert_close(grid[indices[:, 0], indices[:, 1]], expected.values)
    assert len({tuple(i) for i in indices.tolist()}) == 5, "five distinct positions"


def test_format_context_marks_the_token():
    from utils.loading import load_model, load_tokens

    model, tokens = load_model(device="cpu"), load_tokens(1024)
    text = format_context(tokens, model, row=1, pos=2, before=2, after=1)
    assert text.startswith("⟨BOS⟩") and text.count("[[") == 1 and "\n" not in text


def test_export_to_saelens_round_trips(tmp_path):
    from sae_lens import SAE

    sae = tiny_sae()
    x = torch.randn(5, sae.cfg.n_input_ae)
    _, _, _, acts, x_rec = sae(x[:, None].expand(5, 2, -1))
    for i, path in enumerate(export_to_saelens(sae, tmp_path)):
        loaded = SAE.load_from_disk(path)
        assert loaded.cfg.metadata.hook_name == "blocks.0.mlp.hook_post"
        z = loaded.encode(x)
        torch.testing.assert_close(z, acts[:, i])
        torch.testing.assert_close(loaded.decode(z), x_rec[:, i])


def test_neuron_basis_reads_the_neurons_themselves():
    from solutions.interpretation import feature_logit_effect, neuron_basis

    model, tokens = tiny_model(), tiny_tokens(batch=7)
    h = model.run_with_cache(tokens)[1]["blocks.0.mlp.hook_post"]
    basis = neuron_basis(h.shape[-1])
    neuron = int(h.flatten(0, 1).max(0).values.argmax())
    _, values = highest_activating_tokens(tokens, model, basis, neuron, k=3, batch_size=3)
    torch.testing.assert_close(values, h[..., neuron].flatten().topk(3).values)
    torch.testing.assert_close(feature_logit_effect(model, basis, neuron), model.W_out[0, neuron] @ model.W_U)


def test_token_views_work_offline_with_stable_ids_and_print_as_text():
    from solutions.interpretation import display_top_sequences
    from utils.loading import load_model, load_tokens

    model, tokens = load_model(device="cpu"), load_tokens(1024)
    indices, values = torch.tensor([[1, 5], [3, 9]]), torch.tensor([2.5, 1.25])
    view = display_top_sequences(indices, values, tokens, model, label="latent 7")
    text = repr(view)
    assert text.splitlines()[0] == "latent 7" and "[[" in text.splitlines()[1] and "2.500" in text
    html = view._repr_html_()
    assert "unpkg.com" not in html and "CircuitsVis.render" in html  # the bundled JavaScript, not the CDN's
    ids = re.findall(r'<div id="(circuits-vis-[\w-]+)"', html)
    assert ids == [view.element_id] and html == view._repr_html_()  # the same page every time
    later = display_top_sequences(indices, values, tokens, model)
    assert later.element_id != view.element_id  # two views on one page never share an element


def test_latent_activations_are_the_sae_s_own_for_l1_and_topk():
    from solutions.interpretation import LatentActivations, latent_activations
    from tests.checks.interpretation import _latent_acts, _topk_twin

    model, tokens = tiny_model(), tiny_tokens(batch=7)
    for sae in (tiny_sae(), _topk_twin(tiny_sae())):
        expected = _latent_acts(model, sae, tokens, instance=1)  # [batch, seq, n_hidden]
        latents = LatentActivations(tokens, model, sae, instance_idx=1, batch_size=3)
        for f in range(expected.shape[-1]):
            torch.testing.assert_close(latents[f], expected[..., f])
        torch.testing.assert_close(latent_activations(tokens, model, sae, 2, instance_idx=1, batch_size=2),
                                   expected[..., 2])
        torch.testing.assert_close(latents.frequency, (expected > 0).float().mean((0, 1)))


def test_interval_examples_cover_every_band_with_their_shares():
    from solutions.interpretation import interval_examples

    activations = torch.zeros(4, 25)
    activations.view(-1)[:50] = torch.linspace(0.1, 5.0, 50)  # 10 firings in each fifth of (0, 5]
    bands = interval_examples(activations, n_bands=5, per_band=3)
    assert len(bands) == 5 and all("(20% of firings)" in label for label in bands)
    tops = [values.max() for _, values in bands.values()]
    assert tops == sorted(tops, reverse=True), "strongest band first"
    for (indices, values), lo in zip(bands.values(), [4.0, 3.0, 2.0, 1.0, 0.0], strict=True):
        assert len(values) == 3 and bool((values > lo).all() & (values <= lo + 1.0 + 1e-6).all())
        torch.testing.assert_close(activations[indices[:, 0], indices[:, 1]], values)


def test_token_class_and_its_errors():
    from solutions.interpretation import token_class
    from utils.loading import load_model, load_tokens

    model, tokens = load_model(device="cpu"), load_tokens(4096)
    any_in = token_class(tokens, model, " in")
    after_for = token_class(tokens, model, " in", before=r"\bfor\b")
    assert any_in.sum() > after_for.sum() > 0 and not (after_for & ~any_in).any()
    assert torch.equal(token_class(tokens, model, [" in", " for"]), any_in | token_class(tokens, model, " for"))
    with pytest.raises(ValueError, match="leading space"):
        token_class(tokens, model, "definitely not a token")


def test_label_precision_recall_rejects_mismatched_input():
    from solutions.interpretation import label_precision_recall

    with pytest.raises(ValueError, match="boolean in_class of the same shape"):
        label_precision_recall(torch.rand(2, 3), torch.rand(3, 2) > 0.5)
    with pytest.raises(ValueError, match="boolean in_class"):
        label_precision_recall(torch.rand(2, 3), torch.ones(2, 3))
    r = label_precision_recall(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool))
    assert math.isnan(r["precision"]) and r["recall"] == 0.0


def test_top_token_purity_leaves_out_position_0():
    from solutions.interpretation import top_token_purity

    tokens = torch.arange(40).reshape(4, 10) % 3  # tokens 0, 1, 2
    scores = torch.zeros(4, 10)
    scores[:, 0] = 100.0  # BOS: ignored
    scores[tokens == 2] += 1.0
    assert top_token_purity(scores, tokens, n=8) == 1.0
    with pytest.raises(ValueError, match="fewer than n=30"):
        top_token_purity(scores, tokens, n=30)  # only 12 positions after BOS fire


def test_topk_export_to_saelens_round_trips(tmp_path):
    from sae_lens import SAE

    from tests.checks.interpretation import _topk_twin

    sae = _topk_twin(tiny_sae())
    x = torch.randn(5, sae.cfg.n_input_ae)
    _, _, _, acts, x_rec = sae(x[:, None].expand(5, 2, -1))
    for i, path in enumerate(export_to_saelens(sae, tmp_path)):
        loaded = SAE.load_from_disk(path)
        assert type(loaded).__name__ == "TopKSAE" and loaded.cfg.k == sae.k
        torch.testing.assert_close(loaded.encode(x), acts[:, i])
        torch.testing.assert_close(loaded.decode(loaded.encode(x)), x_rec[:, i])


def test_every_label_names_a_class_a_program_can_test():
    """The model card measures each label's precision and recall: each must name a class token_class can find."""
    import json

    from solutions.interpretation import token_class
    from utils.loading import BUNDLED_DIR, load_model, load_tokens

    model, tokens = load_model(device="cpu"), load_tokens(8192)
    for item in json.loads((BUNDLED_DIR / "feature_labels.json").read_text()):
        assert set(item) <= {"sae", "latent", "label", "class", "note"} and item["sae"] in "AB", item
        assert token_class(tokens, model, **item["class"]).any(), f"no token of latent {item['latent']}'s class"
