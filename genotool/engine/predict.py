"""Inference helper shared by every plugin's ``predict``/``validate``/``bench``."""

from __future__ import annotations

from collections.abc import Callable

import torch

from genotool.engine.runtime import autocast_context, move_to_device, resolve_device
from genotool.probe import Plan


def predict_loop(model: torch.nn.Module, loader, fn: Callable | None = None, plan: Plan | None = None,
                 device: torch.device | str | None = None) -> list:
    """Run ``fn(model, batch)`` over ``loader`` in eval mode, no_grad and the plan's autocast.

    Batches are moved to the plan's device first. ``fn`` defaults to ``model(batch)``; whatever
    it returns (tensors moved to the CPU) is collected in a list, one entry per
    batch, for the caller to concatenate. The model's train/eval mode is restored afterwards.
    """
    dev = torch.device(device) if device is not None else resolve_device(plan)
    fn = fn or (lambda m, b: m(b))
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.no_grad(), autocast_context(plan, dev):
            for batch in loader:
                out = fn(model, move_to_device(batch, dev, non_blocking=dev.type == "cuda"))
                # no_grad: outputs carry no graph, moving them is enough.
                outputs.append(move_to_device(out, "cpu"))
    finally:
        model.train(was_training)
    return outputs

