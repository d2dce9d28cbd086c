"""The bundled model, tokens and SAEs load offline, deterministically, and refuse damaged files with
one line that says how to restore them; the online loaders' conversion is tested on a checkpoint
written here in the published format (never downloaded)."""

import json
import shutil

import pytest
import torch

from utils.loading import (
    BUNDLED_DIR,
    MODEL_FILES,
    SAE_FILES,
    CheckpointError,
    load_autoencoder,
    load_model,
    load_published_autoencoder,
    load_tokens,
)


@pytest.fixture(scope="module")
def model():
    return load_model(device="cpu")


def test_bundled_model_is_a_hooked_transformer_with_the_usual_hooks(model):
    from transformer_lens import HookedTransformer

    assert isinstance(model, HookedTransformer)
    assert (model.cfg.n_layers, model.cfg.d_mlp, model.cfg.act_fn) == (1, 512, "gelu")
    assert "blocks.0.mlp.hook_post" in model.hook_dict
    assert model.blocks[0].mlp.W_in.shape == (256, 512) and model.W_U.shape == (256, 4096)
    assert model.to_str_tokens("def f():")[0] == "<|endoftext|>"  # BOS is prepended (tokenizer from a folder)
    tokens = load_tokens(1024)
    loss = model(tokens, return_type="loss")
    card = json.loads((BUNDLED_DIR / "model_config.json").read_text())
    assert loss.item() < card["unigram_loss"] - 1.0, "the model should beat a unigram model by a wide margin"


def test_tokens_are_deterministic_start_with_bos_and_splits_are_disjoint(model):
    from utils.corpus import corpus_files

    a, b = load_tokens(4096, seq_len=64), load_tokens(4096, seq_len=64)
    assert a.shape == (64, 64) and a.dtype == torch.int64 and torch.equal(a, b)
    assert (a[:, 0] == model.tokenizer.bos_token_id).all()
    assert not set(corpus_files("train")) & set(corpus_files("test"))
    assert not torch.equal(load_tokens(4096, split="train")[:4], load_tokens(4096, split="test")[:4])


@pytest.mark.parametrize("kwargs, words", [
    (dict(n_tokens=10), "at least seq_len"),
    (dict(n_tokens=4096, split="validation"), "split must be one of"),
    (dict(n_tokens=10**10), "asked for"),
    (dict(n_tokens=4096, seq_len=1), "at least 2"),
])
def test_load_tokens_bad_arguments_say_what_was_expected(kwargs, words):
    with pytest.raises(ValueError, match=words):
        load_tokens(**kwargs)


def test_held_out_tokens_come_from_the_bundle_on_any_python(model, monkeypatch):
    """The held-out split is shipped, so sections 3 and 4 print the same numbers on every Python (the corpus is the
    running Python's standard library); another tokenizer, or the training split, still reads the corpus."""
    import numpy as np

    from utils import corpus
    from utils.corpus import stream_to_rows
    from utils.loading import HELD_OUT_FILE

    shipped = np.load(BUNDLED_DIR / HELD_OUT_FILE)
    expected = stream_to_rows(shipped, 128, model.tokenizer.bos_token_id, seed=0)[:32]

    def no_corpus(*args, **kwargs):
        raise AssertionError("the held-out split was read from this Python's standard library")

    monkeypatch.setattr(corpus, "token_stream", no_corpus)
    assert torch.equal(load_tokens(4096), torch.from_numpy(expected.copy()))
    assert torch.equal(load_tokens(4096, tokenizer=model.tokenizer), torch.from_numpy(expected.copy()))
    with pytest.raises(AssertionError, match="standard library"):
        load_tokens(4096, split="train")


def test_bundled_saes_are_one_autoencoder_with_two_instances():
    sae = load_autoencoder(device="cpu")
    assert (sae.cfg.n_instances, sae.cfg.n_input_ae, sae.cfg.n_hidden_ae) == (2, 512, 4096)
    assert not torch.equal(sae.W_enc[0], sae.W_enc[1]), "A and B differ (their seeds)"
    norms = sae.W_dec.norm(dim=-1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=2e-3), "decoder rows are unit norm"


