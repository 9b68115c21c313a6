"""Process start method for worker pools (data loaders, preprocessing shards).

``fork`` starts workers fastest and is Linux's default, but forking a process in which JAX
already runs its thread pool can deadlock the child (JAX warns about exactly this). That
happens when one process hosts several plugins, e.g. a test session or a notebook. Then
workers start from a clean ``forkserver`` instead.
"""

from __future__ import annotations

import sys


def start_method() -> str | None:
    """'fork' or 'forkserver' on Linux; None elsewhere (keep the platform default, spawn)."""
    if not sys.platform.startswith("linux"):
        return None
    return "forkserver" if "jax" in sys.modules else "fork"
