"""Write checkpoints/bundled/MODEL_CARD.md from the training records and the labelled features.

    python -m scripts.model_card

Every number comes from the JSON files the training scripts wrote (model_config.json,
saes_config.json), or is measured here. Every labelled latent (feature_labels.json: a label written by a
person after reading the contexts, and the class of tokens it claims, in a form a program can test) is
measured over every held-out token: its precision (the share of its firings, and of its activation, on the
class) and its recall (the share of the class it fires on). Its strongest contexts and some random ones
are printed beside it, so a reader can judge the label.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from solutions.interpretation import (
    LatentActivations,
    format_context,
    label_precision_recall,
    token_class,
    top_examples,
)
from utils.corpus import stream_to_rows
from utils.loading import (
    BUNDLED_DIR,
    HELD_OUT_FILE,
    TRANSCODER_FILES,
    load_autoencoder,
    load_model,
    load_tokenizer,
    load_tokens,
)

HELD_OUT_SEQUENCES = 512  # 65,536 tokens: the held-out measurements of the SAEs and the transcoder
HOLDS = 0.7  # a label "holds" when at least this share of the latent's firings are on its class


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
        *([("KL divergence score (1 - KL with the SAE / KL with the MLP zeroed)",
             [pct(x) for x in h["kl_divergence_score"]])] if "kl_divergence_score" in h else []),
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
    topk = a.get("kind") == "topk"
    kind = (f"**TopK SAEs** (`TopKAutoEncoder`, k = {a['k']}: each token keeps its {a['k']} largest latents, so"
            f" L0 ≤ {a['k']} by construction, and the loss is the reconstruction error alone)" if topk
            else f"L1 SAEs (section 2's `AutoEncoder`, L1 coefficient {a['l1_coeff']})")
    lines = [
        "## The SAEs",
        "",
        f"Two SAEs, **A** and **B**, on `{s['hook_name']}` ({a['n_input_ae']} → {a['n_hidden_ae']} latents,"
        f" {a['n_hidden_ae'] // a['n_input_ae']} per neuron): {kind}, stored as one SAE with `n_instances=2`."
        f" Trained together by section 2's `optimize` on the same activations of the training split, they differ"
        f" only in their random initialisation and resampling draws. Adam at lr {t['lr']},"
        f" {t['steps']:,} steps of {t['batch_size']:,} activations ({t['tokens']:,} tokens), with Anthropic's"
        f" resampling of latents silent for {t['resample_window']} steps"
        + (f" ({t['resampled_latents']:,} latents resampled in all)" if t["resampled_latents"] else
           " (no latent was ever silent that long, so none was resampled)")
        + f", seed {t['seed']}: {t['seconds'] / 60:.1f} minutes on {where(t)}.",
        "",
    ]
    if topk:
        lines += [
            "**Why TopK.** The first bundled SAEs were L1 SAEs with L0 ≈ 218: faithful, but far denser than",
            "published SAEs, and most latents' labels held for a small share of their firings. At the sparsity",
            "wanted here (L0 15-40), L1 training on this model lost most of its dictionary to dead latents (in a",
            "2-million-token trial with resampling, an L1 coefficient of 1.5e-3 gave L0 44 with 61% of latents",
            "dead), while a TopK SAE sets L0 directly and keeps almost every latent alive. Section 3's",
            "exercises work on either: a TopK SAE has the same parameters, and a `forward` with the same inputs"
            " and outputs.",
            "",
        ]
    lines += [
        f"Measured on {h['tokens']:,} held-out tokens (the 512 sequences section 3 uses), with the stored"
        f" float16 weights. Without the MLP (zero-ablated) the loss is {h['loss_zero_ablation']:.4f} nats;"
        f" with it, {h['loss_clean']:.4f}. The activations' mean square is {h['mean_squared_activation']:.5f}.",
        "",
        "| measure | A | B |",
        "|---|---|---|",
        *[f"| {name} | {values[0]} | {values[1]} |" for name, values in rows],
        "",
    ]
    if "without_resampling" in s:
        w = s["without_resampling"]["held_out"]
        lines += [
            f"**Does resampling matter?** The same training without resampling (`--resample-window 0`, same seed"
            f" and data): dead latents {pct(w['dead_fraction'][0])} / {pct(w['dead_fraction'][1])} (with"
            f" resampling: {pct(h['dead_fraction'][0])} / {pct(h['dead_fraction'][1])}), loss recovered"
            f" {pct(w['loss_recovered'][0])} / {pct(w['loss_recovered'][1])}, explained variance"
            f" {pct(w['explained_variance'][0])} / {pct(w['explained_variance'][1])}. For these TopK SAEs it"
            " makes no real difference: few latents die either way.",
            "",
        ]
    return lines


def held_out_tokens(directory: Path) -> torch.Tensor:
    """Every held-out token (the bundle's held_out_tokens.npy), in the rows of 128 that section 3 uses (its
    512 sequences are the first rows)."""
    stream = np.load(directory / HELD_OUT_FILE)
    n_rows = len(stream_to_rows(stream, 128, load_tokenizer(directory).bos_token_id, seed=0))
    return load_tokens(n_rows * 128, directory=directory)


def features_section(labels: list[dict], directory: Path) -> list[str]:
    model, sae = load_model(device="cpu", directory=directory), load_autoencoder(device="cpu", directory=directory)
    tokens = held_out_tokens(directory)
    activations = {name: LatentActivations(tokens, model, sae, instance_idx=i) for i, name in enumerate("AB")
                   if any(item["sae"] == name for item in labels)}
    measured = []
    for item in labels:
        acts = activations[item["sae"]][item["latent"]]
        in_class = token_class(tokens, model, **item["class"])
        measured.append((item, acts, in_class, label_precision_recall(acts, in_class)))
    lines = [
        "## Latents with a label",
        "",
        f"Each label was written by a person after reading the latent's contexts, together with the class of"
        f" tokens it claims (`class` in `feature_labels.json`: the token, and where given a pattern the preceding"
        f" text must match). Each is then measured over **all {tokens.numel():,} held-out tokens**"
        f" ({len(tokens):,} sequences of {tokens.shape[1]}):",
        "",
        "- **precision**: the share of the latent's firings on the class; **by activation**: the same, each firing",
        "  weighed by its activation;",
        "- **recall**: the share of the class's tokens on which the latent fires.",
        "",
        f"A label **holds** here when its precision is at least {HOLDS}. Labels are of SAE A.",
        "",
        "| latent | label | firings | class tokens | precision | by activation | recall | holds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for item, acts, in_class, r in measured:
        lines.append(f"| {item['sae']} {item['latent']} | {item['label']} | {int((acts > 0).sum()):,} |"
                     f" {int(in_class.sum()):,} | {pct(r['precision'])} | {pct(r['mass_precision'])} |"
                     f" {pct(r['recall'])} | {'yes' if r['precision'] >= HOLDS else '**no**'} |")
    lines += [
        "",
        "Below, each latent's five strongest contexts and five of its firings drawn at random (where it usually",
        "fires): the token in [[brackets]] is where it fires, ⏎ is a newline, ⟨BOS⟩ the start of a sequence.",
        "",
    ]
    generator = torch.Generator().manual_seed(0)
    for item, acts, _, _ in measured:
        indices, values = top_examples(acts, 5)
        fired = acts.flatten().nonzero().squeeze(-1)
        pick = fired[torch.randperm(len(fired), generator=generator)[:5]]
        lines += [f"### SAE {item['sae']}, latent {item['latent']}: {item['label']}", ""]
        if item.get("note"):
            lines += [item["note"], ""]
        lines += ["```", "strongest:"]
        lines += [f"{v:6.2f}  {format_context(tokens, model, int(row), int(pos))}"
                  for (row, pos), v in zip(indices.tolist(), values.tolist(), strict=True)]
        lines += ["at random:"]
        lines += [f"{float(acts.flatten()[i]):6.2f}  {format_context(tokens, model, *divmod(int(i), tokens.shape[1]))}"
                  for i in pick.tolist()]
        lines += ["```", ""]
    return lines


def transcoder_section(r: dict) -> list[str]:
    a, t, h = r["architecture"], r["training"], r["held_out"]
    return [
        "## The transcoder",
        "",
        f"A **skip transcoder** for the model's MLP (section 6; `solutions.circuits.Transcoder`): it reads"
        f" `{r['hooks']['input']}` (ln2's output before its weight and bias) and predicts `{r['hooks']['output']}`"
        f" through {a['d_hidden']:,} latents, TopK with k = {a['k']}, plus a linear skip connection"
        f" ({'present' if a['skip'] else 'absent'}). Trained by `python -m scripts.train_transcoder`:"
        f" Adam at lr {t['lr']} with a {t['warmup_steps']}-step warm-up and a linear decay over the last 20%"
        f" of the steps, decoder rows kept at unit norm, {t['steps']:,} steps of {t['batch_size']:,} tokens"
        f" ({t['tokens']:,} tokens), seed {t['seed']}: {t['seconds'] / 60:.1f} minutes on {where(t)}. Stored in"
        " float16.",
        "",
        f"**Dead latents.** {pct(h['dead_fraction'])} of the latents never fire on the held-out tokens below. Every"
        " recipe tried lost latents steadily during training, and neither fix tried (AuxK, Gao et al.'s loss for dead"
        " latents, at k_aux 256 and weight 1/32; unit decoder rows) stopped it: the script's docstring gives the"
        " shares. Why they die here is not established. The live latents are what section 6's graphs use; a"
        " dead latent is never a node.",
        "",
        f"Measured on the same {HELD_OUT_SEQUENCES} held-out sequences as the SAEs, with the stored weights:",
        "",
        "| measure | transcoder |",
        "|---|---|",
        f"| cross-entropy loss recovered (the transcoder in place of the MLP) | {pct(h['loss_recovered'])} |",
        f"| loss with the transcoder (nats; clean {h['loss_clean']:.4f}, MLP zero-ablated"
        f" {h['loss_mlp_ablated']:.4f}) |"
        f" {h['loss_replaced']:.4f} |",
        f"| explained variance of the MLP's output | {pct(h['explained_variance'])} |",
        f"| L0 (latents firing per token) | {h['l0']:.1f} |",
        f"| dead latents (never fire on these tokens) | {pct(h['dead_fraction'])} |",
        "",
        "A transcoder is not the MLP: what it misses is the error node of section 6's attribution graphs,",
        "whose size, and its part in a logit, section 6 prints.",
        "",
    ]


LIMITATIONS = [
    "## Limitations",
    "",
    "- **Labels are about tokens.** Most legible latents of a 1-layer model of source code respond to one token,",
    "  often split by context (this SAE has several ` in` latents, several ` self` ones). A class written as",
    "  a token (and a pattern before it) can test such labels; what distinguishes the latents of one token is",
    "  described in the notes from the strongest contexts, and is not measured.",
    "- **`b_dec` starts at zero** (section 2's code); trainers often initialise it at the activations' mean or",
    "  geometric median. Section 3 measures where it ends.",
    "- **Short training.** 6 million tokens, an hour on 2 CPU cores: the reconstruction loss was still falling",
    "  slowly at the end (see `l2_loss_curve` in `saes_config.json`).",
    "- **A code model.** It has seen Python source only: its features are about code, docstrings and the",
    "  English in them. The corpus is Python 3.11's standard library. The held-out tokens are shipped",
    "  (`held_out_tokens.npy`), so every held-out number is the same on any Python; the training split is",
    "  read from the running Python's standard library, so an SAE trained on another Python sees slightly",
    "  different text.",
    "",
]


def main(directory: Path = BUNDLED_DIR) -> None:
    m = json.loads((directory / "model_config.json").read_text())
    s = json.loads((directory / "saes_config.json").read_text())
    labels = json.loads((directory / "feature_labels.json").read_text())
    lines = [
        "# Model card: the bundled model, SAEs and transcoder",
        "",
        "The offline stand-in for TransformerLens's `gelu-1l` and its two published SAEs, made by this repository's",
        "own scripts, with a transcoder for section 6. Sections 3 to 6 use it by default. Reproduce it with",
        "`python -m scripts.train_model`, then `python -m scripts.train_saes` and"
        " `python -m scripts.train_transcoder`,",
        "then `python -m scripts.model_card` (numbers change slightly with the machine). `SHA256SUMS` is checked",
        "whenever a file is loaded.",
        "",
        *model_section(m),
        *sae_section(s),
        *(transcoder_section(json.loads((directory / TRANSCODER_FILES[0]).read_text()))
          if (directory / TRANSCODER_FILES[0]).exists() else []),
        *features_section(labels, directory),
        *LIMITATIONS,
    ]
    (directory / "MODEL_CARD.md").write_text("\n".join(lines).rstrip() + "\n")
    print(f"wrote {directory / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
