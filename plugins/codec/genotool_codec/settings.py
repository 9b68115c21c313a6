"""One config object per codec verb: the CLI parses its options into one of these and hands it
to :mod:`genotool_codec.commands`, which does the work. No jax import here (``--help`` stays fast).

:class:`Runtime` is the part every model-running verb shares (``--device``, ``--precision``,
``--batch-size``, ``--threads``, compilation cache): :meth:`Runtime.plan` turns it into the
probe's plan, applies it to JAX and records what was applied, for ``metadata.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

#: Windows per jitted encode/decode call when neither --batch-size nor the probe chooses one.
DEFAULT_INFER_BATCH = 16


@dataclass
class Runtime:
    device: Optional[str] = None
    precision: Optional[str] = None
    batch_size: Optional[int] = None
    threads: Optional[int] = None
    cache_dir: Optional[Path] = None

    def plan(self, default_batch: int = DEFAULT_INFER_BATCH):
        """The probe's plan with the user's overrides, applied to JAX (threads before JAX starts).

        ``plan.batch_size`` is always set: the user's, else ``default_batch`` (on CPU the probe
        leaves the choice to the plugin). ``plan.jax_settings`` holds what was applied.
        """
        from genotool.probe import make_plan

        from genotool_codec.runtime import apply_threads, configure

        threads = apply_threads(self.threads)
        plan = make_plan(backend="jax", device=self.device, precision=self.precision, batch_size=self.batch_size,
                         cpu_threads=self.threads)
        if plan.batch_size is None:
            plan.batch_size, plan.batch_size_source = int(default_batch), "plugin default"
        plan.cpu_threads = int(self.threads or 0)
        plan.jax_settings = {**configure(plan, self.cache_dir), **threads,
                             "compute_dtype": compute_dtype_name(plan.precision)}
        return plan


def compute_dtype_name(precision: str) -> str:
    """Activation/weight dtype of encoder and decoder for a plan precision (the codebook search
    always runs in float32: nearest-neighbour ties must not depend on the precision)."""
    return {"bf16-mixed": "bfloat16", "fp16-mixed": "float16"}.get(precision, "float32")


def plan_record(plan) -> dict:
    """What metadata.json's ``plan`` holds: the probe plan plus the JAX settings applied."""
    return {**plan.to_dict(), "jax": getattr(plan, "jax_settings", {})}


@dataclass
class Search:
    """How ``encode`` picks each token's codes (``search.py``); decoding is the same for all, so
    token files are compatible. ``beam``: code paths kept per level (beam) and tried per token (signal)."""
    method: str = "greedy"
    beam: int = 4
    # signal: squared error (normalised units) one bit of the prior is worth; 0.02 kept the signal
    # search's codes at the greedy rate on the r941-cpu training windows (docs/codec.md).
    rate_weight: float = 0.02

    def __post_init__(self):
        from genotool.errors import UserError

        from genotool_codec.search import SEARCHES

        if self.method not in SEARCHES:
            raise UserError(f"--search must be one of {', '.join(SEARCHES)}, not {self.method!r}")
        if not 1 <= int(self.beam) <= 1024:
            raise UserError(f"--beam must be between 1 and 1024, not {self.beam}")
        if not self.rate_weight >= 0:
            raise UserError(f"--rate-weight must be >= 0, not {self.rate_weight}")

    @property
    def width(self) -> int:
        """Candidates actually tried: 1 for greedy."""
        return 1 if self.method == "greedy" else int(self.beam)

    def as_dict(self) -> dict:
        d = {"method": self.method, "beam": self.width}
        return {**d, "rate_weight": float(self.rate_weight)} if self.method == "signal" else d

    @property
    def suffix(self) -> str:
        """Label suffix of a codec row: nothing for greedy (the default), else e.g. ' (beam search, beam 4)'."""
        if self.method == "greedy":
            return ""
        rate = f", rate weight {self.rate_weight:g}" if self.method == "signal" else ""
        return f" ({self.method} search, beam {self.width}{rate})"


