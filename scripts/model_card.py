"""Write checkpoints/bundled/MODEL_CARD.md from the training records and the labelled features.

    python -m scripts.model_card

Every number comes from the JSON files the training scripts wrote (model_config.json,
saes_config.json); every labelled feature (feature_labels.json, written by a person after reading
the contexts) is shown with the held-out contexts it fires on most, recomputed here, so a reader
can judge each label.
"""

from __future__ import annotations

import json
from pathlib import Path

from solutions.interpretation import format_context, highest_activating_tokens
from utils.loading import BUNDLED_DIR, load_autoencoder, load_model, load_tokens

CONTEXT_TOKENS = 131_072  # held-out tokens searched for each labelled feature's top contexts


def where(t: dict) -> str:
    return f"{t['cpu_threads']} CPU threads" if t["device"] == "cpu" else t["device"]


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def model_section(m: dict) -> list[str]:
    a, t, c = m["architecture"], m["training"], m["corpus"]
    return [
        "## The model",
        "",
        f"A 1-layer transformer with a GELU MLP, a TransformerLens `HookedTransformer`: d_model {a['d_model']},"
        f" {a['n_heads']} heads of {a['d_head']}, d_mlp {a['d_mlp']}, context {a['n_ctx']}, LayerNorm, learned"
        f" positional embeddings, vocabulary {a['d_vocab']}: {m['parameters']:,} parameters, stored in float16.",
        "",
        f"- **Data**: {c['source']} ({c['train_files']} files, {c['train_tokens']:,} tokens, for training;"
        f" {c['test_files']} files, {c['test_tokens']:,} tokens, held out). A file is held out when a hash of its"
        " path says so (1 in 20), so the split is the same on every machine with the same Python.",
        f"- **Tokenizer**: byte-level BPE with {a['d_vocab']} tokens, trained on the training split; `<|endoftext|>`"
        " separates files and starts every sequence (BOS).",
        f"- **Training**: {t['steps']:,} steps of {t['batch_size']} sequences of {t['seq_len']} tokens"
        f" ({t['tokens']:,} tokens, about {t['tokens'] / c['train_tokens']:.1f} epochs), AdamW, peak learning rate"
        f" {t['lr']}, bfloat16 autocast, seed {t['seed']}: {t['seconds'] / 60:.1f} minutes on {where(t)}"
        f" ({t['tokens_per_second']:,} tokens/s), {t['total_seconds_with_tokenizer'] / 60:.1f} with the tokenizer.",
        f"- **Held-out loss**: **{m['held_out_loss']:.3f} nats** per token, against {m['unigram_loss']:.3f} for a"
        " unigram model (each token predicted by its frequency in the training split, ignoring context).",
        "",
    ]


def sae_section(s: dict) -> list[str]:
    a, t, h = s["architecture"], s["training"], s["held_out"]
    rows = [
        ("cross-entropy loss recovered", [pct(x) for x in h["loss_recovered"]]),
        ("loss with the SAE's reconstruction (nats)", [f"{x:.4f}" for x in h["loss_reconstructed"]]),
        ("reconstruction loss (mean squared error per neuron)", [f"{x:.5f}" for x in h["reconstruction_loss"]]),
        ("  as a share of the activations' mean square", [pct(x / h["mean_squared_activation"])
                                                           for x in h["reconstruction_loss"]]),
        ("cosine similarity, activation vs reconstruction", [f"{x:.3f}" for x in h["cosine_similarity"]]),
        ("explained variance", [pct(x) for x in h["explained_variance"]]),
        ("L0 (latents firing per token)", [f"{x:.1f}" for x in h["l0"]]),
        ("dead latents (never fire on these tokens)", [pct(x) for x in h["dead_fraction"]]),
        ("dense latents (fire on more than 10% of tokens)", [pct(x) for x in h["dense_fraction"]]),
    ]
    return [
        "## The SAEs",
        "",
        f"Two SAEs, **A** and **B**, on `{s['hook_name']}` ({a['n_input_ae']} → {a['n_hidden_ae']} latents,"
        f" 8 per neuron), stored as one section-2 `AutoEncoder` with `n_instances=2`. Trained together by"
        f" `AutoEncoder.optimize` on the same activations of the training split, they differ only in their"
        f" random initialisation and resampling draws. L1 coefficient {a['l1_coeff']}, Adam at lr {t['lr']},"
        f" {t['steps']:,} steps of {t['batch_size']:,} activations ({t['tokens']:,} tokens), with Anthropic's"
        f" resampling of latents silent for {t['resample_window']} steps"
        + (f" ({t['resampled_latents']:,} latents resampled in all)" if t["resampled_latents"] else
           " (no latent was ever silent that long, so none was resampled)")
        + f", seed {t['seed']}: {t['seconds'] / 60:.1f} minutes on {where(t)}.",
        "",
        f"Measured on {h['tokens']:,} held-out tokens (the 512 sequences section 3 uses), with the stored"
        f" float16 weights. Without the MLP (zero-ablated) the loss is {h['loss_zero_ablation']:.4f} nats;"
        f" with it, {h['loss_clean']:.4f}. The activations' mean square is {h['mean_squared_activation']:.5f}.",
        "",
        "| measure | A | B |",
        "|---|---|---|",
        *[f"| {name} | {values[0]} | {values[1]} |" for name, values in rows],
        "",
    ]


