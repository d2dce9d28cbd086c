"""Benchmarks, measured side by side on this machine: `python -m utils.bench` prints a table and
writes it to utils/BENCHMARKS.md (linked from the README). Not a test: timings are written down, never
asserted.

    python -m utils.bench            # everything (about 8 minutes on 2 cores)
    python -m utils.bench toy        # only the named parts: toy, busy, sae_step, activations, notebooks, grading
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # before tqdm is imported: it reads this once, at import

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).with_name("BENCHMARKS.md")
RECORD = Path(__file__).with_name("benchmarks.json")


def _steady_memory() -> None:
    """Keep freed memory in the process, as a long-running notebook kernel ends up doing.

    By default glibc serves large blocks with mmap and hands them back to the OS when they are freed,
    so the next allocation page-faults them in again: a fresh process then runs `run_with_cache` (64 MB
    of logits per call) about 25% slower than one that has already allocated large tensors, and a
    figure would depend on which parts ran before it. No mmap and no trimming make every part measure
    the steady state. (Linux with glibc only; elsewhere the allocator is left as it is.)"""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # from glibc's malloc.h
    libc.mallopt(M_MMAP_MAX, 0)
    libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_toy(steps: int = 300) -> list[tuple[str, str, str]]:
    """All instances in one tensor against a Python loop over one-instance models, same total work."""
    from solutions.toy_model import ToyModel, ToyModelConfig, optimize

    rows = []
    for n_inst, n_feat, n_hidden, batch in [(8, 5, 2, 1024), (8, 80, 20, 512)]:
        torch.manual_seed(0)
        stacked = ToyModel(ToyModelConfig(n_inst, n_feat, n_hidden), feature_probability=0.1, device="cpu")
        t_stacked = _timed(lambda m=stacked, b=batch: optimize(m, batch_size=b, steps=steps))
        singles = [ToyModel(ToyModelConfig(1, n_feat, n_hidden), feature_probability=0.1, device="cpu")
                   for _ in range(n_inst)]
        t_loop = _timed(lambda ms=singles, b=batch: [optimize(m, batch_size=b, steps=steps) for m in ms])
        rows.append((f"toy model {n_feat}→{n_hidden}, {n_inst} instances, batch {batch}",
                     f"{steps / t_stacked:,.0f} steps/s stacked vs {steps / t_loop:,.0f} looped",
                     f"{t_loop / t_stacked:.1f}× faster stacked"))
    return rows


def _busy_processes(n: int) -> list:
    """n processes that each keep one core busy (plain Python spinning), like another notebook or a build."""
    import subprocess

    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def bench_busy(steps: int = 1000) -> list[tuple[str, str, str]]:
    """Section 1's 5 -> 2 model (8 instances, batch 1024) trained on an idle machine and beside a competing CPU
    load of one and of two spinning processes: with the workbook's thread policy (one thread for toy models,
    utils/threads.py), and with torch's default of one thread per core, which the policy replaces."""
    from unittest import mock

    from solutions import toy_model
    from solutions.toy_model import ToyModel, ToyModelConfig, optimize

    def train(threads: int | None, n_steps: int, repeats: int = 3) -> float:
        """Seconds per `steps` steps, best of `repeats` runs of n_steps."""
        def once() -> float:
            torch.manual_seed(0)
            model = ToyModel(ToyModelConfig(8, 5, 2), feature_probability=0.1, device="cpu")
            return _timed(lambda: optimize(model, steps=n_steps)) * steps / n_steps
        if threads is None:  # the policy, as the notebooks run it
            return min(once() for _ in range(repeats))
        with mock.patch.object(toy_model, "threads_for", lambda work: threads):
            return min(once() for _ in range(repeats))

    train(None, steps // 10, repeats=1)  # warm up: the first run pays for allocations and lazy imports
    cores = os.cpu_count() or 1
    idle_policy, idle_default = train(None, steps), train(cores, steps)
    rows = [(f"toy model 5→2, {steps} steps, idle machine: the policy (1 thread)", f"{idle_policy:.1f} s",
             f"torch's default ({cores} threads): {idle_default:.1f} s")]
    for load in (1, 2):
        spinners = _busy_processes(load)
        try:
            time.sleep(1)
            busy_policy = train(None, steps)
            busy_default = train(cores, steps // 10)  # 10x fewer steps, scaled: it crawls
        finally:
            for p in spinners:
                p.kill()
                p.wait()
        fair = max(1.0, (load + 1) / cores)  # the slow-down an ideal scheduler gives one more busy thread
        rows.append((f"same, beside {load} spinning process{'es' if load > 1 else ''} ({cores} cores)",
                     f"{busy_policy:.1f} s = {busy_policy / idle_policy:.2f}× idle (goal ≤ 1.5×; fair share"
                     f" {fair:.2f}×)",
                     f"torch's default: {busy_default:.1f} s = {busy_default / idle_policy:.1f}× idle"))
    return rows


def bench_notebooks() -> list[tuple[str, str, str]]:
    """Each executed solution notebook, end to end, as `make build` runs it."""
    import nbformat

    from utils.build import SOLUTION_NOTEBOOKS, execute

    rows, total = [], 0.0
    for path in sorted(SOLUTION_NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        seconds = _timed(lambda nb=nb: execute(nb, SOLUTION_NOTEBOOKS))
        total += seconds
        rows.append((f"notebook {path.stem}", f"{seconds:.0f} s", "goal: under 180 s"))
    rows.append(("all notebooks together", f"{total:.0f} s", "goal: under 600 s"))
    return rows


def bench_grading(n: int = 30) -> list[tuple[str, str, str]]:
    """A class of n notebooks (complete, partial, wrong, broken, hostile), graded with 2 workers."""
    from tests import grade
    from tests.class_factory import CLASS, write_class

    names = [name for name in CLASS if name != "infinite_loop"]  # a hang costs its time limit, nothing else
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(n):
            written = write_class(Path(folder) / f"learner{i:02d}", names=[names[i % len(names)]])
            paths += list(written)
        seconds = _timed(lambda: grade.main([str(p) for p in paths] + ["--jobs", "2"]))
    return [(f"grading a class of {n} notebooks (2 workers)", f"{seconds:.0f} s", f"{seconds / n:.1f} s per notebook")]


def _per_second(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    return repeats / _timed(lambda: [fn() for _ in range(repeats)])


def bench_sae_step(steps: int = 5, rounds: int = 3) -> list[tuple[str, str, str]]:
    """One SAE training step at section 3's shape (d_mlp 512, 4096 latents, 2 SAEs, batch 4096), on
    real activations of the bundled model: ours, SAELens's standard SAE (two of them, one per SAE),
    and the matrix products alone (the floor any implementation pays). Interleaved rounds, best of
    each, so a change in the machine's load during the run does not favour whichever ran first."""
    from sae_lens.saes.sae import TrainStepInput
    from sae_lens.saes.standard_sae import StandardTrainingSAE, StandardTrainingSAEConfig

    from solutions.llm_sae import get_mlp_activations
    from solutions.sae import AutoEncoder, AutoEncoderConfig
    from utils.loading import load_model, load_tokens

    torch.manual_seed(0)
    model = load_model(device="cpu")
    batch, d_mlp, d_sae, n_inst = 4096, 512, 4096, 2
    h = get_mlp_activations(load_tokens(batch, split="train"), model, n_inst)  # [4096, 2, 512]

    ours = AutoEncoder(AutoEncoderConfig(n_inst, d_mlp, d_sae, l1_coeff=3e-3), device="cpu")
    optimizer = torch.optim.Adam(ours.parameters(), lr=1e-4)

    def our_step():
        loss = ours(h)[2]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    theirs = [StandardTrainingSAE(StandardTrainingSAEConfig(d_in=d_mlp, d_sae=d_sae, l1_coefficient=3e-3))
              for _ in range(n_inst)]
    their_optimizers = [torch.optim.Adam(sae.parameters(), lr=1e-4) for sae in theirs]

    def their_step():
        for i, (sae, opt) in enumerate(zip(theirs, their_optimizers, strict=True)):
            out = sae.training_forward_pass(TrainStepInput(sae_in=h[:, i].contiguous(), coefficients={"l1": 3e-3},
                                                           dead_neuron_mask=None, n_training_steps=100,
                                                           is_logging_step=False))
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()

    x, W_enc, W_dec = torch.randn(batch, d_mlp), torch.randn(d_mlp, d_sae), torch.randn(d_sae, d_mlp)
    z, d_out = torch.randn(batch, d_sae), torch.randn(batch, d_mlp)

    def gemms():  # per SAE, forward: encode, decode; backward: d_z, d_W_dec, d_W_enc
        for _ in range(n_inst):
            x @ W_enc, z @ W_dec, d_out @ W_dec.T, z.T @ d_out, x.T @ z

    paths = {"ours": our_step, "theirs": their_step, "bound": gemms}
    rates = {name: [] for name in paths}
    for round_ in range(rounds):
        for name, fn in paths.items():
            rates[name].append(_per_second(fn, steps, warmup=0 if round_ else 2))
    ours_rate, theirs_rate, gemm_rate = (max(rates[name]) for name in paths)
    return [
        ("SAE training step, 512→4096, 2 SAEs, batch 4096: ours",
         f"{ours_rate:.2f} steps/s ({ours_rate * batch:,.0f} tokens/s)",
         f"{ours_rate / theirs_rate:.2f}× SAELens; {ours_rate / gemm_rate:.0%} of the matrix-product bound"),
        ("same step, SAELens StandardTrainingSAE (one per SAE)", f"{theirs_rate:.2f} steps/s", ""),
        ("the same step's 10 matrix products alone (torch GEMM)", f"{gemm_rate:.2f} steps/s", "the bound"),
    ]


def bench_activations(batches: int = 8, rounds: int = 5) -> list[tuple[str, str, str]]:
    """Collecting blocks.0.mlp.hook_post for 4096 tokens (32 sequences) at a time: section 3's
    get_mlp_activations (one hook kept, stopping after block 0), collect_activations (block 0 with
    fused attention, 16 sequences per pass: what the activation buffer uses), and a run_with_cache that
    keeps everything, both as a learner would call it (all 32 sequences at once) and in passes of 16
    sequences like collect_activations (so the ratio is not the pass size's doing). The bound: the
    matrix products any forward pass up to hook_post must do (Q, K, V, O, attention, W_in), alone.
    (Measured with memory kept in the process, see _steady_memory: otherwise a fresh process's
    baseline pays page faults for its logits and the ratios read about 15% higher.)"""
    from solutions.llm_sae import MLP_HOOK, collect_activations, get_mlp_activations
    from utils.loading import load_model, load_tokens

    model = load_model(device="cpu")
    tokens = load_tokens(4096 * batches, split="train").reshape(batches, 32, 128)
    counter = iter(range(10**9))

    def next_tokens():
        return tokens[next(counter) % batches]

    def everything(sequences_per_pass: int):
        def run():
            with torch.no_grad():
                for chunk in next_tokens().split(sequences_per_pass):
                    _, cache = model.run_with_cache(chunk)
                    cache[MLP_HOOK]
        return run

    cfg, pass_tokens = model.cfg, 16 * 128
    x, W = torch.randn(pass_tokens, cfg.d_model), torch.randn(cfg.d_model, cfg.n_heads * cfg.d_head)
    W_in, b = torch.randn(cfg.d_model, cfg.d_mlp), torch.randn(cfg.d_model)
    q, k = torch.randn(16, cfg.n_heads, 128, cfg.d_head), torch.randn(16, cfg.n_heads, cfg.d_head, 128)
    pattern = torch.randn(16, cfg.n_heads, 128, 128)

    def matrix_products():  # per pass of 16 sequences, two passes per 4096 tokens
        for _ in range(2):
            for _ in range(4):  # Q, K, V (d_model -> heads), O (heads -> d_model); all square here
                torch.addmm(b, x, W)
            x @ W_in, q @ k, pattern @ q  # MLP input; attention scores; pattern times values

    paths = {"exercise": lambda: get_mlp_activations(next_tokens(), model, 2),
             "collect": lambda: collect_activations(next_tokens(), model),
             "full": everything(32), "full16": everything(16), "bound": matrix_products}
    rates = {name: [] for name in paths}
    for _ in range(rounds):  # interleaved rounds, best of each: the machine's load changes over a run
        for name, fn in paths.items():
            rates[name].append(_per_second(fn, batches) * 4096)
    best = {name: max(r) for name, r in rates.items()}

    def vs(name: str) -> str:
        ratio, same_passes = best[name] / best["full"], best[name] / best["full16"]
        return f"{ratio:.1f}× a full run_with_cache ({same_passes:.1f}× in passes of 16)"

    return [("collecting MLP activations: get_mlp_activations (the exercise)", f"{best['exercise']:,.0f} tokens/s",
             vs("exercise")),
            ("collecting MLP activations: collect_activations (the buffer's)", f"{best['collect']:,.0f} tokens/s",
             f"{vs('collect')}; {best['collect'] / best['bound']:.0%} of the matrix-product bound"),
            ("the matrix products of a forward pass up to hook_post, alone (torch GEMM)",
             f"{best['bound']:,.0f} tokens/s", f"the bound: {best['bound'] / best['full']:.1f}× a full run_with_cache"),
            ("a full run_with_cache (every activation kept), 32 sequences per call", f"{best['full']:,.0f} tokens/s",
             "the baseline"),
            ("the same full run_with_cache in passes of 16 sequences", f"{best['full16']:,.0f} tokens/s",
             f"{best['full16'] / best['full']:.2f}× the baseline")]


PARTS = {"toy": bench_toy, "busy": bench_busy, "sae_step": bench_sae_step, "activations": bench_activations,
         "notebooks": bench_notebooks, "grading": bench_grading}


def main(argv: list[str]) -> None:
    """Measure the named parts (default: all) and rewrite BENCHMARKS.md with them, keeping the last
    measurement of the parts not run this time (benchmarks.json holds every part's rows)."""
    sys.path.insert(0, str(ROOT))
    _steady_memory()
    unknown = [p for p in argv if p not in PARTS]
    if unknown:
        raise SystemExit(f"unknown part(s) {unknown}: choose from {list(PARTS)}")
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    for part in argv or list(PARTS):
        print(f"benchmarking {part} ...", flush=True)
        rows = PARTS[part]()
        record[part] = {"when": time.strftime("%Y-%m-%d"), "machine": machine, "rows": rows}
        print("\n".join(f"  {a}: {b}  {c}" for a, b, c in rows), flush=True)
    RECORD.write_text(json.dumps(record, indent=1) + "\n")
    table = ["| what | measured | compared | when |", "|---|---|---|---|"] + [
        f"| {a} | {b} | {c} | {record[part]['when']} |" for part in PARTS if part in record
        for a, b, c in record[part]["rows"]
    ]
    machines = sorted({r["machine"] for r in record.values()})
    OUT.write_text("\n".join([
        "# Benchmarks", "",
        f"Measured by `python -m utils.bench [part ...]` (parts: {', '.join(PARTS)}) on {'; '.join(machines)}.",
        "Each row's peer is measured in the same run, side by side.", "", *table, "",
    ]))
    print(f"\nwritten to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
