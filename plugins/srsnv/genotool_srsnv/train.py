"""``srsnv train``: cached records -> CNN per fold (shared engine) -> predictions, SNVQ, metadata.

:class:`TrainOptions` is one command line (the inputs, split and cache options of
:class:`~genotool_srsnv.preprocess.SourceOptions`, the core's run options, the network and the
optimiser); :func:`run_train` runs it. :func:`train_plan` is srsnv's use of the core's plan
builder (fp32 unless ``--precision`` says otherwise, a RAM-capped batch size), shared with ``bench``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.options import RunOptions, check_choice
from genotool_srsnv.preprocess import SourceOptions

DEFAULT_DILATIONS = (1, 2, 4, 8)
DEFAULT_BATCH_SIZE = 256
VOCAB_SOURCES = ("known", "scan")
MODEL_PLUGIN = "srsnv"


@dataclass
class Network:
    """The CNN's shape: width, one residual block per dilation, columns around the focus, dropout."""

    channels: int = 32
    dilations: tuple = DEFAULT_DILATIONS
    window: int = 64
    dropout: float = 0.1

    def build(self, vocab: dict):
        from genotool_srsnv.model import build_model

        return build_model(vocab, self.channels, self.dilations, self.dropout, window=self.window)


@dataclass(kw_only=True)
class TrainOptions(SourceOptions, RunOptions):
    """One ``srsnv train`` command line (field names are the options' names)."""

    output: Path
    split_manifest_out: Path | None = None
    encoder_vocab_source: str = "known"
    num_workers: int | None = None          # DataLoader workers (None: 0, in-process)
    loader_prefetch_factor: int = 2
    loader_pin_memory: bool = False
    autotune_batch_size: bool = False
    epochs: int = 6
    lr: float = 2e-3
    weight_decay: float = 1e-2
    patience: int = 2
    channels: int = 32
    dilations: str = "1,2,4,8"
    model_window: int = 64
    dropout: float = 0.1
    max_steps_per_epoch: int | None = None
    snv_error_prior: float = 1e-3
    basename: str = ""
    force: bool = False

    @property
    def network(self) -> Network:
        return Network(self.channels, parse_dilations(self.dilations), self.model_window, self.dropout)

    def check(self) -> None:
        """The option rules that need no file (before the first expensive step)."""
        self.network  # noqa: B018 - parses --dilations
        check_choice(self.encoder_vocab_source, VOCAB_SOURCES, "--encoder-vocab-source")


def parse_dilations(text) -> tuple:
    """``--dilations 1,2,4`` -> (1, 2, 4); one residual block per dilation."""
    if isinstance(text, (tuple, list)):
        text = ",".join(map(str, text))
    try:
        dil = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        dil = ()
    if not dil or min(dil) < 1:
        raise UserError(f"--dilations must be positive integers separated by commas, not {text!r}")
    return dil


def train_plan(opts: RunOptions):
    """The core's plan for training srsnv's CNN: fp32 unless ``--precision`` is given (``auto``:
    the probe's mixed precision; the old ``--use-amp``), and without ``--batch-size`` 256 capped
    so a batch fits in a quarter of the free RAM."""
    from genotool.probe import ram_bound_batch_size

    plan = opts.plan(DEFAULT_BATCH_SIZE, default_precision="fp32")
    if plan.batch_size_source == "default":
        cap = ram_bound_batch_size(bytes_per_sample=300 * 64 * 4 * 40, default=DEFAULT_BATCH_SIZE)
        if cap < plan.batch_size:
            plan.override("batch_size", cap, "a batch fits in 25% of the available RAM", source="ram-bound")
    if getattr(opts, "autotune_batch_size", False) and not plan.device.startswith("cuda"):
        plan.reasons.append(f"--autotune-batch-size searches on CUDA only; CPU uses {plan.batch_size}")
    return plan


def vocab_for(source: str, rec: dict) -> dict:
    from genotool_srsnv.model import known_vocab, scan_vocab

    check_choice(source, VOCAB_SOURCES, "--encoder-vocab-source")
    return known_vocab() if source == "known" else scan_vocab(rec["pos"], rec["cat"])


