"""Per-epoch history (``history.json`` + ``history.csv``) and early-stopping bookkeeping."""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from genotool.outputs import atomic_file, write_json

# Column order of history.csv; validation metrics and anything else follow alphabetically.
LEADING = ("epoch", "train_loss")
TRAILING = ("lr", "wait_seconds", "compute_seconds", "samples_per_second", "peak_memory_mb",
            "epoch_seconds")
TIMING_KEYS = frozenset({"wait_seconds", "compute_seconds", "samples_per_second", "peak_memory_mb",
                         "epoch_seconds"})


def columns(history: list[dict]) -> list[str]:
    keys = list(dict.fromkeys(k for row in history for k in row))
    middle = sorted(k for k in keys if k not in LEADING and k not in TRAILING)
    return ([k for k in LEADING if k in keys] + middle + [k for k in TRAILING if k in keys])


def write_history(out_dir: str | os.PathLike, history: list[dict]) -> None:
    """Write ``history.json`` and ``history.csv`` atomically (one row per epoch)."""
    out_dir = Path(out_dir)
    write_json(out_dir / "history.json", history)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns(history), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow(row)
    with atomic_file(out_dir / "history.csv") as tmp:
        Path(tmp).write_text(buf.getvalue())


@dataclass
class EarlyStopping:
    """Tracks the best value of the monitored metric and the epochs since it improved."""

    mode: str = "min"
    patience: int | None = None
    min_delta: float = 0.0
    best: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped: bool = False

    def improved(self, value: float) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float | None, epoch: int) -> bool:
        """Record one epoch's value; return True when it is the new best."""
        better = self.improved(value)
        if better:
            self.best, self.best_epoch, self.bad_epochs = float(value), epoch, 0
        else:
            self.bad_epochs += 1
        if self.patience is not None and self.bad_epochs >= self.patience:
            self.stopped = True
        return better

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)
