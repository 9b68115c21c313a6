"""`gencode train`: a gene finder (``--states gene``, genes/fit.py) or an encoder + CRF head over
label states with the shared engine (the Task: loss, first-batch diagnostics, validation metrics;
memory estimate). ``run_training`` is also used by `compare`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from genotool.log import log as log_line
from genotool.errors import UserError
from genotool.options import RunOptions
from genotool_gencode.config import ModelConfig, TrainSettings
from genotool_gencode.dataset import ChunkDataset, collate
from genotool_gencode.evaluation import decode_and_score
from genotool_gencode.labels import LABELS, NUM_LABELS, NUM_STATES
from genotool_gencode.metrics import SegmentationMetrics
from genotool_gencode.crf.recursion import estimate_memory_bytes, format_bytes


def _stats(t: torch.Tensor) -> str:
    t = t.detach().float()
    return (f"mean={t.mean():.4f}, std={t.std():.4f}, min={t.min():.2f}, max={t.max():.2f}, "
            f"NaN={int(torch.isnan(t).sum())}, Inf={int(torch.isinf(t).sum())}")


def first_batch_diagnostics(model, x, lengths, log) -> dict:
    """Log encoder/emission/CRF scales and warn when emissions dwarf the CRF parameters."""
    from genotool.engine import unwrap

    raw = unwrap(model)
    with torch.no_grad():
        h, em = raw.encode(x, lengths)
    em = em[..., :raw.projection.out_features]          # the learned scores, not the stop-codon tracks
    log(f"Encoder output stats (first batch): {_stats(h)}")
    log(f"Emission scores (after projection): {_stats(em)}")
    crf_scale = 0.0
    for name, p in raw.head.parameter_stats().items():
        p = p.float()
        log(f"CRF {name}: mean={p.mean():.4f}, std={p.std():.4f}, range=[{p.min():.2f}, {p.max():.2f}]")
        crf_scale = max(crf_scale, float(p.abs().mean()))
    em_scale = float(em.detach().float().std())
    out = {"emission_std": em_scale, "crf_scale": crf_scale, "encoder_absmax": float(h.detach().abs().max())}
    if crf_scale > 0 and em_scale > 10 * crf_scale:
        log(f"WARNING: Emission scale ({em_scale:.2f}) >> CRF scale ({crf_scale:.2f}). "
            "CRF transitions/durations may have minimal effect.")
        out["scale_warning"] = True
    if out["encoder_absmax"] > 100:
        log("WARNING: encoder outputs exceed 100 in magnitude; consider --emission-clamp")
    return out


def make_task(*, crf_reg: float, log_every: int, log, device_holder: dict, max_val_chunks: int | None,
              eval_batch_size: int):
    from genotool.engine import Task, move_to_device, unwrap

    class _Task(Task):
        def __init__(self):
            self.epoch = self.step = 0
            self.diagnostics: dict | None = None

        def on_epoch_start(self, epoch):
            self.epoch = epoch

        def training_step(self, model, batch):
            x, y, lengths = batch
            if self.diagnostics is None:
                self.diagnostics = first_batch_diagnostics(model, x, lengths, log)
            raw = unwrap(model)
            warmup = raw.warmup_head is not None and self.epoch <= raw.warmup_epochs
            loss = model(x, y, lengths, crf_reg, warmup)
            self.step += 1
            if not torch.isfinite(loss.detach()).all():
                # running on would train on NaN weights for the rest of the budget
                raise UserError(f"training loss is {float(loss.detach())} at epoch {self.epoch}, step {self.step} "
                                f"(batch lengths {lengths.min().item()}-{lengths.max().item()}): stopped; try a "
                                "lower --lr or --emission-clamp")
            return loss

        def validation_metrics(self, model, loader):
            device = next(model.parameters()).device
            full = self.epoch % max(1, log_every) == 0
            metrics = SegmentationMetrics()
            nll_sum, n_pos, seen = 0.0, 0, 0
            for batch in loader:
                if max_val_chunks is not None and seen >= max_val_chunks:
                    break
                x, y, lengths = move_to_device(batch, device)
                seen += len(lengths)
                _, em = model.encode(x, lengths)
                nll_sum += float(model.head.nll(em.float(), y, lengths).sum())
                n_pos += int(lengths.sum())
                if full:
                    decode_and_score(model, em, y, lengths, metrics)
            out = {"val_loss": nll_sum / max(1, n_pos)}
            if full:
                s = metrics.summary()
                out.update(val_position_macro_f1=s["position_macro_f1"], val_segment_f1=s["segment_f1"],
                           val_boundary_f1_tol2=s["boundary_f1_tol2"], val_duration_kl=s["duration_kl"])
            return out

    return _Task()


def memory_estimate(B: int, T: int, K: int, C: int, hidden: int, encoder: str, layers: int) -> dict:
    est = estimate_memory_bytes(B, T, K, C)
    # encoder activations kept for backward: ~ (conv + per-layer states) * B * T * hidden * 4 bytes
    mult = 12 if encoder == "bilstm" else 40
    est["encoder_activation_bytes"] = B * T * hidden * 4 * (2 + mult * layers)
    return est


def duration_warnings(stats_path: Path, K: int, log) -> list[str]:
    """Warn for labels whose shortest training segment is longer than K."""
    out = []
    if not stats_path.is_file():
        return out
    stats = json.loads(stats_path.read_text())
    for name in LABELS:
        st = stats.get(name, {})
        shortest = st.get("interior_min") or st.get("min", 0)
        if st.get("count") and shortest > K:
            msg = (f"--max-duration {K} is smaller than the minimum length of {name} ({shortest} bp in the "
                   "training data): its segments are always split into pieces, so K cannot model their duration")
            log(f"warning: {msg}")
            out.append(msg)
    return out


def run_training(*, data_dir: Path, out_dir: Path, model_config: ModelConfig, settings: TrainSettings, plan,
                 log=log_line, progress_label: str = "") -> dict:
    """Train one model with the engine into ``out_dir`` and export it (genotool.engine.model_io).

    ``plan.batch_size`` is the batch size (the CLI fills it from --batch-size or the verb's default)."""
    from genotool.engine import TrainConfig, Trainer

    from genotool_gencode.models import SegmentationModel

    s, cfg = settings, model_config.for_head()
    batch_size = int(plan.batch_size or s.batch_size or 16)
    torch.manual_seed(s.seed)
    strand_states = cfg.states == "strand"
    train_ds = ChunkDataset(data_dir / "train.jsonl", s.max_train_chunks, crop=s.crop_length, states=strand_states)
    val_ds = ChunkDataset(data_dir / "val.jsonl", s.max_val_chunks, states=strand_states)
    if strand_states and train_ds.missing_strand:
        log(f"warning: {train_ds.missing_strand} training chunks have no strand track (written by an older "
            "`gencode preprocess`): their genes count as plus strand; re-run preprocess")
    n_states = NUM_STATES if strand_states else NUM_LABELS
    K = cfg.K
    warnings = duration_warnings(data_dir / "train_segment_stats.json", K, log) if cfg.head == "semicrf" else []
    est = memory_estimate(batch_size, train_ds.max_length, K, n_states, cfg.hidden_dim, cfg.encoder, cfg.num_layers)
    log(f"Memory estimate (B={batch_size}, T={train_ds.max_length}, K={K}, C={n_states}): "
        f"semi-CRF (ours, streaming) {format_bytes(est['semicrf_streaming_bytes'])}; "
        f"an edge tensor would need {format_bytes(est['edge_tensor_bytes'])}; "
        f"encoder activations ~{format_bytes(est['encoder_activation_bytes'])}")
    model = SegmentationModel(cfg, device_type=plan.device.split(":")[0])
    if cfg.structure_init == "counts":
        from genotool_gencode.crf.priors import label_statistics

        stats = label_statistics((y.numpy() for y in train_ds.ys), n_states)
        model.head.init_structure(stats)
        if model.warmup_head is not None:
            model.warmup_head.init_structure(stats)
        log("CRF structure initialised from training-label counts (transitions"
            + (", durations)" if K > 1 else ")"))
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model {cfg.head} (K={K}) + {cfg.encoder} encoder: {n_params:,} parameters; "
        f"{len(train_ds)} train / {len(val_ds)} val chunks")
    if model.warmup_head is not None:
        log(f"epochs 1-{model.warmup_epochs}: encoder trained under a linear-chain CRF (warm-up), then the semi-CRF")
    tcfg = TrainConfig(max_epochs=s.epochs, lr=s.lr, weight_decay=s.weight_decay, optimizer="adamw",
                       scheduler=s.scheduler, clip_grad_norm=1.0, monitor="val_loss", monitor_mode="min",
                       patience=s.patience, batch_size=batch_size, eval_batch_size=batch_size, seed=s.seed,
                       max_steps_per_epoch=s.max_steps_per_epoch, log_every=1, progress_label=progress_label,
                       ddp_find_unused_parameters=model.warmup_head is not None,   # one head idles per phase
                       extra={"model_config": {**cfg.to_json(), "device_type": plan.device.split(":")[0]},
                              "crf_reg": s.crf_reg})
    task = make_task(crf_reg=s.crf_reg, log_every=s.log_every, log=log, device_holder={},
                     max_val_chunks=s.max_val_chunks, eval_batch_size=batch_size)
    trainer = Trainer(tcfg, plan=plan, out_dir=out_dir)
    result = trainer.fit(model, task, train_ds, val_ds, collate_fn=collate)
    if trainer.is_main:
        from genotool.engine import export_model

        trainer.load_best(model)
        export_model(model, out_dir, plugin="gencode", config=cfg.to_json())
    hist = result.history
    return {"best_metric": result.best_metric, "epochs_run": len(hist), "history": hist,
            "diagnostics": task.diagnostics, "memory_estimate": est, "warnings": warnings,
            "train_chunks": len(train_ds), "val_chunks": len(val_ds), "parameters": n_params,
            "train_seconds": round(sum(r.get("epoch_seconds", 0.0) for r in hist), 2),
            "is_main": trainer.is_main}


