"""Train the bundled skip transcoder for the bundled model's MLP (section 6).

    python -m scripts.train_transcoder            # the committed transcoder (about an hour on 2 CPU cores)
    python -m scripts.train_transcoder --smoke    # a few steps into a temporary folder (CI)

The transcoder (`solutions.circuits.Transcoder`: TopK, with a linear skip connection) reads the MLP's
input, `blocks.0.ln2.hook_normalized`, and predicts its output, `blocks.0.hook_mlp_out`, over the
training split, with Adam, a learning-rate warm-up and a linear decay, its decoder rows kept at unit
norm. Every recipe tried loses latents steadily, and neither fix tried stops it: the share of latents
silent for the last 100 steps was 20% at step 1,581 with free decoder norms, 30% at step 1,708 with
free norms and AuxK (k_aux 256, weight 1/32; `--aux-k` keeps the option), and 30% at step 1,534 with
unit decoder rows, the committed recipe. The model card gives the dead latents on held-out tokens.
Afterwards the script measures
it on held-out tokens with the stored float16 weights (the numbers of the model card: the loss when it
replaces the MLP, the explained variance of the MLP's output, L0, dead latents) and updates the checksums.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch

from solutions.circuits import (
    MLP_IN_HOOK,
    MLP_OUT_HOOK,
    PairedActivationBuffer,
    Transcoder,
    TranscoderConfig,
    train_transcoder,
    transcoder_metrics,
)
from utils.device import get_device
from utils.loading import BUNDLED_DIR, ROOT, load_model, load_tokens, load_transcoder, save_transcoder, write_checksums
from utils.seed import set_seed

HELD_OUT_TOKENS = 65_536  # as the SAEs' model card


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=BUNDLED_DIR, help="the folder holding the model")
    parser.add_argument("--steps", type=int, default=3_000)
    parser.add_argument("--batch-size", type=int, default=2048, help="tokens per step")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--d-hidden", type=int, default=4096)
    parser.add_argument("--k", type=int, default=30, help="latents kept per token")
    parser.add_argument("--no-skip", action="store_true", help="leave out the linear skip connection")
    parser.add_argument("--aux-k", type=int, default=0, help="AuxK's latents for dead latents (0: no AuxK)")
    parser.add_argument("--dead-after", type=int, default=100, help="steps without firing before AuxK applies")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--smoke", action="store_true", help="a few steps, on a copy in .cache/smoke")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.smoke:  # work on a copy: the committed files stay untouched
        copy = ROOT / ".cache" / "smoke" / "transcoder"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(args.out, copy)
        args.out, args.steps, args.batch_size, args.d_hidden = copy, 6, 256, 512
    device = get_device(args.device)
    set_seed(args.seed)
    model = load_model(device=device, directory=args.out)
    for p in model.parameters():
        p.requires_grad_(False)
    rows = load_tokens(64 * 128 if args.smoke else 8_000_000, split="train", directory=args.out)
    buffer = PairedActivationBuffer(model, rows, seed=args.seed)
    cfg = TranscoderConfig(d_in=model.cfg.d_model, d_out=model.cfg.d_model, d_hidden=args.d_hidden, k=args.k,
                           skip=not args.no_skip)
    transcoder = Transcoder(cfg, device=device)
    started = time.time()
    log = train_transcoder(transcoder, buffer, batch_size=args.batch_size, steps=args.steps, lr=args.lr,
                           aux_k=args.aux_k, dead_after=args.dead_after)
    seconds = time.time() - started
    record = {
        "architecture": {"d_in": cfg.d_in, "d_out": cfg.d_out, "d_hidden": cfg.d_hidden, "k": cfg.k, "skip": cfg.skip},
        "hooks": {"input": MLP_IN_HOOK, "output": MLP_OUT_HOOK},
        "training": {
            "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
            "cpu_threads": torch.get_num_threads(), "seed": args.seed, "steps": args.steps,
            "batch_size": args.batch_size, "lr": args.lr, "warmup_steps": 100, "decay": "linear, last 20% of steps",
            "aux_k": args.aux_k, "aux_coeff": 1 / 32, "dead_after_steps": args.dead_after,
            "tokens": args.steps * args.batch_size, "seconds": round(seconds, 1),
            "steps_per_second": round(args.steps / seconds, 2),
            "loss_curve": list(zip(log["steps"], log["loss"], strict=True)),
            "alive_curve": list(zip(log["steps"], log["alive"], strict=True)),
        },
    }
    save_transcoder(transcoder, args.out, record)
    write_checksums(args.out)
    # Measured on the saved float16 weights, as section 6 loads them.
    saved = load_transcoder(device=device, directory=args.out)
    held_out = load_tokens(2_048 if args.smoke else HELD_OUT_TOKENS, directory=args.out).to(device)
    record["held_out"] = transcoder_metrics(model, saved, held_out)
    save_transcoder(saved, args.out, record)
    write_checksums(args.out)
    print(f"{args.steps} steps in {seconds:.0f} s; held-out: {record['held_out']}; saved to {args.out}")
    return record


if __name__ == "__main__":
    main()
