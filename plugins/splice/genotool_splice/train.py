"""``splice train``: the meta-layer (or the score-only ablation) on the shared engine.

Two protocols (``--protocol``):

* ``genome`` (default): the dense net of :mod:`genotool_splice.genome_meta` trained on every
  position of the training transcript bodies (``preprocess``'s tracks), in blocks: what it sees
  in training is what it scores in ``predict`` (every position, so hard negatives and true
  sites the base scores low are all there, at their natural frequency). Loss: cross-entropy
  over the body positions (optional inverse-frequency class weights). Monitored: the validation
  tracks' genome-wide PR-AUC (mean of donor and acceptor average precision). The net starts as
  its base (zero-initialised head). Export gate: the best epoch is exported only when it beats
  the base on the validation blocks beyond resampling noise (the 5th percentile of the PR-AUC gain
  over 100 bootstrap resamples of the blocks > 0); otherwise the exported model is that
  base-equivalent start, and the summary says which.
* ``candidates``: the source's row model on ``candidates.parquet`` (true sites, base calls,
  sampled negatives), cross-entropy with inverse-frequency class weights times the row's sample
  weight; monitored: the validation rows' PR-AUC.

Both: AdamW, best/last checkpoints, history, exact resume and early stopping from the engine;
the model is exported with ``genotool.engine.model_io`` (kind ``meta``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genotool.engine import Task
from genotool.errors import UserError
from genotool.log import log, warn
from genotool.options import RunOptions
from genotool_splice.meta_io import PLUGIN
from genotool_splice.meta_model import ARCHITECTURES, ENCODERS, FUSIONS, PRESETS

PROTOCOLS = ("genome", "candidates")
GENOME_FUSIONS = ("concat", "add")
GENOME_BLOCK = 2000           # target positions per training block (plus the net's margin each side)
GENOME_BATCH = 8              # blocks per batch
BOOTSTRAP = 100               # resamples of the validation blocks for the export gate


@dataclass
class MetaTrainConfig(RunOptions):
    data: Path
    output: Path
    architecture: str = "meta"
    protocol: str = "genome"
    preset: str = "lightweight"
    fusion: str = "concat"
    encoder: str = "cnn"
    epochs: int | None = None
    lr: float | None = None
    patience: int | None = None
    dropout: float = 0.1
    balance_classes: bool | None = None
    steps_per_epoch: int | None = None
    scheduler: str = "none"
    max_minutes: float | None = None
    seed: int = 0
    force: bool = False


def predict_probs(model, loader, device) -> np.ndarray:
    """Softmax (n, 3) in (donor, acceptor, neither) order over a loader of MetaDataset items."""
    from genotool.engine import move_to_device

    out = []
    for batch in loader:
        w, f = move_to_device(batch[:2], device)
        out.append(torch.softmax(model(w, f).float(), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 3), np.float32)


class RowTask(Task):
    """The candidate-row protocol: weighted cross-entropy per row."""

    def __init__(self, class_weights: torch.Tensor, device):
        self.class_weights = class_weights.to(device)
        self.device = device

    def training_step(self, model, batch):
        w, f, y, sw = batch
        ce = torch.nn.functional.cross_entropy(model(w, f).float(), y, weight=self.class_weights, reduction="none")
        return (ce * sw).sum() / sw.sum().clamp_min(1e-8)

    def validation_metrics(self, model, loader):
        from genotool_splice.metrics import evaluate

        probs = predict_probs(model, loader, self.device)
        labels = loader.dataset.y.numpy()
        m = evaluate(probs, labels)
        nll = -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1)).mean()
        return {"val_loss": float(nll), "val_pr_auc": m["pr_auc_splice"], "val_topk": m["topk_splice"],
                "val_ece": m["ece"]}


def genome_val_metrics(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Genome-wide metrics of body positions: probs (n, 3) (donor, acceptor, neither), labels (n,)."""
    from genotool_splice.genomewide import metrics

    m = [metrics(labels == c, probs[:, c]) for c in (0, 1)]
    nll = -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1)).mean()
    return {"val_loss": float(nll), "val_pr_auc": float(np.mean([x["pr_auc"] for x in m])),
            "val_topk": float(np.mean([x["topk"] for x in m]))}


