"""Training with the shared engine: data loading, the Task (loss, first-batch diagnostics,
validation metrics), memory estimate, and the `train` verb's body (also used by `compare`)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from genotool.log import log as log_line
from genotool.errors import UserError
from genotool_gencode.config import ModelConfig, TrainSettings
from genotool_gencode.encoders import encode_sequence
from genotool_gencode.labels import LABELS, NUM_LABELS, NUM_STATES, to_states
from genotool_gencode.metrics import SegmentationMetrics
from genotool_gencode.semicrf import estimate_memory_bytes, format_bytes


class ChunkDataset(torch.utils.data.Dataset):
    """Chunks of one split: items are (x (T,) uint8 base indices, y (T,) uint8 targets).

    Targets are strand-aware states (labels.py) when ``states`` is True, else the 11 labels.
    Chunks written before the strand track existed (no ``minus`` key) count as plus strand.
    """

    def __init__(self, path: Path, max_chunks: int | None = None, crop: int | None = None, states: bool = True):
        self.xs, self.ys, self.meta = [], [], []
        self.missing_strand = 0
        self.crop = crop if crop and crop > 0 else None
        if not path.is_file():
            raise UserError(f"--data: {path.name} not found in {path.parent} (run `genotool gencode preprocess`)")
        with open(path) as fh:
            for n, line in enumerate(fh, 1):
                if max_chunks is not None and len(self.xs) >= max_chunks:
                    break
                try:
                    rec = json.loads(line)
                    x = encode_sequence(rec["sequence"])
                    y = torch.tensor(rec["labels"], dtype=torch.uint8)
                    minus = torch.zeros(len(y), dtype=torch.bool)
                    if "minus" not in rec:
                        self.missing_strand += 1
                    for a, b in rec.get("minus", ()):
                        minus[int(a):int(b)] = True
                except (ValueError, KeyError, TypeError) as exc:
                    raise UserError(f"{path}: line {n}: not a preprocessed chunk ({exc})") from None
                if len(x) != len(y):
                    raise UserError(f"{path}: line {n}: sequence and labels differ in length")
                if int(y.max()) >= NUM_LABELS:
                    raise UserError(f"{path}: line {n}: label {int(y.max())} outside 0..{NUM_LABELS - 1}")
                self.xs.append(x)
                self.ys.append(to_states(y, minus) if states else y)
                self.meta.append((rec.get("chrom", "?"), int(rec.get("start", 0)), int(rec.get("end", len(x)))))
        if not self.xs:
            raise UserError(f"--data: {path} has no chunks (empty split)")

    def __len__(self):
        return len(self.xs)

    def __getitem__(self, i):
        x, y = self.xs[i], self.ys[i]
        if self.crop is not None and len(x) > self.crop:
            # a random window per visit (torch RNG: seeded and checkpointed by the engine)
            s = int(torch.randint(0, len(x) - self.crop + 1, (1,)))
            return x[s:s + self.crop], y[s:s + self.crop]
        return x, y

    @property
    def max_length(self) -> int:
        m = max(len(x) for x in self.xs)
        return min(m, self.crop) if self.crop else m


def collate(items):
    """list of (x, y) -> (x (B, T) long, y (B, T) long, lengths (B,) long), zero-padded."""
    lengths = torch.tensor([len(x) for x, _ in items], dtype=torch.long)
    T = int(lengths.max())
    x = torch.full((len(items), T), 4, dtype=torch.long)
    y = torch.zeros((len(items), T), dtype=torch.long)
    for i, (xi, yi) in enumerate(items):
        x[i, :len(xi)] = xi.long()
        y[i, :len(yi)] = yi.long()
    return x, y, lengths


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


def decode_and_score(model, em, y, lengths, metrics: SegmentationMetrics) -> list:
    """Decode emissions (B, T, C) to labels, add them against the targets y (B, T) to ``metrics``;
    return the label lists trimmed to each length."""
    labs, _ = model.decode_emissions(em, lengths)
    y_lab = model.labels_of(y).cpu().numpy()
    out = []
    for b, lab in enumerate(labs):
        L = int(lengths[b])
        metrics.update(y_lab[b, :L], lab[:L])
        out.append(lab[:L])
    return out


def evaluate(model, dataset, plan, batch_size: int, max_chunks: int | None = None, keep=False):
    """Decode a dataset with the engine's predict loop (eval mode, no_grad, the plan's autocast);
    return (SegmentationMetrics, mean NLL per position, label lists if keep).

    Batches hold chunks of similar length (a stable sort: equal-length data keeps its order), so
    a short record is not padded to a long one's length; the encoders and heads read a padded
    sequence as its unpadded self, so only the work changes. Metrics are added in dataset order."""
    from genotool.engine import predict_loop, unwrap

    raw = unwrap(model)
    n = len(dataset) if max_chunks is None else min(len(dataset), max_chunks)
    order = sorted(range(n), key=lambda i: len(dataset.xs[i]))
    groups = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    batches = (collate([dataset[j] for j in g]) for g in groups)

    def step(m, batch):
        x, y, lengths = batch
        _, em = m.encode(x, lengths)
        nll = float(m.head.nll(em.float(), y, lengths).sum())
        labs, _ = m.decode_emissions(em, lengths)
        y_lab = m.labels_of(y).cpu().numpy()
        return nll, int(lengths.sum()), [(y_lab[b, :int(L)], lab[:int(L)]) for b, (lab, L) in
                                         enumerate(zip(labs, lengths.tolist()))]

    outs = predict_loop(raw, batches, step, plan=plan)
    pairs = [None] * n
    for g, o in zip(groups, outs):
        for j, pair in zip(g, o[2]):
            pairs[j] = pair
    metrics = SegmentationMetrics()
    for true, pred in pairs:
        metrics.update(true, pred)
    nll_sum, n_pos = sum(o[0] for o in outs), sum(o[1] for o in outs)
    return metrics, nll_sum / max(1, n_pos), [pred for _, pred in pairs] if keep else []


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
        from genotool_gencode.priors import label_statistics

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


def _legacy_model(model_dir: Path) -> dict | None:
    """A model folder written before genotool.engine.model_io: model_config.json + a bare state_dict."""
    cfg_path, w_path = model_dir / "model_config.json", model_dir / "model.pt"
    if not cfg_path.is_file() or not w_path.is_file():
        return None
    try:
        return {"config": json.loads(cfg_path.read_text()),
                "state_dict": torch.load(w_path, map_location="cpu", weights_only=True)}
    except Exception as exc:  # noqa: BLE001 - a damaged folder is the user's input
        raise UserError(f"--model: {model_dir} cannot be read as a gencode model ({type(exc).__name__})") from exc


def load_model(model_dir: Path, device: str = "cpu"):
    """Rebuild a trained SegmentationModel from ``model_dir`` -> (model in eval mode, ModelConfig)."""
    from genotool.engine import load_model as engine_load

    from genotool_gencode.models import SegmentationModel

    device_type = device.split(":")[0]
    model, payload = engine_load(
        model_dir, lambda c: SegmentationModel(ModelConfig.from_json(c), device_type=device_type),
        plugin="gencode", device=device, upgrade=lambda c: ModelConfig.from_json(c).to_json(),
        legacy=_legacy_model)
    return model, model.config


def inference_plan(device, precision, batch_size, threads, default_batch: int = 4):
    """The probe's plan for predict/validate: --batch-size or ``default_batch`` (recorded in the
    plan), --precision honoured by the predict loop's autocast; torch threads applied."""
    from genotool.probe import apply_torch, make_plan

    plan = make_plan(backend="torch", device=device, precision=precision, batch_size=batch_size,
                     cpu_threads=threads)
    if plan.batch_size is None:
        plan.batch_size, plan.batch_size_source = default_batch, "default"
    apply_torch(plan)
    return plan


def train_command(data: Path, output: Path, model_config: ModelConfig, settings: TrainSettings, *, device,
                  precision, threads, force: bool, log) -> dict:
    """The `train` verb's body: plan, run folder (metadata: model config, settings, plan), training."""
    from genotool.outputs import run_output
    from genotool.probe import apply_torch, make_plan

    from genotool_gencode.config import default_batch_size

    plan = make_plan(backend="torch", device=device, precision=precision, batch_size=settings.batch_size,
                     cpu_threads=threads)
    settings = default_batch_size(plan, settings, 32)
    apply_torch(plan)
    cfg = model_config.for_head()
    params = {**cfg.to_json(), **settings.to_json(), "threads": threads}
    with run_output(output, command="gencode train", parameters=params, inputs=[data], force=force) as run:
        run.plan = plan.to_dict()
        res = run_training(data_dir=data, out_dir=run.path, model_config=cfg, settings=settings, plan=plan, log=log)
        res.pop("history")
        run.runtime.update(res)
    log(f"trained {cfg.head}: best val_loss {res['best_metric']:.4f} after {res['epochs_run']} epochs -> {output}")
    return res
