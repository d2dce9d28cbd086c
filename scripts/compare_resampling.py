"""Simple against advanced (Anthropic's) resampling on section 2's toy model, over several seeds.

    python -m scripts.compare_resampling            # 8 seeds (about 20 minutes on one CPU core)
    python -m scripts.compare_resampling --seeds 24 --workers 2   # the record: 19 minutes on 2 cores
    python -m scripts.compare_resampling --smoke    # 1 seed, 200 steps, into .cache (CI)
    python -m scripts.compare_resampling --language-model   # the language-model record only (about 10 minutes)

One seed gives one toy model (8 instances, 5 features in 2 dimensions, p = 0.01) and one initial SAE per
method; each method then trains it for 10,000 steps with section 2's recipe (l1 0.2, lr 3e-3),
resampling every 1,000 steps the latents that did not fire in the last 400 (409,600 inputs). Advanced
resampling draws from a pool of 16 batches (16,384 inputs), and, to show what the pool does, from the
last batch alone. The table counts the instances that recover all five features (`feature_recovery`)
and, for the others, what they ended with (`failure_mode`). Section 2 prints the recorded result.

`--language-model` asks the same question of an L1 SAE on the bundled model's MLP, where the argument for
Anthropic's method is made: in 512 dimensions, does a random direction point at nothing? It trains one SAE
without resampling, resamples its rarest latents once by each method, trains each copy on the same
batches, and records what the resampled latents do right away and after (`language_model`).
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import time
from pathlib import Path

import torch

from solutions.llm_sae import MLP_HOOK, ActivationBuffer, summary_metrics
from solutions.sae import AutoEncoder, AutoEncoderConfig, feature_recovery, resample_pool
from solutions.toy_model import ToyModel, ToyModelConfig, optimize
from utils.loading import ROOT, load_model, load_tokens
from utils.seed import set_seed

RESULTS = ROOT / "checkpoints" / "resampling.json"  # a record, read by section 2
#: Section 2's own recipe (its `train_sae`), so that the notebook's single run is one draw of what is counted here.
SETTINGS = {"n_instances": 8, "n_features": 5, "n_hidden": 2, "feature_probability": 0.01, "steps": 10_000,
            "l1_coeff": 0.2, "lr": 3e-3, "neuron_resample_window": 1000, "dead_neuron_window": 400,
            "neuron_resample_scale": 0.5}
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


def recovered(model: ToyModel, seed: int, method: str | None, pool: int, steps: int) -> tuple[int, list[str]]:
    """Instances (of 8) whose SAE recovers all five features, for one seed and one resampling method, and
    what went wrong in each of the others (`failure_mode`)."""
    s = SETTINGS
    set_seed(seed)  # every method starts from the same SAE
    sae = AutoEncoder(AutoEncoderConfig(s["n_instances"], s["n_hidden"], s["n_features"], l1_coeff=s["l1_coeff"]))
    log = sae.optimize(model, steps=steps, lr=s["lr"],
                       neuron_resample_window=s["neuron_resample_window"] if method else None,
                       dead_neuron_window=s["dead_neuron_window"], neuron_resample_scale=s["neuron_resample_scale"],
                       resample_method=method or "advanced", resample_pool_batches=pool)
    failed = (feature_recovery(model, sae) < 1).nonzero().squeeze(-1).tolist()
    return s["n_instances"] - len(failed), [failure_mode(model, sae, log, inst, steps) for inst in failed]


FAILURE_MODES = ("a latent went silent after the last resampling", "a latent stayed silent",
                 "two latents share a feature", "a latent is aligned with no feature")


def failure_mode(model: ToyModel, sae: AutoEncoder, log: dict, inst: int, steps: int) -> str:
    """Why an instance missed a feature, read from the end of training: one of FAILURE_MODES.
    A latent counts as silent if it fired in none of the last 1,000 steps. With every latent alive and no
    two on one feature (cosine above 0.95), some latent has cosine at most 0.95 with every feature."""
    window = SETTINGS["neuron_resample_window"]
    # The step of the last resampling, as `optimize` schedules it (never in the final window); 0 if the run is
    # too short for one. The runs without resampling are cut at the same step.
    last_resampling = max((k * window - 1 for k in range(1, steps // window + 1) if k * window - 1 + window < steps),
                          default=0)
    active = log["frac_active"][:, inst]  # [time, d_hidden], each entry the last 100 steps' mean
    silent = active[-10:].sum(0) == 0
    if silent.any():
        fired_late = (active[log["steps"] > last_resampling + 100][:, silent] > 0).any()
        return FAILURE_MODES[0] if fired_late else FAILURE_MODES[1]
    features = model.W.detach()[inst].T  # [feat, hidden]
    features = torch.nn.functional.normalize(features[features.norm(dim=-1) > 0.5], dim=-1)
    cos = features @ sae.normalize_and_return_W_dec().detach()[inst].T  # [feat, d_hidden]
    return FAILURE_MODES[2] if ((cos > 0.95).sum(-1) > 1).any() else FAILURE_MODES[3]


def one_seed(seed: int, steps: int) -> dict[str, tuple[int, list[str]]]:
    """Every method's count and failure modes for one seed (a worker process runs this; results do not
    depend on which)."""
    torch.set_num_threads(1)  # a tiny model: one thread is fastest, and the result does not depend on it
    model = toy_model(seed, steps=steps)
    results = {name: recovered(model, seed, method, pool, steps) for name, (method, pool) in METHODS.items()}
    print(f"seed {seed}: " + ", ".join(f"{name} {n}/8" for name, (n, _) in results.items()), flush=True)
    return results


# ------------------------------------------------------------------------------------- language model
#: The L1 SAE of section 4's frontier at l1_coeff 1.5e-3, trained five times longer, without resampling.
#: Latents that fire fewer than `rare_below` times in `count_batches` x 1,024 training tokens (a frequency
#: under about 1e-5) are the ones resampled.
LM_SETTINGS = {"l1_coeff": 1.5e-3, "n_hidden_ae": 2048, "train_tokens": 400_000, "batch_size": 1024, "lr": 1e-3,
               "steps_before": 3000, "steps_after": 600, "count_batches": 400, "rare_below": 5,
               "probe_batches": 20, "neuron_resample_scale": 0.2, "resample_pool_batches": 16,
               "eval_sequences": 128, "seed": 0}
LM_SMOKE = {"n_hidden_ae": 256, "train_tokens": 20_000, "steps_before": 6, "steps_after": 6, "count_batches": 4,
            "probe_batches": 2, "resample_pool_batches": 2, "eval_sequences": 4,
            "rare_below": 10**9}  # every latent counts as rare, so that each method resamples something


def firing_counts(sae: AutoEncoder, buffer: ActivationBuffer, n_batches: int, batch_size: int) -> torch.Tensor:
    """How many of `n_batches` x `batch_size` tokens each latent fires on: [d_hidden]."""
    counts = torch.zeros(sae.cfg.n_hidden_ae)
    with torch.no_grad():
        for _ in range(n_batches):
            acts = sae(buffer(batch_size))[3][:, 0]  # [batch, d_hidden]
            counts += (acts > 0).sum(0).cpu()
    return counts


def lm_branch(base: AutoEncoder, method: str, rare: torch.Tensor, buffer_for, model, eval_tokens, s: dict) -> dict:
    """Resample `rare` latents of a copy of `base` by `method`, train it on, and measure."""
    sae = copy.deepcopy(base)
    n_rare = int(rare.sum())
    with torch.no_grad():
        # A one-step "window" of firing fractions in which exactly the rare latents show as dead.
        window = (~rare).float()[None, None].to(sae.W_enc.device)  # [window, inst, d_hidden]
        if method == "simple":
            sae.resample_neurons_simple(buffer_for(3)(s["batch_size"]), window, s["neuron_resample_scale"])
        elif method == "advanced":
            pool = resample_pool(buffer_for(3), s["batch_size"], s["resample_pool_batches"])
            sae.resample_neurons_advanced(pool, window, s["neuron_resample_scale"])
    tokens_probed = s["probe_batches"] * s["batch_size"]
    right_after = firing_counts(sae, buffer_for(4), s["probe_batches"], s["batch_size"])[rare] / tokens_probed
    torch.manual_seed(s["seed"])
    sae.optimize(buffer_for(2), batch_size=s["batch_size"], steps=s["steps_after"], lr=s["lr"], log_weights=False)
    after = firing_counts(sae, buffer_for(4), s["count_batches"], s["batch_size"])[rare] / (
        s["count_batches"] * s["batch_size"])
    sae.requires_grad_(False)
    with torch.no_grad():
        metrics = summary_metrics(eval_tokens, model, sae)

    def median(x: torch.Tensor, digits: int) -> float | None:
        return round(x.median().item(), digits) if len(x) else None

    return {
        "rare_latents": n_rare,
        "right_after": {"firing": int((right_after > 0).sum()), "median_frequency": median(right_after, 4)},
        "after_training": {"firing": int((after > 0).sum()), "median_frequency": median(after, 5),
                           "still_rare": int((after * s["count_batches"] * s["batch_size"] < s["rare_below"]).sum())},
        "held_out": {k: (v[0] if isinstance(v, list) else v) for k, v in metrics.items()},
    }


def language_model(smoke: bool = False) -> dict:
    """The language-model record: one SAE trained without resampling, then one resampling by each method."""
    s = {**LM_SETTINGS, **(LM_SMOKE if smoke else {})}
    model = load_model()
    model.requires_grad_(False)
    train_tokens = load_tokens(s["train_tokens"], seq_len=128, split="train", tokenizer=model.tokenizer)
    eval_tokens = load_tokens(65_536, seq_len=128, split="test", tokenizer=model.tokenizer)[: s["eval_sequences"]]

    def buffer_for(seed: int) -> ActivationBuffer:  # the same batches for every method, by seed
        return ActivationBuffer(model, train_tokens, 1, MLP_HOOK, seed=seed)

    torch.manual_seed(s["seed"])
    cfg = AutoEncoderConfig(n_instances=1, n_input_ae=model.cfg.d_mlp, n_hidden_ae=s["n_hidden_ae"],
                            l1_coeff=s["l1_coeff"])
    base = AutoEncoder(cfg, device=next(model.parameters()).device)
    base.optimize(buffer_for(s["seed"]), batch_size=s["batch_size"], steps=s["steps_before"], lr=s["lr"],
                  log_weights=False)
    counts = firing_counts(base, buffer_for(1), s["count_batches"], s["batch_size"])
    rare = counts < s["rare_below"]
    record = {"settings": s, "never_firing": int((counts == 0).sum()), "rare": int(rare.sum())}
    for method in ("none", "simple", "advanced"):
        record[method] = lm_branch(base, method, rare, buffer_for, model, eval_tokens, s)
        print(method, json.dumps(record[method]), flush=True)
    return record


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--workers", type=int, default=1, help="seeds run at once, one CPU core each")
    parser.add_argument("--language-model", action="store_true",
                        help="record the language-model comparison only, keeping the toy model's record")
    args = parser.parse_args(argv)
    out = ROOT / ".cache" / "smoke" / "resampling.json" if args.smoke else args.out
    if args.language_model:
        started = time.time()
        record = json.loads(out.read_text()) if out.exists() else {}
        record["language_model"] = {**language_model(smoke=args.smoke), "seconds": round(time.time() - started)}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=1) + "\n")
        return record
    steps = 200 if args.smoke else SETTINGS["steps"]
    seeds = range(1 if args.smoke else args.seeds)
    started = time.time()
    if args.workers > 1:
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            per_seed = pool.starmap(one_seed, [(seed, steps) for seed in seeds])
    else:
        per_seed = [one_seed(seed, steps) for seed in seeds]
    table = {name: [results[name][0] for results in per_seed] for name in METHODS}
    failures = {name: {mode: sum(results[name][1].count(mode) for results in per_seed) for mode in FAILURE_MODES}
                for name in METHODS}
    old = json.loads(out.read_text()) if out.exists() else {}
    record = {"settings": {**SETTINGS, "steps": steps}, "seeds": list(seeds), "instances_recovering_all": table,
              "failures": failures, "seconds": round(time.time() - started),
              **({"language_model": old["language_model"]} if "language_model" in old else {})}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    return record


if __name__ == "__main__":
    main()
