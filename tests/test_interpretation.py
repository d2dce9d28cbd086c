"""Section 4's given pieces: a latent's top-activating tokens (computed for that latent alone, in
batches), the neuron basis as an SAE, the circuitsvis views (offline, stable ids, a text fallback),
and the export to SAELens's format, round-tripped through SAELens."""

import re

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
