"""Device, precision, seeding and RNG helpers shared by training and prediction."""

from __future__ import annotations

import contextlib
import os
import random
import sys
from collections.abc import Mapping

import numpy as np
import torch

from genotool.probe import Plan

_AUTOCAST_DTYPES = {"bf16-mixed": torch.bfloat16, "fp16-mixed": torch.float16}


def resolve_device(plan: Plan | None, local_rank: int | None = None) -> torch.device:
    """The torch device for ``plan`` (None -> CPU). Under torchrun each rank takes cuda:LOCAL_RANK."""
    if plan is None:
        return torch.device("cpu")
    name = plan.device
    if name in ("cuda", "gpu") or name.startswith("cuda"):
        if local_rank is not None:
            return torch.device("cuda", local_rank)
        return torch.device(name if name.startswith("cuda") else "cuda")
    return torch.device(name)


def autocast_context(plan: Plan | None, device: torch.device | str | None = None):
    """``torch.autocast`` for the plan's mixed precision, or a no-op context for fp32."""
    precision = plan.precision if plan is not None else "fp32"
    dtype = _AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        return contextlib.nullcontext()
    dev = torch.device(device) if device is not None else resolve_device(plan)
    return torch.autocast(device_type=dev.type, dtype=dtype)


def move_to_device(batch, device: torch.device | str, non_blocking: bool = False):
    """Recursively move tensors in tensors/dicts/lists/tuples/namedtuples to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        return type(batch)({k: move_to_device(v, device, non_blocking) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(move_to_device(v, device, non_blocking) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device, non_blocking) for v in batch)
    return batch


def batch_size_of(batch) -> int:
    """Number of samples in a batch: the leading dimension of its first tensor."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    if isinstance(batch, Mapping):
        batch = list(batch.values())
    if isinstance(batch, (list, tuple)):
        for item in batch:
            n = batch_size_of(item)
            if n:
                return n
    return 0


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (all devices); optionally ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this workspace setting for deterministic matmuls on CUDA >= 10.2.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def worker_init_fn(worker_id: int) -> None:
    """Seed python/numpy in DataLoader workers from torch's per-worker seed (base_seed + id)."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def rng_state() -> dict:
    """Every RNG a training step may draw from (python, numpy, torch CPU, all CUDA devices)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def peak_memory_mb(device: torch.device) -> float:
    """CUDA max allocated since the last reset on GPU; the process peak RSS elsewhere."""
    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return round(kb / (2**20 if sys.platform == "darwin" else 1024), 1)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
