"""Train the bundled language model: a 1-layer GELU transformer on the Python standard library.

    python -m scripts.train_model                 # the committed model (about 20 min on 2 CPU cores)
    python -m scripts.train_model --smoke         # a few steps into a temporary folder (CI)

Steps: train a 4096-token byte-level BPE tokenizer on the training split, tokenize it, train a
`HookedTransformer` on next-token prediction, measure its held-out loss against a unigram baseline,
and save everything (float16 weights, tokenizer folder, config with the figures, checksums) to
`checkpoints/bundled`. Then run `python -m scripts.train_saes`: SAEs are trained on this model.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from utils.corpus import END_OF_TEXT, corpus_files, stream_to_rows, tokenize_files, train_tokenizer
from utils.device import get_device
from utils.loading import BUNDLED_DIR, HELD_OUT_FILE, ROOT, build_model, load_tokenizer, save_model, write_checksums
from utils.progress import progress_bar
from utils.seed import set_seed

SMOKE_DIR = ROOT / ".cache" / "smoke" / "bundled"

# The shape of TransformerLens's gelu-1l, scaled down to train on a laptop CPU.
ARCHITECTURE = dict(
    n_layers=1, d_model=256, n_heads=4, d_head=64, d_mlp=512, d_vocab=4096, n_ctx=128,
    act_fn="gelu", normalization_type="LN", positional_embedding_type="standard", default_prepend_bos=True,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=BUNDLED_DIR)
    parser.add_argument("--tokens", type=int, default=20_000_000, help="training tokens (about 2 epochs)")
    parser.add_argument("--batch-size", type=int, default=32, help="sequences of 128 tokens per step")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--smoke", action="store_true", help="a few steps on a few files, into .cache/smoke")
    return parser.parse_args(argv)


def lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    """Linear warmup, then cosine decay to a tenth of the peak."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def held_out_loss(model, rows: np.ndarray, device, batch_size: int = 64) -> float:
    """Mean next-token cross-entropy (nats) over every predicted position of `rows`."""
    total, count = 0.0, 0
    for start in range(0, len(rows), batch_size):
        batch = torch.from_numpy(rows[start : start + batch_size]).to(device)
        loss = model(batch, return_type="loss", loss_per_token=True)  # [batch, seq-1]
        total += loss.double().sum().item()
        count += loss.numel()
    return total / count


def unigram_loss(train_stream: np.ndarray, test_rows: np.ndarray, vocab: int) -> float:
    """Cross-entropy of the held-out targets under the training split's token frequencies:
    what a model that ignores context entirely would score."""
    counts = np.bincount(train_stream, minlength=vocab).astype(np.float64) + 1.0  # add-one: no zero probability
    log_p = np.log(counts / counts.sum())
    return float(-log_p[test_rows[:, 1:]].mean())


def main(argv=None) -> Path:
    args = parse_args(argv)
    out = SMOKE_DIR if args.smoke else args.out  # a smoke run never touches the committed files
    out.mkdir(parents=True, exist_ok=True)
    device = get_device(args.device)
    set_seed(args.seed)
    train_files, test_files = corpus_files("train"), corpus_files("test")
    if args.smoke:
        train_files, test_files = train_files[:20], test_files[:5]

    started = time.time()
    train_tokenizer(train_files, out / "tokenizer", vocab_size=ARCHITECTURE["d_vocab"])
    tokenizer = load_tokenizer(out)  # reloaded from the folder, as the notebooks will
    train_stream = tokenize_files(tokenizer, train_files, desc="Tokenizing the train split")
    test_stream = tokenize_files(tokenizer, test_files, desc="Tokenizing the test split")
    np.save(out / HELD_OUT_FILE, test_stream)  # shipped: the same held-out tokens on every Python
    bos = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    seq_len = ARCHITECTURE["n_ctx"]
    test_rows = stream_to_rows(test_stream, seq_len, bos)
    print(f"corpus: {len(train_files)} train files ({len(train_stream):,} tokens),"
          f" {len(test_files)} test files ({len(test_stream):,} tokens)")

    model = build_model(ARCHITECTURE, tokenizer, device)
    n_params = sum(p.numel() for p in model.parameters())
    tokens_per_step = args.batch_size * seq_len
    steps = 20 if args.smoke else args.tokens // tokens_per_step
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and not name.startswith("pos_embed") else no_decay).append(p)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.lr, betas=(0.9, 0.95))
    # bfloat16 autocast: about twice as fast on CPU as float32 (measured), and the usual choice on GPUs.
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type in ("cpu", "cuda"))

    epoch, rows, row = 0, stream_to_rows(train_stream, seq_len, bos, seed=1000), 0
    curve = []
    train_started = time.time()
    bar = progress_bar(range(steps), desc="Training the model")
    for step in bar:
        if row + args.batch_size > len(rows):  # next epoch, reshuffled
            epoch, row = epoch + 1, 0
            rows = stream_to_rows(train_stream, seq_len, bos, seed=1000 + epoch)
        batch = torch.from_numpy(rows[row : row + args.batch_size]).to(device)
        row += args.batch_size
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, steps, args.lr, warmup=max(1, min(300, steps // 10)))
        with autocast:
            loss = model(batch, return_type="loss")
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss.item()} at step {step}: try a smaller --lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 100 == 0 or step + 1 == steps:
            curve.append((step, round(loss.item(), 4)))
            bar.set_postfix(loss=f"{loss.item():.3f}", epoch=epoch)
    train_seconds = time.time() - train_started

    model.eval()
    test_loss = held_out_loss(model, test_rows, device)
    baseline = unigram_loss(train_stream, test_rows, ARCHITECTURE["d_vocab"])
    log = {
        "architecture": ARCHITECTURE,
        "parameters": n_params,
        "training": {
            "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
            "cpu_threads": torch.get_num_threads(),
            "seed": args.seed, "steps": steps, "batch_size": args.batch_size, "seq_len": seq_len,
            "tokens": steps * tokens_per_step, "lr": args.lr, "seconds": round(train_seconds, 1),
            "tokens_per_second": round(steps * tokens_per_step / train_seconds),
            "total_seconds_with_tokenizer": round(time.time() - started, 1),
            "loss_curve": curve,
        },
        "corpus": {
            "source": "the Python standard library's .py files, read at run time",
            "train_files": len(train_files), "test_files": len(test_files),
            "train_tokens": int(len(train_stream)), "test_tokens": int(len(test_stream)),
        },
        "held_out_loss": round(test_loss, 4),
        "unigram_loss": round(baseline, 4),
    }
    save_model(model, out, log)
    write_checksums(out)
    print(f"held-out loss {test_loss:.3f} nats (unigram baseline {baseline:.3f}); {n_params:,} parameters;"
          f" {steps} steps in {train_seconds:.0f} s; saved to {out}")
    return out


if __name__ == "__main__":
    main()
