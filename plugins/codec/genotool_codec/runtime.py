"""JAX runtime set-up through ``genotool.jaxrt`` (matmul precision, persistent compilation cache,
data-parallel mesh), CPU threads and the compute dtype of mixed precision.
``GENOTOOL_JAX_CACHE`` overrides the cache folder (tests use their own)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def configure(plan, cache_dir: str | Path | None = None) -> dict:
    from genotool import jaxrt

    cache_dir = cache_dir or os.environ.get("GENOTOOL_JAX_CACHE") or None
    return jaxrt.configure(plan, cache_dir=cache_dir)


def apply_threads(n: int | None) -> dict:
    """Limit XLA's CPU intra-op threads to ``n`` (``--threads``); returns what was done.

    XLA has no thread-count flag (``XLA_FLAGS`` refuses ``intra_op_parallelism_threads``); its
    thread pools are sized from the CPUs the process may run on, so before JAX starts we narrow
    the CPU affinity to ``n`` of the allowed CPUs (and, for 1, turn off Eigen's multi-threading).
    Once JAX runs (a second verb in one process, as in tests) the pools are fixed: say so.
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


def compute_dtype(precision: str | None):
    """jnp dtype for encoder/decoder weights and activations under a plan precision."""
    import jax.numpy as jnp

    from genotool_codec.settings import compute_dtype_name

    return jnp.dtype(compute_dtype_name(precision or "fp32"))


def cast_for_compute(state, dtype, parts=("encoder", "decoder")):
    """Cast the floating arrays of ``parts`` of an nnx state to ``dtype`` (mixed precision).

    The quantizer (frozen codebooks and W) stays float32 so the nearest-code search does not
    depend on the precision; in training, the float32 master weights get the gradients (the cast
    is differentiable), as in the usual mixed-precision recipe.
    """
    import jax
    import jax.numpy as jnp

    if dtype == jnp.float32:
        return state

    def cast(path, x):
        top = str(getattr(path[0], "key", path[0])) if path else ""
        if top in parts and hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating):
            return x.astype(dtype)
        return x

    return jax.tree_util.tree_map_with_path(cast, state)


def data_parallel_mesh():
    """(1-D mesh over every device with axis ``data``, batch sharding)."""
    from genotool import jaxrt

    return jaxrt.data_parallel_mesh()
