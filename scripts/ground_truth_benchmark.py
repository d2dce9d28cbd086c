"""Section 2b's architectures on the ground-truth benchmark (utils/ground_truth.py), over several seeds, two
training lengths, and two kinds of input (as sampled, and each rescaled to one length): the record behind
section 2b's table, so that its claims rest on more than one run.

    python -m scripts.ground_truth_benchmark            # the record (about 15 minutes on one core)
    python -m scripts.ground_truth_benchmark --inputs same_norm   # one kind of input, the rest of the record kept
    python -m scripts.ground_truth_benchmark --smoke    # 1 seed, 50 steps, into .cache (CI)

Every SAE has 512 latents on the 256 features in 32 dimensions of `GroundTruthConfig(seed=0)`, trains with
section 2's `optimize` (Adam, lr 3e-3, batches of 1,024, no resampling) from a stream of inputs of its own
(`train_and_evaluate`: the same inputs for every architecture at one seed), and is scored in eval mode on
16,384 fresh inputs. The sparsity is the same for all: 8 latents per input (TopK's k, BatchTopK's mean k,
JumpReLU's L0 target).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from solutions.sae import AutoEncoderConfig
from solutions.sae_variants import BatchTopKAutoEncoder, JumpReLUAutoEncoder, TopKAutoEncoder
from utils.ground_truth import GroundTruth, GroundTruthConfig, train_and_evaluate
from utils.loading import ROOT
from utils.seed import set_seed

RESULTS = ROOT / "checkpoints" / "ground_truth.json"  # a record, read by section 2b
#: Section 2b's own recipe (its table's), so that the notebook's single run is one draw of what is counted here.
SETTINGS = {"n_hidden_ae": 512, "l0": 8, "lr": 3e-3, "batch_size": 1024, "seeds": [0, 1, 2],
            "jumprelu_l0_coeff": 1e-3,
            # steps trained, for each kind of input: "raw" as sampled, "same_norm" each rescaled to one length
            "inputs": {"raw": [600, 3000], "same_norm": [600]}}
ARCHITECTURES = {
    "TopK": lambda cfg, s: TopKAutoEncoder(cfg, k=s["l0"]),
    "BatchTopK": lambda cfg, s: BatchTopKAutoEncoder(cfg, k=s["l0"]),
    "JumpReLU": lambda cfg, s: JumpReLUAutoEncoder(cfg, l0_coeff=s["jumprelu_l0_coeff"], l0_target=s["l0"]),
}


def run(settings: dict, out: Path, inputs: list[str]) -> dict:
    truth = GroundTruth(GroundTruthConfig(seed=0))
    cfg = AutoEncoderConfig(n_instances=1, n_input_ae=truth.cfg.d_model, n_hidden_ae=settings["n_hidden_ae"])
    old = json.loads(out.read_text()) if out.exists() else {"results": {}}
    record: dict = {"settings": settings, "results": {name: {kind: rows for kind, rows in by_kind.items()
                                                              if kind not in inputs}
                                                       for name, by_kind in old["results"].items()}}
    for name, make in ARCHITECTURES.items():
        for kind, steps in [(k, n) for k in inputs for n in settings["inputs"][k]]:
            rows = []
            for seed in settings["seeds"]:
                start = time.time()
                set_seed(seed)
                sae = make(cfg, settings)
                report = train_and_evaluate(truth, sae, steps=steps, lr=settings["lr"],
                                            batch_size=settings["batch_size"], seed=seed,
                                            same_norm=kind == "same_norm")
                # NaN (no parent's latent recovered, so no absorption to score) is written as null.
                rows.append({k: (None if math.isnan(v) else round(v, 4)) for k, v in report.items()})
                print(f"{name:>9} {kind:>9} {steps:>5} steps, seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in
                                                                          report.items()) +
                      f" ({time.time() - start:.0f} s)", flush=True)
            record["results"].setdefault(name, {}).setdefault(kind, {})[str(steps)] = rows
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="1 seed, 50 steps, written into .cache")
    parser.add_argument("--inputs", nargs="+", choices=list(SETTINGS["inputs"]), default=list(SETTINGS["inputs"]),
                        help="train on these kinds of input only, and keep the record's others")
    args = parser.parse_args(argv)
    if args.smoke:
        out = ROOT / ".cache" / "ground_truth_smoke.json"
        out.unlink(missing_ok=True)
        return run({**SETTINGS, "inputs": {"raw": [50], "same_norm": [50]}, "seeds": [0]}, out, args.inputs)
    return run(SETTINGS, RESULTS, args.inputs)


if __name__ == "__main__":
    main()
