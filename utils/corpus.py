"""The bundled model's corpus: the Python standard library's own source, read at run time.

Every Python installation carries it (code, docstrings and comments: code and English, like the data
of TransformerLens's `gelu-1l`), so the course needs no download and the repository stores no
third-party text. Its files are split by a hash of their path: about 5% are held out (`"test"`) and
never trained on, by the model or by the SAEs.

The text differs a little between Python versions, so token streams are cached per Python version
and per tokenizer (under the repository's `.cache/`), and the numbers the notebooks print are those
of the pinned environment.
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
from pathlib import Path

import numpy as np

from utils.progress import progress_bar

SPLITS = ("train", "test")
HELD_OUT_EVERY = 20  # one file in 20 (by path hash) is held out
END_OF_TEXT = "<|endoftext|>"  # separates files; also the BOS token every sequence starts with
CACHE_DIR = Path(__file__).resolve().parent.parent / ".cache" / "corpus"


def stdlib_dir() -> Path:
    """This Python's standard library (WORKBOOK_CORPUS_DIR overrides it: e.g. to train on another
    machine from a copy of the pinned Python's library, so the tokens are the same as here)."""
    return Path(os.environ.get("WORKBOOK_CORPUS_DIR") or sysconfig.get_paths()["stdlib"])


def corpus_files(split: str, root: Path | None = None) -> list[Path]:
    """The standard library's `.py` files in one split, in a fixed (sorted) order."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    root = root or stdlib_dir()
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts and "dist-packages" not in p.parts)
    if not files:
        raise FileNotFoundError(f"no Python source found under {root}: the corpus is the standard library's source")

    def held_out(path: Path) -> bool:
        digest = hashlib.sha256(path.relative_to(root).as_posix().encode()).hexdigest()
        return int(digest[:8], 16) % HELD_OUT_EVERY == 0

    return [p for p in files if held_out(p) == (split == "test")]


def read_text(path: Path) -> str:
    # A few test files hold deliberately undecodable bytes: replace them rather than skip the file.
    return path.read_text(encoding="utf-8", errors="replace")


def train_tokenizer(files: list[Path], out_dir: Path, vocab_size: int = 4096) -> None:
    """Train a byte-level BPE tokenizer (GPT-2 style) and save it as a folder.

    Saved and reloaded with `PreTrainedTokenizerFast.from_pretrained`, because TransformerLens
    mishandles the BOS token of a tokenizer object built in memory."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator((read_text(f) for f in files), trainer=trainer, length=len(files))
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=END_OF_TEXT, eos_token=END_OF_TEXT, pad_token=END_OF_TEXT,
        unk_token=END_OF_TEXT, model_max_length=10**6,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(out_dir)


def tokenize_files(tokenizer, files: list[Path], desc: str = "Tokenizing") -> np.ndarray:
    """All files' tokens in one stream, each file followed by END_OF_TEXT, as uint16."""
    # Files are separated by the tokenizer's end-of-text token (for the bundled one, END_OF_TEXT).
    eot = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    chunks = []
    for start in progress_bar(range(0, len(files), 64), desc=desc):
        batch = [read_text(f) for f in files[start : start + 64]]
        for ids in tokenizer(batch, add_special_tokens=False)["input_ids"]:
            chunks.append(np.asarray(ids + [eot], dtype=np.uint32 if len(tokenizer) > 65535 else np.uint16))
    return np.concatenate(chunks)


def token_stream(tokenizer, tokenizer_id: str, split: str) -> np.ndarray:
    """The split's token stream, tokenized once and cached (per Python version and tokenizer)."""
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    source = hashlib.sha256(str(stdlib_dir()).encode()).hexdigest()[:8]
    path = CACHE_DIR / f"{split}-{version}-{source}-{tokenizer_id[:12]}.npy"
    if path.exists():
        return np.load(path)
    stream = tokenize_files(tokenizer, corpus_files(split), desc=f"Tokenizing the {split} split (once)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, stream)
    tmp.replace(path)  # atomic: an interrupted run never leaves a truncated cache behind
    return stream


def stream_to_rows(stream: np.ndarray, seq_len: int, bos: int, seed: int = 0) -> np.ndarray:
    """Cut a token stream into rows of `seq_len`: BOS, then seq_len - 1 consecutive tokens.

    The rows are shuffled with a fixed seed, so the first rows mix many files."""
    body = seq_len - 1
    n_rows = len(stream) // body
    rows = np.empty((n_rows, seq_len), dtype=np.int64)
    rows[:, 0] = bos
    rows[:, 1:] = stream[: n_rows * body].reshape(n_rows, body)
    order = np.random.default_rng(seed).permutation(n_rows)
    return rows[order]
