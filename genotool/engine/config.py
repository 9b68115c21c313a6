"""Training configuration and its fingerprint.

``TrainConfig`` holds every knob of :class:`genotool.engine.Trainer`. ``fingerprint`` hashes the
fields that change the numbers a run produces (optimizer, schedule, seed, batch size, ...), plus
the model's parameter shapes, the dataset size and the world size, so a checkpoint is only
resumed by a run that would have produced it. Fields that only change speed or logging
(workers, pin_memory, progress, TensorBoard) are left out: a resumed run may change them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

OPTIMIZERS = ("adamw", "adam", "sgd")
from genotool.options import SCHEDULERS  # noqa: E402,F401 - one list for the CLI and the engine
MONITOR_MODES = ("min", "max")

# Fields that do not change the trained weights: excluded from the fingerprint.
_RUNTIME_ONLY = frozenset({
    "num_workers", "prefetch_factor", "pin_memory", "persistent_workers", "compile",
    "compile_backend", "ddp_find_unused_parameters", "tensorboard",
    "tensorboard_dir", "log_every", "progress", "progress_label", "checkpoint_every_epochs", "sync_timing",
    "deterministic", "max_minutes",
})


@dataclass
class TrainConfig:
    """Every option of the shared trainer (see docs/engine.md for each field)."""

    max_epochs: int = 10
    max_minutes: float | None = None    # wall-clock budget: stop after the epoch that reaches it
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adamw"            # adamw | adam | sgd
    momentum: float = 0.9               # sgd only
    scheduler: str = "none"             # none | cosine | plateau | onecycle
    warmup_steps: int = 0               # cosine only: linear warm-up in optimizer steps
    min_lr_ratio: float = 0.0           # cosine floor as a fraction of lr
    plateau_factor: float = 0.5
    plateau_patience: int = 1
    grad_accum_steps: int = 1
    clip_grad_norm: float | None = None  # None or <= 0: no clipping
    monitor: str | None = "val_loss"    # validation metric for best.pt / early stopping / plateau
    monitor_mode: str = "min"           # min | max
    patience: int | None = None         # epochs without improvement before stopping; None: never
    min_delta: float = 0.0
    batch_size: int = 256
    eval_batch_size: int | None = None  # default: batch_size
    shuffle: bool = True
    drop_last: bool = False
    max_steps_per_epoch: int | None = None  # micro-batches per epoch cap (quick runs, benches)
    num_workers: int = 0
    prefetch_factor: int = 2            # only passed to the DataLoader when num_workers > 0
    pin_memory: bool = False            # only honoured on CUDA
    persistent_workers: bool = True     # only when num_workers > 0
    compile: bool = False               # torch.compile the training model
    compile_backend: str = "inductor"   # torch.compile backend ("eager" skips code generation)
    ddp_find_unused_parameters: bool = False  # DDP: set when some parameters get no gradient
    seed: int = 0
    deterministic: bool = False         # torch.use_deterministic_algorithms(True, warn_only=True)
    tensorboard: bool = False
    tensorboard_dir: str | None = None  # default: <out_dir>/tensorboard
    log_every: int = 50                 # steps between progress/TensorBoard loss updates
    progress: bool = True               # rich progress bar on stderr (only when it is a TTY)
    progress_label: str = ""            # prefix of progress lines (several trainings share one stderr)
    checkpoint_every_epochs: int = 1
    sync_timing: bool = True            # CUDA: synchronise per step so compute_seconds is honest
    # Plugin values saved with the checkpoint and hashed into the fingerprint: put model
    # hyper-parameters here so a changed model (dropout, ...) never resumes an old checkpoint.
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        # ValueError, not UserError: a plugin builds the config, a bad one is a plugin bug.
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, not {self.scheduler!r}")
        if self.monitor_mode not in MONITOR_MODES:
            raise ValueError(f"monitor_mode must be 'min' or 'max', not {self.monitor_mode!r}")
        if self.max_epochs < 1 or self.batch_size < 1 or self.grad_accum_steps < 1:
            raise ValueError("max_epochs, batch_size and grad_accum_steps must be >= 1")
        if self.checkpoint_every_epochs < 1:
            raise ValueError("checkpoint_every_epochs must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self, **context) -> str:
        """Hash of the result-changing fields plus ``context`` (model shapes, data size, ...)."""
        body = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _RUNTIME_ONLY}
        body["context"] = context
        text = json.dumps(body, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
