"""Tiny model, data and task shared by the engine tests and the subprocess scripts.

Data: x (N, 6) float32 standard normal, y (N,) float32 = x @ w + noise; every item also carries
its index so tests can see which samples a rank trained on.
Model: MLP 6 -> 16 -> 1 with dropout (so exact resume must restore the RNG streams too).
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from genotool.engine import Task, move_to_device


class IndexedRegression(Dataset):
    def __init__(self, n: int = 96, seed: int = 123):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 6, generator=g)
        w = torch.linspace(-1.0, 1.0, 6)
        self.y = self.x @ w + 0.1 * torch.randn(n, generator=g)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return {"index": i, "x": self.x[i], "y": self.y[i]}


def make_model(seed: int = 0, dropout: float = 0.2) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Dropout(dropout),
                               torch.nn.Linear(16, 1))


class RegressionTask(Task):
    """MSE loss; validation reports val_loss (MSE) and val_neg_mse (for max-mode tests)."""

    def __init__(self):
        self.seen: list[int] = []      # indices of every training sample, in order
        self.epochs_started: list[int] = []

    def training_step(self, model, batch):
        self.seen.extend(int(i) for i in batch["index"])
        pred = model(batch["x"]).squeeze(-1)
        return torch.nn.functional.mse_loss(pred.float(), batch["y"])

    def validation_metrics(self, model, loader):
        device = next(model.parameters()).device
        total, n = 0.0, 0
        for batch in loader:
            batch = move_to_device(batch, device)
            pred = model(batch["x"]).squeeze(-1).float()
            total += float(torch.nn.functional.mse_loss(pred, batch["y"], reduction="sum"))
            n += len(batch["y"])
        return {"val_loss": total / n, "val_neg_mse": -total / n}

    def on_epoch_start(self, epoch: int) -> None:
        self.epochs_started.append(epoch)