@dataclass
class SimulateConfig:
    output: Path
    chemistry: str = "r9.4.1"
    num_reads: int = 200
    read_length: int = 2000
    reference: Optional[Path] = None
    num_files: int = 2
    seed: int = 0
    force: bool = False


@dataclass
class PreprocessConfig:
    pod5: list[Path]
    output: Path
    window: int = 10000
    sample_rate: Optional[int] = None
    force: bool = False


@dataclass
class TrainConfig:
    output: Path
    data: Optional[Path] = None
    pod5: Optional[list[Path]] = None
    config: Optional[Path] = None
    overrides: list[str] = field(default_factory=list)
    steps: Optional[int] = None
    max_minutes: Optional[float] = None
    resume: Optional[Path] = None
    host_devices: Optional[int] = None
    seed: int = 0
    quiet: bool = False
    force: bool = False
    runtime: Runtime = field(default_factory=Runtime)


@dataclass
class EncodeConfig:
    pod5: list[Path]
    model: Path
    output: Path
    codebooks: Optional[int] = None
    window: Optional[int] = None
    search: Search = field(default_factory=Search)
    force: bool = False
    runtime: Runtime = field(default_factory=Runtime)


@dataclass
class DecodeConfig:
    tokens: Path
    model: Path
    output: Path
    force: bool = False
    runtime: Runtime = field(default_factory=Runtime)


@dataclass
class PredictConfig:
    pod5: list[Path]
    model: Path
    output: Path
    codebooks: Optional[int] = None
    window: Optional[int] = None
    search: Search = field(default_factory=Search)
    force: bool = False
    runtime: Runtime = field(default_factory=Runtime)


@dataclass
class BaselineConfig:
    """Non-learned baselines computed beside the codec (``baselines.py``): bit rounding at each k,
    LFZip-style predictive quantisation at each max error (ADC units)."""
    enabled: bool = True
    round_bits: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5])
    max_errors: list[int] = field(default_factory=lambda: [4, 8, 16])

    def as_dict(self) -> Optional[dict]:
        return {"round_bits": list(self.round_bits), "max_errors": list(self.max_errors)} if self.enabled else None


@dataclass
class PriorConfig:
    model: Path
    data: Path
    max_windows: Optional[int] = None
    force: bool = False
    runtime: Runtime = field(default_factory=Runtime)


@dataclass
class ValidateConfig:
    model: Path
    pod5: list[Path]
    output: Path
    codebooks: Optional[list[int]] = None
    max_reads: Optional[int] = None
    window: Optional[int] = None
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    searches: list[Search] = field(default_factory=lambda: [Search()])   # one codec row each
    force: bool = False
    runtime: Runtime = field(default_factory=Runtime)


@dataclass
class BasecallValidateConfig:
    model: Path
    pod5: list[Path]
    output: Path
    truth: Optional[Path] = None
    codebooks: Optional[list[int]] = None
    max_reads: Optional[int] = 50
    trim_samples: Optional[int] = None
    dorado: Optional[str] = None
    dorado_model: Optional[str] = None
    scrappie_model: Optional[str] = None
    basecaller_threads: int = 1
    window: Optional[int] = None
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    also_models: list[Path] = field(default_factory=list)   # further models, each its own codec curve
    also_codebooks: Optional[list[int]] = None               # their codebook counts (None: all levels)
    searches: list[Search] = field(default_factory=lambda: [Search()])   # one codec row each
    force: bool = False
    runtime: Runtime = field(default_factory=Runtime)


@dataclass
class BenchConfig:
    output: Optional[Path] = None
    model: Optional[Path] = None
    config: Optional[Path] = None
    overrides: list[str] = field(default_factory=list)
    seconds: float = 60.0
    train_steps: int = 10
    force: bool = False
    runtime: Runtime = field(default_factory=Runtime)
