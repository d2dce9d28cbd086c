"""The training scripts run end to end (a few steps, on a few files: the real runs take an hour and
their results are committed), and never touch the committed bundle while doing so."""

from utils.loading import BUNDLED_DIR, CHECKSUMS, load_autoencoder, load_model


def test_training_scripts_smoke():
    from scripts import train_model, train_saes

    before = (BUNDLED_DIR / CHECKSUMS).read_text()
    out = train_model.main(["--smoke", "--device", "cpu"])
    model = load_model(device="cpu", directory=out)
    assert model.cfg.d_mlp == 512
    record = train_saes.main(["--smoke", "--out", str(out), "--device", "cpu"])
    assert set(record["held_out"]) >= {"loss_recovered", "l0", "dead_fraction", "explained_variance"}
    assert load_autoencoder(device="cpu", directory=out.parent / "saes").cfg.n_instances == 2
    assert (BUNDLED_DIR / CHECKSUMS).read_text() == before


def test_transcoder_script_smoke():
    from scripts import train_transcoder

    before = (BUNDLED_DIR / CHECKSUMS).read_text()
    record = train_transcoder.main(["--smoke", "--device", "cpu"])
    assert {"loss_recovered", "explained_variance", "l0", "dead_fraction"} <= set(record["held_out"])
    assert record["architecture"]["skip"] and record["training"]["steps"] == 6
    assert (BUNDLED_DIR / CHECKSUMS).read_text() == before


def test_frontier_and_resampling_scripts_smoke():
    from scripts import compare_resampling, train_frontier

    before = (BUNDLED_DIR / CHECKSUMS).read_text()
    record = train_frontier.main(["--smoke", "--device", "cpu"])
    assert {p["architecture"] for p in record["points"]} == {"l1", "topk"}
    assert all({"l0", "loss_recovered", "explained_variance"} <= set(p) for p in record["points"] + record["bundled"])
    table = compare_resampling.main(["--smoke"])["instances_recovering_all"]
    assert set(table) == set(compare_resampling.METHODS) and all(len(v) == 1 for v in table.values())
    lm = compare_resampling.main(["--smoke", "--language-model"])["language_model"]
    assert all(lm[method]["rare_latents"] == lm["rare"] > 0 for method in ("none", "simple", "advanced"))
    assert all({"l0", "loss_recovered", "explained_variance"} <= set(lm[m]["held_out"]) for m in ("none", "advanced"))
    assert (BUNDLED_DIR / CHECKSUMS).read_text() == before


def test_ground_truth_benchmark_script_smoke():
    from scripts import ground_truth_benchmark

    record = ground_truth_benchmark.main(["--smoke"])
    assert set(record["results"]) == set(ground_truth_benchmark.ARCHITECTURES)
    assert all(set(by_kind) == {"raw", "same_norm"} and len(by_kind["raw"]["50"]) == 1 and
               {"mcc", "recovered", "absorption", "l0", "dead"} <= set(by_kind["same_norm"]["50"][0])
               for by_kind in record["results"].values())


def test_the_ground_truth_record_is_section_2bs_recipe():
    """Section 2b's single run is one draw of what the record counts: the same settings in the notebook's code."""
    import json

    from scripts.ground_truth_benchmark import ARCHITECTURES, RESULTS, SETTINGS
    from utils.loading import ROOT

    record = json.loads(RESULTS.read_text())
    assert record["settings"] == SETTINGS and set(record["results"]) == set(ARCHITECTURES)
    for by_kind in record["results"].values():
        assert set(by_kind) == set(SETTINGS["inputs"])
        for kind, by_steps in by_kind.items():
            assert set(by_steps) == {str(n) for n in SETTINGS["inputs"][kind]}
            assert all(len(rows) == len(SETTINGS["seeds"]) for rows in by_steps.values())
    source = (ROOT / "notebooks" / "2b_sae_variants.py").read_text()
    s = SETTINGS
    recipe = (f"TopKAutoEncoder(cfg, k={s['l0']})", f"BatchTopKAutoEncoder(cfg, k={s['l0']})",
              f"JumpReLUAutoEncoder(cfg, l0_coeff={s['jumprelu_l0_coeff']:.0e}, l0_target={s['l0']})"
              .replace("e-0", "e-"),
              f"n_hidden_ae={s['n_hidden_ae']}", "train_and_evaluate(truth, trained[name], same_norm=True)")
    assert all(part in source for part in recipe), [part for part in recipe if part not in source]
    import inspect

    from utils.ground_truth import train_and_evaluate

    defaults = inspect.signature(train_and_evaluate).parameters
    assert defaults["steps"].default == s["inputs"]["same_norm"][0] and defaults["lr"].default == s["lr"]
    assert defaults["batch_size"].default == s["batch_size"]