def predict_probs(model, enc: dict, rows: np.ndarray, plan, batch_size: int, num_workers: int = 0,
                  window: int | None = None) -> np.ndarray:
    """Sigmoid outputs for record rows ``rows``. (n,) float64"""
    import torch
    from torch.utils.data import DataLoader

    from genotool.engine import predict_loop
    from genotool_srsnv.model import RecordBatcher, passthrough

    if len(rows) == 0:
        return np.zeros(0)
    ds = RecordBatcher(enc, rows, window=window or model.window)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, collate_fn=passthrough, num_workers=num_workers)
    outs = predict_loop(model, loader, fn=lambda m, b: torch.sigmoid(m(b).float()), plan=plan)
    return torch.cat(outs).numpy().astype(np.float64)


def make_task(train_probe):
    import torch
    import torch.nn.functional as F

    from genotool.engine import Task, move_to_device
    from genotool_srsnv.metrics import binary_metrics

    class SRSNVTask(Task):
        """BCE on logits; validation: AUC/AUPR/log loss on the validation loader and on a fixed
        sample of training rows (train_* columns of training_runtime_metrics)."""

        def training_step(self, model, batch):
            return F.binary_cross_entropy_with_logits(model(batch).float(), batch["label"])

        def _scores(self, model, loader):
            dev = next(model.parameters()).device
            ps, ys = [], []
            for b in loader:
                b = move_to_device(b, dev)
                ps.append(torch.sigmoid(model(b).float()).cpu())
                ys.append(b["label"].cpu())
            return torch.cat(ys).numpy(), torch.cat(ps).numpy()

        def validation_metrics(self, model, loader):
            y, p = self._scores(model, loader)
            m = binary_metrics(y, p)
            out = {"val_loss": m["log_loss"], "val_auc": m["roc_auc"], "val_aupr": m["pr_auc"],
                   "val_logloss": m["log_loss"]}
            if train_probe is not None:
                y, p = self._scores(model, train_probe)
                m = binary_metrics(y, p)
                out.update(train_auc=m["roc_auc"], train_aupr=m["pr_auc"], train_logloss=m["log_loss"])
            return out

    return SRSNVTask()


def autotune_batch_size(enc: dict, label: np.ndarray, vocab: dict, net: Network, plan,
                        measure_on_cpu: bool = False, max_size: int = 8192) -> int:
    """Measured batch size (engine's OOM-safe search, cached per device/model/precision): one
    full training step of this model on real records per trial size."""
    import torch

    from genotool.engine import autocast_context, find_batch_size, move_to_device, resolve_device
    from genotool_srsnv.model import RecordBatcher

    dev = resolve_device(plan)
    model = net.build(vocab).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ds = RecordBatcher(enc, np.arange(len(label)), label, window=net.window)
    rng = np.random.default_rng(0)

    def step(n: int):
        b = move_to_device(ds.__getitems__(rng.integers(0, len(label), n)), dev)
        with autocast_context(plan, dev):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(b).float(), b["label"])
        loss.backward()
        opt.zero_grad(set_to_none=True)

    key = f"srsnv-c{net.channels}-d{'_'.join(map(str, net.dilations))}-w{net.window}"
    size = find_batch_size(step, plan=plan, cache_key=key, default=256, max_size=max_size,
                           measure_on_cpu=measure_on_cpu)
    plan.reasons.append(f"--autotune-batch-size: measured batch size {size}")
    return size


