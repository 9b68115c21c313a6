"""compare: every architecture and both baselines in one table; the default per-architecture budget."""

import json

from genotool.testing import invoke

TINY_SET = ["--set", "embed_dim=4", "--set", "channels=4,8", "--set", "window=8", "--set", "layers=1"]


def test_compare_table_and_default_budget(pre, tmp_path, monkeypatch):
    import genotool_snp.train as train
    from genotool_snp.compare import DEFAULT_EPOCHS, DEFAULT_MINUTES

    seen = {}
    real = train.train_model

    def spy(opts, data, out):            # records the budget each architecture was given
        seen[opts.architecture] = (opts.max_minutes, opts.epochs)
        return real(opts, data, out)

    monkeypatch.setattr(train, "train_model", spy)
    r = invoke(["snp", "compare", "-d", str(pre), "-o", str(tmp_path / "cmp"), "--architectures", "cnn,gnn",
                "--epochs", "1", "--threads", "1", "--json", str(tmp_path / "cmp.json"), *TINY_SET])
    assert r.exit_code == 0, r.stderr
    table = json.loads((tmp_path / "cmp.json").read_text())
    methods = [row["method"] for row in table["rows"]]
    assert methods == ["genotool-cnn", "genotool-gnn", "pca10+logistic", "pca10+nearest-centroid"]
    for row in table["rows"]:
        assert 0 <= row["accuracy"] <= 1
    assert (tmp_path / "cmp" / "table.json").is_file()
    # no --max-minutes: each architecture gets its own cap, 17 minutes in all (<= 20 with evaluation)
    assert seen == {"cnn": (DEFAULT_MINUTES["cnn"], 1), "gnn": (DEFAULT_MINUTES["gnn"], 1)}
    assert sum(DEFAULT_MINUTES.values()) <= 17 and DEFAULT_EPOCHS == 12
