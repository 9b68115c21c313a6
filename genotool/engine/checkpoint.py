"""Atomic checkpoint files: ``<out_dir>/checkpoints/last.pt`` and ``best.pt``.

A checkpoint is one ``torch.save`` dict::

    {"format": "genotool.checkpoint/1", "fingerprint": str, "epoch": int (epochs completed),
     "global_step": int (optimizer steps), "model": state_dict, "optimizer": ..., "scheduler": ...,
     "scaler": ... | None, "rng": {python, numpy, torch, cuda}, "early_stopping": {...},
     "history": [per-epoch dicts], "config": TrainConfig.to_dict(), "finished": bool}

It is written to a temporary file in the same folder and renamed with ``os.replace``, so a
kill during the write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

FORMAT = "genotool.checkpoint/1"
LAST, BEST = "last.pt", "best.pt"


def checkpoint_dir(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / "checkpoints"


def save_atomic(payload: dict, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temp file beside ``path``, fsync, then rename onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def copy_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy a finished checkpoint (best.pt from last.pt) without serialising it again."""
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dst


def load(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a genotool checkpoint. ``weights_only=False``: it holds RNG states and numpy arrays,
    so only load checkpoints this tool wrote."""
    payload = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a genotool checkpoint")
    return payload


def load_model_weights(model: torch.nn.Module, path: str | os.PathLike, strict: bool = True) -> dict:
    """Load only the model weights of a checkpoint into ``model``; return the checkpoint's metadata."""
    payload = load(path)
    model.load_state_dict(payload["model"], strict=strict)
    return {k: payload.get(k) for k in ("epoch", "global_step", "fingerprint", "early_stopping")}


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module under DistributedDataParallel and torch.compile wrappers."""
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    while True:
        # Only unwrap the known wrappers: a user model may have its own `.module` attribute.
        if isinstance(model, (DistributedDataParallel, DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model
