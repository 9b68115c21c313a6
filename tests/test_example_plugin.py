"""The third-party example plugin, installed like a user would, driven through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

pytest.importorskip("torch")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "genotool-hello"


def _installed() -> bool:
    try:
        distribution("genotool-hello")
        return True
    except PackageNotFoundError:
        return False


@pytest.fixture(scope="module")
def hello_installed():
    if not _installed():
        # --no-deps: never let pip re-resolve torch; --no-build-isolation: use this venv's
        # setuptools instead of downloading one.
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                               "-q", "-e", str(EXAMPLE)], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]


def _genotool(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TERMINAL_WIDTH": "200"}
    return subprocess.run([sys.executable, "-m", "genotool", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_listed_as_ok(hello_installed):
    proc = _genotool("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    hello = rows["hello"]
    assert hello["status"] == "ok", hello
    assert hello["distribution"] == "genotool-hello" and hello["backend"] == "torch"
    assert {"simulate", "preprocess", "train", "predict", "validate", "bench"} <= set(hello["commands"])


def test_simulate_train_predict(hello_installed, tmp_path):
    sim, prep, model, pred = (tmp_path / n for n in ("sim", "prep", "model", "pred"))
    for args in (("simulate", "-o", str(sim), "--num-sequences", "200", "--length", "40"),
                 ("preprocess", "-i", str(sim), "-o", str(prep)),
                 ("train", "--data", str(prep), "-o", str(model), "--epochs", "2", "--channels", "8",
                  "--device", "cpu", "--scheduler", "cosine"),
                 ("predict", "-m", str(model), "--input", str(sim / "sequences.tsv"), "-o", str(pred))):
        proc = _genotool("hello", *args)
        assert proc.returncode == 0, f"hello {args[0]}: {proc.stderr[-2000:]}"
    plan = json.loads((model / "metadata.json").read_text())["plan"]
    assert plan["batch_size_source"] == "ram-bound" and plan["batch_size"] == 64  # CPU: not measured
    history = json.loads((model / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2] and "val_auc" in history[0]
    lines = (pred / "predictions.tsv").read_text().splitlines()
    assert lines[0] == "id\tprobability\tlabel" and len(lines) == 201
    probs = [float(line.split("\t")[1]) for line in lines[1:]]
    assert all(0.0 <= p <= 1.0 for p in probs) and len(set(probs)) > 1
    assert json.loads((pred / "metadata.json").read_text())["command"] == "hello predict"

    # Re-running train on the finished output is refused without --force (one-line error).
    again = _genotool("hello", "train", "--data", str(prep), "-o", str(model))
    assert again.returncode == 2 and again.stderr.startswith("genotool: error:")


def test_train_under_torchrun_publishes_one_complete_output(hello_installed, tmp_path):
    sim, prep, model = tmp_path / "sim", tmp_path / "prep", tmp_path / "model"
    assert _genotool("hello", "simulate", "-o", str(sim), "--num-sequences", "120", "--length", "30").returncode == 0
    assert _genotool("hello", "preprocess", "-i", str(sim), "-o", str(prep)).returncode == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
                           "-m", "genotool", "hello", "train", "--data", str(prep), "-o", str(model),
                           "--epochs", "1", "--channels", "4", "--batch-size", "16"],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((model / "metadata.json").read_text())
    assert meta["runtime"]["world_size"] == 2
    for name in ("model.pt", "model_config.json", "history.csv", "checkpoints/last.pt"):
        assert (model / name).exists(), (name, sorted(p.name for p in tmp_path.rglob("*")))
    assert not (tmp_path / "model.partial").exists()