class GenomeTask(Task):
    """The genome-wide protocol: cross-entropy over every labelled position of a block."""

    def __init__(self, class_weights: torch.Tensor | None, device):
        self.class_weights = None if class_weights is None else class_weights.to(device)
        self.device = device

    def training_step(self, model, batch):
        codes, probs, y = batch
        logits = model(codes, probs).float()
        return torch.nn.functional.cross_entropy(logits.reshape(-1, 3), y.reshape(-1), weight=self.class_weights,
                                                 ignore_index=-1)

    def validation_metrics(self, model, loader):
        from genotool.engine import move_to_device

        ps, ys = [], []
        for batch in loader:
            codes, probs, y = move_to_device(batch, self.device)
            p = torch.softmax(model(codes, probs).float(), -1)
            keep = y >= 0
            ps.append(p[keep].cpu().numpy())
            ys.append(y[keep].cpu().numpy())
        return genome_val_metrics(np.concatenate(ps), np.concatenate(ys))


def _mean_ap(y: np.ndarray, p: np.ndarray) -> float:
    """Mean of donor and acceptor average precision: y (n,) labels, p (n, 3) (donor, acceptor, neither)."""
    from sklearn.metrics import average_precision_score

    return float(np.mean([average_precision_score(y == c, p[:, c]) for c in (0, 1)]))


def validation_gain(model, val_ds, device, seed: int) -> dict:
    """How much the meta-layer beats its base on the validation blocks: the mean donor/acceptor
    average precision of each, and the 5th/50th percentiles of the difference over BOOTSTRAP
    resamples of the blocks (whole blocks: neighbouring positions are not independent)."""
    ys, ms, bs = [], [], []
    m = model.margin
    model.eval()
    with torch.inference_mode():
        for i in range(len(val_ds)):
            codes, probs, y = val_ds[i]
            out = torch.softmax(model(codes[None].to(device), probs[None].to(device)).float(), -1)[0].cpu().numpy()
            keep = (y >= 0).numpy()
            ys.append(y.numpy()[keep])
            ms.append(out[keep])
            bs.append(probs.numpy()[m:m + len(y)][keep][:, ::-1])
    meta_ap = _mean_ap(np.concatenate(ys), np.concatenate(ms))
    base_ap = _mean_ap(np.concatenate(ys), np.concatenate(bs))
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, len(ys), len(ys))
        y = np.concatenate([ys[k] for k in pick])
        if not ((y == 0).any() and (y == 1).any()):
            continue
        diffs.append(_mean_ap(y, np.concatenate([ms[k] for k in pick])) -
                     _mean_ap(y, np.concatenate([bs[k] for k in pick])))
    return {"meta_pr_auc": meta_ap, "base_pr_auc": base_ap, "gain": meta_ap - base_ap,
            "gain_p5": float(np.percentile(diffs, 5)), "gain_p50": float(np.percentile(diffs, 50)),
            "resamples": len(diffs)}


def check_options(cfg: MetaTrainConfig) -> dict:
    from genotool.options import check_choice

    check_choice(cfg.protocol, PROTOCOLS, "--protocol")
    check_choice(cfg.architecture, ARCHITECTURES, "--architecture")
    check_choice(cfg.preset, tuple(PRESETS), "--preset")
    check_choice(cfg.fusion, GENOME_FUSIONS if cfg.protocol == "genome" else FUSIONS, "--fusion")
    if cfg.encoder not in ENCODERS:
        raise UserError(f"--encoder: '{cfg.encoder}' is not available offline (DNA language models need their "
                        f"weights from a user path, not supported yet); use cnn")
    preset = dict(PRESETS[cfg.preset])
    for key in ("epochs", "lr", "patience"):
        if getattr(cfg, key) is not None:
            preset[key] = getattr(cfg, key)
    if preset["epochs"] < 1:
        raise UserError(f"--epochs must be >= 1, not {preset['epochs']}")
    if not 0 <= cfg.dropout < 1:
        raise UserError(f"--dropout must be in [0, 1), not {cfg.dropout}")
    if cfg.steps_per_epoch is not None and cfg.steps_per_epoch < 1:
        raise UserError(f"--steps-per-epoch must be >= 1, not {cfg.steps_per_epoch}")
    return preset


def _params(cfg: MetaTrainConfig) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()}


