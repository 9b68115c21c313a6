"""``hello train``: the verb (:class:`TrainOptions`, :func:`run_train`) and its training code.

This is the part a plugin author copies: the options inherit the core's run options
(``--device``, ``--precision``, ``--batch-size``, ``--threads``, ``--tf32``), ``run_train`` checks
them, gets the plan from the core (``opts.plan()``), stages the output with ``run_output`` and
hands datasets, a model and a :class:`genotool.engine.Task` to ``genotool.engine.Trainer``; the
engine does precision, checkpoints, resume, DDP and metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genotool.engine import Task, TrainConfig, Trainer, move_to_device
from genotool.errors import UserError, require_dir
from genotool.log import log
from genotool.options import SCHEDULERS, RunOptions, check_choice
from genotool_hello.data import make_dataset, subset
from genotool_hello.metrics import binary_metrics
from genotool_hello.model import MotifCNN, export


@dataclass
class TrainOptions(RunOptions):
    """One ``hello train`` command line."""

    data: Path
    output: Path
    epochs: int = 10
    lr: float = 3e-3
    channels: int = 32
    kernel: int = 9
    patience: int = 3
    scheduler: str = "onecycle"
    num_workers: int | None = None
    tensorboard: bool = False
    seed: int = 0
    force: bool = False

    def check(self) -> None:
        require_dir(self.data, "--data")
        if self.epochs < 1 or self.channels < 1 or self.kernel < 1:
            raise UserError("--epochs, --channels and --kernel must be >= 1")
        check_choice(self.scheduler, SCHEDULERS, "--scheduler")


def run_train(opts: TrainOptions) -> None:
    """Train the CNN with the shared engine; a killed run resumes when re-run with the same -o."""
    from genotool.outputs import run_output
    from genotool_hello.data import load_npz

    opts.check()
    arrays = load_npz(opts.data)
    length = int(arrays["codes"].shape[1])
    if length < opts.kernel:
        raise UserError(f"--kernel {opts.kernel} is longer than the sequences ({length})")
    plan = opts.plan()
    bs = choose_batch_size(plan, opts.channels, opts.kernel, length)
    tcfg = TrainConfig(max_epochs=opts.epochs, lr=opts.lr, weight_decay=1e-2, optimizer="adamw",
                       scheduler=opts.scheduler, monitor="val_auc", monitor_mode="max", patience=opts.patience,
                       clip_grad_norm=1.0, batch_size=bs, num_workers=opts.num_workers or 0,
                       pin_memory=plan.device.startswith("cuda"), seed=opts.seed, tensorboard=opts.tensorboard,
                       extra={"channels": opts.channels, "kernel": opts.kernel})
    params = dict(epochs=opts.epochs, lr=opts.lr, channels=opts.channels, kernel=opts.kernel, patience=opts.patience,
                  scheduler=opts.scheduler, batch_size=tcfg.batch_size, seed=opts.seed)
    with run_output(opts.output, command="hello train", parameters=params, inputs=[opts.data],
                    force=opts.force) as run:
        run.plan = plan
        if run.resumed:
            log(f"resuming from {run.path}")
        run.runtime.update(fit(arrays, run.path, tcfg, plan, opts.channels, opts.kernel))
        run.extra["train_config"] = tcfg.to_dict()
    log(f"model -> {opts.output}")


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


def fit(data: dict, out_dir: Path, cfg: TrainConfig, plan, channels: int, kernel: int) -> dict:
    """Train on the train split, monitor the validation split; write model.pt (genotool's model
    format, ``genotool.engine.model_io``) + model_config.json."""
    train_part, val_part = subset(data, "train"), subset(data, "val")
    if len(train_part["labels"]) == 0 or len(val_part["labels"]) == 0:
        raise UserError("--data: the train and validation splits must both be non-empty")
    if np.isnan(train_part["labels"]).any():
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

