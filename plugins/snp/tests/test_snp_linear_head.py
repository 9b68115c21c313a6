"""The linear head every architecture learns a residual over, and train's plain verdict beside PCA."""

import json

import numpy as np
import pytest

from genotool.testing import invoke

TINY = {"embed_dim": "4", "channels": "4,8", "window": "8", "layers": "1"}


def _setup(pre, choice="best", arch="cnn"):
    import torch

    from genotool_snp.preprocess import load_data
    from genotool_snp.labels import label_spec, split_rows, targets
    from genotool_snp.train import TrainOptions, hyperparameters, make_model, model_config

    data = load_data(pre)
    hp = hyperparameters(TrainOptions(data=pre, output=pre, overrides={**TINY, "linear_head": choice}))
    spec = label_spec(data, "population", None, "auto")
    y = targets(data, spec)
    tr, va = split_rows(data, "train"), split_rows(data, "val")
    torch.manual_seed(0)
    model = make_model(data, model_config(data, hp, arch, spec), tr)
    return data, hp, spec, y, tr, va, model


@pytest.mark.parametrize("arch", ["cnn", "gnn"])
def test_untrained_model_is_its_linear_head(pre, arch):
    import torch

    from genotool_snp.linear_head import centred_dosage
    from genotool_snp.train import fit_linear_head

    data, hp, spec, y, tr, va, model = _setup(pre, arch=arch)
    head, offsets = fit_linear_head(model, data, y, tr, va, spec, hp, seed=0)
    assert head["choice"] in head["validation_scores"] and len(head["validation_scores"]) == 5
    x = torch.from_numpy(np.asarray(data["genotypes"][va]))
    with torch.no_grad():
        out = model.eval()(x).numpy()
    W, b = model.anchor.weight.numpy(), model.anchor.bias.numpy()
    lin = centred_dosage(data["genotypes"], va, model.input.mean.numpy()) @ W.T + b
    np.testing.assert_allclose(out, lin, rtol=1e-4, atol=1e-4)        # the residual starts at exactly zero
    # training offsets are out-of-fold: not the head's own (in-sample) logits on its training rows
    own = centred_dosage(data["genotypes"], tr, model.input.mean.numpy()) @ W.T + b
    assert offsets.shape == own.shape and np.abs(offsets - own).mean() > 1e-3
    with torch.no_grad():                      # the task hands the offsets in place of the head
        given = model(torch.from_numpy(np.asarray(data["genotypes"][tr])), torch.from_numpy(offsets)).numpy()
    np.testing.assert_allclose(given, offsets, rtol=1e-5, atol=1e-5)


def test_pca_head_reproduces_sklearn(pre):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    from genotool_snp import linear_head
    from genotool_snp.evaluate import dosage

    data, hp, spec, y, tr, va, model = _setup(pre, choice="pca")
    mean = model.input.mean.numpy()
    fit = linear_head.fit(data["genotypes"], mean, y, tr, va, "classes", 4, "pca", balanced=False)
    assert fit["choice"] == "pca"
    x = dosage(np.asarray(data["genotypes"]), tr)
    pca = PCA(10, random_state=0).fit(x[tr])
    z = pca.transform(x) / np.sqrt(pca.explained_variance_)
    ref = LogisticRegression(C=1.0, max_iter=2000, tol=1e-4).fit(z[tr], y[tr]).decision_function(z[va])
    mine = linear_head.centred_dosage(data["genotypes"], va, mean) @ fit["weight"].T + fit["bias"]
    np.testing.assert_allclose(mine, ref, rtol=1e-3, atol=1e-3)