def _train_config(cfg, preset, batch_size: int, extra: dict):
    from genotool.engine import TrainConfig

    return TrainConfig(max_epochs=int(preset["epochs"]), lr=float(preset["lr"]),
                       weight_decay=float(preset["weight_decay"]), optimizer="adamw", scheduler=cfg.scheduler,
                       monitor="val_pr_auc", monitor_mode="max", patience=int(preset["patience"]),
                       batch_size=batch_size, seed=cfg.seed, max_minutes=cfg.max_minutes, clip_grad_norm=1.0,
                       max_steps_per_epoch=cfg.steps_per_epoch, extra=extra)


def _fit_result(result, extra: dict) -> dict:
    return {"best_val_pr_auc": float(result.best_metric if result.best_metric is not None else float("nan")),
            "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
            "resumed_from_epoch": result.resumed_from_epoch, "stopped_early": result.stopped_early, **extra}


def _meta_config(cfg, preset, summary: dict, model_config: dict) -> dict:
    return {"kind": "meta", "protocol": cfg.protocol, "model": model_config,
            "call_threshold": summary.get("call_threshold", 0.1), "window": summary["window"],
            "base": summary["base"], "base_context": summary["base_context"], "preset": cfg.preset,
            "encoder": cfg.encoder}


def run_train(cfg: MetaTrainConfig) -> dict:
    from genotool_splice.data import read_summary

    preset = check_options(cfg)
    summary = read_summary(cfg.data)
    return (_train_genome if cfg.protocol == "genome" else _train_rows)(cfg, preset, summary)


def _feature_stats_of_tracks(tracks, n: int, seed: int) -> dict:
    """Standardisation of the 43 features over (up to) ``n`` random labelled training positions."""
    from genotool_splice.features import feature_stats, score_features

    labelled = np.flatnonzero(np.asarray(tracks.labels) >= 0)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(labelled, size=min(n, len(labelled)), replace=False))
    return feature_stats(score_features(tracks.probs, idx))


def _train_genome(cfg: MetaTrainConfig, preset: dict, summary: dict) -> dict:
    from genotool.engine import Trainer
    from genotool.engine.model_io import export_model
    from genotool.outputs import run_output, write_json
    from genotool_splice.genome_meta import GenomeMetaNet
    from genotool_splice.tracks import BlockDataset, Tracks

    folder = Path(cfg.data) / "tracks"
    if not (folder / "train.json").is_file() or not (folder / "val.json").is_file():
        raise UserError(f"--data: {cfg.data} has no training tracks (preprocessed before genome-wide training): run "
                        f"`splice preprocess` again, or train with --protocol candidates")
    train_t, val_t = Tracks(folder, "train"), Tracks(folder, "val")
    if not (np.asarray(train_t.labels) >= 0).any():
        raise UserError(f"--data: {cfg.data} has no training positions")
    if not (np.asarray(val_t.labels) < 2).any() or not (np.asarray(val_t.labels) >= 0).any():
        raise UserError(f"--data: {cfg.data} has no splice sites in its validation tracks")
    mcfg = {"architecture": cfg.architecture, "kernels": list(preset["kernels"]), "filters": preset["filters"],
            "hidden": preset["genome_hidden"], "window": summary["window"], "dropout": cfg.dropout, "fusion": cfg.fusion}
    torch.manual_seed(cfg.seed)
    model = GenomeMetaNet(**mcfg)
    train_ds = BlockDataset(train_t, GENOME_BLOCK, model.margin)
    val_ds = BlockDataset(val_t, GENOME_BLOCK, model.margin)
    plan = cfg.plan(default_batch_size=GENOME_BATCH)
    stats = _feature_stats_of_tracks(train_t, 200_000, cfg.seed)
    model.set_feature_stats(stats["mean"], stats["std"])
    labels = np.asarray(train_t.labels)
    counts = np.bincount(labels[labels >= 0], minlength=3).astype(np.float64)
    balance = bool(cfg.balance_classes)
    cw = counts.sum() / (3 * np.maximum(counts, 1)) if balance else None
    vl = np.asarray(val_t.labels)
    keep = vl >= 0
    base_val = genome_val_metrics(np.asarray(val_t.probs)[keep][:, ::-1], vl[keep].astype(np.int64))
    log(f"train: base model alone on the validation tracks: PR-AUC {base_val['val_pr_auc']:.4f}, "
        f"top-k {base_val['val_topk']:.4f}")
    start_state = copy.deepcopy(model.state_dict())
    with run_output(cfg.output, command="splice train", parameters=_params(cfg), inputs=[cfg.data],
                    force=cfg.force) as run:
        run.plan = plan.to_dict()
        tcfg = _train_config(cfg, preset, plan.batch_size or GENOME_BATCH,
                             {"model": mcfg, "protocol": "genome", "block": GENOME_BLOCK, "balance": balance})
        tcfg.eval_batch_size = tcfg.batch_size
        trainer = Trainer(tcfg, plan=plan, out_dir=run.path)
        task = GenomeTask(None if cw is None else torch.tensor(cw, dtype=torch.float32), trainer.device)
        result = trainer.fit(model, task, train_ds, val_ds)
        trainer.load_best(model)
        gain = validation_gain(model, val_ds, trainer.device, cfg.seed)
        beat_base = gain["gain_p5"] > 0
        log(f"train: validation PR-AUC meta {gain['meta_pr_auc']:.4f} vs base {gain['base_pr_auc']:.4f}; gain over "
            f"{gain['resamples']} block resamples: 5th percentile {gain['gain_p5']:+.4f}, median {gain['gain_p50']:+.4f}")
        if not beat_base:
            warn("train: the meta-layer does not beat its base on validation beyond resampling noise (5th "
                 "percentile of the gain <= 0); the exported meta-layer is the base model's own scores")
            model.load_state_dict(start_state)
        export_model(model, run.path, plugin=PLUGIN, config=_meta_config(cfg, preset, summary, mcfg))
        res = _fit_result(result, {"protocol": "genome", "architecture": cfg.architecture, "encoder": cfg.encoder,
                                   "base_val_pr_auc": base_val["val_pr_auc"], "base_val_topk": base_val["val_topk"],
                                   "exported": "best epoch" if beat_base else "base-equivalent start",
                                   "validation_gain": gain,
                                   "balance_classes": balance, "margin": model.margin,
                                   "positions": {"train": int((labels >= 0).sum()), "val": int(keep.sum())},
                                   "blocks": {"train": len(train_ds), "val": len(val_ds)}})
        write_json(run.path / "train_summary.json", res)
        run.runtime.update(result.runtime)
    return res