def train_folds(run_path: Path, enc: dict, rows, manifest: dict, vocab: dict, opts: TrainOptions, plan):
    """Train one model per fold; returns (prob per record, per-fold info)."""
    import torch
    from torch.utils.data import DataLoader

    from genotool.engine import Trainer, TrainConfig
    from genotool_srsnv.model import RecordBatcher, passthrough

    net = opts.network
    split = rows["split"].to_numpy()
    fold = rows["fold_id"].to_numpy()
    label = rows["label"].to_numpy().astype(np.float32)
    n_folds = int(manifest.get("n_folds", 1))
    if opts.autotune_batch_size and plan.device.startswith("cuda") and plan.batch_size_source != "user":
        autotune_batch_size(enc, label, vocab, net, plan)
    prob_sum = np.zeros(len(rows))
    prob_n = np.zeros(len(rows))
    folds = []
    rng = np.random.default_rng(opts.seed)
    for k in range(n_folds):
        if manifest["mode"] == "single_model":
            tr, va = np.flatnonzero(split == 0), np.flatnonzero(split == 1)
        else:
            tr = np.flatnonzero((split != 2) & (fold != k))
            va = np.flatnonzero((split != 2) & (fold == k))
        if len(tr) == 0 or len(va) == 0 or len(np.unique(label[va])) < 2:
            raise UserError(f"split: fold {k} has {len(tr)} training and {len(va)} validation rows "
                            "(validation needs both classes); use more data or another --val-fraction")
        torch.manual_seed(opts.seed + k)
        model = net.build(vocab)
        bs = int(plan.batch_size)
        cfg = TrainConfig(max_epochs=opts.epochs, lr=opts.lr, weight_decay=opts.weight_decay, optimizer="adamw",
                          scheduler="onecycle", clip_grad_norm=1.0, monitor="val_auc", monitor_mode="max",
                          patience=opts.patience, batch_size=bs, eval_batch_size=max(bs, 512),
                          num_workers=opts.num_workers or 0, prefetch_factor=opts.loader_prefetch_factor,
                          pin_memory=opts.loader_pin_memory, seed=opts.seed + k,
                          max_steps_per_epoch=opts.max_steps_per_epoch,
                          extra={"plugin": "srsnv", "fold": k})
        probe_rows = rng.choice(tr, size=min(len(tr), 4096), replace=False)
        probe = DataLoader(RecordBatcher(enc, probe_rows, label, window=net.window), batch_size=max(bs, 512),
                           collate_fn=passthrough)
        trainer = Trainer(cfg, plan=plan, out_dir=run_path / f"fold{k}")
        t0 = time.perf_counter()
        res = trainer.fit(model, make_task(probe), RecordBatcher(enc, tr, label, window=net.window),
                          RecordBatcher(enc, va, label, window=net.window),
                          collate_fn=passthrough)
        fit_seconds = time.perf_counter() - t0
        trainer.load_best(model)
        model.eval()
        export_fold_model(model, run_path, k, vocab)
        # out-of-fold predictions for this fold's validation rows; test rows averaged over folds
        score_rows = np.flatnonzero((split == 2) | np.isin(np.arange(len(rows)), va) |
                                    ((manifest["mode"] == "single_model") & (split == 0)))
        p = predict_probs(model, enc, score_rows, plan, max(bs, 512))
        prob_sum[score_rows] += p
        prob_n[score_rows] += 1
        folds.append({"fold": k, "train_rows": int(len(tr)), "val_rows": int(len(va)), "fit_seconds": round(fit_seconds, 2),
                      "best_epoch": res.best_epoch, "best_val_auc": res.best_metric, "stopped_early": res.stopped_early,
                      "epochs_run": res.epochs_run, "history": res.history, "runtime": res.runtime,
                      "model_config": model.config})
    prob = np.where(prob_n > 0, prob_sum / np.maximum(prob_n, 1), np.nan)
    return prob, folds


