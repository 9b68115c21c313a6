"""Optimizer and learning-rate schedule construction from a :class:`TrainConfig`.

Schedules and when they step:

* ``none``      - constant ``lr``.
* ``cosine``    - optional linear warm-up over ``warmup_steps``, then cosine decay to
                  ``lr * min_lr_ratio`` at the last optimizer step; stepped per optimizer step.
* ``onecycle``  - ``torch.optim.lr_scheduler.OneCycleLR`` with ``max_lr = lr``; per optimizer step.
* ``plateau``   - ``ReduceLROnPlateau`` on the monitored metric; stepped once per epoch.
"""

from __future__ import annotations

import math

import torch

from genotool.engine.config import TrainConfig

PER_STEP = frozenset({"cosine", "onecycle"})


def build_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


class _CosineWithWarmup:
    """Picklable LR multiplier (LambdaLR only saves callable objects, so keep it a class)."""

    def __init__(self, total_steps: int, warmup_steps: int, min_ratio: float):
        self.total = max(1, total_steps)
        self.warmup = max(0, min(warmup_steps, self.total - 1))
        self.min_ratio = min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        span = max(1, self.total - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int,
                    mode: str | None = None):
    """The LR scheduler (or None). ``steps_per_epoch`` counts optimizer steps, not micro-batches;
    ``mode`` is the plateau direction of the metric actually monitored (default cfg.monitor_mode)."""
    total = max(1, steps_per_epoch * cfg.max_epochs)
    if cfg.scheduler == "none":
        return None
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, _CosineWithWarmup(total, cfg.warmup_steps, cfg.min_lr_ratio))
    if cfg.scheduler == "onecycle":
        # cycle_momentum needs a momentum/beta; every supported optimizer has one.
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=mode or cfg.monitor_mode, factor=cfg.plateau_factor, patience=cfg.plateau_patience)


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])
