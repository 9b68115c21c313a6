"""The library side of every ``hello`` verb: one config dataclass per command and its ``run``.

``cli.py`` only parses options into one of these objects and calls ``run_<verb>(cfg)``; every
rule about the options (ranges, choices, which input wins) lives here, so the verbs can be used
from Python too and the CLI stays a thin layer. Heavy modules (torch, the engine) are imported
inside the functions: ``genotool --help`` never imports this module anyway, but a plugin's
simulate/preprocess should not pay for torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.errors import UserError, require_dir, require_file
from genotool.log import log
from genotool.options import SCHEDULERS, RunOptions, check_choice  # noqa: F401 - RunOptions re-exported

PREDICT_BATCH_SIZE = 256   # inference default when neither --batch-size nor the probe chooses


# --- simulate -------------------------------------------------------------------------------------
@dataclass
class SimulateConfig:
    output: Path
    num_sequences: int = 2000
    length: int = 100
    motif: str = "TATAAT"
    positive_fraction: float = 0.5
    gc: float = 0.5
    seed: int = 0
    force: bool = False

    def check(self) -> None:
        self.motif = self.motif.upper()
        if self.num_sequences < 10 or self.length < 1 or not set(self.motif) <= set("ACGT") or not self.motif:
            raise UserError("--num-sequences must be >= 10 and --motif a non-empty A/C/G/T string")
        if len(self.motif) > self.length:
            raise UserError(f"--motif ({len(self.motif)} bp) is longer than --length ({self.length})")
        if not 0 < self.positive_fraction < 1 or not 0 < self.gc < 1:
            raise UserError("--positive-fraction and --gc must be between 0 and 1")


def run_simulate(cfg: SimulateConfig) -> None:
    """OUTPUT/sequences.tsv: random DNA, positives carry the motif (labels exact)."""
    from genotool.outputs import run_output
    from genotool_hello.simulate import simulate_records, write_tsv

    cfg.check()
    n = cfg.num_sequences
    params = dict(num_sequences=n, length=cfg.length, motif=cfg.motif, positive_fraction=cfg.positive_fraction,
                  gc=cfg.gc, seed=cfg.seed)
    with run_output(cfg.output, command="hello simulate", parameters=params, force=cfg.force, resume=False) as run:
        records = simulate_records(n, cfg.length, cfg.motif, cfg.positive_fraction, cfg.gc, cfg.seed)
        write_tsv(records, run.path / "sequences.tsv")
        run.runtime.update(n_sequences=n, n_positive=sum(r[2] for r in records))
    log(f"simulated {n} sequences -> {cfg.output}/sequences.tsv")


# --- preprocess -----------------------------------------------------------------------------------
@dataclass
class PreprocessConfig:
    input: Path                       # sequences.tsv or a `hello simulate` folder
    output: Path
    length: int | None = None         # None: the longest sequence
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    force: bool = False

    def tsv(self) -> Path:
        tsv = self.input / "sequences.tsv" if self.input.is_dir() else self.input
        return require_file(tsv, "--input")

    def check(self) -> None:
        v, t = self.val_fraction, self.test_fraction
        if not (0 <= v < 1 and 0 <= t < 1 and v + t < 1):
            raise UserError("--val-fraction and --test-fraction must be in [0, 1) and sum to < 1")


def run_preprocess(cfg: PreprocessConfig) -> None:
    """Encode sequences (A/C/G/T/N -> 0..4) and assign train/val/test splits -> OUTPUT/data.npz."""
    from genotool.outputs import run_output
    from genotool_hello.data import encode, read_tsv, split_assignments

    tsv = cfg.tsv()
    cfg.check()
    params = dict(length=cfg.length, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction, seed=cfg.seed)
    with run_output(cfg.output, command="hello preprocess", parameters=params, inputs=[tsv], force=cfg.force,
                    resume=False) as run:
        ids, seqs, labels = read_tsv(tsv)
        length = cfg.length or max(len(s) for s in seqs)
        codes = encode(seqs, length, source=str(tsv))
        split = split_assignments(len(seqs), cfg.val_fraction, cfg.test_fraction, cfg.seed)
        np.savez(run.path / "data.npz", codes=codes, labels=labels, ids=np.asarray(ids), split=split)
        run.runtime.update(n_sequences=len(seqs), length=length,
                           n_train=int((split == 0).sum()), n_val=int((split == 1).sum()),
                           n_test=int((split == 2).sum()))
    log(f"encoded {len(seqs)} sequences of length {length} -> {cfg.output}/data.npz")


# --- train ----------------------------------------------------------------------------------------
@dataclass
class TrainSettings:
    data: Path
    output: Path
    epochs: int = 10
    lr: float = 3e-3
    channels: int = 32
    kernel: int = 9
    patience: int = 3
    scheduler: str = "onecycle"
    run: RunOptions = field(default_factory=RunOptions)
    num_workers: int | None = None
    tensorboard: bool = False
    seed: int = 0
    force: bool = False

    def check(self) -> None:
        require_dir(self.data, "--data")
        if self.epochs < 1 or self.channels < 1 or self.kernel < 1:
            raise UserError("--epochs, --channels and --kernel must be >= 1")
        check_choice(self.scheduler, SCHEDULERS, "--scheduler")


def run_train(cfg: TrainSettings) -> None:
    """Train the CNN with the shared engine; a killed run resumes when re-run with the same -o."""
    from genotool.engine import TrainConfig
    from genotool.outputs import run_output
    from genotool_hello.data import load_npz
    from genotool_hello.train import choose_batch_size, train

    cfg.check()
    arrays = load_npz(cfg.data)
    length = int(arrays["codes"].shape[1])
    if length < cfg.kernel:
        raise UserError(f"--kernel {cfg.kernel} is longer than the sequences ({length})")
    plan = cfg.run.plan()
    bs = choose_batch_size(plan, cfg.channels, cfg.kernel, length)
    tcfg = TrainConfig(max_epochs=cfg.epochs, lr=cfg.lr, weight_decay=1e-2, optimizer="adamw",
                       scheduler=cfg.scheduler, monitor="val_auc", monitor_mode="max", patience=cfg.patience,
                       clip_grad_norm=1.0, batch_size=bs, num_workers=cfg.num_workers or 0,
                       pin_memory=plan.device.startswith("cuda"), seed=cfg.seed, tensorboard=cfg.tensorboard,
                       extra={"channels": cfg.channels, "kernel": cfg.kernel})
    params = dict(epochs=cfg.epochs, lr=cfg.lr, channels=cfg.channels, kernel=cfg.kernel, patience=cfg.patience,
                  scheduler=cfg.scheduler, batch_size=tcfg.batch_size, seed=cfg.seed)
    with run_output(cfg.output, command="hello train", parameters=params, inputs=[cfg.data],
                    force=cfg.force) as run:
        run.plan = plan.to_dict()
        if run.resumed:
            log(f"resuming from {run.path}")
        run.runtime.update(train(arrays, run.path, tcfg, plan, cfg.channels, cfg.kernel))
        run.extra["train_config"] = tcfg.to_dict()
    log(f"model -> {cfg.output}")


# --- predict --------------------------------------------------------------------------------------
@dataclass
class PredictConfig:
    model: Path
    output: Path
    data: Path | None = None           # a `hello preprocess` folder ...
    input: Path | None = None          # ... or a TSV with a 'sequence' column
    split: str = "all"
    run: RunOptions = field(default_factory=RunOptions)
    force: bool = False


def run_predict(cfg: PredictConfig) -> None:
    """Motif probabilities for every sequence -> OUTPUT/predictions.tsv (id, probability[, label])."""
    from genotool.outputs import run_output
    from genotool_hello.data import encode, load_npz, read_tsv, subset
    from genotool_hello.model import load_model
    from genotool_hello.train import predict_probs

    require_dir(cfg.model, "--model")
    if (cfg.data is None) == (cfg.input is None):
        raise UserError("give exactly one of --data or --input")
    net, meta = load_model(cfg.model)
    if cfg.data is not None:
        arrays = subset(load_npz(require_dir(cfg.data, "--data")), cfg.split)
        ids, codes, labels = arrays["ids"], arrays["codes"], arrays["labels"]
    else:
        ids, seqs, labels = read_tsv(require_file(cfg.input, "--input"))
        codes = encode(seqs, meta["length"], source=str(cfg.input))
    plan = cfg.run.plan(default_batch_size=PREDICT_BATCH_SIZE)
    inputs = [cfg.model, cfg.data if cfg.data is not None else cfg.input]
    with run_output(cfg.output, command="hello predict", parameters=dict(split=cfg.split), inputs=inputs,
                    force=cfg.force, resume=False) as run:
        run.plan = plan.to_dict()
        probs = predict_probs(net, codes, plan, plan.batch_size)
        with open(run.path / "predictions.tsv", "w") as fh:
            fh.write("id\tprobability\tlabel\n")
            for rid, p, y in zip(ids, probs, labels):
                fh.write(f"{rid}\t{p:.6f}\t{'' if np.isnan(y) else int(y)}\n")
        run.runtime.update(n_predicted=int(len(probs)))
    log(f"{len(probs)} predictions -> {cfg.output}/predictions.tsv")


# --- validate -------------------------------------------------------------------------------------
@dataclass
class ValidateConfig:
    model: Path
    data: Path
    output: Path
    split: str = "test"
    run: RunOptions = field(default_factory=RunOptions)
    force: bool = False


def run_validate(cfg: ValidateConfig) -> None:
    """Score a split: AUC, accuracy, precision, recall -> OUTPUT/metrics.json + report.html (ROC)."""
    from genotool.outputs import run_output, write_json
    from genotool_hello.data import load_npz, subset
    from genotool_hello.metrics import binary_metrics
    from genotool_hello.model import load_model
    from genotool_hello.train import predict_probs

    net, _ = load_model(require_dir(cfg.model, "--model"))
    arrays = subset(load_npz(require_dir(cfg.data, "--data")), cfg.split)
    if len(arrays["labels"]) == 0 or np.isnan(arrays["labels"]).any():
        raise UserError(f"--data: split '{cfg.split}' is empty or has no labels")
    plan = cfg.run.plan(default_batch_size=PREDICT_BATCH_SIZE)
    with run_output(cfg.output, command="hello validate", parameters=dict(split=cfg.split),
                    inputs=[cfg.model, cfg.data], force=cfg.force, resume=False) as run:
        run.plan = plan.to_dict()
        probs = predict_probs(net, arrays["codes"], plan, plan.batch_size)
        metrics = binary_metrics(probs, arrays["labels"])
        write_json(run.path / "metrics.json", metrics)
        _report(run.path, probs, arrays["labels"], metrics)
        run.runtime.update(metrics)
    log(f"AUC {metrics['auc']:.4f}, accuracy {metrics['accuracy']:.4f} -> {cfg.output}")


def _report(out: Path, probs: np.ndarray, labels: np.ndarray, metrics: dict) -> None:
    """report.html: the metrics table and the ROC curve (PNG embedded, also written as roc.png)."""
    from genotool.report import Report
    from genotool_hello.metrics import roc_curve

    rep = Report("hello: motif detection")
    rep.add_table("Metrics", [{"metric": k, "value": v} for k, v in metrics.items()])
    fig = rep.figure(4.5, 4.0)
    ax = fig.subplots()
    fpr, tpr = roc_curve(probs, labels)
    ax.plot(fpr, tpr, label=f"AUC {metrics['auc']:.3f}")
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend()
    rep.add_figure("ROC curve", fig, png_path=out / "roc.png")
    rep.write(out / "report.html")


# --- bench ----------------------------------------------------------------------------------------
@dataclass
class BenchConfig:
    output: Path | None = None
    length: int = 200
    steps: int = 20
    run: RunOptions = field(default_factory=RunOptions)
    force: bool = False


def run_bench_command(cfg: BenchConfig) -> dict:
    """Time training steps and inference on random sequences; print (and return) one JSON object."""
    from genotool.bench import emit
    from genotool.outputs import refuse_existing
    from genotool_hello.bench import run_bench

    if cfg.steps < 1 or cfg.length < 9:
        raise UserError("--steps must be >= 1 and --length >= 9")
    refuse_existing(cfg.output, cfg.force)
    plan = cfg.run.plan()
    log(f"hello bench: {plan.device}, {plan.precision}")
    result = run_bench(plan, length=cfg.length, steps=cfg.steps)
    result["plan"] = plan.to_dict()
    return emit(result, cfg.output, plugin="hello")
