"""``splice train``: the meta-layer (or score-only ablation) on the shared engine.

Loss: cross-entropy with inverse-frequency class weights (``balance_classes``) times the row's
sample weight, normalised by the batch's sample-weight sum. AdamW; the monitored metric is the
validation PR-AUC (mean of donor and acceptor), which drives best.pt and early stopping.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genotool.engine import Task
from genotool.errors import UserError
from genotool.options import RunOptions
from genotool_splice.meta_model import ARCHITECTURES, ENCODERS, FUSIONS, PRESETS, build_meta

PLUGIN = "splice"


@dataclass
class MetaTrainConfig(RunOptions):
    data: Path
    output: Path
    architecture: str = "meta"
    preset: str = "lightweight"
    fusion: str = "concat"
    encoder: str = "cnn"
    epochs: int | None = None
    lr: float | None = None
    patience: int | None = None
    dropout: float = 0.1
    balance_classes: bool = True
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


class MetaTask(Task):
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


def model_config(cfg: MetaTrainConfig, preset: dict) -> dict:
    return {"architecture": cfg.architecture, "kernels": list(preset["kernels"]), "filters": preset["filters"],
            "hidden": preset["hidden"], "n_features": 43, "fusion": cfg.fusion, "dropout": cfg.dropout}


def check_options(cfg: MetaTrainConfig) -> dict:
    from genotool.options import check_choice

    check_choice(cfg.architecture, ARCHITECTURES, "--architecture")
    check_choice(cfg.preset, tuple(PRESETS), "--preset")
    check_choice(cfg.fusion, FUSIONS, "--fusion")
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
    return preset


def run_train(cfg: MetaTrainConfig) -> dict:
    from genotool.engine import TrainConfig, Trainer
    from genotool.engine.model_io import export_model
    from genotool.outputs import run_output, write_json
    from genotool_splice.data import MetaDataset, feature_stats, load_split, read_summary

    preset = check_options(cfg)
    summary = read_summary(cfg.data)
    train_rows, val_rows = load_split(cfg.data, "train"), load_split(cfg.data, "val")
    if len(train_rows) == 0:
        raise UserError(f"--data: {cfg.data} has no training rows")
    if len(val_rows) == 0:
        raise UserError(f"--data: {cfg.data} has no validation rows (the val split is empty)")
    plan = cfg.plan()
    stats = feature_stats(train_rows.features)
    mcfg = model_config(cfg, preset)
    counts = np.bincount(train_rows.label, minlength=3).astype(np.float64)
    cw = (counts.sum() / (3 * np.maximum(counts, 1))) if cfg.balance_classes else np.ones(3)
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()}
    with run_output(cfg.output, command="splice train", parameters=params, inputs=[cfg.data], force=cfg.force) as run:
        run.plan = plan.to_dict()
        torch.manual_seed(cfg.seed)
        model = build_meta(mcfg)
        tcfg = TrainConfig(max_epochs=int(preset["epochs"]), lr=float(preset["lr"]),
                           weight_decay=float(preset["weight_decay"]), optimizer="adamw", scheduler=cfg.scheduler,
                           monitor="val_pr_auc", monitor_mode="max", patience=int(preset["patience"]),
                           batch_size=plan.batch_size or int(preset["batch_size"]), eval_batch_size=512,
                           seed=cfg.seed, max_minutes=cfg.max_minutes, clip_grad_norm=1.0,
                           extra={"model": mcfg, "class_weights": cw.tolist()})
        trainer = Trainer(tcfg, plan=plan, out_dir=run.path)
        result = trainer.fit(model, MetaTask(torch.tensor(cw, dtype=torch.float32), trainer.device),
                             MetaDataset(train_rows, stats), MetaDataset(val_rows, stats))
        trainer.load_best(model)
        config = {"kind": "meta", "model": mcfg, "call_threshold": summary.get("call_threshold", 0.1), "feature_stats": stats, "window": summary["window"],
                  "base": summary["base"], "base_context": summary["base_context"], "preset": cfg.preset,
                  "encoder": cfg.encoder}
        export_model(model, run.path, plugin=PLUGIN, config=config)
        res = {"best_val_pr_auc": float(result.best_metric if result.best_metric is not None else float("nan")),
               "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
               "resumed_from_epoch": result.resumed_from_epoch, "stopped_early": result.stopped_early,
               "encoder": cfg.encoder, "architecture": cfg.architecture, "rows": {"train": len(train_rows),
                                                                                  "val": len(val_rows)}}
        write_json(run.path / "train_summary.json", res)
        run.runtime.update(result.runtime)
    return res


def load_meta(model_dir: Path, device: str = "cpu"):
    """(model, payload) of a `splice train` output; a train-base output is refused by name."""
    from genotool.engine.model_io import load_model, read_model

    payload = read_model(model_dir, plugin=PLUGIN)
    if payload["config"].get("kind") != "meta":
        raise UserError(f"--model: {model_dir} is not a `splice train` output (kind "
                        f"'{payload['config'].get('kind')}')")
    return load_model(model_dir, lambda c: build_meta(c["model"]), plugin=PLUGIN, device=device)
