"""``snp train``: a preprocess folder -> a trained model folder (shared engine, one model format).

Hyper-parameters come from a JSON preset (``presets/presets.json``), then ``--set key=value``
overrides, then the explicit options (``--epochs``, ``--lr``, ...). Classification (population,
binary phenotype) uses a focal loss (gamma, alpha) with optional balanced class weights;
a quantitative phenotype is standardised on the training split and fitted by MSE.

Small cohorts (issue 26; below ``small_cohort`` training samples, see ``fit_to_cohort``): before
training, the linear head (``linear_head.py``) is fitted and the network starts as exactly that
linear model; the trained network is kept only if its validation loss beats the linear head
alone's (else the head alone is saved). Then the model is set beside
PCA(10) + nearest centroid / logistic regression on the validation split, and when a baseline is
more accurate the run says so plainly (stdout, ``train.json``, ``report.html``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.log import log
from genotool.options import RunOptions, SCHEDULERS
from genotool_snp.labels import PLUGIN, label_spec, split_rows, targets
from genotool_snp.linear_head import CHOICES
from genotool_snp.models import ARCHITECTURES



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


# Issue 26's small-cohort defaults, for every preset that does not set them. linear_head "auto":
# "best" for the population task, "none" for a phenotype (its attributions are what the
# phenotype floor scores, measured without a head).
ROBUST_DEFAULTS = {"linear_head": "auto", "snp_dropout": 0.0, "small_cohort": 300}

# Width and patience below ``small_cohort`` training samples (issue 26's "width tied to the number
# of samples"): on five sweep cohorts (72-144 training samples) this narrow network matched the
# small-cpu width's 5-fold accuracy (mean 0.739 both) in a third of the time. At or above
# ``small_cohort`` the linear head (auto) is off. Keys the user sets explicitly (--set, --patience)
# win; --set small_cohort=0 gives every cohort the preset without the head.
SMALL_COHORT = {"embed_dim": 4, "channels": [8, 16, 16], "patience": 3}


def presets() -> dict:
    text = resources.files("genotool_snp").joinpath("presets/presets.json").read_text()
    return json.loads(text)


def hyperparameters(opts: TrainOptions) -> dict:
    """Preset, then --set overrides (typed like the preset's value), then explicit options."""
    table = presets()
    if opts.preset not in table:
        raise UserError(f"--preset must be one of {', '.join(table)}, not '{opts.preset}'")
    hp = {**ROBUST_DEFAULTS, **{k: v for k, v in table[opts.preset].items() if not k.startswith("_")}}
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
    if hp["linear_head"] == "auto":
        hp["linear_head"] = "best" if opts.task == "population" else "none"
    if hp["linear_head"] not in CHOICES:
        raise UserError(f"--set linear_head must be one of auto, {', '.join(CHOICES)}, not '{hp['linear_head']}'")
    if not 0 <= hp["snp_dropout"] < 1:
        raise UserError(f"--set snp_dropout must be in [0, 1), not {hp['snp_dropout']}")
    return hp


def fit_to_cohort(hp: dict, opts: TrainOptions, n_train: int) -> dict:
    """``hp`` for ``n_train`` training samples: below ``small_cohort``, SMALL_COHORT's width and
    patience over the linear head; at or above it, the preset without the head (linear_head auto).

    On AmericanAdmixture (360 training samples, load 5-7, compare's 7-minute cap) the CNN over its
    linear head (PCA chosen) reached 0.875 where the same CNN without it reached 0.900 (0.917 with
    all 12 epochs): the head is for small cohorts."""
    explicit = set(opts.overrides) | {k for k in ("patience",) if getattr(opts, k) is not None}
    if n_train >= hp["small_cohort"]:
        if "linear_head" in explicit:
            return hp
        return {**hp, "linear_head": "none"}
    return {**hp, **{k: v for k, v in SMALL_COHORT.items() if k not in explicit}}


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
        if isinstance(like, str):                # "none" is a value of some (scheduler, linear_head)
            return raw
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


def model_config(data: dict, hp: dict, arch: str, spec: dict) -> dict:
    n_out = len(spec["classes"]) if spec["kind"] == "classes" else 1
    cfg = {"architecture": arch, "n_snps": int(data["genotypes"].shape[2]),
           "in_channels": int(data["genotypes"].shape[1]), "n_out": n_out,
           "anchor": hp["linear_head"] != "none", "snp_dropout": hp["snp_dropout"],
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


def fit_linear_head(model, data: dict, y: np.ndarray, tr: np.ndarray, va: np.ndarray, spec: dict, hp: dict,
                    seed: int) -> tuple[dict, np.ndarray]:
    """Fit the model's linear head and zero its residual; returns (summary, (len(tr), K) training
    offsets: out-of-fold logits where the head was cross-fitted, the full head's elsewhere)."""
    import torch

    from genotool_snp import linear_head

    kind = "quantitative" if spec["kind"] != "classes" else "classes"
    mean = model.input.mean.cpu().numpy()
    head = linear_head.fit(data["genotypes"], mean, y, tr, va, kind, model.anchor.weight.shape[0],
                           hp["linear_head"], hp["class_weights"] == "balanced", seed)
    model.anchor.weight.copy_(torch.from_numpy(head["weight"]))
    model.anchor.bias.copy_(torch.from_numpy(head["bias"]))
    model.residual_start()
    offsets = linear_head.centred_dosage(data["genotypes"], tr, mean) @ head["weight"].T + head["bias"]
    offsets[np.searchsorted(tr, head["rows"])] = head["oof"]
    log(f"linear head: {head['choice']} (validation score "
        + ", ".join(f"{k} {v:.3f}" for k, v in head["scores"].items()) + ")")
    return {"choice": head["choice"], "validation_scores": head["scores"]}, offsets.astype(np.float32)


def _val_metrics(model, task, dataset, batch_size: int, device) -> dict:
    """The task's validation metrics of ``model`` as it is (the linear head alone before training)."""
    import torch
    from torch.utils.data import DataLoader

    model.to(device).eval()
    with torch.no_grad():
        return task.validation_metrics(model, DataLoader(dataset, batch_size=batch_size))


def beside_baselines(model, data: dict, spec: dict, y, tr, va, plan, arch: str, seed: int) -> dict | None:
    """Population task: the model's validation accuracy beside PCA(10) + nearest centroid /
    logistic regression fitted on the same training rows, with the plain verdict (None for a
    phenotype, whose baseline needs the validation split to choose its strength)."""
    from genotool_snp.validate import baselines, model_metrics
    from genotool_snp.verdict import against_baselines, standard_error

    if spec["kind"] != "classes" or spec.get("binary") or not len(va):
        return None
    name = f"genotool-{arch}"
    mine, _ = model_metrics(model, data, spec, y, va, plan, plan.batch_size)
    base, _ = baselines(data, spec, y, tr, va, va, seed, linear=False)
    acc = {name: mine["accuracy"], **{k: v["accuracy"] for k, v in base.items()}}
    verdict = against_baselines(name, mine["accuracy"], {k: v["accuracy"] for k, v in base.items()},
                                f"on the validation split ({len(va)} samples)",
                                spread=standard_error(mine["accuracy"], len(va)), spread_name="standard error")
    return {"n": int(len(va)), "accuracy": acc, "verdict": verdict}


def train_model(opts: TrainOptions, data: dict, out_dir: Path, run=None, rows=None) -> dict:
    """Train into ``out_dir`` (a staging folder); write the model file; return a summary.

    ``rows`` = (train rows, validation rows) replaces the data's split (``compare --cv``)."""
    import copy

    import torch

    from genotool.engine import TrainConfig, Trainer, export_model
    from genotool_snp.tasks import GenotypeDataset, SnpTask

    if opts.architecture not in ARCHITECTURES:
        raise UserError(f"--architecture must be one of {', '.join(ARCHITECTURES)}, not '{opts.architecture}'")
    hp = hyperparameters(opts)
    spec = label_spec(data, opts.task, opts.label, opts.phenotype_type)
    y = targets(data, spec)
    tr, va = (np.sort(r) for r in (rows if rows is not None else (split_rows(data, "train"), split_rows(data, "val"))))
    if spec["kind"] == "classes" and (y[tr] < 0).any():
        raise UserError(f"--label: training samples with an unknown class in '{spec['column']}'")
    hp = fit_to_cohort(hp, opts, len(tr))
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
    head, offsets, start = None, None, None
    val_set = GenotypeDataset(geno, y, va)
    if cfg["anchor"]:
        head, offsets = fit_linear_head(model, data, y, tr, va, spec, hp, opts.seed)
        start = (_val_metrics(model, task, val_set, plan.batch_size, "cpu"), copy.deepcopy(model.state_dict()))
    tc = TrainConfig(max_epochs=hp["epochs"], max_minutes=opts.max_minutes, lr=hp["lr"],
                     weight_decay=hp["weight_decay"], scheduler=hp["scheduler"], grad_accum_steps=hp["grad_accum"],
                     clip_grad_norm=1.0, monitor="val_loss", monitor_mode="min", patience=hp["patience"],
                     batch_size=plan.batch_size, num_workers=opts.num_workers, compile=hp["compile"],
                     seed=opts.seed, progress=opts.progress, progress_label=opts.progress_label,
                     ddp_find_unused_parameters=False,
                     extra={"model": cfg, "task": opts.task, "label": spec, "data": str(data["path"]),
                            "rows": [len(tr), len(va), int(np.sum(tr)), int(np.sum(va))]})
    trainer = Trainer(tc, plan=plan, out_dir=out_dir)
    result = trainer.fit(model, task, GenotypeDataset(geno, y, tr, offsets), val_set)
    trainer.load_best(model)
    best = min((r.get("val_loss", float("inf")) for r in trainer.history), default=float("nan"))
    if start is not None:
        # the linear head alone is the "epoch 0" candidate: keep the network only if it helped
        head["val_loss_linear_head"] = start[0]["val_loss"]
        head["residual_kept"] = bool(best < start[0]["val_loss"])
        if not head["residual_kept"]:
            model.load_state_dict(start[1])
            log(f"{opts.progress_label}the trained network did not beat its linear head on the validation "
                f"split (val_loss {best:.4f} vs {start[0]['val_loss']:.4f}): the linear head alone is kept")
            best = start[0]["val_loss"]
    snps = data["snps"]
    extra = {"task": opts.task, "label": spec, "hyperparameters": hp, "preset": opts.preset,
             "sites": {"chrom": list(snps["chrom"]), "pos": [int(p) for p in snps["pos"]],
                       "ref": list(snps["ref"]), "alt": list(snps["alt"])},
             "phased": bool(data["info"]["phased"]), "data": str(data["path"]), "linear_head": head}
    if trainer.is_main:
        export_model(model, out_dir, plugin=PLUGIN, config=cfg, extra=extra)
    summary = {"architecture": opts.architecture, "task": opts.task, "epochs_run": len(trainer.history),
               "best_val_loss": best, "runtime": result.runtime, "plan": plan.to_dict(),
               "last": trainer.history[-1] if trainer.history else {}, "linear_head": head,
               "history": trainer.history,
               "validation": beside_baselines(model, data, spec, y, tr, va, plan, opts.architecture, opts.seed)}
    if run is not None:
        run.runtime.update(result.runtime)
    return summary


def run_train(opts: TrainOptions) -> dict:
    from dataclasses import asdict

    from genotool.outputs import run_output, write_json
    from genotool_snp.evaluate import blas_threads
    from genotool_snp.preprocess import load_data
    from genotool_snp.verdict import write_train_report

    data = load_data(opts.data)
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}
    with run_output(opts.output, command="snp train", parameters=params, inputs=[str(opts.data)],
                    force=opts.force) as run, blas_threads(opts.threads):
        summary = train_model(opts, data, run.path, run)
        write_json(run.path / "train.json", summary)
        write_train_report(summary, run.path)
    if summary["validation"]:
        print(summary["validation"]["verdict"]["sentence"])     # stdout: the plain verdict
    return summary
