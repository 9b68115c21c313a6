"""JAX runtime set-up through ``genotool.jaxrt`` (matmul precision, persistent compilation cache,
data-parallel mesh), with a local fallback of the same API while the core helper is absent."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    return Path(os.environ.get("GENOTOOL_JAX_CACHE", Path.home() / ".cache" / "genotool" / "jax"))


def configure(plan, cache_dir: str | Path | None = None) -> None:
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    try:
        from genotool import jaxrt  # type: ignore[attr-defined]
    except ImportError:
        jaxrt = None
    if jaxrt is not None and hasattr(jaxrt, "configure"):
        jaxrt.configure(plan, cache_dir=cache_dir)
        return
    import jax

    cache_dir.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache_dir))
    # Cache even quick compiles: on CPU the many small jitted functions add up to tens of seconds.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_default_matmul_precision", "tensorfloat32" if getattr(plan, "tf32", False) else "float32")


def data_parallel_mesh():
    """A 1-D mesh over every device with axis name ``data``."""
    try:
        from genotool import jaxrt  # type: ignore[attr-defined]

        if hasattr(jaxrt, "data_parallel_mesh"):
            return jaxrt.data_parallel_mesh()
    except ImportError:
        pass
    import jax
    import numpy as np
    from jax.sharding import Mesh

    return Mesh(np.array(jax.devices()), ("data",))
