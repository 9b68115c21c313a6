"""Benchmark plumbing: every plugin's ``bench`` prints exactly one JSON object on stdout.

Progress and human-readable notes go to stderr (``log``). ``emit`` adds machine facts and the
peak memory, prints the JSON and optionally writes it atomically to ``--output``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from genotool.provenance import now_iso, package_versions


from genotool.log import log  # noqa: E402,F401 - re-exported: bench code logs through the core logger


def peak_rss_mb() -> float:
    """Peak resident memory of this process (and waited-for children, separately reported)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux reports KiB
    return round(kb / 1024, 1)


def peak_children_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(kb / 1024, 1)


def torch_peak_gpu_mb() -> float | None:
    if "torch" not in sys.modules:
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


@contextmanager
def timed(result: dict, key: str):
    """``with timed(res, "encode_seconds"): ...`` stores the elapsed wall seconds."""
    t0 = time.perf_counter()
    yield
    result[key] = round(time.perf_counter() - t0, 4)


def emit(result: dict, output: str | os.PathLike | None = None, *, plugin: str = "") -> dict:
    from genotool.probe import cpu_count

    out = {"plugin": plugin, **result}
    out.setdefault("peak_rss_mb", peak_rss_mb())
    gpu = torch_peak_gpu_mb()
    if gpu is not None:
        out.setdefault("peak_gpu_mb", gpu)
    out["machine"] = {"cpu_cores": cpu_count(), "hostname": os.uname().nodename}
    out["versions"] = package_versions()
    out["timestamp"] = now_iso()
    text = json.dumps(out, indent=2, default=str)
    if output is not None:
        from genotool.outputs import write_json

        write_json(Path(output), out)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return out
