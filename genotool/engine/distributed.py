"""Data-parallel plumbing for runs launched with ``torchrun``.

``torchrun --nproc_per_node=N`` sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` and the rendezvous
variables; when ``WORLD_SIZE > 1`` :func:`init` starts the process group (gloo on CPU, nccl on
CUDA). Everything else here degrades to a no-op in a single process, so the trainer code has
one path.
"""

from __future__ import annotations

import atexit
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    initialized_here: bool = False  # we started the process group, so we tear it down

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def is_main_process() -> bool:
    """True unless this is a torchrun rank other than 0 (works before any process group exists),
    for plugins that write files outside the Trainer."""
    return int(os.environ.get("RANK", "0")) == 0


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init(device_type: str) -> DistInfo:
    """Start the process group when launched by torchrun with more than one process.

    The group then lives until the process exits (torn down by an atexit handler), so a plugin
    can call ``fit`` several times (one model per fold) and use collectives after training.
    """
    world = env_world_size()
    if world <= 1:
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    here = False
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        # Validation runs on rank 0 while the others wait in a broadcast: allow it an hour
        # (nccl's default is 10 minutes) unless GENOTOOL_DIST_TIMEOUT_MIN says otherwise.
        minutes = float(os.environ.get("GENOTOOL_DIST_TIMEOUT_MIN", "60"))
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=minutes))
        atexit.register(_shutdown_at_exit)
        here = True
    return DistInfo(world_size=dist.get_world_size(), rank=dist.get_rank(), local_rank=local_rank,
                    initialized_here=here)


def shutdown() -> None:
    """Destroy the process group now (normally left to the atexit handler)."""
    if dist.is_initialized():
        # Without this barrier a rank that finishes first tears down its gloo pairs while the
        # other still talks to it, and the other aborts ("terminate called without an active
        # exception"). Leaving it to interpreter teardown aborts the same way.
        dist.barrier()
        dist.destroy_process_group()


def _shutdown_at_exit() -> None:
    try:
        shutdown()
    except Exception:  # noqa: BLE001 - a peer already gone: nothing left to tear down
        pass


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def _all_reduce(values: list[float], info: DistInfo, device: torch.device, op) -> list[float]:
    if not info.enabled:
        return list(values)
    # float64 so step counts and losses stay exact; nccl only reduces CUDA tensors, gloo CPU ones.
    t = torch.tensor(values, dtype=torch.float64, device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=op)
    return t.tolist()


def all_reduce_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Sum a few floats over ranks."""
    return _all_reduce(values, info, device, dist.ReduceOp.SUM)


def all_reduce_max(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Maximum of a few floats over ranks."""
    return _all_reduce(values, info, device, dist.ReduceOp.MAX)


def broadcast_object(obj, info: DistInfo, src: int = 0):
    """Send a picklable object from rank ``src`` to all ranks (validation metrics, stop flags)."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
