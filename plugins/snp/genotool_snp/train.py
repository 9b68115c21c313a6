"""``snp train``: a preprocess folder -> a trained model folder (shared engine, one model format).

Hyper-parameters come from a JSON preset (``presets/presets.json``), then ``--set key=value``
overrides, then the explicit options (``--epochs``, ``--lr``, ...). Classification (population,
binary phenotype) uses a focal loss (gamma, alpha) with optional balanced class weights;
a quantitative phenotype is standardised on the training split and fitted by MSE.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.options import RunOptions, SCHEDULERS
from genotool_snp.models import ARCHITECTURES

PLUGIN = "snp"
TASKS = ("population", "phenotype")


@dataclass
class TrainOptions(RunOptions):
    """Everything ``snp train`` needs (the CLI fills it; ``compare`` and tests build it directly)."""

    data: Path
    output: Path
    architecture: str = "cnn"
    task: str = "population"
    label: str | None = None             # sample-table column (default: the task's name)
    phenotype_type: str = "auto"         # auto | binary | quantitative
    preset: str = "small-cpu"
    overrides: dict = field(default_factory=dict)
    epochs: int | None = None
    lr: float | None = None
    scheduler: str | None = None
    patience: int | None = None
    max_minutes: float | None = None
    num_workers: int = 0
    seed: int = 0
    force: bool = False
    progress: bool = True
    progress_label: str = ""


def presets() -> dict:
    text = resources.files("genotool_snp").joinpath("presets/presets.json").read_text()
    return json.loads(text)


def hyperparameters(opts: TrainOptions) -> dict:
    """Preset, then --set overrides (typed like the preset's value), then explicit options."""
    table = presets()
    if opts.preset not in table:
        raise UserError(f"--preset must be one of {', '.join(table)}, not '{opts.preset}'")
    hp = {k: v for k, v in table[opts.preset].items() if not k.startswith("_")}
    for key, raw in opts.overrides.items():
        if key not in hp:
            raise UserError(f"--set {key}: unknown key (known: {', '.join(sorted(hp))})")
        hp[key] = _coerce(key, raw, hp[key])
    for key in ("epochs", "lr", "scheduler", "patience", "batch_size"):
        v = getattr(opts, key)
        if v is not None:
            hp[key] = v
    if hp["scheduler"] not in SCHEDULERS:
        raise UserError(f"--scheduler must be one of {', '.join(SCHEDULERS)}, not '{hp['scheduler']}'")
    if hp["epochs"] < 1 or hp["batch_size"] < 1 or hp["grad_accum"] < 1:
        raise UserError("--epochs, batch_size and grad_accum must be >= 1")
    return hp


def _coerce(key: str, raw, like):
    if not isinstance(raw, str):
        return raw
    try:
        if isinstance(like, bool):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return raw.lower() in ("true", "1")
        if isinstance(like, int):
            return int(raw)
        if raw.lower() in ("none", "null"):
            return None
        if isinstance(like, float):
            return float(raw)
        if isinstance(like, list):
            return [int(v) for v in raw.split(",")]
        if like is None:                         # optional numbers (patience, focal_alpha)
            return int(raw) if raw.lstrip("-").isdigit() else float(raw)
    except ValueError:
        raise UserError(f"--set {key}={raw}: expected a value like {like!r}") from None
    return raw


def parse_overrides(items: list[str]) -> dict:
    out = {}
    for it in items or []:
        k, eq, v = it.partition("=")
        if not eq or not k.strip():
            raise UserError(f"--set {it}: expected key=value")
        out[k.strip()] = v.strip()
    return out


def label_spec(data: dict, task: str, label: str | None, phenotype_type: str) -> dict:
    """How labels are read: {"kind": "classes", "classes": [...]} or {"kind": "quantitative", ...}."""
    from genotool_snp.samples import numeric

    if task not in TASKS:
        raise UserError(f"--task must be one of {', '.join(TASKS)}, not '{task}'")
    column = label or task
    table = data["table"]
    if column not in table:
        raise UserError(f"--label: column '{column}' is not in {data['path'] / 'samples.tsv'}")
    values = table[column]
    if task == "population":
        return {"kind": "classes", "column": column, "classes": sorted(set(values))}
    if phenotype_type not in ("auto", "binary", "quantitative"):
        raise UserError(f"--phenotype-type must be auto, binary or quantitative, not '{phenotype_type}'")
    x = numeric(values, column, data["path"] / "samples.tsv")
    binary = set(np.unique(x)) <= {0.0, 1.0}
    if phenotype_type == "binary" and not binary:
        raise UserError(f"{data['path'] / 'samples.tsv'}: column '{column}' is not 0/1, so not a binary phenotype")
    if binary and phenotype_type != "quantitative":
        return {"kind": "classes", "column": column, "classes": ["0", "1"], "binary": True}
    train = np.asarray([t == "train" for t in table["split"]])
    return {"kind": "quantitative", "column": column, "mean": float(x[train].mean()),
            "std": float(x[train].std() or 1.0)}


def targets(data: dict, spec: dict) -> np.ndarray:
    vals = data["table"][spec["column"]]
    if spec["kind"] == "classes":
        if spec.get("binary"):
            vals = [str(int(float(v))) for v in vals]
        index = {c: i for i, c in enumerate(spec["classes"])}
        return np.asarray([index.get(v, -1) for v in vals], np.int64)
    return (np.asarray([float(v) for v in vals]) - spec["mean"]) / spec["std"]


def split_rows(data: dict, name: str) -> np.ndarray:
    return np.flatnonzero(np.asarray([s == name for s in data["table"]["split"]]))


def model_config(data: dict, hp: dict, arch: str, spec: dict) -> dict:
    n_out = len(spec["classes"]) if spec["kind"] == "classes" else 1
    cfg = {"architecture": arch, "n_snps": int(data["genotypes"].shape[2]),
           "in_channels": int(data["genotypes"].shape[1]), "n_out": n_out,
           **{k: hp[k] for k in ("embed_dim", "channels", "layers", "heads", "window", "dropout", "grad_checkpoint")}}
    if arch == "gnn":
        cfg["n_edges"] = 2 * int(len(data["graph"][0]))
    return cfg


def make_model(data: dict, cfg: dict, train_rows: np.ndarray):
    """Build the model, set its training-split means (and the LD graph for the GNN)."""
    import torch

    from genotool_snp.models import build

    model = build(cfg)
    g = np.asarray(data["genotypes"][train_rows], dtype=np.float32)     # (n, C, L)
    miss = g < 0
    g[miss] = 0
    mean = g.sum(0) / np.maximum((~miss).sum(0), 1)
    model.input.mean.copy_(torch.from_numpy(mean.astype(np.float32)))
    if cfg["architecture"] == "gnn":
        model.set_graph(*data["graph"])
    return model


def train_model(opts: TrainOptions, data: dict, out_dir: Path, run=None) -> dict:
    """Train into ``out_dir`` (a staging folder); write the model file; return a summary."""
    import torch

    from genotool.engine import TrainConfig, Trainer, export_model
    from genotool_snp.tasks import GenotypeDataset, SnpTask

    if opts.architecture not in ARCHITECTURES:
        raise UserError(f"--architecture must be one of {', '.join(ARCHITECTURES)}, not '{opts.architecture}'")
    hp = hyperparameters(opts)
    spec = label_spec(data, opts.task, opts.label, opts.phenotype_type)
    y = targets(data, spec)
    tr, va = split_rows(data, "train"), split_rows(data, "val")
    if spec["kind"] == "classes" and (y[tr] < 0).any():
        raise UserError(f"--label: training samples with an unknown class in '{spec['column']}'")
    plan = opts.plan(default_batch_size=hp["batch_size"])
    if run is not None:
        run.plan = plan.to_dict()
    cfg = model_config(data, hp, opts.architecture, spec)
    torch.manual_seed(opts.seed)
    model = make_model(data, cfg, tr)
    geno = np.asarray(data["genotypes"])
    weights = None
    if spec["kind"] == "classes" and hp["class_weights"] == "balanced":
        counts = np.bincount(y[tr], minlength=cfg["n_out"]).astype(np.float64)
        weights = (counts.sum() / np.maximum(counts, 1) / cfg["n_out"]).tolist()
    task = SnpTask(spec["kind"], class_weights=weights, gamma=hp["focal_gamma"], alpha=hp["focal_alpha"])
    tc = TrainConfig(max_epochs=hp["epochs"], max_minutes=opts.max_minutes, lr=hp["lr"],
                     weight_decay=hp["weight_decay"], scheduler=hp["scheduler"], grad_accum_steps=hp["grad_accum"],
                     clip_grad_norm=1.0, monitor="val_loss", monitor_mode="min", patience=hp["patience"],
                     batch_size=plan.batch_size, num_workers=opts.num_workers, compile=hp["compile"],
                     seed=opts.seed, progress=opts.progress, progress_label=opts.progress_label,
                     ddp_find_unused_parameters=False,
                     extra={"model": cfg, "task": opts.task, "label": spec, "data": str(data["path"])})
    trainer = Trainer(tc, plan=plan, out_dir=out_dir)
    result = trainer.fit(model, task, GenotypeDataset(geno, y, tr), GenotypeDataset(geno, y, va))
    trainer.load_best(model)
    snps = data["snps"]
    extra = {"task": opts.task, "label": spec, "hyperparameters": hp, "preset": opts.preset,
             "sites": {"chrom": list(snps["chrom"]), "pos": [int(p) for p in snps["pos"]],
                       "ref": list(snps["ref"]), "alt": list(snps["alt"])},
             "phased": bool(data["info"]["phased"]), "data": str(data["path"])}
    if trainer.is_main:
        export_model(model, out_dir, plugin=PLUGIN, config=cfg, extra=extra)
    best = min((r.get("val_loss", float("inf")) for r in trainer.history), default=float("nan"))
    summary = {"architecture": opts.architecture, "task": opts.task, "epochs_run": len(trainer.history),
               "best_val_loss": best, "runtime": result.runtime, "plan": plan.to_dict(),
               "last": trainer.history[-1] if trainer.history else {}}
    if run is not None:
        run.runtime.update(result.runtime)
    return summary


def run_train(opts: TrainOptions) -> dict:
    from dataclasses import asdict

    from genotool.outputs import run_output
    from genotool_snp.preprocess import load_data

    data = load_data(opts.data)
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}
    with run_output(opts.output, command="snp train", parameters=params, inputs=[str(opts.data)],
                    force=opts.force) as run:
        summary = train_model(opts, data, run.path, run)
    return summary
