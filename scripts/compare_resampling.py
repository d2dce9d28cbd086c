"""Simple against advanced (Anthropic's) resampling on section 2's toy model, over several seeds.

    python -m scripts.compare_resampling            # 8 seeds (about 20 minutes on one CPU core)
    python -m scripts.compare_resampling --seeds 24 --workers 2   # the record: 26 minutes on 2 cores
    python -m scripts.compare_resampling --smoke    # 1 seed, 200 steps, into .cache (CI)

One seed gives one toy model (8 instances, 5 features in 2 dimensions, p = 0.01) and one initial SAE per
method; each method then trains it for 10,000 steps (l1 0.25, lr 1e-3), resampling every 2,500 steps
the latents that did not fire in the last 100. Advanced resampling draws from a pool of 16 batches
(16,384 inputs), and, to show what the pool does, from the last batch alone. The table counts the
instances that recover all five features (`feature_recovery`). Section 2 prints the recorded result.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from pathlib import Path

import torch

from solutions.sae import AutoEncoder, AutoEncoderConfig, feature_recovery
from solutions.toy_model import ToyModel, ToyModelConfig, optimize
from utils.loading import ROOT
from utils.seed import set_seed

RESULTS = ROOT / "checkpoints" / "resampling.json"  # a record, read by section 2
SETTINGS = {"n_instances": 8, "n_features": 5, "n_hidden": 2, "feature_probability": 0.01, "steps": 10_000,
            "l1_coeff": 0.25, "lr": 1e-3, "neuron_resample_window": 2500, "dead_neuron_window": 100,
            "neuron_resample_scale": 1.0}
#: name -> (resample_method, resample_pool_batches)
METHODS = {"none": (None, 1), "simple": ("simple", 1), "advanced, last batch": ("advanced", 1),
           "advanced, pool of 16 batches": ("advanced", 16)}


def toy_model(seed: int, steps: int = 10_000) -> ToyModel:
    s = SETTINGS
    set_seed(seed)
    model = ToyModel(ToyModelConfig(s["n_instances"], s["n_features"], s["n_hidden"]),
                     feature_probability=s["feature_probability"])
    optimize(model, steps=steps)
    return model


def recovered(model: ToyModel, seed: int, method: str | None, pool: int, steps: int) -> int:
    """Instances (of 8) whose SAE recovers all five features, for one seed and one resampling method."""
    s = SETTINGS
    set_seed(seed)  # every method starts from the same SAE
    sae = AutoEncoder(AutoEncoderConfig(s["n_instances"], s["n_hidden"], s["n_features"], l1_coeff=s["l1_coeff"]))
    sae.optimize(model, steps=steps, lr=s["lr"], neuron_resample_window=s["neuron_resample_window"] if method else None,
                 dead_neuron_window=s["dead_neuron_window"], neuron_resample_scale=s["neuron_resample_scale"],
                 resample_method=method or "advanced", resample_pool_batches=pool)
    return int((feature_recovery(model, sae) == 1).sum())


def one_seed(seed: int, steps: int) -> dict[str, int]:
    """Every method's count for one seed (a worker process runs this; results do not depend on which)."""
    torch.set_num_threads(1)  # a tiny model: one thread is fastest, and the result does not depend on it
    model = toy_model(seed, steps=steps)
    counts = {name: recovered(model, seed, method, pool, steps) for name, (method, pool) in METHODS.items()}
    print(f"seed {seed}: " + ", ".join(f"{name} {n}/8" for name, n in counts.items()), flush=True)
    return counts


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--workers", type=int, default=1, help="seeds run at once, one CPU core each")
    args = parser.parse_args(argv)
    steps = 200 if args.smoke else SETTINGS["steps"]
    seeds = range(1 if args.smoke else args.seeds)
    out = ROOT / ".cache" / "smoke" / "resampling.json" if args.smoke else args.out
    started = time.time()
    if args.workers > 1:
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            per_seed = pool.starmap(one_seed, [(seed, steps) for seed in seeds])
    else:
        per_seed = [one_seed(seed, steps) for seed in seeds]
    table = {name: [counts[name] for counts in per_seed] for name in METHODS}
    record = {"settings": {**SETTINGS, "steps": steps}, "seeds": list(seeds), "instances_recovering_all": table,
              "seconds": round(time.time() - started)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    return record


if __name__ == "__main__":
    main()
