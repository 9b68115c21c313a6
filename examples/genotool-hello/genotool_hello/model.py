"""MotifCNN: one-hot DNA (N, 4, L) -> motif-presence logit (N,).

conv(4->C, k) + ReLU -> conv(C->C, k, same padding) + ReLU -> global max over positions ->
linear(C->1). The first layer learns position weight matrices; the max makes the answer
independent of where the motif sits.
"""

from __future__ import annotations

import torch
from torch import nn


class MotifCNN(nn.Module):
    def __init__(self, channels: int = 32, kernel: int = 9):
        super().__init__()
        self.config = {"channels": channels, "kernel": kernel}
        self.conv1 = nn.Conv1d(4, channels, kernel)
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding=kernel // 2)
        self.head = nn.Linear(channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 4, L) float, L >= kernel -> logits (N,)."""
        h = torch.relu(self.conv1(x))          # (N, C, L - k + 1)
        h = torch.relu(self.conv2(h))          # (N, C, L - k + 1)
        h = h.amax(dim=-1)                     # (N, C)
        return self.head(h).squeeze(-1)        # (N,)


PLUGIN = "hello"


def build(config: dict) -> MotifCNN:
    """The network a saved config describes (what ``genotool.engine.model_io`` calls)."""
    return MotifCNN(**config)


def export(model: MotifCNN, model_dir, **facts) -> None:
    """Write ``model.pt`` in genotool's model format; ``facts`` (sequence length, best epoch, ...)
    travel as the payload's ``extra``."""
    from genotool.engine.model_io import export_model

    export_model(model, model_dir, plugin=PLUGIN, config=model.config, extra=facts)


def _legacy(model_dir) -> dict | None:
    """Folders from before genotool's model format: model.json + a bare state_dict in model.pt."""
    import json
    from pathlib import Path

    cfg_path, weights = Path(model_dir) / "model.json", Path(model_dir) / "model.pt"
    if not cfg_path.is_file() or not weights.is_file():
        return None
    meta = json.loads(cfg_path.read_text())
    return {"config": meta["model"], "state_dict": torch.load(weights, map_location="cpu", weights_only=True),
            "extra": {k: v for k, v in meta.items() if k != "model"}}


def load_model(model_dir) -> tuple[MotifCNN, dict]:
    """Rebuild a trained model from a ``hello train`` output folder: (model in eval mode, extra facts
    such as the sequence ``length``). Problems are one-line ``--model`` errors."""
    from genotool.engine.model_io import load_model as load

    model, payload = load(model_dir, build, plugin=PLUGIN, legacy=_legacy)
    return model, payload["extra"]
