"""The two config objects of gencode: :class:`ModelConfig` (what a model is: encoder and CRF
head; saved with the weights) and :class:`TrainSettings` (how it is trained: budget and
optimiser). The CLI builds each once from its options; `train`, `compare` and the library take
them whole. No torch import: the CLI may build them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Optional

from genotool.errors import UserError

HEADS = ("pytorch-crf", "linear", "semicrf")
ENCODERS = ("bilstm", "mamba")
BACKENDS = ("auto", "streaming", "exact", "flash")
CHAINS = ("canonical", "all")
STATES = ("strand", "labels")
STRUCTURE_INITS = ("counts", "random")
DURATIONS = ("smooth", "table")
LONG_RUNS = ("pieces", "tail")

# What a saved config without a key meant when it was written (the options were added later):
# models saved before each option load with the behaviour they were trained with.
_BEFORE_OPTION = {"states": "labels", "chain": "all", "durations": "table", "boundary_scores": False,
                  "censor_edges": False, "long_runs": "pieces", "orf_scores": False, "linear_warmup_epochs": 0,
                  "emission_clamp": 0.0, "backend": "streaming", "no_triton": False, "d_state": 16, "d_conv": 4,
                  "expand": 2, "structure_init": "counts"}


@dataclass(frozen=True)
class ModelConfig:
    """Encoder + CRF head. Defaults are `gencode train`'s; :meth:`for_head` drops the options a
    head cannot use (boundary scores, tails and censoring need our CRF; ORF scores and the
    linear warm-up a semi-CRF), so one config serves every head of a `compare`."""

    head: str = "semicrf"               # pytorch-crf, linear (K = 1) or semicrf (K > 1)
    encoder: str = "bilstm"
    max_duration: int = 500             # K of the semi-CRF
    hidden_dim: int = 256
    num_layers: int = 2
    emission_clamp: float = 0.0
    backend: str = "streaming"
    no_triton: bool = False
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    chain: str = "canonical"
    states: str = "strand"
    structure_init: str = "counts"
    durations: str = "smooth"
    linear_warmup_epochs: int = 0
    boundary_scores: bool = True
    censor_edges: bool = True
    long_runs: str = "tail"
    orf_scores: bool = True

    @property
    def K(self) -> int:
        """Longest segment the head scores (1 for the linear chains)."""
        return int(self.max_duration) if self.head == "semicrf" else 1

    def check(self, heads: tuple[str, ...] | None = None) -> "ModelConfig":
        """Raise one UserError line (naming the option) for a bad value; return self."""
        for head in heads or (self.head,):
            _choice(head, HEADS, "--head")
            if head == "semicrf" and self.max_duration == 1:
                raise UserError("--max-duration 1 makes the semi-CRF a linear CRF; use --head linear")
        for value, choices, option in ((self.encoder, ENCODERS, "--encoder"), (self.backend, BACKENDS, "--backend"),
                                       (self.chain, CHAINS, "--chain"), (self.states, STATES, "--states"),
                                       (self.structure_init, STRUCTURE_INITS, "--structure-init"),
                                       (self.durations, DURATIONS, "--durations"),
                                       (self.long_runs, LONG_RUNS, "--long-runs")):
            _choice(value, choices, option)
        if self.max_duration < 1:
            raise UserError(f"--max-duration must be >= 1, not {self.max_duration}")
        if self.hidden_dim < 2 or self.hidden_dim % 2:
            raise UserError(f"--hidden-dim must be an even number >= 2, not {self.hidden_dim}")
        if self.num_layers < 1:
            raise UserError(f"--num-layers must be >= 1, not {self.num_layers}")
        if self.linear_warmup_epochs < 0:
            raise UserError(f"--linear-warmup-epochs must be >= 0, not {self.linear_warmup_epochs}")
        return self

    def for_head(self, head: str | None = None) -> "ModelConfig":
        """This config for ``head`` with the options that head cannot use switched off."""
        head = head or self.head
        ours = head in ("linear", "semicrf")
        return replace(
            self, head=head,
            linear_warmup_epochs=self.linear_warmup_epochs if head == "semicrf" else 0,
            boundary_scores=bool(self.boundary_scores) and ours,
            censor_edges=bool(self.censor_edges) and ours,
            long_runs=self.long_runs if ours else "pieces",
            # segment-level: a linear chain's one-base pieces hold no codon
            orf_scores=bool(self.orf_scores) and head == "semicrf" and self.states == "strand"
            and self.long_runs == "tail")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ModelConfig":
        """A saved config, upgraded: ``model`` (the head's old name) becomes ``head``; keys added
        since the model was saved take the value that reproduces its old behaviour; unknown keys
        (``device_type``: a runtime choice) are dropped."""
        data = dict(data)
        if "head" not in data and "model" in data:
            data["head"] = data.pop("model")
        known = {f.name for f in fields(cls)}
        missing = {k: v for k, v in _BEFORE_OPTION.items() if k not in data}
        try:
            return cls(**{k: v for k, v in {**data, **missing}.items() if k in known})
        except TypeError as exc:
            raise UserError(f"model config: {exc}") from None


@dataclass(frozen=True)
class TrainSettings:
    """Budget and optimiser of one training run (`train`, each model of `compare`)."""

    epochs: int = 50
    batch_size: Optional[int] = None    # None: the plan's (probe) choice or the verb's default
    lr: float = 1e-3
    weight_decay: float = 1e-5
    crf_reg: float = 0.0
    log_every: int = 1
    seed: int = 0
    scheduler: str = "none"
    max_train_chunks: Optional[int] = None
    max_val_chunks: Optional[int] = None
    max_steps_per_epoch: Optional[int] = None
    patience: Optional[int] = None
    crop_length: Optional[int] = None

    def check(self) -> "TrainSettings":
        from genotool.options import SCHEDULERS, check_choice

        check_choice(self.scheduler, SCHEDULERS, "--scheduler")
        if self.epochs < 1:
            raise UserError(f"--epochs must be >= 1, not {self.epochs}")
        return self

    def to_json(self) -> dict:
        return asdict(self)


def _choice(value, choices, option):
    if value not in choices:
        raise UserError(f"{option} must be one of {', '.join(choices)}, not '{value}'")