def _train_rows(cfg: MetaTrainConfig, preset: dict, summary: dict) -> dict:
    from genotool.engine import Trainer
    from genotool.engine.model_io import export_model
    from genotool.outputs import run_output, write_json
    from genotool_splice.data import MetaDataset, load_split
    from genotool_splice.features import feature_stats
    from genotool_splice.meta_model import build_meta

    train_rows, val_rows = load_split(cfg.data, "train"), load_split(cfg.data, "val")
    if len(train_rows) == 0:
        raise UserError(f"--data: {cfg.data} has no training rows")
    if len(val_rows) == 0:
        raise UserError(f"--data: {cfg.data} has no validation rows (the val split is empty)")
    plan = cfg.plan()
    stats = feature_stats(train_rows.features)
    mcfg = {"architecture": cfg.architecture, "kernels": list(preset["kernels"]), "filters": preset["filters"],
            "hidden": preset["hidden"], "n_features": 43, "fusion": cfg.fusion, "dropout": cfg.dropout}
    counts = np.bincount(train_rows.label, minlength=3).astype(np.float64)
    balance = cfg.balance_classes is not False
    cw = (counts.sum() / (3 * np.maximum(counts, 1))) if balance else np.ones(3)
    with run_output(cfg.output, command="splice train", parameters=_params(cfg), inputs=[cfg.data],
                    force=cfg.force) as run:
        run.plan = plan.to_dict()
        torch.manual_seed(cfg.seed)
        model = build_meta(mcfg)
        tcfg = _train_config(cfg, preset, plan.batch_size or int(preset["batch_size"]),
                             {"model": mcfg, "class_weights": cw.tolist()})
        tcfg.eval_batch_size = 512
        trainer = Trainer(tcfg, plan=plan, out_dir=run.path)
        result = trainer.fit(model, RowTask(torch.tensor(cw, dtype=torch.float32), trainer.device),
                             MetaDataset(train_rows, stats), MetaDataset(val_rows, stats))
        trainer.load_best(model)
        config = _meta_config(cfg, preset, summary, mcfg) | {"feature_stats": stats}
        export_model(model, run.path, plugin=PLUGIN, config=config)
        res = _fit_result(result, {"protocol": "candidates", "encoder": cfg.encoder, "architecture": cfg.architecture,
                                   "rows": {"train": len(train_rows), "val": len(val_rows)}})
        write_json(run.path / "train_summary.json", res)
        run.runtime.update(result.runtime)
    return res
