"""Loading the language model, its tokens and its SAEs: bundled (offline, the default) or online.

    model = load_model()                      # the bundled 1-layer GELU HookedTransformer
    tokens = load_tokens(100_000)             # [n_tokens // 128, 128] held-out token ids, BOS first
    sae = load_autoencoder()                  # SAEs "A" and "B" as one AutoEncoder, n_instances=2

`load_model("gelu-1l")` and `load_autoencoder("gelu-1l")` fetch TransformerLens's model and Neel
Nanda's published SAEs (runs 1 and 2) instead: the original course's setup, which needs a network.

Every bundled file is checked against `checkpoints/bundled/SHA256SUMS` before it is used: a missing,
truncated or edited file stops with one line that says how to get it back.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import torch
from jaxtyping import Int
from torch import Tensor

from utils.device import get_device

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DIR = ROOT / "checkpoints" / "bundled"
CHECKSUMS = "SHA256SUMS"
MODEL_FILES = ("tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json", "model_config.json", "model.safetensors")
SAE_FILES = ("saes_config.json", "saes.safetensors")
TRANSCODER_FILES = ("transcoder_config.json", "transcoder.safetensors")  # section 6
#: The held-out split's token stream (the bundled tokenizer's ids, one file after another), shipped because the
#: corpus is the running Python's standard library: read from another Python (Colab's 3.12, say) it would hold
#: other files, and every held-out number in sections 3 and 4 would change. The training split is still read
#: from the running Python (only training sees it).
HELD_OUT_FILE = "held_out_tokens.npy"
#: The sparsity-fidelity frontier: small SAEs of several architectures, measured (scripts/train_frontier.py).
FRONTIER_FILE = "frontier.json"
ONLINE_MODELS = ("gelu-1l",)
ONLINE_SAE_RUNS = {"run1": 25, "run2": 47}  # Neel Nanda's published gelu-1l SAEs: file versions on the Hub
ONLINE_SAE_REPO = "NeelNanda/sparse_autoencoder"
RESTORE_HINT = (
    "restore it with `git checkout -- checkpoints/bundled`, or re-create the bundle with"
    " `python -m scripts.train_model` then `python -m scripts.train_saes`"
)


class CheckpointError(RuntimeError):
    """A bundled file is missing or damaged, or an online model is asked for offline. One line in
    a notebook: the message says what to do, and a traceback through torch would not help."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


# ---------------------------------------------------------------------------------------------
# Checksums
# ---------------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(directory: Path) -> None:
    """Record the sha256 of every bundled file present (run by the training scripts)."""
    names = MODEL_FILES + (HELD_OUT_FILE,) + SAE_FILES + (FRONTIER_FILE,) + TRANSCODER_FILES
    lines = [f"{sha256(directory / name)}  {name}" for name in names if (directory / name).exists()]
    (directory / CHECKSUMS).write_text("\n".join(lines) + "\n")


def verify_checksums(directory: Path, names: tuple[str, ...]) -> None:
    """Raise CheckpointError unless every named file exists and matches its recorded checksum."""
    sums_path = directory / CHECKSUMS
    if not sums_path.exists():
        raise CheckpointError(f"{sums_path} is missing: {RESTORE_HINT}")
    expected = dict(reversed(line.split(maxsplit=1)) for line in sums_path.read_text().splitlines() if line.strip())
    for name in names:
        path = directory / name
        if name not in expected:
            raise CheckpointError(f"{sums_path} has no checksum for {name}: {RESTORE_HINT}")
        if not path.exists():
            raise CheckpointError(f"{path} is missing: {RESTORE_HINT}")
        if sha256(path) != expected[name]:
            raise CheckpointError(
                f"{path} is damaged or from another version (its checksum does not match): {RESTORE_HINT}"
            )


# ---------------------------------------------------------------------------------------------
# The model and its tokenizer
# ---------------------------------------------------------------------------------------------


