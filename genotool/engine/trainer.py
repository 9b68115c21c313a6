"""The shared training loop: :class:`Trainer` and :class:`FitResult`.

One loop serves single-process CPU/GPU runs and ``torchrun`` data-parallel runs. Per
micro-batch: wait for the DataLoader (timed as ``wait_seconds``), move the batch to the device,
``task.training_step`` under autocast, backward of ``loss / group_size`` (so accumulating k
micro-batches of size B averages like one batch of kB), and on the last micro-batch of a group:
unscale (fp16), clip, optimizer step, per-step LR schedule. Per epoch: validation on rank 0
(result broadcast so every rank takes the same early-stopping / plateau decision), history row,
checkpoint, callbacks.
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from genotool.engine import checkpoint as ckpt
from genotool.engine import distributed as dist
from genotool.engine.config import TrainConfig
from genotool.engine.data import EpochLoader, eval_loader
from genotool.engine.metrics import EarlyStopping, write_history
from genotool.engine.optim import PER_STEP, build_optimizer, build_scheduler, current_lr
from genotool.engine.progress import make_progress
from genotool.engine.runtime import (autocast_context, batch_size_of, move_to_device, peak_memory_mb,
                                     reset_peak_memory, resolve_device, rng_state, seed_everything,
                                     set_rng_state, synchronize)
from genotool.engine.task import Task
from genotool.probe import Plan, apply_torch


@dataclass
class FitResult:
    """What :meth:`Trainer.fit` returns (identical on every rank)."""

    history: list[dict]
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    best_metric: float | None
    best_epoch: int | None
    monitor: str
    stopped_early: bool
    resumed_from_epoch: int          # epochs already done in the checkpoint resumed from; 0 if fresh
    epochs_run: int                  # epochs trained by this call
    global_step: int                 # optimizer steps in total
    runtime: dict = field(default_factory=dict)  # summary for run.runtime / metadata.json


@dataclass
class _Run:
    """What one :meth:`Trainer.fit` call works with (built by ``_prepare``, resumed by ``_restore``)."""

    raw: torch.nn.Module                 # the unwrapped model on its device
    train: EpochLoader
    val: object                          # evaluation DataLoader or None
    optimizer: torch.optim.Optimizer
    scheduler: object                    # LR scheduler or None
    scaler: torch.amp.GradScaler
    stopper: EarlyStopping
    monitor: str                         # the metric early stopping and best.pt follow
    fingerprint: str                     # must match a checkpoint's to resume from it
    start_epoch: int = 1

    @property
    def resumed_from(self) -> int:
        """Epochs already done in the checkpoint resumed from (0 for a fresh start)."""
        return self.start_epoch - 1


class Trainer:
    """Train a model on a :class:`Task` (see docs/engine.md).

    ``callbacks`` are ``fn(trainer, epoch, row)`` called on every rank after each epoch's
    history row, checkpoint and history files are written.
    """

    def __init__(self, cfg: TrainConfig, plan: Plan | None = None, out_dir=".", callbacks=None):
        self.cfg = cfg
        self.plan = plan
        self.out_dir = Path(out_dir)
        self.callbacks = list(callbacks or [])
        self.dist = dist.DistInfo()
        self.device = resolve_device(plan)
        self.history: list[dict] = []
        self.global_step = 0
        self._step_lr = cfg.lr

    # -- paths and small API -------------------------------------------------------------
    def _budget_spent(self, t_fit: float) -> bool:
        """True once ``cfg.max_minutes`` of this call's wall time are used (rank 0 decides, so
        every rank stops after the same epoch)."""
        if not self.cfg.max_minutes:
            return False
        spent = (time.perf_counter() - t_fit) / 60.0 >= self.cfg.max_minutes
        return bool(dist.broadcast_object(spent, self.dist))

    @property
    def checkpoint_dir(self) -> Path:
        return ckpt.checkpoint_dir(self.out_dir)

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoint_dir / ckpt.LAST

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoint_dir / ckpt.BEST

    @property
    def is_main(self) -> bool:
        """True on rank 0 (or in a single process): the only rank that should write files."""
        return self.dist.is_main

    def add_callback(self, fn) -> None:
        self.callbacks.append(fn)

    def load_best(self, model: torch.nn.Module) -> dict:
        """Load ``best.pt`` (else ``last.pt``) weights into ``model``; return checkpoint info."""
        path = self.best_checkpoint if self.best_checkpoint.exists() else self.last_checkpoint
        if not path.exists():
            raise FileNotFoundError(f"no checkpoint in {self.checkpoint_dir}")
        return ckpt.load_model_weights(ckpt.unwrap(model), path)

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, model: torch.nn.Module, task: Task, train_dataset, val_dataset=None,
            collate_fn=None) -> FitResult:
        """Train ``model`` on ``task`` (resuming from ``checkpoints/last.pt`` when it matches).

        Steps: :meth:`_prepare` (devices, loaders, optimizer, schedule, early stopping) ->
        :meth:`_restore` (the resume checkpoint, if any) -> :meth:`_wrap` (DDP, compile) -> one
        :meth:`_epoch` per epoch until the last epoch, early stopping or the time budget.
        """
        cfg = self.cfg
        run = self._prepare(model, train_dataset, val_dataset, collate_fn)
        rng_states = self._restore(run)
        train_model, ddp = self._wrap(run.raw)
        writer = self._tensorboard() if self.is_main else None
        progress = make_progress(cfg.progress and self.is_main, cfg.max_epochs, cfg.progress_label)
        if run.resumed_from:
            progress.note(f"resuming from {self.last_checkpoint} (epoch {run.resumed_from} of {cfg.max_epochs} done)")
        if rng_states is not None:
            # Last thing before the loop: setup above must not shift the restored streams.
            set_rng_state(rng_states[self.dist.rank] if len(rng_states) == self.dist.world_size
                          else rng_states[0])
        epochs_run = 0
        t_fit = time.perf_counter()
        self.stopped_by_budget = False
        try:
            finished = run.stopper.stopped or run.start_epoch > cfg.max_epochs
            for epoch in range(run.start_epoch, cfg.max_epochs + 1) if not finished else ():
                out_of_time = self._epoch(run, train_model, ddp, task, progress, writer, epoch, t_fit)
                epochs_run += 1
                if run.stopper.stopped or out_of_time:
                    self.stopped_by_budget = out_of_time and not run.stopper.stopped
                    break
        finally:
            progress.close()
            if writer is not None:
                writer.close()
        result = self._result(run.stopper, run.monitor, run.resumed_from, epochs_run)
        if self.dist.enabled:
            # The DDP reducer holds the process group and its hooks stay on the parameters until
            # it is freed; drop it now so the group can be destroyed cleanly at exit and the
            # model can be trained again (next fold) or used alone.
            del train_model, ddp
            gc.collect()
        return result

    def _prepare(self, model, train_dataset, val_dataset, collate_fn) -> "_Run":
        """Process group, device, seeds, loaders, optimizer, schedule, scaler, early stopping and
        the fingerprint that decides whether a checkpoint may be resumed."""
        cfg = self.cfg
        precision = self.plan.precision if self.plan is not None else "fp32"
        base_device = resolve_device(self.plan)
        self.dist = dist.init(base_device.type)
        self.device = resolve_device(self.plan, self.dist.local_rank if self.dist.enabled else None)
        if self.plan is not None:
            apply_torch(self.plan)
        # Ranks differ in seed so dropout masks differ; the model itself is synced by DDP.
        seed_everything(cfg.seed + self.dist.rank, deterministic=cfg.deterministic)
        raw = model.to(self.device)

        train = EpochLoader(train_dataset, cfg, self.dist, self.device, collate_fn)
        val = eval_loader(val_dataset, cfg, self.device, collate_fn) if val_dataset is not None else None
        optimizer = build_optimizer(cfg, raw.parameters())
        # Without validation data (or monitor=None) the train loss is what is monitored.
        monitor = cfg.monitor if (cfg.monitor and val is not None) else "train_loss"
        mode = cfg.monitor_mode if monitor == cfg.monitor else "min"
        scheduler = build_scheduler(cfg, optimizer, train.optimizer_steps(), mode=mode)
        scaler = torch.amp.GradScaler(self.device.type, enabled=(precision == "fp16-mixed"))
        stopper = EarlyStopping(mode=mode, patience=cfg.patience, min_delta=cfg.min_delta)
        fingerprint = cfg.fingerprint(
            params=[(n, list(p.shape), str(p.dtype)) for n, p in raw.state_dict().items()],
            n_train=len(train_dataset), world_size=self.dist.world_size, precision=precision)
        return _Run(raw=raw, train=train, val=val, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                    stopper=stopper, monitor=monitor, fingerprint=fingerprint)

    def _restore(self, run: "_Run") -> list | None:
        """Load ``last.pt`` into the run when its fingerprint matches; returns the saved RNG
        streams (restored only right before the loop) or None for a fresh start."""
        self.history, self.global_step = [], 0
        state = self._load_resume_state(run.fingerprint)
        if state is None:
            return None
        run.raw.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        if run.scheduler is not None and state.get("scheduler") is not None:
            run.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            run.scaler.load_state_dict(state["scaler"])
        run.stopper.load_state_dict(state["early_stopping"])
        self.history = list(state["history"])
        self.global_step = int(state["global_step"])
        run.start_epoch = int(state["epoch"]) + 1
        return state["rng"]

    def _wrap(self, raw):
        """(model to train, DDP wrapper or None): DDP under torchrun, then torch.compile if asked."""
        ddp = None
        train_model = raw
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ddp = DistributedDataParallel(
                raw, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=self.cfg.ddp_find_unused_parameters)
            train_model = ddp
        if self.cfg.compile:
            train_model = torch.compile(train_model, backend=self.cfg.compile_backend)
        return train_model, ddp

    def _epoch(self, run: "_Run", train_model, ddp, task, progress, writer, epoch: int, t_fit: float) -> bool:
        """Train one epoch, validate, update schedule and early stopping, write the history row
        and checkpoint, call the callbacks. Returns True when the time budget is spent."""
        cfg = self.cfg
        t_epoch = time.perf_counter()
        task.on_epoch_start(epoch)
        run.train.set_epoch(epoch)
        self._step_lr = current_lr(run.optimizer)
        stats = self._train_epoch(train_model, run.raw, ddp, task, run.train, run.optimizer, run.scheduler,
                                  run.scaler, progress, writer, epoch)
        t_val = time.perf_counter()
        metrics = self._validate(run.raw, task, run.val) if run.val is not None else {}
        row = {"epoch": epoch, "train_loss": stats.pop("train_loss"), **metrics,
               "lr": self._step_lr, **stats,
               "val_seconds": round(time.perf_counter() - t_val, 4),
               "epoch_seconds": round(time.perf_counter() - t_epoch, 4)}
        value = self._monitored(row, run.monitor)
        if cfg.scheduler == "plateau":
            run.scheduler.step(value)
        is_best = run.stopper.update(value, epoch)
        self.history.append(row)
        out_of_time = self._budget_spent(t_fit)
        last_epoch = run.stopper.stopped or out_of_time or epoch == cfg.max_epochs
        if is_best or last_epoch or epoch % cfg.checkpoint_every_epochs == 0:
            self._save(run.raw, run.optimizer, run.scheduler, run.scaler, run.stopper, epoch, run.fingerprint,
                       is_best)
        if self.is_main:
            write_history(self.out_dir, self.history)
            self._log_epoch(writer, row)
        progress.end_epoch(row)
        for fn in self.callbacks:
            fn(self, epoch, row)
        return out_of_time

    # -- pieces of fit ------------------------------------------------------------------------
    def _train_epoch(self, train_model, raw, ddp, task, train: EpochLoader, optimizer, scheduler,
                     scaler, progress, writer, epoch: int) -> dict:
        cfg, device = self.cfg, self.device
        train_model.train()
        reset_peak_memory(device)
        n_micro, accum = train.micro_batches(), cfg.grad_accum_steps
        progress.start_epoch(epoch, n_micro)
        # Accumulate on the device (no per-step sync); MPS has no float64.
        acc_dtype = torch.float32 if device.type == "mps" else torch.float64
        loss_sum = torch.zeros((), dtype=acc_dtype, device=device)
        samples, wait, compute = 0, 0.0, 0.0
        non_blocking = cfg.pin_memory and device.type == "cuda"
        optimizer.zero_grad(set_to_none=True)
        t_start = time.perf_counter()
        iterator = iter(train.loader)
        for i in range(n_micro):
            t0 = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:  # a loader shorter than len() (IterableDataset)
                break
            t1 = time.perf_counter()
            wait += t1 - t0
            batch = move_to_device(batch, device, non_blocking=non_blocking)
            group_start = (i // accum) * accum
            group_size = min(accum, n_micro - group_start)
            is_step = i - group_start == group_size - 1
            # Skip DDP's gradient all-reduce on micro-batches that do not end a group.
            no_sync = ddp.no_sync() if (ddp is not None and not is_step) else contextlib.nullcontext()
            with no_sync:
                with autocast_context(self.plan, device):
                    loss = task.training_step(train_model, batch)
                scaler.scale(loss / group_size).backward()
            n = batch_size_of(batch)
            samples += n
            loss_sum += loss.detach().to(acc_dtype) * n
            if is_step:
                self._optimizer_step(raw, optimizer, scheduler, scaler)
            if cfg.sync_timing:
                synchronize(device)
            compute += time.perf_counter() - t1
            if (i + 1) % cfg.log_every == 0 or i + 1 == n_micro:
                shown = float(loss.detach())
                progress.advance((i % cfg.log_every) + 1, shown)
                if writer is not None:
                    writer.add_scalar("train/loss_step", shown, self.global_step)
        train_seconds = time.perf_counter() - t_start
        totals = dist.all_reduce_sum([float(loss_sum), float(samples)], self.dist, device)
        peaks = dist.all_reduce_max([wait, compute, peak_memory_mb(device)], self.dist, device)
        return {"train_loss": totals[0] / max(totals[1], 1.0),
                "wait_seconds": round(peaks[0], 4), "compute_seconds": round(peaks[1], 4),
                "samples_per_second": round(totals[1] / max(train_seconds, 1e-9), 2),
                "peak_memory_mb": peaks[2]}

    def _optimizer_step(self, raw, optimizer, scheduler, scaler) -> None:
        if self.cfg.clip_grad_norm and self.cfg.clip_grad_norm > 0:
            scaler.unscale_(optimizer)  # clip true gradients, not fp16-scaled ones
            torch.nn.utils.clip_grad_norm_(raw.parameters(), self.cfg.clip_grad_norm)
        self._step_lr = current_lr(optimizer)  # the lr this step used, for the history row
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if scheduler is not None and self.cfg.scheduler in PER_STEP:
            with warnings.catch_warnings():
                # fp16: a step skipped for inf grads makes torch warn about the order; harmless.
                warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*")
                scheduler.step()
        self.global_step += 1

    def _validate(self, raw, task, loader) -> dict:
        """Rank 0 runs ``task.validation_metrics`` on the unwrapped model; all ranks get the result."""
        metrics = None
        if self.is_main:
            was_training = raw.training
            raw.eval()
            try:
                with torch.no_grad(), autocast_context(self.plan, self.device):
                    metrics = {k: float(v) for k, v in task.validation_metrics(raw, loader).items()}
            finally:
                raw.train(was_training)
        return dist.broadcast_object(metrics, self.dist)

    def _monitored(self, row: dict, monitor: str) -> float:
        if monitor not in row:
            raise KeyError(f"monitor '{monitor}' is not among the epoch's metrics: "
                           f"{', '.join(k for k in row)}")
        return float(row[monitor])

    def _load_resume_state(self, fingerprint: str) -> dict | None:
        """The checkpoint to resume from, or None. A fingerprint mismatch warns, moves the old
        checkpoints aside (``*.stale``) and starts fresh."""
        path = self.last_checkpoint
        if not path.exists():
            return None
        state = ckpt.load(path)
        if state.get("fingerprint") == fingerprint:
            return state
        warnings.warn(f"{path}: written by a different configuration (fingerprint "
                      f"{state.get('fingerprint')} != {fingerprint}); starting fresh and keeping it as "
                      f"{path.name}.stale", stacklevel=3)
        dist.barrier(self.dist)  # every rank has read it before rank 0 moves it
        if self.is_main:
            for p in (self.last_checkpoint, self.best_checkpoint):
                if p.exists():
                    p.replace(p.with_name(p.name + ".stale"))
        dist.barrier(self.dist)
        return None

    def _save(self, raw, optimizer, scheduler, scaler, stopper, epoch, fingerprint, is_best) -> None:
        # Collective: every rank contributes its RNG streams so each resumes its own.
        rngs = [rng_state()]
        if self.dist.enabled:
            rngs = [None] * self.dist.world_size
            torch.distributed.all_gather_object(rngs, rng_state())
        if not self.is_main:
            return
        payload = {"format": ckpt.FORMAT, "fingerprint": fingerprint, "epoch": epoch,
                   "global_step": self.global_step, "model": raw.state_dict(),
                   "optimizer": optimizer.state_dict(),
                   "scheduler": scheduler.state_dict() if scheduler is not None else None,
                   "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                   "rng": rngs, "early_stopping": stopper.state_dict(), "history": self.history,
                   "config": self.cfg.to_dict(),
                   "plan": self.plan.to_dict() if self.plan is not None else None}
        ckpt.save_atomic(payload, self.last_checkpoint)
        if is_best:
            ckpt.copy_atomic(self.last_checkpoint, self.best_checkpoint)

    def _tensorboard(self):
        if not self.cfg.tensorboard:
            return None
        from torch.utils.tensorboard import SummaryWriter  # lazy: tensorboard is optional

        return SummaryWriter(log_dir=str(self.cfg.tensorboard_dir or self.out_dir / "tensorboard"))

    def _log_epoch(self, writer, row: dict) -> None:
        if writer is None:
            return
        for k, v in row.items():
            if k != "epoch" and isinstance(v, (int, float)) and math.isfinite(v):
                writer.add_scalar(f"epoch/{k}", v, row["epoch"])
        writer.flush()

    def _result(self, stopper: EarlyStopping, monitor: str, resumed_from: int, epochs_run: int):
        hist = self.history
        best = self.best_checkpoint if self.best_checkpoint.exists() else None
        last = self.last_checkpoint if self.last_checkpoint.exists() else None
        ran = hist[len(hist) - epochs_run:] if epochs_run else []  # rows trained by this call
        runtime = {
            "epochs": len(hist), "epochs_this_run": epochs_run, "resumed_from_epoch": resumed_from,
            "global_step": self.global_step, "world_size": self.dist.world_size,
            "device": str(self.device), "stopped_early": stopper.stopped,
            "stopped_by_time_budget": self.stopped_by_budget,
            "best_epoch": stopper.best_epoch, f"best_{monitor}": stopper.best,
        }
        if ran:
            train_s = sum(r["wait_seconds"] + r["compute_seconds"] for r in ran)
            runtime.update(
                train_wait_seconds=round(sum(r["wait_seconds"] for r in ran), 3),
                train_compute_seconds=round(sum(r["compute_seconds"] for r in ran), 3),
                wait_fraction=round(sum(r["wait_seconds"] for r in ran) / max(train_s, 1e-9), 4),
                mean_samples_per_second=round(sum(r["samples_per_second"] for r in ran) / len(ran), 2),
                peak_memory_mb=max(r["peak_memory_mb"] for r in ran),
                fit_seconds=round(sum(r["epoch_seconds"] for r in ran), 3))
        return FitResult(history=hist, best_checkpoint=best, last_checkpoint=last,
                         best_metric=stopper.best, best_epoch=stopper.best_epoch, monitor=monitor,
                         stopped_early=stopper.stopped, resumed_from_epoch=resumed_from,
                         epochs_run=epochs_run, global_step=self.global_step, runtime=runtime)