def features_section(labels: list[dict], directory: Path) -> list[str]:
    model, sae = load_model(device="cpu", directory=directory), load_autoencoder(device="cpu", directory=directory)
    tokens = load_tokens(CONTEXT_TOKENS, directory=directory)
    lines = [
        "## Features with a label",
        "",
        f"Each label was written by a person after reading the latent's top-activating contexts. They are"
        f" shown below, recomputed on {CONTEXT_TOKENS:,} held-out tokens: the token in [[brackets]] is where"
        " the latent fires, ⏎ is a newline. Judge each label by them.",
        "",
    ]
    for item in labels:
        sae_name, latent = item["sae"], item["latent"]
        indices, values = highest_activating_tokens(tokens, model, sae, latent, instance_idx="AB".index(sae_name), k=6)
        lines += [f"### SAE {sae_name}, latent {latent}: {item['label']}", "", "```"]
        lines += [f"{v:6.2f}  {format_context(tokens, model, int(r), int(p))}"
                  for (r, p), v in zip(indices.tolist(), values.tolist(), strict=True)]
        lines += ["```", ""]
    return lines


LIMITATIONS = [
    "## Limitations",
    "",
    "- **Dense SAEs.** An L0 above 200 is far denser than published SAEs (often 10 to 100). The L1 coefficient was",
    "  chosen so that one hour of CPU training reached high fidelity; a stronger one buys sparsity, usually more",
    "  readable latents, at the cost of reconstruction. Section 3 shows a consequence: most latents of the",
    "  bulk (firing on 3-10% of tokens) differ between the two seeds; most of those firing on 1-3% have a twin.",
    "- **`b_dec` starts at zero** (section 2's code) and does not end at the activations' mean; trainers often",
    "  initialise it at the mean or geometric median. Section 3 measures the gap.",
    "- **Short training.** 8 million tokens: enough for the reconstruction loss to level off (it moved by",
    "  about 5% over the last half), while the L1 term was still falling slowly (sparsity still improving).",
    "- **A code model.** It has seen Python source only: its features are about code, docstrings and the",
    "  English in them. The corpus is this Python's standard library, so other Python versions give slightly",
    "  different tokens (the numbers above are for Python 3.11, the pinned environment).",
    "",
]


def main(directory: Path = BUNDLED_DIR) -> None:
    m = json.loads((directory / "model_config.json").read_text())
    s = json.loads((directory / "saes_config.json").read_text())
    labels = json.loads((directory / "feature_labels.json").read_text())
    lines = [
        "# Model card: the bundled model and SAEs",
        "",
        "The offline stand-in for TransformerLens's `gelu-1l` and its two published SAEs, made by this repository's",
        "own scripts. Sections 3 and 4 use it by default. Reproduce it with `python -m scripts.train_model`, then",
        "`python -m scripts.train_saes`, then `python -m scripts.model_card` (numbers change slightly with the",
        "machine). `SHA256SUMS` is checked whenever a file is loaded.",
        "",
        *model_section(m),
        *sae_section(s),
        *features_section(labels, directory),
        *LIMITATIONS,
    ]
    (directory / "MODEL_CARD.md").write_text("\n".join(lines).rstrip() + "\n")
    print(f"wrote {directory / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
