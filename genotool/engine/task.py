"""The :class:`Task` a plugin implements: how to compute a loss and how to validate."""

from __future__ import annotations

import torch


class Task:
    """What a model is trained to do. Subclass and implement :meth:`training_step` and
    :meth:`validation_metrics`.

    The trainer moves each batch to the device before calling ``training_step`` and runs it
    under autocast; ``validation_metrics`` is called with the model in eval mode, under
    ``torch.no_grad()`` and autocast, with the validation DataLoader (batches still on the
    host: use :func:`genotool.engine.move_to_device`).
    """

    def training_step(self, model: torch.nn.Module, batch) -> torch.Tensor:
        """Return the scalar loss (0-dim tensor) of one micro-batch."""
        raise NotImplementedError

    def validation_metrics(self, model: torch.nn.Module, loader) -> dict[str, float]:
        """Return metrics such as ``{"val_loss": ..., "val_auc": ...}`` (floats)."""
        raise NotImplementedError

    def on_epoch_start(self, epoch: int) -> None:
        """Called on every rank before each training epoch (epochs count from 1)."""
