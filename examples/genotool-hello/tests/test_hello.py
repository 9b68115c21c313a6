"""In-process tests of the hello plugin with genotool's pytest fixtures (``genotool.testing``).

``genotool_host`` registers the plugin in-process (no installation needed) and removes it after
the test; ``genotool_cli`` runs the real CLI and returns exit code, stdout and stderr.
"""

from __future__ import annotations

import json
import sys

import pytest

pytest.importorskip("torch")

import genotool_hello.plugin as hello_plugin  # noqa: E402


@pytest.fixture
def hello(genotool_host):
    """The hello plugin, registered in-process unless the installed entry point already loaded it."""
    rec = genotool_host.records.get("hello")
    if rec is None or rec.status != "ok":
        rec = genotool_host.register(hello_plugin, name="hello")
    assert rec.status == "ok", rec.reason
    return rec


def test_plugin_module_is_light():
    # plugin.py and cli.py are imported by `genotool --help`: they must not pull in torch.
    import importlib
    import subprocess

    code = ("import sys, genotool_hello.plugin, genotool_hello.cli; "
            "print('torch' in sys.modules)")
    import os
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}   # installed or not
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"
    assert importlib.import_module("genotool_hello.cli").app is not None


def test_end_to_end(hello, genotool_cli, tmp_path):
    sim, prep, model = tmp_path / "sim", tmp_path / "prep", tmp_path / "model"
    r = genotool_cli("hello", "simulate", "-o", str(sim), "--num-sequences", "240", "--length", "40", "--seed", "1")
    assert r.exit_code == 0, r.stderr
    r = genotool_cli("hello", "preprocess", "-i", str(sim), "-o", str(prep))
    assert r.exit_code == 0, r.stderr
    r = genotool_cli("hello", "train", "--data", str(prep), "-o", str(model), "--epochs", "2",
                     "--channels", "8", "--batch-size", "32", "--device", "cpu")
    assert r.exit_code == 0, r.stderr
    meta = json.loads((model / "metadata.json").read_text())
    assert meta["command"] == "hello train" and meta["runtime"]["epochs"] == 2
    assert meta["plan"]["batch_size_source"] == "user"
    assert (model / "checkpoints" / "best.pt").exists() and (model / "history.csv").exists()

    r = genotool_cli("hello", "validate", "-m", str(model), "--data", str(prep), "-o", str(tmp_path / "val"))
    assert r.exit_code == 0, r.stderr
    metrics = json.loads((tmp_path / "val" / "metrics.json").read_text())
    assert metrics["n"] == 24 and 0.0 <= metrics["auc"] <= 1.0
    assert (tmp_path / "val" / "report.html").read_text().count("data:image/png;base64") == 1

    r = genotool_cli("hello", "bench", "--steps", "2", "--length", "40", "--batch-size", "16")
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["plugin"] == "hello" and result["batch_size"] == 16
    assert result["train_samples_per_second"] > 0


def test_user_errors_are_one_line(hello, genotool_cli, tmp_path):
    r = genotool_cli("hello", "train", "--data", str(tmp_path / "missing"), "-o", str(tmp_path / "m"))
    assert r.exit_code == 2 and "--data" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\tsequence\nx\tACGX\n")
    r = genotool_cli("hello", "preprocess", "-i", str(bad), "-o", str(tmp_path / "p"))
    assert r.exit_code == 2 and "'X'" in r.stderr
    assert not (tmp_path / "p.partial").exists()  # a user error leaves no partial output


def test_auc_matches_pairwise_definition():
    import numpy as np

    from genotool_hello.metrics import roc_auc

    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 60).astype(float)  # many ties
    labels = rng.integers(0, 2, 60)
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairwise = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum())
    assert roc_auc(scores, labels) == pytest.approx(pairwise / (len(pos) * len(neg)))


def test_bench_refuses_to_overwrite_without_force(hello, genotool_cli, tmp_path):
    out = tmp_path / "bench.json"
    out.write_text("{}\n")
    r = genotool_cli("hello", "bench", "--steps", "1", "--length", "20", "--batch-size", "8", "-o", str(out))
    assert r.exit_code == 2 and "--force" in r.stderr and out.read_text() == "{}\n"
    r = genotool_cli("hello", "bench", "--steps", "1", "--length", "20", "--batch-size", "8", "-o", str(out),
                     "--force")
    assert r.exit_code == 0, r.stderr
    assert json.loads(out.read_text())["plugin"] == "hello"


def test_model_format_and_older_folders(hello, genotool_cli, tmp_path):
    import torch

    from genotool.engine.model_io import read_model

    sim, prep, model = tmp_path / "sim", tmp_path / "prep", tmp_path / "model"
    # the old spelling --n is a hidden alias of --num-sequences
    r = genotool_cli("hello", "simulate", "-o", str(sim), "--n", "120", "--length", "30")
    assert r.exit_code == 0 and "--n is now spelled --num-sequences" in r.stderr
    assert genotool_cli("hello", "preprocess", "-i", str(sim), "-o", str(prep)).exit_code == 0
    r = genotool_cli("hello", "train", "-d", str(prep), "-o", str(model), "--epochs", "1", "--channels", "8",
                     "--batch-size", "32", "--device", "cpu")
    assert r.exit_code == 0, r.stderr
    payload = read_model(model, plugin="hello")
    assert payload["config"] == {"channels": 8, "kernel": 9} and payload["extra"]["length"] == 30
    # a folder from before genotool's model format: model.json + a bare state_dict
    (model / "model.json").write_text(json.dumps({"model": payload["config"], **payload["extra"]}))
    torch.save(payload["state_dict"], model / "model.pt")
    r = genotool_cli("hello", "validate", "-m", str(model), "-d", str(prep), "-o", str(tmp_path / "val"))
    assert r.exit_code == 0, r.stderr
    # another plugin's model is one line, exit 2
    r = genotool_cli("hello", "validate", "-m", str(tmp_path / "val"), "-d", str(prep), "-o", str(tmp_path / "v2"))
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and "--model" in r.stderr
