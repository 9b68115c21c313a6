"""Training with the shared engine: a :class:`genotool.engine.Task` and a ``train`` function.

This is the part a plugin author copies: build datasets, a model and a Task, hand them to
``genotool.engine.Trainer``; the engine does precision, checkpoints, resume, DDP and metrics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genotool.engine import Task, TrainConfig, Trainer, move_to_device
from genotool_hello.data import make_dataset, subset
from genotool_hello.metrics import binary_metrics
from genotool_hello.model import MotifCNN, export


class MotifTask(Task):
    """Binary cross-entropy on logits; validation reports loss, AUC and accuracy."""

    def training_step(self, model, batch):
        x, y = batch                                        # (B, 4, L), (B,)
        return torch.nn.functional.binary_cross_entropy_with_logits(model(x).float(), y)

    def validation_metrics(self, model, loader):
        device = next(model.parameters()).device
        logits, labels = [], []
        for batch in loader:
            x, y = move_to_device(batch, device)
            logits.append(model(x).float().cpu())
            labels.append(y.cpu())
        logit, label = torch.cat(logits), torch.cat(labels)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, label).item()
        m = binary_metrics(torch.sigmoid(logit).numpy(), label.numpy())
        return {"val_loss": loss, "val_auc": m["auc"], "val_accuracy": m["accuracy"]}


def train(data: dict, out_dir: Path, cfg: TrainConfig, plan, channels: int, kernel: int) -> dict:
    """Train on the train split, monitor the validation split; write model.pt (genotool's model
    format, ``genotool.engine.model_io``) + model_config.json."""
    train_part, val_part = subset(data, "train"), subset(data, "val")
    if len(train_part["labels"]) == 0 or len(val_part["labels"]) == 0:
        from genotool.errors import UserError

        raise UserError("--data: the train and validation splits must both be non-empty")
    if np.isnan(train_part["labels"]).any():
        from genotool.errors import UserError

        raise UserError("--data: training needs labels (the input TSV had no 'label' column)")
    torch.manual_seed(cfg.seed)  # model initialisation follows the seed too
    model = MotifCNN(channels=channels, kernel=kernel)
    trainer = Trainer(cfg, plan=plan, out_dir=out_dir)
    result = trainer.fit(model, MotifTask(), make_dataset(train_part["codes"], train_part["labels"]),
                         make_dataset(val_part["codes"], val_part["labels"]))
    trainer.load_best(model)
    if trainer.is_main:
        export(model, out_dir, length=int(data["codes"].shape[1]), best_epoch=result.best_epoch,
               monitor=result.monitor, best_metric=result.best_metric)
    return result.runtime


def bytes_per_sample(channels: int, length: int) -> int:
    """Rough training memory per sample (fp32 activations of both convs, kept for backward, x3
    for gradients and temporaries); only used to cap the CPU batch size."""
    return 4 * length * (4 + 2 * channels) * 3


def step_fn(plan, channels: int, kernel: int, length: int):
    """One full training step at batch size n on random data: what find_batch_size measures."""
    from genotool.engine import autocast_context, resolve_device

    device = resolve_device(plan)
    model = MotifCNN(channels=channels, kernel=kernel).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device.type, enabled=plan.precision == "fp16-mixed")

    def step(n: int) -> None:
        x = torch.nn.functional.one_hot(torch.randint(0, 4, (n, length), device=device), 4)
        x = x.transpose(1, 2).float()
        y = torch.randint(0, 2, (n,), device=device).float()
        with autocast_context(plan, device):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x).float(), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)

    return model, step


def choose_batch_size(plan, channels: int, kernel: int, length: int, default: int = 64) -> int:
    """--batch-size if given; measured (and cached) on a GPU; RAM-capped default on the CPU.
    Records the choice in ``plan.batch_size_source`` for metadata.json."""
    from genotool.engine import find_batch_size

    _, step = step_fn(plan, channels, kernel, length)
    return find_batch_size(step, plan=plan, cache_key=f"hello-cnn{channels}-k{kernel}-L{length}",
                           default=default, bytes_per_sample=bytes_per_sample(channels, length),
                           max_size=8192)


def predict_probs(model: MotifCNN, codes: np.ndarray, plan, batch_size: int) -> np.ndarray:
    """Motif probabilities (N,) for encoded sequences (N, L)."""
    from torch.utils.data import DataLoader

    from genotool.engine import predict_loop, resolve_device

    model.to(resolve_device(plan))
    ds = make_dataset(codes, np.zeros(len(codes), dtype=np.float32))
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False)
    outs = predict_loop(model, loader, lambda m, b: torch.sigmoid(m(b[0]).float()), plan)
    return torch.cat(outs).numpy() if outs else np.zeros(0, dtype=np.float32)
