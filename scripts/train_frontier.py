"""Train small SAEs of several architectures and sparsities on the bundled model's MLP, and record
where each lands: the sparsity-fidelity frontier that section 4 draws.

    python -m scripts.train_frontier             # every point (about 40 minutes on 2 CPU cores)
    python -m scripts.train_frontier --smoke     # two tiny points into .cache (CI)
    python -m scripts.train_frontier --only topk   # redo one architecture, keep the others' points

Every point is trained exactly as section 4's exercise 6 trains the learner's own SAE (`train_sae`:
2,048 latents on `blocks.0.mlp.hook_post`, 600 steps of 1,024 activations from 400,000 training
tokens, Anthropic's resampling every 150 steps, seed 0), only the architecture and its sparsity dial
change: the L1 coefficient or TopK's k. (And the L1 SAE at 1.5e-3 once more
with simple resampling and with none, to see what Anthropic's resampling does on a language model.)
So the learner's SAE, trained with
the defaults, lands on the L1 curve, and moving its L1 coefficient moves it along that curve. Each point
is measured with section 3's `summary_metrics` on the first 128 held-out sequences, the tokens the
notebook measures the learner's SAE on.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from solutions.interpretation import train_sae
from solutions.llm_sae import MLP_HOOK, ActivationBuffer, get_mlp_activations, summary_metrics
from solutions.sae import AutoEncoder, AutoEncoderConfig
from solutions.sae_variants import JumpReLUAutoEncoder, TopKAutoEncoder
from utils.device import get_device
from utils.loading import BUNDLED_DIR, FRONTIER_FILE, ROOT, load_autoencoder, load_model, load_tokens, write_checksums

FRONTIER_EVAL_SEQUENCES = 128  # held-out sequences each point is measured on (16,384 tokens)
#: Each architecture's sparsity dial, strongest sparsity first.
SETTINGS = {
    "l1": [("l1_coeff", c) for c in (3e-3, 2e-3, 1.5e-3, 1e-3, 7.5e-4)],
    "topk": [("k", k) for k in (8, 16, 32, 64, 128)],
}
# JumpReLU is not on it. When the record was made, the course's JumpReLU stored its thresholds as
# logarithms. Its L0 penalty reaches only the thresholds (the step has no gradient for the pre-activations),
# and Adam moves a log-threshold by about lr per step: in 600 steps at lr 1e-3 a threshold could grow by at
# most e^0.6 from its start, so the dial hardly turned. Measured then: l0_coeff 1e-3 gave L0 293, and 3e-2
# still over 390 two-thirds of the way in. Section 2b's JumpReLU trains the threshold as itself and can
# steer to an L0 target (`train_point(..., "jumprelu", l0_target=...)`); it is not yet on the record.
RESAMPLING_L1 = 1.5e-3  # the L1 point trained again with simple resampling, and with none
RECIPE = {"hook_name": MLP_HOOK, "n_hidden_ae": 2048, "steps": 600, "batch_size": 1024, "lr": 1e-3,
          "train_tokens": 400_000, "seed": 0}


def train_point(model, tokens, recipe: dict, architecture: str, resample_method: str | None = "advanced",
                **dial) -> AutoEncoder:
    """One frontier point. L1 points are section 4's `train_sae` itself; the others repeat its steps
    (the same buffer, seed, resampling and optimiser) with another class, or another resampling."""
    args = {k: recipe[k] for k in ("n_hidden_ae", "steps", "batch_size", "lr", "seed")}
    if architecture == "l1" and resample_method == "advanced":
        return train_sae(model, tokens, recipe["hook_name"], l1_coeff=dial["l1_coeff"], **args)
    buffer = ActivationBuffer(model, tokens, 1, recipe["hook_name"], seed=args["seed"])
    d_in = get_mlp_activations(tokens[:1], model, 1, recipe["hook_name"]).shape[-1]
    torch.manual_seed(args["seed"])
    cfg = AutoEncoderConfig(n_instances=1, n_input_ae=d_in, n_hidden_ae=args["n_hidden_ae"],
                            l1_coeff=dial.get("l1_coeff", 0.5))
    device = next(model.parameters()).device
    if architecture == "l1":
        sae = AutoEncoder(cfg, device=device)
    elif architecture == "topk":
        sae = TopKAutoEncoder(cfg, k=dial["k"], device=device)
    else:
        sae = JumpReLUAutoEncoder(cfg, l0_coeff=dial.get("l0_coeff", 1e-3), l0_target=dial.get("l0_target"),
                                  device=device)
    steps = args["steps"]
    sae.optimize(buffer, batch_size=args["batch_size"], steps=steps, lr=args["lr"],
                 neuron_resample_window=max(1, steps // 4) if resample_method else None,
                 resample_method=resample_method or "advanced", log_weights=False)
    return sae


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=BUNDLED_DIR / FRONTIER_FILE)
    parser.add_argument("--only", choices=(*SETTINGS, "resampling"), nargs="+",  # JumpReLU: see SETTINGS
                        help="train these architectures (or the resampling comparison) only, keep the rest")
    parser.add_argument("--device", default=None)
    parser.add_argument("--smoke", action="store_true", help="two points, 6 steps each, into .cache/smoke")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    recipe = dict(RECIPE)
    settings = {arch: dials for arch, dials in SETTINGS.items() if args.only is None or arch in args.only}
    old = json.loads(args.out.read_text()) if args.out.exists() and args.only else {"points": []}
    if args.smoke:
        args.out = ROOT / ".cache" / "smoke" / FRONTIER_FILE
        recipe.update(steps=6, train_tokens=20_000, n_hidden_ae=256)
        settings = {"l1": SETTINGS["l1"][:1], "topk": SETTINGS["topk"][:1]}
    device = get_device(args.device)
    model = load_model(device=device)
    model.requires_grad_(False)
    train_tokens = load_tokens(recipe["train_tokens"], seq_len=128, split="train", tokenizer=model.tokenizer)
    eval_tokens = load_tokens(65_536, seq_len=128, split="test", tokenizer=model.tokenizer)
    eval_tokens = eval_tokens[: 4 if args.smoke else FRONTIER_EVAL_SEQUENCES].to(device)

    points = [p for p in old["points"] if p["architecture"] not in settings]
    for architecture, dials in settings.items():
        for name, value in dials:
            started = time.time()
            sae = train_point(model, train_tokens, recipe, architecture, **{name: value})
            seconds = time.time() - started
            sae.requires_grad_(False)
            with torch.no_grad():
                metrics = summary_metrics(eval_tokens, model, sae)
            point = {"architecture": architecture, name: value, "seconds": round(seconds, 1),
                     **{k: (v[0] if isinstance(v, list) else v) for k, v in metrics.items()}}
            points.append(point)
            print(json.dumps(point), flush=True)
    # Resampling on the language model: the L1 point at RESAMPLING_L1 again, with simple resampling and with none.
    resampling = old.get("resampling_l1")
    if not args.smoke and (args.only is None or "resampling" in args.only):
        resampling = {"l1_coeff": RESAMPLING_L1}
        for method in ("simple", None):
            sae = train_point(model, train_tokens, recipe, "l1", resample_method=method, l1_coeff=RESAMPLING_L1)
            sae.requires_grad_(False)
            with torch.no_grad():
                metrics = summary_metrics(eval_tokens, model, sae)
            resampling[method or "none"] = {k: (v[0] if isinstance(v, list) else v) for k, v in metrics.items()}
            print(method, json.dumps(resampling[method or "none"]), flush=True)
    # The bundled SAEs (4,096 latents, 6.1M training tokens), measured on the same tokens, for comparison.
    with torch.no_grad():
        bundled = summary_metrics(eval_tokens, model, load_autoencoder(device=device))
    bundled = [{k: (v[i] if isinstance(v, list) else v) for k, v in bundled.items()} for i in range(2)]
    record = {"recipe": recipe, "eval_sequences": FRONTIER_EVAL_SEQUENCES, "bundled": bundled,
              "device": str(device), "cpu_threads": torch.get_num_threads(), "points": points,
              **({"resampling_l1": resampling} if resampling else {})}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    if not args.smoke:
        write_checksums(args.out.parent)
    return record


if __name__ == "__main__":
    main()
