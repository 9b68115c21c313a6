"""The JAX side of a codec run: the core's plan for JAX, and the compute dtype of mixed precision.

:func:`jax_plan` is the codec's use of the core's plan builder (``RunOptions.plan(backend="jax")``:
CPU threads before JAX starts, matmul precision, persistent compilation cache, all recorded in
``plan.applied``). ``GENOTOOL_JAX_CACHE`` overrides the cache folder (tests use their own).
"""

from __future__ import annotations

import os

#: Windows per jitted encode/decode call when neither --batch-size nor the probe chooses one.
DEFAULT_INFER_BATCH = 16


def jax_plan(opts, default_batch_size: int = DEFAULT_INFER_BATCH, cache_dir=None):
    """The core's plan for a codec verb (``opts``: its RunOptions), applied to JAX; the batch size
    is always set (the user's, else ``default_batch_size``)."""
    plan = opts.plan(int(default_batch_size), backend="jax",
                     cache_dir=cache_dir or os.environ.get("GENOTOOL_JAX_CACHE") or None)
    plan.applied["compute_dtype"] = compute_dtype_name(plan.precision)
    return plan


def compute_dtype_name(precision: str | None) -> str:
    """Activation/weight dtype of encoder and decoder for a plan precision (the codebook search
    always runs in float32: nearest-neighbour ties must not depend on the precision)."""
    return {"bf16-mixed": "bfloat16", "fp16-mixed": "float16"}.get(precision or "fp32", "float32")


def compute_dtype(precision: str | None):
    """jnp dtype for encoder/decoder weights and activations under a plan precision."""
    import jax.numpy as jnp

    return jnp.dtype(compute_dtype_name(precision))


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
