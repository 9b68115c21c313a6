"""Exact resume from orbax checkpoints, and data parallelism over 2 forced host CPU devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np


def _params(run):
    from flax import nnx

    from genotool_codec.model_io import load_model

    model, _ = load_model(run)
    return [np.asarray(x) for x in __import__("jax").tree.leaves(nnx.state(model, nnx.Param))]


def test_exact_resume(tiny_model, sim, dataset, tiny_config, tmp_path):
    """4 steps in one go == 2 steps, then resumed to 4 (same batches, optimizer state, step).

    The first half reads the POD5 folder directly (threaded reader, in-memory windows), the second
    the preprocess output: both must give the same windows.
    """
    from genotool.testing import invoke

    half = tmp_path / "half"
    r = invoke(["codec", "train", "--pod5", str(sim / "pod5"), "-o", str(half), "--config", str(tiny_config),
                "--steps", "2", "--quiet"])
    assert r.exit_code == 0, r.stderr
    r = invoke(["codec", "train", "--data", str(dataset), "-o", str(tmp_path / "full"), "--config", str(tiny_config),
                "--resume", str(half), "--quiet"])
    assert r.exit_code == 0, r.stderr
    assert "resuming from step 2" in r.stderr
    a, b = _params(tiny_model), _params(tmp_path / "full")
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_two_host_devices(tiny_model, dataset, tiny_config, tmp_path):
    """--host-devices 2 shards each batch over two CPU devices; the result matches one device."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = tmp_path / "dp"
    p = subprocess.run([sys.executable, "-m", "genotool", "codec", "train", "--data", str(dataset), "-o", str(out),
                        "--config", str(tiny_config), "--host-devices", "2", "--quiet"],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["runtime"]["devices"] == 2
    for x, y in zip(_params(tiny_model), _params(out)):
        np.testing.assert_allclose(x, y, rtol=2e-3, atol=2e-4)
