"""Train the bundled SAEs "A" and "B" on the bundled model's MLP activations.

    python -m scripts.train_saes              # the committed SAEs: TopK, k=30 (about an hour on 2 CPU cores)
    python -m scripts.train_saes --smoke      # a few steps into a temporary folder (CI)
    python -m scripts.train_saes --architecture l1 --l1-coeff 1e-3 --steps 4000 --out .cache/l1   # L1 SAEs

Both SAEs are one SAE with n_instances=2 (a `TopKAutoEncoder`, or section 2's `AutoEncoder` for
--architecture l1), trained by section 2's `optimize` (with Anthropic's resampling, unless
--resample-window 0) on `blocks.0.mlp.hook_post` over the training split. They see the same
activations and differ only in their random initialisation and resampling draws (the seed), which
is what lets section 3 ask whether the features they find are real. Afterwards the script measures
them on held-out tokens (the numbers of the model card) and updates the checksums.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch

from solutions.llm_sae import MLP_HOOK, ActivationBuffer, summary_metrics
from solutions.sae import AutoEncoder, AutoEncoderConfig
from solutions.sae_variants import TopKAutoEncoder
from utils.device import get_device
from utils.loading import (
    BUNDLED_DIR,
    MODEL_FILES,
    ROOT,
    load_autoencoder,
    load_model,
    load_tokens,
    save_autoencoder,
    write_checksums,
)
from utils.seed import set_seed

DICT_MULT = 8  # latents per MLP neuron
HELD_OUT_TOKENS = 65_536  # the model card's measurements; section 3 measures the same tokens


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=BUNDLED_DIR, help="the folder holding the model")
    parser.add_argument("--steps", type=int, default=3_000)
    parser.add_argument("--batch-size", type=int, default=2048, help="activations (tokens) per step")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--l1-coeff", type=float, default=5e-4)
    parser.add_argument("--architecture", choices=("l1", "topk"), default="topk",
                        help="l1: section 2's AutoEncoder; topk: TopKAutoEncoder (--k latents per token)")
    parser.add_argument("--k", type=int, default=30, help="latents kept per token (topk only)")
    parser.add_argument("--resample-window", type=int, default=500, help="0: never resample")
    parser.add_argument("--resample-scale", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--smoke", action="store_true", help="a few steps, on a copy in .cache/smoke")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.smoke:  # work on a copy (in the cache folder): the committed files stay untouched
        copy = ROOT / ".cache" / "smoke" / "saes"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(args.out, copy)
        args.out, args.steps, args.batch_size, args.resample_window = copy, 6, 256, 3
    elif not (args.out / MODEL_FILES[0]).exists():  # a new folder: the model and tokenizer come from the bundle
        shutil.copytree(BUNDLED_DIR, args.out, dirs_exist_ok=True)
    device = get_device(args.device)
    set_seed(args.seed)
    model = load_model(device=device, directory=args.out)
    for p in model.parameters():
        p.requires_grad_(False)
    train_rows = load_tokens(10_000 * 128 if args.smoke else 8_000_000, split="train", directory=args.out)
    buffer = ActivationBuffer(model, train_rows, n_instances=2, seed=args.seed)

    d_mlp = model.cfg.d_mlp
    cfg = AutoEncoderConfig(n_instances=2, n_input_ae=d_mlp, n_hidden_ae=DICT_MULT * d_mlp, l1_coeff=args.l1_coeff)
    topk = args.architecture == "topk"
    sae = TopKAutoEncoder(cfg, k=args.k, device=device) if topk else AutoEncoder(cfg, device=device)
    started = time.time()
    log = sae.optimize(
        buffer, batch_size=args.batch_size, steps=args.steps, lr=args.lr, log_freq=100,
        neuron_resample_window=args.resample_window or None, neuron_resample_scale=args.resample_scale,
        resample_method="advanced", log_weights=False,
    )
    seconds = time.time() - started
    record = {
        "architecture": {"n_instances": 2, "n_input_ae": d_mlp, "n_hidden_ae": DICT_MULT * d_mlp,
                         "l1_coeff": args.l1_coeff, **({"kind": "topk", "k": args.k} if topk else {})},
        "hook_name": MLP_HOOK,
        "training": {
            "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
            "cpu_threads": torch.get_num_threads(),
            "seed": args.seed, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
            "tokens": args.steps * args.batch_size, "resample_window": args.resample_window,
            "resample_scale": args.resample_scale, "resample_method": "advanced", "seconds": round(seconds, 1),
            "steps_per_second": round(args.steps / seconds, 2),
            "resampled_latents": int(log["resampled"].sum()),
            "l2_loss_curve": [[int(s), [round(x, 5) for x in v.tolist()]]
                              for s, v in zip(log["steps"], log["l2_loss"], strict=True)],
        },
    }
    save_autoencoder(sae, args.out, record)
    write_checksums(args.out)
    # Measured on the saved (float16) weights, exactly as the notebooks load them, so that section 3's
    # numbers and the model card's agree.
    saved = load_autoencoder(device=device, directory=args.out)
    held_out = load_tokens(2_048 if args.smoke else HELD_OUT_TOKENS, directory=args.out).to(device)
    metrics = summary_metrics(held_out, model, saved)
    record["held_out"] = metrics
    save_autoencoder(saved, args.out, record)
    write_checksums(args.out)
    print(f"{args.steps} steps in {seconds:.0f} s; held-out: {metrics}; saved to {args.out}")
    assert all((args.out / name).exists() for name in MODEL_FILES)
    return record


if __name__ == "__main__":
    main()
