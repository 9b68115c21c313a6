"""JAX runtime set-up through ``genotool.jaxrt`` (matmul precision, persistent compilation cache,
data-parallel mesh). ``GENOTOOL_JAX_CACHE`` overrides the cache folder (tests use their own)."""

from __future__ import annotations

import os
from pathlib import Path


def configure(plan, cache_dir: str | Path | None = None) -> dict:
    from genotool import jaxrt

    cache_dir = cache_dir or os.environ.get("GENOTOOL_JAX_CACHE") or None
    return jaxrt.configure(plan, cache_dir=cache_dir)


def data_parallel_mesh():
    """(1-D mesh over every device with axis ``data``, batch sharding)."""
    from genotool import jaxrt

    return jaxrt.data_parallel_mesh()
