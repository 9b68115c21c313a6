"""Shared fixtures: one small simulated dataset and one tiny trained model for the whole session.

Under pytest-xdist each worker is its own process; the data and model are built once, by the first
worker that gets the file lock, in a folder all workers share, and reused by the others.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

import pytest
from genotool.testing import run_cli  # the genotool_cli fixture's call, with its plan check

TINY = {
    "model": {"channels": [8, 8, 16, 16], "strides": [2, 2, 2], "res_blocks": 1, "kernel": 3, "latent_dim": 8,
              "codebook_size": 16, "n_codebooks": 2, "codebook_seed": 1, "disc_channels": [4, 8],
              "disc_strides": [4, 2]},
    "train": {"steps": 4, "batch_size": 4, "crop": 400, "disc_start": 2, "log_every": 2, "save_every": 2,
              "learning_rate": 0.003},
    "data": {"window": 2000},
}

# Compiled XLA programs persist across test runs and workers (cold start ~30 s -> a few s).
os.environ.setdefault("GENOTOOL_JAX_CACHE", str(Path.home() / ".cache" / "genotool" / "jax-tests"))


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    d = root / "codec_shared"
    d.mkdir(exist_ok=True)
    return d


@pytest.fixture(scope="session")
def tiny_config(shared_dir) -> Path:
    p = shared_dir / "tiny.json"
    with _locked(shared_dir / ".cfg.lock"):
        if not p.exists():
            p.write_text(json.dumps(TINY))
    return p




@pytest.fixture(scope="session")
def sim(shared_dir) -> Path:
    """12 simulated R9.4.1 reads (~8k samples each) in two flow-cell folders + truth.fa."""
    out = shared_dir / "sim"
    with _locked(shared_dir / ".sim.lock"):
        if not (out / "metadata.json").exists():
            r = run_cli("codec", "simulate", "-o", out, "--num-reads", "12", "--read-length", "800", "--seed", "3")
            assert r.exit_code == 0, r.stderr
    return out


@pytest.fixture(scope="session")
def dataset(shared_dir, sim) -> Path:
    out = shared_dir / "ds"
    with _locked(shared_dir / ".ds.lock"):
        if not (out / "metadata.json").exists():
            r = run_cli("codec", "preprocess", "--pod5", sim / "pod5", "-o", out, "--window", "2000")
            assert r.exit_code == 0, r.stderr
    return out


@pytest.fixture(scope="session")
def tiny_model(shared_dir, dataset, tiny_config) -> Path:
    """A tiny codec trained for 4 steps (2 with the GAN losses) by the real CLI."""
    out = shared_dir / "run"
    with _locked(shared_dir / ".run.lock"):
        if not (out / "model" / "model.json").exists():
            r = run_cli("codec", "train", "--data", dataset, "-o", out, "--config", tiny_config, "--quiet")
            assert r.exit_code == 0, r.stderr
    return out