def test_bundle_is_small():
    size = sum((BUNDLED_DIR / name).stat().st_size for name in MODEL_FILES + SAE_FILES)
    assert size <= 40 * 2**20, f"the bundle is {size / 2**20:.1f} MiB; the budget is 40"
    every_checkpoint = sum(p.stat().st_size for p in (BUNDLED_DIR.parent).rglob("*") if p.is_file())
    assert every_checkpoint <= 60 * 2**20, f"checkpoints/ holds {every_checkpoint / 2**20:.1f} MiB; the budget is 60"


@pytest.fixture
def bundle_copy(tmp_path):
    copy = tmp_path / "bundled"
    shutil.copytree(BUNDLED_DIR, copy)
    return copy


@pytest.mark.parametrize("damage", ["missing", "truncated", "one byte changed"])
@pytest.mark.parametrize("name", ["model.safetensors", "saes.safetensors", "tokenizer/tokenizer.json"])
def test_damaged_files_are_refused_with_how_to_restore(bundle_copy, name, damage):
    path = bundle_copy / name
    data = path.read_bytes()
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    load = load_autoencoder if name.startswith("saes") else load_model
    with pytest.raises(CheckpointError) as failure:
        load(device="cpu", directory=bundle_copy)
    message = str(failure.value)
    assert name in message and "git checkout -- checkpoints/bundled" in message and "scripts.train" in message
    assert ("missing" if damage == "missing" else "damaged") in message
    assert "\n" not in message


def test_a_tokenizer_from_another_version_is_refused(bundle_copy):
    config = json.loads((bundle_copy / "tokenizer" / "tokenizer.json").read_text())
    config["model"]["vocab"]["zzzz"] = config["model"]["vocab"].pop(next(iter(config["model"]["vocab"])))
    (bundle_copy / "tokenizer" / "tokenizer.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="another version"):
        load_tokens(4096, directory=bundle_copy)


def test_checkpoint_error_is_one_line_in_ipython():
    lines = CheckpointError("x is missing: restore it")._render_traceback_()
    assert len(lines) == 1 and "restore it" in lines[0]


@pytest.mark.parametrize("name", ["gelu-1l"])
def test_online_models_fail_at_once_offline_naming_the_default(name):
    for load in (load_model, load_autoencoder):
        with pytest.raises(CheckpointError, match="bundled default"):
            load(name)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="'bundled'"):
        load_model("gpt2-xl")


def test_published_sae_format_converts_to_a_stacked_autoencoder(tmp_path):
    """Two SAEs in the published format (one SAE per file: W_enc [d_mlp, d_hidden], ...), written
    here, stacked into one AutoEncoder whose instances compute what the published formula does."""
    d_mlp, mult = 6, 2
    generator = torch.Generator().manual_seed(0)
    published = {}
    for run, version in (("run1", 25), ("run2", 47)):
        W_dec = torch.randn(d_mlp * mult, d_mlp, generator=generator)
        weights = {"W_enc": torch.randn(d_mlp, d_mlp * mult, generator=generator),
                   "W_dec": W_dec / W_dec.norm(dim=-1, keepdim=True),
                   "b_enc": torch.randn(d_mlp * mult, generator=generator),
                   "b_dec": torch.randn(d_mlp, generator=generator)}
        torch.save(weights, tmp_path / f"{version}.pt")
        (tmp_path / f"{version}_cfg.json").write_text(json.dumps({"d_mlp": d_mlp, "dict_mult": mult, "l1_coeff": 3e-4}))
        published[run] = weights

    def fetch(run):
        version = {"run1": 25, "run2": 47}[run]
        return (torch.load(tmp_path / f"{version}.pt", weights_only=True),
                json.loads((tmp_path / f"{version}_cfg.json").read_text()))

    sae = load_published_autoencoder(fetch)
    assert (sae.cfg.n_instances, sae.cfg.n_input_ae, sae.cfg.n_hidden_ae) == (2, d_mlp, d_mlp * mult)
    x = torch.randn(5, d_mlp, generator=generator)
    _, _, _, acts, x_rec = sae(x[:, None].expand(5, 2, d_mlp))
    for i, run in enumerate(("run1", "run2")):
        w = published[run]
        expected_acts = torch.relu((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"])
        torch.testing.assert_close(acts[:, i], expected_acts)
        torch.testing.assert_close(x_rec[:, i], expected_acts @ w["W_dec"] + w["b_dec"])

    def bad_fetch(run):
        weights, config = fetch(run)
        return {**weights, "W_enc": weights["W_enc"].T}, config

    with pytest.raises(CheckpointError, match="published format"):
        load_published_autoencoder(bad_fetch)
