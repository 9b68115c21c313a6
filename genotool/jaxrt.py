"""JAX runtime helper: host devices, matmul precision, persistent compilation cache, mesh.

JAX plugins call, inside their command bodies::

    from genotool import jaxrt
    jaxrt.force_host_devices(2)          # optional, tests/CPU sharding: before jax starts
    plan = opts.plan(backend="jax")      # RunOptions.plan: limit_threads + configure, in plan.applied
    mesh, batch_sharding = jaxrt.data_parallel_mesh()

Only ``configure`` and ``data_parallel_mesh`` import jax; ``force_host_devices`` and
``limit_threads`` must run before jax initialises its backends (ideally before ``import jax``).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

_COUNT_FLAG = "--xla_force_host_platform_device_count"


def default_cache_dir() -> Path:
    base = os.environ.get("GENOTOOL_CACHE_DIR") or Path.home() / ".cache" / "genotool"
    return Path(base) / "jax_cache"


def force_host_devices(n: int) -> None:
    """Make the CPU backend expose ``n`` devices (to test sharding without accelerators).

    Before ``import jax``: sets ``XLA_FLAGS=--xla_force_host_platform_device_count=n`` (other
    XLA flags are kept). After ``import jax`` but before any computation: uses the
    ``jax_num_cpu_devices`` option. Once the CPU backend runs, the count is fixed: raises
    RuntimeError when it has fewer than ``n`` devices.
    """
    if n < 1:
        raise ValueError(f"device count must be >= 1, not {n}")
    if "jax" not in sys.modules:
        flags = re.sub(rf"{_COUNT_FLAG}=\d+", "", os.environ.get("XLA_FLAGS", "")).split()
        os.environ["XLA_FLAGS"] = " ".join([*flags, f"{_COUNT_FLAG}={n}"])
        return
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", n)
    except (RuntimeError, AttributeError):  # backends already up (or an old jax without it)
        have = len(jax.devices("cpu"))
        if have < n:
            raise RuntimeError(f"jax is already running with {have} CPU device(s); call "
                               f"force_host_devices({n}) before jax is used") from None


def limit_threads(n: int | None) -> dict:
    """Limit XLA's CPU intra-op threads to ``n`` (``--threads``); returns what was done.

    XLA has no thread-count flag (``XLA_FLAGS`` refuses ``intra_op_parallelism_threads``); its
    thread pools are sized from the CPUs the process may run on, so before JAX starts the CPU
    affinity is narrowed to ``n`` of the allowed CPUs (and, for 1, Eigen's multi-threading is
    turned off). Once JAX runs (a second verb in one process, as in tests) the pools are fixed:
    the record says so.
    """
    if not n:
        return {"threads": "xla default"}
    if n < 1:
        from genotool.errors import UserError

        raise UserError(f"--threads must be >= 1, not {n}")
    if "jax" in sys.modules:
        return {"threads": f"not applied: JAX already started in this process (asked {n})"}
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if allowed and n < len(allowed):
        os.sched_setaffinity(0, allowed[:n])
    if n == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    return {"threads": n, "cpu_affinity": sorted(os.sched_getaffinity(0)) if allowed else None}


def matmul_precision(plan) -> str:
    """'bfloat16' for bf16-mixed on GPU, 'tensorfloat32' when the plan allows TF32, else 'float32'."""
    if plan is None:
        return "float32"
    gpu = plan.device in ("gpu", "cuda") or plan.device.startswith("cuda")
    if gpu and plan.precision == "bf16-mixed":
        return "bfloat16"
    if plan.tf32:
        return "tensorfloat32"
    return "float32"


def configure(plan=None, cache_dir: str | os.PathLike | None = None,
              min_compile_time_secs: float = 0.0) -> dict:
    """Apply the plan to JAX: default matmul precision and the persistent compilation cache.

    The cache lives in ``cache_dir`` (default ``${GENOTOOL_CACHE_DIR:-~/.cache/genotool}/jax_cache``);
    ``min_compile_time_secs=0`` caches even the small CPU programs tests and demos compile (the
    JAX default of 1 s would skip them). Returns the settings, for metadata.json.
    """
    import jax

    precision = matmul_precision(plan)
    jax.config.update("jax_default_matmul_precision", precision)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    previous = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_secs))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    if previous != str(cache):
        # The cache binds its directory (or "disabled") at the first compile; a program compiled
        # before configure() would otherwise pin it. Resetting makes the next compile re-read it.
        from jax.experimental.compilation_cache import compilation_cache

        compilation_cache.reset_cache()
    devices = jax.devices()
    return {"jax_default_matmul_precision": precision, "jax_compilation_cache_dir": str(cache),
            "jax_persistent_cache_min_compile_time_secs": float(min_compile_time_secs),
            "jax_backend": jax.default_backend(), "jax_device_count": len(devices),
            "jax_version": jax.__version__}


def data_parallel_mesh(axis_name: str = "data"):
    """A 1-D mesh over all devices and the sharding that splits an array's first (batch) axis.

    Returns ``(mesh, batch_sharding)``: ``jax.device_put(x, batch_sharding)`` puts rows
    ``x[i*B/n:(i+1)*B/n]`` on device i (B must be divisible by the device count); replicate
    parameters with ``NamedSharding(mesh, PartitionSpec())``.
    """
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(jax.devices()), (axis_name,))
    return mesh, NamedSharding(mesh, PartitionSpec(axis_name))