@dataclass(kw_only=True)
class TrainConfig(RunOptions):
    """`gencode train`'s options. ``states='gene'``: a gene finder (genes/), fitted by
    :func:`run_train_genes`; ``'strand'``: an encoder + CRF head over strand-aware label states
    (``model``: ModelConfig, ``settings``: TrainSettings), trained by :func:`run_training`."""

    data: Path
    output: Path
    states: str = "gene"
    model: ModelConfig = field(default_factory=ModelConfig)
    settings: TrainSettings = field(default_factory=TrainSettings)
    features: str = "both"                 # gene states: sensors, encoder or both
    encoder_steps: int | None = None       # gene states: trunk training steps (None: the default)
    force: bool = False

    def check(self) -> "TrainConfig":
        from genotool.errors import require_dir
        from genotool.options import check_choice

        require_dir(self.data, "--data")
        check_choice(self.states, STATES, "--states")
        self.settings.check()
        from genotool_gencode.genes.finder import KINDS

        # checked whatever the states: a bad value is a mistake even where it is not read
        check_choice(self.features, KINDS, "--features")
        if self.states == "gene":
            if self.model.head not in ("semicrf", "linear"):
                raise UserError(f"--head {self.model.head}: gene states need our CRF (semicrf: explicit "
                                "exon/intron lengths, or linear: the same states with geometric lengths); "
                                "pytorch-crf needs --states strand")
            if self.encoder_steps is not None and self.encoder_steps < 1:
                raise UserError(f"--encoder-steps must be >= 1, not {self.encoder_steps}")
        self.model.check(None if self.states == "strand" else ("semicrf",))
        return self

    def fit_settings(self):
        """The gene finder's FitSettings from these options."""
        from genotool_gencode.genes.encoder import EncoderSettings
        from genotool_gencode.genes.fit import FitSettings

        enc = EncoderSettings(**({"trunk_steps": self.encoder_steps} if self.encoder_steps else {}))
        return FitSettings(kind=self.features, durations="explicit" if self.model.head == "semicrf" else "geometric",
                           epochs=self.settings.epochs, seed=self.settings.seed, encoder=enc)


