"""Batch-size selection: measured on a GPU (OOM-safe search, cached), RAM-bound on the CPU.

On CUDA, :func:`find_batch_size` runs ``step_fn(batch_size)`` - one full training step
(forward, backward, optimizer step) at that size - doubling from ``start`` until it raises
out-of-memory or reaches ``max_size``, then bisects between the largest size that fitted and
the first that did not, and keeps ``margin`` x the largest fit (headroom for fragmentation and
longer sequences). The answer is cached in ``${GENOTOOL_CACHE_DIR:-~/.cache/genotool}/
batch_size.json`` under ``<device name>|<cache_key>|<precision>``, so the search runs once per
GPU model, model signature and precision. On the CPU there is nothing to measure: the result is
``genotool.probe.ram_bound_batch_size``.
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from genotool.outputs import write_json
from genotool.probe import Plan, ram_bound_batch_size


def cache_dir() -> Path:
    return Path(os.environ.get("GENOTOOL_CACHE_DIR") or Path.home() / ".cache" / "genotool")


def cache_path() -> Path:
    return cache_dir() / "batch_size.json"


def is_oom(exc: BaseException) -> bool:
    """Out of memory in any of the guises CUDA libraries raise it."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    msg = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in msg.lower()
                                              or "CUBLAS_STATUS_ALLOC_FAILED" in msg
                                              or "CUDNN_STATUS_ALLOC_FAILED" in msg)


def _free_memory(collect: bool) -> None:
    import torch

    if collect:
        gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def search_batch_size(step_fn: Callable[[int], object], *, start: int = 2, max_size: int = 8192,
                      bisect_steps: int = 4) -> tuple[int, list[dict]]:
    """Largest size in [start, max_size] for which ``step_fn`` does not run out of memory.

    Returns ``(largest_fit, trials)``; ``trials`` lists ``{"batch_size", "fits", "seconds"}``.
    Raises RuntimeError when even ``start`` does not fit. Exceptions other than OOM propagate.
    """
    trials: list[dict] = []

    def fits(n: int) -> bool:
        t0 = time.perf_counter()
        try:
            step_fn(n)
            ok = True
        except Exception as exc:  # noqa: BLE001 - filtered by is_oom
            if not is_oom(exc):
                raise
            ok = False
        # A failed trial leaves its activations referenced from the traceback and cached by
        # the allocator: collect and empty the cache before the next, smaller, attempt.
        _free_memory(collect=not ok)
        trials.append({"batch_size": n, "fits": ok, "seconds": round(time.perf_counter() - t0, 4)})
        return ok

    size = max(1, min(start, max_size))
    if not fits(size):
        raise RuntimeError(f"batch size {size} does not fit in memory")
    lo, hi = size, None               # lo fits; hi (if known) does not
    while lo < max_size:
        nxt = min(lo * 2, max_size)
        if fits(nxt):
            lo = nxt
        else:
            hi = nxt
            break
    for _ in range(bisect_steps if hi is not None else 0):
        if hi - lo <= max(1, lo // 16):  # within ~6%: not worth another trial
            break
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo, trials


def _device_name(plan: Plan | None) -> str:
    import torch

    if plan is not None and plan.device.startswith("cuda") and torch.cuda.is_available():
        idx = int(plan.device.split(":")[1]) if ":" in plan.device else torch.cuda.current_device()
        return torch.cuda.get_device_name(idx)
    return plan.device if plan is not None else "cpu"


def _read_cache(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def find_batch_size(step_fn: Callable[[int], object], *, plan: Plan | None, cache_key: str,
                    start: int = 2, max_size: int = 8192, margin: float = 0.9, default: int = 256,
                    bytes_per_sample: int | None = None, measure_on_cpu: bool = False,
                    use_cache: bool = True) -> int:
    """The batch size to train with (also written into ``plan.batch_size``/``batch_size_source``).

    * ``plan.batch_size_source == "user"`` -> the user's ``--batch-size``, nothing measured.
    * CUDA (or ``measure_on_cpu``) -> cached value, else :func:`search_batch_size` x ``margin``.
    * CPU -> ``ram_bound_batch_size(bytes_per_sample, default)`` (``default`` when unknown).

    ``cache_key`` must identify the model and input shape (e.g. ``"hello-cnn-L200-c32"``);
    ``step_fn(n)`` must run one complete training step at batch size ``n`` and clean up after
    itself (zero grads) - it is called several times.
    """
    if plan is not None and plan.batch_size_source == "user" and plan.batch_size:
        return plan.batch_size
    on_gpu = plan is not None and (plan.device.startswith("cuda") or plan.device == "gpu")
    if not on_gpu and not measure_on_cpu:
        size = ram_bound_batch_size(bytes_per_sample, default) if bytes_per_sample else default
        _record(plan, size, "ram-bound" if bytes_per_sample else "default")
        return size
    precision = plan.precision if plan is not None else "fp32"
    key = f"{_device_name(plan)}|{cache_key}|{precision}"
    path = cache_path()
    if use_cache:
        hit = _read_cache(path).get(key)
        if hit and hit.get("max_size") == max_size and hit.get("margin") == margin:
            _record(plan, int(hit["batch_size"]), "cached")
            return int(hit["batch_size"])
    largest, trials = search_batch_size(step_fn, start=start, max_size=max_size)
    size = max(1, int(largest * margin))
    if use_cache:
        cache = _read_cache(path)  # re-read: another process may have added keys meanwhile
        cache[key] = {"batch_size": size, "largest_fit": largest, "margin": margin,
                      "max_size": max_size, "trials": trials,
                      "measured": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_json(path, cache)
    _record(plan, size, "measured")
    return size


def _record(plan: Plan | None, size: int, source: str) -> None:
    if plan is not None:
        plan.batch_size, plan.batch_size_source = size, source
