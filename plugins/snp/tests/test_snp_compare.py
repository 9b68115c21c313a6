"""compare: every architecture and the baselines in one table; the default per-architecture
budget; ``--cv`` folds with mean and spread; the verdict against the baselines said plainly."""

import json

import numpy as np

from genotool.testing import invoke

TINY_SET = ["--set", "embed_dim=4", "--set", "channels=4,8", "--set", "window=8", "--set", "layers=1"]
BASELINES = ["pca10+logistic", "pca10+nearest-centroid", "logistic-all-snps",
             "pca10+logistic (train+val)", "pca10+nearest-centroid (train+val)"]


def test_compare_table_and_default_budget(pre, tmp_path, monkeypatch):
    import genotool_snp.train as train
    from genotool_snp.compare import DEFAULT_EPOCHS, DEFAULT_MINUTES

    seen = {}
    real = train.train_model

    def spy(opts, data, out, rows=None):            # records the budget each architecture was given
        seen[opts.architecture] = (opts.max_minutes, opts.epochs)
        return real(opts, data, out, rows=rows)

    monkeypatch.setattr(train, "train_model", spy)
    r = invoke(["snp", "compare", "-d", str(pre), "-o", str(tmp_path / "cmp"), "--architectures", "cnn,gnn",
                "--epochs", "1", "--threads", "1", "--json", str(tmp_path / "cmp.json"), *TINY_SET])
    assert r.exit_code == 0, r.stderr
    table = json.loads((tmp_path / "cmp.json").read_text())
    methods = [row["method"] for row in table["rows"]]
    assert methods == ["genotool-cnn", "genotool-gnn", *BASELINES]
    for row in table["rows"]:
        assert 0 <= row["accuracy"] <= 1 and 0 < row["accuracy_se"] < 0.5    # one split: a standard error
    assert all(row["within_spread_of"] for row in table["rows"] if row["method"] in BASELINES)
    assert (tmp_path / "cmp" / "table.json").is_file() and (tmp_path / "cmp" / "report.html").is_file()
    # no --max-minutes: each architecture gets its own cap, 17 minutes in all (<= 20 with evaluation)
    assert seen == {"cnn": (DEFAULT_MINUTES["cnn"], 1), "gnn": (DEFAULT_MINUTES["gnn"], 1)}
    assert sum(DEFAULT_MINUTES.values()) <= 17 and DEFAULT_EPOCHS == 12
    # one plain verdict per architecture (on the validation split), on stdout and in the report
    assert [v["method"] for v in table["verdicts"]] == ["genotool-cnn", "genotool-gnn"]
    for v in table["verdicts"]:
        assert v["sentence"] in r.stdout and "on the validation split" in v["sentence"]


def test_compare_cv_folds_mean_and_spread(pre, tmp_path):
    from genotool_snp.compare import folds
    from genotool_snp.preprocess import load_data

    data = load_data(pre)
    parts = folds(data, "population", 4, seed=0)
    tests = np.concatenate([te for _, _, te in parts])
    assert sorted(tests) == list(range(48))                   # every sample tested exactly once
    for tr, va, te in parts:
        assert not (set(tr) & set(va) or set(tr) & set(te) or set(va) & set(te))
        assert len(tr) + len(va) + len(te) == 48
        pops = [data["table"]["population"][i] for i in te]
        assert all(pops.count(p) == 3 for p in ("AFR", "EUR", "ASIA", "ADMIX"))   # stratified: 12 / 4 each

    r = invoke(["snp", "compare", "-d", str(pre), "-o", str(tmp_path / "cv"), "--architectures", "cnn", "--cv", "3",
                "--epochs", "1", "--threads", "1", "--json", str(tmp_path / "cv.json"), *TINY_SET])
    assert r.exit_code == 0, r.stderr
    table = json.loads((tmp_path / "cv.json").read_text())
    assert table["cv"] == 3 and all(len(v) == 3 for v in table["folds"].values())
    for row in table["rows"]:
        per = [m["accuracy"] for m in table["folds"][row["method"]]]
        assert abs(row["accuracy"] - np.mean(per)) < 1e-9 and abs(row["accuracy_sd"] - np.std(per, ddof=1)) < 1e-9
    base = {row["method"]: row for row in table["rows"] if not row["method"].startswith("genotool-")}
    cnn = next(row for row in table["rows"] if row["method"] == "genotool-cnn")
    for row in base.values():                  # the table says when a baseline is within the spread
        inside = abs(row["accuracy"] - cnn["accuracy"]) <= cnn["accuracy_sd"]
        assert row["within_spread_of"] == ("cnn" if inside else "-")
    (v,) = table["verdicts"]
    assert "over 3 folds" in v["sentence"] and v["sentence"] in r.stdout
    assert (tmp_path / "cv" / "cnn" / "fold3" / "model.pt").is_file()
    r = invoke(["snp", "compare", "-d", str(pre), "-o", str(tmp_path / "cv2"), "--cv", "2"])
    assert r.exit_code == 2 and "--cv must be >= 3" in r.stderr


def test_baseline_win_is_said_plainly():
    from genotool_snp.verdict import against_baselines

    v = against_baselines("genotool-cnn", 0.80, {"pca10+nearest-centroid": 0.85, "pca10+logistic": 0.83},
                          "on the validation split (40 samples)")
    assert v["baseline_wins"] and v["best_baseline"] == "pca10+nearest-centroid"
    assert v["sentence"].startswith("PCA(10) + nearest centroid is MORE ACCURATE than genotool-cnn")
    assert "Prefer the baseline" in v["sentence"]
    v = against_baselines("genotool-cnn", 0.80, {"pca10+nearest-centroid": 0.82}, "over 5 folds", spread=0.03)
    assert v["baseline_wins"] and v["within_spread"] and "within the spread" in v["sentence"]
    v = against_baselines("genotool-cnn", 0.90, {"pca10+nearest-centroid": 0.82}, "over 5 folds", spread=0.03)
    assert not v["baseline_wins"] and v["sentence"].startswith("genotool-cnn leads the baselines")