STATES = ("gene", "strand")


def run_train(cfg: TrainConfig, log=log_line) -> dict:
    """The `train` verb: checks, the run folder (metadata: options, plan), training, export."""
    from genotool.outputs import run_output

    cfg.check()
    if cfg.states == "gene":
        return run_train_genes(cfg, log)
    plan = cfg.plan(default_batch_size=32)
    settings = replace(cfg.settings, batch_size=int(plan.batch_size))
    model_config = cfg.model.for_head()
    params = {**model_config.to_json(), **settings.to_json(), "threads": cfg.threads}
    with run_output(cfg.output, command="gencode train", parameters=params, inputs=[cfg.data],
                    force=cfg.force) as run:
        run.plan = plan.to_dict()
        res = run_training(data_dir=cfg.data, out_dir=run.path, model_config=model_config, settings=settings,
                           plan=plan, log=log)
        res.pop("history")
        run.runtime.update(res)
    log(f"trained {model_config.head}: best val_loss {res['best_metric']:.4f} after {res['epochs_run']} epochs "
        f"-> {cfg.output}")
    return res


def run_train_genes(cfg: TrainConfig, log=log_line) -> dict:
    """Fit a gene finder on the training split's genes (genes/fit.py), save it, report the
    validation split's gene-level accuracy."""
    from genotool.outputs import run_output, write_json

    from genotool_gencode.genes.fit import fit_gene_finder
    from genotool_gencode.genes.pieces import has_pieces, load_split, training_genes
    from genotool_gencode.genes.saved import save_finder
    from genotool_gencode.evaluation import evaluate_finder

    plan = cfg.plan(default_batch_size=1)
    fs = cfg.fit_settings()
    train = load_split(cfg.data, "train")          # checked whole before anything is fitted
    pieces, dropped = training_genes(train, fs.sensors.min_intron, fs.sensors.min_exon)
    n_genes = sum(len(g) for _, g in pieces)
    if n_genes == 0:
        raise UserError(f"--data: {cfg.data} has no valid training gene model in its train split")
    val = load_split(cfg.data, "val") if has_pieces(cfg.data, "val") else []
    log(f"gene finder ({cfg.model.head}, {cfg.features}): {n_genes} training genes on "
        f"{sum(len(c) for c, _ in pieces):,} bp" + (f"; left out: {dropped}" if dropped else ""))
    params = {"states": "gene", "head": cfg.model.head, **fs.to_json(), "threads": cfg.threads}
    with run_output(cfg.output, command="gencode train", parameters=params, inputs=[cfg.data],
                    force=cfg.force, resume=False) as run:
        run.plan = plan.to_dict()
        finder, summary = fit_gene_finder(pieces, fs, log)
        save_finder(finder, run.path, cfg.model.head)
        summary["training_genes_left_out"] = dropped
        if val:
            metrics, _ = evaluate_finder(finder, val)
            write_json(run.path / "val_metrics.json", metrics)
            summary["val"] = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
            log(f"validation: exon F1 {metrics['exon_f1']:.4f}, gene F1 {metrics['gene_f1']:.4f}, "
                f"nucleotide F1 {metrics['nucleotide_f1']:.4f}")
        run.runtime.update({k: v for k, v in summary.items() if k != "weight_history"})
    log(f"trained gene finder ({cfg.model.head}, {cfg.features}) in {summary['seconds']:.0f} s -> {cfg.output}")
    return summary