def quiet_transformer_lens():
    """TransformerLens 3.9 warns that HookedTransformer will move to TransformerBridge in 4.0:
    true, but not something a learner can act on, so the course silences that one warning."""
    warnings.filterwarnings("ignore", message="HookedTransformer is deprecated")
    # tqdm.auto (imported by transformers) warns in Jupyter when ipywidgets is missing; the course's
    # progress bars are plain text on purpose (utils/progress.py), so this warning is noise.
    warnings.filterwarnings("ignore", message="IProgress not found")


def load_tokenizer(directory: Path = BUNDLED_DIR):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(str(directory / "tokenizer"))


def model_config(config: dict, device: str | torch.device = "cpu"):
    from transformer_lens import HookedTransformerConfig

    return HookedTransformerConfig(**config, device=str(device))


def build_model(config: dict, tokenizer, device: str | torch.device = "cpu"):
    """A freshly initialised HookedTransformer of the bundled architecture (training starts here)."""
    from transformer_lens import HookedTransformer

    quiet_transformer_lens()
    return HookedTransformer(model_config(config, device), tokenizer=tokenizer, move_to_device=True)


def load_model(name: str = "bundled", device: str | torch.device | None = None, directory: Path = BUNDLED_DIR):
    """The course's language model, a 1-layer GELU `HookedTransformer`, in eval mode.

    name="bundled" (default): the project's own model, from `checkpoints/bundled` (offline).
    name="gelu-1l": TransformerLens's model of the original course (downloads; needs a network).
    """
    device = get_device(device)
    quiet_transformer_lens()
    if name in ONLINE_MODELS:
        require_network(name)
        from transformer_lens import HookedTransformer

        return HookedTransformer.from_pretrained(name, device=str(device)).eval()
    if name != "bundled":
        raise ValueError(f"unknown model {name!r}: use 'bundled' (offline, the default) or one of {ONLINE_MODELS}")
    from safetensors.torch import load_file

    verify_checksums(directory, MODEL_FILES)
    config = json.loads((directory / "model_config.json").read_text())
    model = build_model(config["architecture"], load_tokenizer(directory), device)
    weights = {k: v.float() for k, v in load_file(directory / "model.safetensors").items()}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    # Only the attention mask buffers are not stored: the model rebuilds them from its config.
    if unexpected or any(not k.endswith(("attn.mask", "attn.IGNORE")) for k in missing):
        raise CheckpointError(f"{directory / 'model.safetensors'} does not fit the model config: {RESTORE_HINT}")
    return model.eval()