def run_train(opts: TrainOptions) -> dict | None:
    """Preprocess (or open the cache), train every fold, write the run folder; None on a dry run."""
    from genotool.outputs import run_output, write_json
    from genotool_srsnv.cache import default_cache_dir
    from genotool_srsnv.pipeline import open_or_rebuild, preprocess

    opts.check()
    pcfg = opts.preprocess_config(opts.preprocess_cache_dir or default_cache_dir(opts.output))
    if opts.preprocess_dry_run:
        res = preprocess(pcfg, dry_run=True)
        print(json.dumps({"preprocess_plan": res.plan}, indent=2, default=str))
        return None
    inputs = [pcfg.positive_bam, pcfg.negative_bam, pcfg.positive_parquet, pcfg.negative_parquet, pcfg.training_regions]
    base = opts.basename
    with run_output(opts.output, command="srsnv train", parameters=opts.parameters(), inputs=inputs,
                    force=opts.force) as run:
        t_pre = time.perf_counter()
        cres, rec = open_or_rebuild(pcfg)
        pre_seconds = time.perf_counter() - t_pre
        # torch only after the fork-based preprocess workers are done
        from genotool_srsnv.calibration import apply_snvq, fit_snvq, mqual
        from genotool_srsnv.metrics import holdout_report
        from genotool_srsnv.model import encode_records

        plan = train_plan(opts)
        run.plan = plan
        manifest = cres.index["manifest"]
        vocab = vocab_for(opts.encoder_vocab_source, rec)
        enc = encode_records(rec["pos"], rec["num"], rec["cat"], vocab)
        rows = rec["rows"]
        prob, folds = train_folds(run.path, enc, rows, manifest, vocab, opts, plan)
        split = rows["split"].to_numpy()
        label = rows["label"].to_numpy()
        mq = mqual(prob)
        val = split == 1
        table = fit_snvq(mq[val], label[val], opts.snv_error_prior)
        snvq = apply_snvq(mq, table)
        import pandas as pd

        names = {0: "train", 1: "val", 2: "test"}
        out = pd.DataFrame({"CHROM": rows["CHROM"], "POS": rows["POS"], "RN": rows["RN"], "label": label.astype(np.int8),
                            "fold_id": rows["fold_id"].astype(np.int16), "split": [names[s] for s in split],
                            "prob": prob, "MQUAL": mq, "SNVQ": snvq})
        out["mixed"] = rec["num"][:, 3] > 0
        pred_path = run.path / f"{base}srsnv_dnn_predictions.parquet"
        out.to_parquet(pred_path, index=False)
        test = split == 2
        holdout = holdout_report(label[test], prob[test], snvq[test], out["mixed"].to_numpy()[test]) if test.any() else {}
        (run.path / "calibration.json").write_text(json.dumps(table, indent=2) + "\n")
        write_json(run.path / "split_manifest.json", manifest)
        if opts.split_manifest_out is not None:
            write_json(opts.split_manifest_out, manifest)
        schema = {"tensor_spec": cres.index["tensor_spec"], "vocab": vocab, "model_config": folds[0]["model_config"], "n_folds": len(folds), "snv_error_prior": opts.snv_error_prior,
                  "batch_layout": {"idx": "int64 (B,3,L) read/ref/t0 indices", "num": "float (B,5,L) qual/10,tp,focus,"
                                   "softclip,valid", "cnum": "float (B,4) strand,MAPQ/60,rq,mixed",
                                   "ccat": "int64 (B,3) tm,st,et", "focus": "int64 (B,)"}}
        write_json(run.path / "feature_schema.json", schema)
        runtime_metrics = [{"fold": f["fold"], **{k: r.get(k) for k in (
            "epoch", "train_loss", "train_auc", "train_aupr", "train_logloss", "val_auc", "val_aupr", "val_logloss",
            "lr", "wait_seconds", "compute_seconds", "samples_per_second", "epoch_seconds", "peak_memory_mb")}}
            for f in folds for r in f["history"]]
        train_seconds = sum(f["fit_seconds"] for f in folds)
        meta = {"training_runtime_metrics": runtime_metrics, "holdout_metrics": holdout,
                "split_summary": {"mode": manifest["mode"], "holdout_chromosomes": manifest["holdout_chromosomes"],
                                  "row_counts": manifest.get("row_counts"), "folds": [
                                      {k: f[k] for k in ("fold", "train_rows", "val_rows", "best_epoch", "best_val_auc",
                                                         "epochs_run", "stopped_early", "fit_seconds")} for f in folds]},
                "split_manifest": manifest, "calibration": table,
                "preprocess": {"cache_dir": str(cres.path), "cache_hit": cres.hit, "seconds": round(pre_seconds, 3),
                               "index": {k: cres.index.get(k) for k in ("key", "rows", "storage_mode", "files",
                                                                         "telemetry", "label_stats", "plan", "warnings")}},
                "plan": plan.to_dict(), "training_seconds": round(train_seconds, 2),
                "outputs": {"predictions": pred_path.name, "models": [f"model_fold{f['fold']}.pt" for f in folds],
                            "feature_schema": "feature_schema.json", "split_manifest": "split_manifest.json"}}
        write_json(run.path / f"{base}srsnv_dnn_metadata.json", meta)
        run.runtime.update(preprocess_seconds=round(pre_seconds, 3), cache_hit=cres.hit,
                           training_seconds=round(train_seconds, 2),
                           holdout_auc=holdout.get("all", {}).get("roc_auc"))
    return meta


def export_fold_model(model, run_path: Path, fold: int, vocab: dict) -> Path:
    """``model_fold<k>.pt`` in the engine's model format: config = the network's constructor
    arguments, extra = the encoder vocabulary and the fold."""
    from genotool.engine.model_io import export_model

    return export_model(model, run_path, plugin=MODEL_PLUGIN, config=model.config, name=f"model_fold{fold}",
                        extra={"vocab": vocab, "fold": fold})
