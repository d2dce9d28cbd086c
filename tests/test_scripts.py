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
