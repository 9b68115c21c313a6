"""Dataset, focal loss and the engine :class:`Task` for genotype models."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from genotool.engine import Task, move_to_device


class GenotypeDataset(Dataset):
    """Rows ``rows`` of ``geno`` (N, C, L) int8 with targets ``y`` (N,): (x (C, L) int8, y), plus
    the linear head's out-of-fold logits (K,) when ``offsets`` (len(rows), K) is given."""

    def __init__(self, geno: np.ndarray, y: np.ndarray, rows: np.ndarray, offsets: np.ndarray | None = None):
        self.x = torch.from_numpy(np.ascontiguousarray(geno[rows]))
        self.y = torch.from_numpy(np.asarray(y)[rows])
        if self.y.dtype == torch.float64:
            self.y = self.y.float()
        self.offsets = None if offsets is None else torch.from_numpy(np.asarray(offsets, np.float32))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        if self.offsets is None:
            return self.x[i], self.y[i]
        return self.x[i], self.y[i], self.offsets[i]


def focal_loss(logits: torch.Tensor, y: torch.Tensor, gamma: float = 2.0, alpha: float | None = None,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Multi-class focal loss: mean over the batch of -w_y * a_y * (1 - p_y)^gamma * log p_y.

    logits (B, K), y (B,). ``alpha`` (binary convention, Lin et al. 2017) weighs class 1 by alpha
    and class 0 by 1 - alpha; ``weight`` (K,) are class weights. gamma = 0 is cross-entropy."""
    logp = F.log_softmax(logits.float(), 1).gather(1, y[:, None]).squeeze(1)
    loss = -((1 - logp.exp()) ** gamma) * logp if gamma else -logp
    if weight is not None:
        loss = loss * weight[y]
    if alpha is not None:
        loss = loss * torch.where(y == 1, alpha, 1 - alpha)
    return loss.mean()


class SnpTask(Task):
    def __init__(self, kind: str, class_weights=None, gamma: float = 2.0, alpha: float | None = None):
        self.kind = kind
        self.weights = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.gamma, self.alpha = gamma, alpha

    def loss(self, out, y):
        if self.kind == "classes":
            w = self.weights.to(out.device) if self.weights is not None else None
            return focal_loss(out, y, self.gamma, self.alpha, w)
        return F.mse_loss(out.float().squeeze(1), y.float())

    def training_step(self, model, batch):
        x, y, *offsets = batch            # offsets: the linear head's out-of-fold logits
        return self.loss(model(x, *offsets), y)

    def validation_metrics(self, model, loader):
        dev = next(model.parameters()).device
        outs, ys = [], []
        for batch in loader:
            x, y = move_to_device(batch, dev)
            outs.append(model(x).float())
            ys.append(y)
        out, y = torch.cat(outs), torch.cat(ys)
        m = {"val_loss": float(self.loss(out, y))}
        if self.kind == "classes":
            m["val_accuracy"] = float((out.argmax(1) == y).float().mean())
        else:
            res = ((out.squeeze(1) - y) ** 2).sum()
            tot = ((y - y.mean()) ** 2).sum().clamp_min(1e-12)
            m["val_r2"] = float(1 - res / tot)
        return m