def save_model(model, directory: Path, training_log: dict) -> None:
    """Store the model's parameters in float16 (half the size; the notebooks compute in float32)."""
    from safetensors.torch import save_file

    weights = {k: p.detach().to("cpu", torch.float16).contiguous() for k, p in model.named_parameters()}
    save_file(weights, directory / "model.safetensors")
    (directory / "model_config.json").write_text(json.dumps(training_log, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------


def load_tokens(
    n_tokens: int, seq_len: int = 128, split: str = "test", tokenizer=None, directory: Path = BUNDLED_DIR,
    seed: int = 0,
) -> Int[Tensor, "batch seq"]:
    """`n_tokens // seq_len` sequences of `seq_len` token ids from the standard library's source,
    each starting with BOS, shuffled with a fixed seed (the same tokens on every call).

    split="test" (default): files the model and SAEs never trained on. split="train": the rest.
    tokenizer: the bundled model's (default), or another model's, e.g. `model.tokenizer` of gelu-1l.
    With the bundled tokenizer the held-out tokens come from the bundle (`held_out_tokens.npy`), the same
    on every Python; otherwise the first call tokenizes the split and caches it under `.cache/corpus`.
    """
    import numpy as np

    from utils.corpus import SPLITS, stream_to_rows, token_stream

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    if seq_len < 2:
        raise ValueError(f"seq_len must be at least 2 (BOS and one token), not {seq_len}")
    if not isinstance(n_tokens, int) or n_tokens < seq_len:
        raise ValueError(f"n_tokens must be an int of at least seq_len={seq_len}, not {n_tokens!r}")
    if tokenizer is None:
        verify_checksums(directory, MODEL_FILES[:2])
        tokenizer = load_tokenizer(directory)
    if tokenizer.bos_token_id is None:
        raise ValueError("the tokenizer has no BOS token: every sequence starts with one")
    if split == "test" and (directory / HELD_OUT_FILE).exists() and _bundled_vocab(tokenizer, directory):
        verify_checksums(directory, (HELD_OUT_FILE,))
        stream = np.load(directory / HELD_OUT_FILE)
    else:
        fingerprint = hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode()).hexdigest()
        stream = token_stream(tokenizer, fingerprint, split)
    rows = stream_to_rows(stream, seq_len, tokenizer.bos_token_id, seed=seed)
    n_rows = n_tokens // seq_len
    if n_rows > len(rows):
        raise ValueError(
            f"the {split} split has {len(rows) * seq_len:,} tokens in rows of {seq_len}; asked for {n_tokens:,}"
        )
    return torch.from_numpy(rows[:n_rows].copy())


def _bundled_vocab(tokenizer, directory: Path) -> bool:
    """Whether `tokenizer` is the bundle's own (the same vocabulary), so the shipped held-out ids fit it."""
    return tokenizer.get_vocab() == load_tokenizer(directory).get_vocab()


# ---------------------------------------------------------------------------------------------
# SAEs
# ---------------------------------------------------------------------------------------------


def save_autoencoder(sae, directory: Path, training_log: dict) -> None:
    from safetensors.torch import save_file

    weights = {k: p.detach().to("cpu", torch.float16).contiguous() for k, p in sae.state_dict().items()}
    save_file(weights, directory / "saes.safetensors")
    (directory / "saes_config.json").write_text(json.dumps(training_log, indent=2) + "\n")


def load_autoencoder(name: str = "bundled", device: str | torch.device | None = None, directory: Path = BUNDLED_DIR):
    """Two SAEs on `blocks.0.mlp.hook_post`, stacked as one section-2 `AutoEncoder` (n_instances=2).

    name="bundled" (default): SAEs "A" and "B" trained on the bundled model (offline).
    name="gelu-1l": Neel Nanda's published SAEs for gelu-1l, runs 1 and 2 (downloads).
    """
    from safetensors.torch import load_file

    from solutions.sae import AutoEncoder, AutoEncoderConfig
    from solutions.sae_variants import TopKAutoEncoder

    device = get_device(device)
    if name in ONLINE_MODELS:
        require_network(name)
        return load_published_autoencoder(download_published_sae, device=device)
    if name != "bundled":
        raise ValueError(f"unknown SAE {name!r}: use 'bundled' (offline, the default) or one of {ONLINE_MODELS}")
    verify_checksums(directory, SAE_FILES)
    config = json.loads((directory / "saes_config.json").read_text())
    architecture = dict(config["architecture"])
    kind, k = architecture.pop("kind", "l1"), architecture.pop("k", None)
    cfg = AutoEncoderConfig(**architecture)
    sae = TopKAutoEncoder(cfg, k=k, device="cpu") if kind == "topk" else AutoEncoder(cfg, device="cpu")
    sae.load_state_dict({k: v.float() for k, v in load_file(directory / "saes.safetensors").items()})
    return sae.to(device).eval()


def save_transcoder(transcoder, directory: Path, record: dict) -> None:
    """The transcoder's weights in float16 (as the SAEs), and its record (config, training, measurements)."""
    from safetensors.torch import save_file

    weights = {k: p.detach().to("cpu", torch.float16).contiguous() for k, p in transcoder.state_dict().items()}
    save_file(weights, directory / TRANSCODER_FILES[1])
    (directory / TRANSCODER_FILES[0]).write_text(json.dumps(record, indent=2) + "\n")


def load_transcoder(device: str | torch.device | None = None, directory: Path = BUNDLED_DIR):
    """The bundled skip transcoder for the bundled model's MLP (section 6): a `solutions.circuits.Transcoder`
    from `blocks.0.ln2.hook_normalized` to `blocks.0.hook_mlp_out`, weights stored in float16."""
    from safetensors.torch import load_file

    from solutions.circuits import Transcoder, TranscoderConfig

    verify_checksums(directory, TRANSCODER_FILES)
    config = json.loads((directory / TRANSCODER_FILES[0]).read_text())
    transcoder = Transcoder(TranscoderConfig(**config["architecture"]), device="cpu")
    transcoder.load_state_dict({k: v.float() for k, v in load_file(directory / TRANSCODER_FILES[1]).items()})
    return transcoder.to(get_device(device)).eval()


def download_published_sae(run: str) -> tuple[dict[str, Tensor], dict]:
    """One of Neel Nanda's gelu-1l SAEs from the HuggingFace Hub: (state dict, config)."""
    from huggingface_hub import hf_hub_download

    version = ONLINE_SAE_RUNS[run]
    weights = torch.load(hf_hub_download(ONLINE_SAE_REPO, f"{version}.pt"), map_location="cpu", weights_only=True)
    config = json.loads(Path(hf_hub_download(ONLINE_SAE_REPO, f"{version}_cfg.json")).read_text())
    return weights, config


def load_published_autoencoder(fetch, runs: tuple[str, ...] = ("run1", "run2"), device: str | torch.device = "cpu"):
    """Stack published single SAEs into one AutoEncoder with an instance per run.

    The published format holds one SAE: W_enc [d_mlp, d_hidden], W_dec [d_hidden, d_mlp], b_enc
    [d_hidden], b_dec [d_mlp], and a config with d_mlp, dict_mult and l1_coeff. `fetch(run)` returns
    (state dict, config); it downloads in `load_autoencoder("gelu-1l")`, and reads a file in tests.
    """
    from solutions.sae import AutoEncoder, AutoEncoderConfig

    loaded = [fetch(run) for run in runs]
    configs = [config for _, config in loaded]
    d_mlp, d_hidden = configs[0]["d_mlp"], configs[0]["d_mlp"] * configs[0]["dict_mult"]
    for (weights, _), run in zip(loaded, runs, strict=True):
        expected = {"W_enc": (d_mlp, d_hidden), "W_dec": (d_hidden, d_mlp), "b_enc": (d_hidden,), "b_dec": (d_mlp,)}
        shapes = {k: tuple(weights[k].shape) for k in expected if k in weights}
        if shapes != expected:
            raise CheckpointError(f"SAE {run} has shapes {shapes}, expected {expected} (published format)")
    cfg = AutoEncoderConfig(n_instances=len(runs), n_input_ae=d_mlp, n_hidden_ae=d_hidden,
                            l1_coeff=configs[0].get("l1_coeff", 0.0))
    sae = AutoEncoder(cfg, device="cpu")
    stacked = {k: torch.stack([weights[k].float() for weights, _ in loaded])
               for k in ("W_enc", "W_dec", "b_enc", "b_dec")}
    sae.load_state_dict(stacked)
    return sae.to(device).eval()


def require_network(name: str) -> None:
    """Fail at once, in one line, when an online model is asked for without a network."""
    import socket

    if os.environ.get("HF_HUB_OFFLINE") == "1":
        reachable = False
    else:
        try:
            socket.create_connection(("huggingface.co", 443), timeout=3).close()
            reachable = True
        except OSError:
            reachable = False
    if not reachable:
        raise CheckpointError(
            f"{name!r} downloads from huggingface.co, which cannot be reached here (offline?):"
            " use the bundled default, load_model() / load_autoencoder(), which needs no network"
        )


def load_frontier(directory: Path = BUNDLED_DIR) -> dict:
    """The recorded sparsity-fidelity frontier (scripts/train_frontier.py): its training recipe and its
    points, each an architecture, its sparsity dial and section 3's summary metrics."""
    import json

    verify_checksums(directory, (FRONTIER_FILE,))
    return json.loads((directory / FRONTIER_FILE).read_text())