def test_network_that_does_not_beat_its_head_is_dropped(pre, tmp_path):
    from genotool.engine import read_model

    # a learning rate this large wrecks the network in one step: its validation loss cannot beat the head's
    r = invoke(["snp", "train", "-d", str(pre), "-o", str(tmp_path / "m"), "--epochs", "1", "--lr", "50",
                "--threads", "1", *[a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]])
    assert r.exit_code == 0, r.stderr
    assert "did not beat its linear head" in r.stderr
    summary = json.loads((tmp_path / "m" / "train.json").read_text())
    assert summary["linear_head"]["residual_kept"] is False
    sd = read_model(tmp_path / "m", plugin="snp")["state_dict"]
    last = [k for k in sd if k.startswith("head.") and k.endswith(".weight")][-1]
    assert float(sd[last].abs().sum()) == 0.0                      # the saved model is the head alone
    r = invoke(["snp", "train", "-d", str(pre), "-o", str(tmp_path / "bad"), "--set", "linear_head=ridge"])
    assert r.exit_code == 2 and "linear_head must be one of auto, best, all-snps, pca, none" in r.stderr


def test_train_says_plainly_when_pca_wins(pre, tmp_path, monkeypatch):
    import genotool_snp.validate as validate

    real = validate.baselines

    def perfect_pca(*args, **kw):                 # a baseline no model can beat on validation
        base, pcs = real(*args, **kw)
        base["pca10+nearest-centroid"] = {**base["pca10+nearest-centroid"], "accuracy": 1.0}
        return base, pcs

    monkeypatch.setattr(validate, "baselines", perfect_pca)
    r = invoke(["snp", "train", "-d", str(pre), "-o", str(tmp_path / "m"), "--epochs", "1", "--threads", "1",
                *[a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]])
    assert r.exit_code == 0, r.stderr
    said = "PCA(10) + nearest centroid is MORE ACCURATE than genotool-cnn on the validation split (8 samples)"
    assert said in r.stdout
    summary = json.loads((tmp_path / "m" / "train.json").read_text())
    assert summary["validation"]["verdict"]["baseline_wins"] is True
    assert said in (tmp_path / "m" / "report.html").read_text()


def test_string_presets_take_none_as_a_value(pre):
    from genotool_snp.train import TrainOptions, hyperparameters

    hp = hyperparameters(TrainOptions(data=pre, output=pre, overrides={"linear_head": "none", "scheduler": "none"}))
    assert hp["linear_head"] == "none" and hp["scheduler"] == "none"
    assert hyperparameters(TrainOptions(data=pre, output=pre))["linear_head"] == "best"          # auto, population
    assert hyperparameters(TrainOptions(data=pre, output=pre, task="phenotype"))["linear_head"] == "none"


def test_small_cohorts_get_the_narrow_width_and_the_head_unless_set_explicitly(pre):
    from genotool_snp.train import SMALL_COHORT, TrainOptions, fit_to_cohort, hyperparameters

    opts = TrainOptions(data=pre, output=pre)
    hp = hyperparameters(opts)
    big = fit_to_cohort(hp, opts, hp["small_cohort"])                  # at the threshold: the preset, no head
    assert big == {**hp, "linear_head": "none"}
    small = fit_to_cohort(hp, opts, hp["small_cohort"] - 1)
    assert {k: small[k] for k in SMALL_COHORT} == SMALL_COHORT and small["channels"] != hp["channels"]
    assert small["linear_head"] == "best"
    opts = TrainOptions(data=pre, output=pre, overrides={"embed_dim": "12", "linear_head": "pca"}, patience=7)
    small = fit_to_cohort(hyperparameters(opts), opts, 10)
    assert small["embed_dim"] == 12 and small["patience"] == 7 and small["channels"] == SMALL_COHORT["channels"]
    assert fit_to_cohort(hyperparameters(opts), opts, 10_000)["linear_head"] == "pca"      # explicit head kept
    opts = TrainOptions(data=pre, output=pre, overrides={"small_cohort": "0"})
    off = fit_to_cohort(hyperparameters(opts), opts, 10)
    assert off["channels"] == hp["channels"] and off["linear_head"] == "none"
