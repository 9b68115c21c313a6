"""genotool.jaxrt in fresh interpreters (XLA_FLAGS only works before jax starts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("jax")

SCRIPT = textwrap.dedent("""
    import json, os, sys
    from genotool import jaxrt
    jaxrt.force_host_devices(2)
    assert "jax" not in sys.modules                 # forcing devices must not import jax
    flags = os.environ["XLA_FLAGS"]
    import jax, jax.numpy as jnp
    from genotool.probe import Plan
    settings = jaxrt.configure(Plan(backend="jax", device="cpu", precision="fp32"),
                               cache_dir=sys.argv[1])
    mesh, batch = jaxrt.data_parallel_mesh()
    x = jax.device_put(jnp.arange(8.0 * 3).reshape(8, 3), batch)
    w = jnp.ones((3, 2))
    y = jax.jit(lambda x, w: jnp.tanh(x @ w) * 2.0)(x, w)
    shards = sorted((s.device.id, s.data.shape) for s in y.addressable_shards)
    expected = jnp.tanh(jnp.arange(8.0 * 3).reshape(8, 3) @ w) * 2.0
    print(json.dumps({"devices": jax.device_count(), "settings": settings, "flags": flags,
                      "shards": [[d, list(s)] for d, s in shards],
                      "close": bool(jnp.allclose(y, expected)),
                      "precision": str(jax.config.jax_default_matmul_precision)}))
""")

LATE = textwrap.dedent("""
    import jax, jax.numpy as jnp
    jnp.ones(2).block_until_ready()                 # backend is up with 1 CPU device
    from genotool import jaxrt
    jaxrt.force_host_devices(1)                     # enough devices: fine
    try:
        jaxrt.force_host_devices(4)
    except RuntimeError as exc:
        print("raised:", exc)
""")


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_two_host_devices_sharding_and_cache(tmp_path):
    cache = tmp_path / "jax_cache"
    proc = _python(SCRIPT, str(cache))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["devices"] == 2 and "--xla_force_host_platform_device_count=2" in out["flags"]
    assert out["shards"] == [[0, [4, 2]], [1, [4, 2]]]   # batch axis split over both devices
    assert out["close"]
    assert out["precision"] == "float32" == out["settings"]["jax_default_matmul_precision"]
    assert out["settings"]["jax_compilation_cache_dir"] == str(cache)
    assert any(p.is_file() for p in cache.rglob("*")), "jit wrote nothing to the persistent cache"


def test_force_host_devices_after_start_raises():
    proc = _python(LATE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "raised:" in proc.stdout and "force_host_devices(4)" in proc.stdout


def test_matmul_precision_rules():
    from genotool.jaxrt import matmul_precision
    from genotool.probe import Plan

    assert matmul_precision(None) == "float32"
    assert matmul_precision(Plan(device="cpu", precision="fp32")) == "float32"
    assert matmul_precision(Plan(device="gpu", precision="fp32", tf32=True)) == "tensorfloat32"
    assert matmul_precision(Plan(device="gpu", precision="bf16-mixed", tf32=True)) == "bfloat16"
    assert matmul_precision(Plan(device="cpu", precision="bf16-mixed")) == "float32"
