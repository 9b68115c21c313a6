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


def load_model(model_dir) -> tuple[MotifCNN, dict]:
    """Rebuild a trained model from a ``hello train`` output folder (model.json + model.pt)."""
    import json
    from pathlib import Path

    from genotool.errors import UserError

    model_dir = Path(model_dir)
    cfg_path, weights = model_dir / "model.json", model_dir / "model.pt"
    if not cfg_path.is_file() or not weights.is_file():
        raise UserError(f"--model {model_dir}: not a `genotool hello train` output (model.json/model.pt missing)")
    meta = json.loads(cfg_path.read_text())
    model = MotifCNN(**meta["model"])
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model, meta