def test_the_recorded_frontier_is_the_recipe_of_section_4s_own_sae():
    """The frontier's points were trained as section 4's exercise 6 trains the learner's SAE, so that the
    learner's point can be drawn on it."""
    import inspect

    from solutions.interpretation import train_sae
    from utils.loading import load_frontier

    frontier = load_frontier()
    recipe = frontier["recipe"]
    defaults = {k: v.default for k, v in inspect.signature(train_sae).parameters.items()}
    assert recipe["lr"] == defaults["lr"] and recipe["seed"] == defaults["seed"]
    notebook = (BUNDLED_DIR.parent.parent / "notebooks" / "4_feature_interpretation.py").read_text()
    assert (f"n_hidden_ae={recipe['n_hidden_ae']}, steps={recipe['steps']}, batch_size={recipe['batch_size']}"
            in notebook)
    assert f"load_tokens({recipe['train_tokens']:_}, seq_len=128, split=\"train\"" in notebook
    assert {p["architecture"] for p in frontier["points"]} == {"l1", "topk"}
    assert {"simple", "none"} <= set(frontier["resampling_l1"])


def test_section_2_quotes_the_resampling_record_as_recorded():
    """Section 2's prose quotes `checkpoints/resampling.json`, which `scripts/compare_resampling.py` wrote
    with its present settings: a new record, or new settings, must come with new prose."""
    import json

    import torch

    from scripts.compare_resampling import FAILURE_MODES, LM_SETTINGS, RESULTS, SETTINGS
    from utils.loading import ROOT

    record = json.loads(RESULTS.read_text())
    assert record["settings"] == SETTINGS and record["language_model"]["settings"] == LM_SETTINGS
    assert all(list(modes) == list(FAILURE_MODES) for modes in record["failures"].values())
    source = (ROOT / "notebooks" / "2_sae_training.py").read_text()
    # The record counts the notebook's own recipe, so that its single run is one more draw of it.
    s = SETTINGS
    lr = format(s["lr"], ".0e").replace("e-0", "e-")  # 3e-3, as the notebook writes it
    recipe = (f"n_hidden_ae={s['n_features']}, l1_coeff={s['l1_coeff']}", f"lr={lr}",
              f"neuron_resample_window={s['neuron_resample_window']} if resample_method else None,"
              f" dead_neuron_window={s['dead_neuron_window']}", f"neuron_resample_scale={s['neuron_resample_scale']}",
              f"def train_sae(resample_method=None, steps={s['steps']:_}")
    assert all(part in source for part in recipe), [part for part in recipe if part not in source]
    lines = source.splitlines()
    prose = " ".join(line.removeprefix("#").strip() for line in lines if line.startswith("#"))
    totals = {name: sum(counts) for name, counts in record["instances_recovering_all"].items()}
    lm = record["language_model"]
    n = 8 * len(record["seeds"])
    ends = {name: list(record["failures"][name].values()) for name in ("simple", "advanced, pool of 16 batches")}
    (late_s, stayed_s, shared_s, between_s), (late_p, stayed_p, shared_p, between_p) = ends.values()
    none_failures = record["failures"]["none"]
    per_seed = {name: torch.tensor(counts, dtype=torch.float)
                for name, counts in record["instances_recovering_all"].items()}
    pool = per_seed["advanced, pool of 16 batches"]
    differences = [pool - per_seed[other] for other in ("simple", "advanced, last batch")]
    low, high = sorted(totals[name] for name in ("simple", "advanced, last batch", "advanced, pool of 16 batches"))[::2]
    assert late_s == late_p == 0, "the prose says nothing of latents that went silent after the last resampling"
    quoted = [
        f"{totals['none']} of {n} instances recover every feature, and"
        f" {none_failures['a latent stayed silent']} of the other {n - totals['none']}",
        f"With resampling, {low} to {high} do",
        f"in {shared_s + between_s} of simple's {n - totals['simple']} and {shared_p + between_p} of the pool's"
        f" {n - totals['advanced, pool of 16 batches']} every latent is alive",
        f"Only {stayed_s} and {stayed_p} end with a latent that stayed silent",
        f"Simple resampling recovered {totals['simple']},",
        f"Anthropic's {totals['advanced, pool of 16 batches']} drawing from a pool",
        f"{totals['advanced, last batch']} drawing from the last batch",
        f"pool's count minus simple's averages {differences[0].mean():.2f} instances (standard error"
        f" {differences[0].std() / len(pool) ** 0.5:.2f})",
        f"last batch's {differences[1].mean():.2f} ({differences[1].std() / len(pool) ** 0.5:.2f})",
        f"median {lm['simple']['right_after']['median_frequency']:.0%} of tokens right after",
        f"Anthropic's fired on {lm['advanced']['right_after']['median_frequency']:.0%}",
        f"median {lm['advanced']['after_training']['median_frequency']:.1%} of tokens",
        f"random ones fire on {lm['simple']['after_training']['median_frequency']:.2%}",
        f"{lm['none']['after_training']['still_rare']} of the {lm['rare']} stay rare",
        f"higher L0 ({lm['advanced']['held_out']['l0']:.1f} against {lm['none']['held_out']['l0']:.1f})",
    ]
    missing = [q for q in quoted if q not in prose]
    assert not missing, f"section 2 no longer quotes the record as it stands: {missing}"
