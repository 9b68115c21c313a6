"""``srsnv predict``: score a BAM + FeatureMap with a trained model (mean over fold models)."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.options import RunOptions


def encode_featuremap(bam: Path, parquet: Path, *, length: int, workers: int, reference: Path | None,
                      max_missing: float, progress: bool = True):
    """Records for every row of one FeatureMap (no labels, no filters): (rows frame, records dict)."""
    import pysam

    from genotool.log import warn
    from genotool_srsnv import featuremap as fm
    from genotool_srsnv.shards import plan_shards, run_shards

    bam = Path(bam)
    if not bam.is_file():
        raise UserError(f"--bam: file not found: {bam}")
    if not any(Path(str(bam) + s).is_file() for s in (".bai", ".csi")) and not bam.with_suffix(".bai").is_file():
        raise UserError(f"--bam: {bam} has no index (.bai/.csi); run `samtools index {bam}`")
    df = fm.read_featuremap(parquet, what="--parquet")
    try:
        with pysam.AlignmentFile(str(bam)) as fh:
            contigs = set(fh.references)
    except (OSError, ValueError) as exc:
        raise UserError(f"--bam: cannot open BAM {bam}: {exc}") from exc
    bad = sorted(set(df["CHROM"].unique()) - contigs)
    if bad:
        raise UserError(f"--parquet: contigs {', '.join(bad[:4])} are not in the BAM header of {bam}; "
                        "contig names must match")
    df = df.reset_index(drop=True)
    df["row_id"] = np.arange(len(df), dtype=np.int64)
    df["label"] = -1
    shards = plan_shards(df, 16384)
    tmp = Path(tempfile.mkdtemp(prefix="srsnv-predict-"))
    try:
        results = run_shards(shards, {-1: str(bam.resolve())}, {-1: "--bam"}, length, tmp,
                             str(reference) if reference else None, workers, progress)
        parts = {"pos": [], "num": [], "cat": [], "row_id": []}
        for r in results:
            with np.load(tmp / r["file"]) as z:
                for k in parts:
                    parts[k].append(z[k])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rec = {k: np.concatenate(v) for k, v in parts.items()}
    missing = len(df) - len(rec["row_id"])
    if missing:
        msg = f"{missing} of {len(df)} FeatureMap rows have no matching read in {bam}"
        if missing / len(df) > max_missing:
            raise UserError(f"--parquet: {msg}; above --max-missing-reads-fraction {max_missing}")
        warn(msg + "; their scores are NaN")
    no_tags = sum(r["no_ultima_tags"] for r in results)
    if no_tags:
        warn(f"{no_tags} reads have no Ultima tp/t0 tags; their tp, t0, rq, tm, st, et channels are zero")
    return df, rec


@dataclass
class PredictConfig(RunOptions):
    """One ``srsnv predict`` command line."""

    bam: Path
    parquet: Path
    model: Path
    output: Path
    preprocess_num_workers: int | None = None   # shard workers (None: default_workers())
    reference: Path | None = None
    max_missing_reads_fraction: float = 0.02
    force: bool = False


PREDICT_BATCH_SIZE = 1024


def _legacy_fold(path: Path) -> dict | None:
    """A ``model_fold<k>.pt`` written before the engine's model format (a plain dict with
    ``state_dict``, ``model_config``, ``vocab``, ``fold``) as a model_io payload."""
    import torch

    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - a damaged file is the user's input
        raise UserError(f"--model: {path} cannot be read ({type(exc).__name__})") from exc
    if not isinstance(ck, dict) or not {"state_dict", "model_config", "vocab"} <= set(ck):
        return None
    return {"config": ck["model_config"], "state_dict": ck["state_dict"],
            "extra": {"vocab": ck["vocab"], "fold": ck.get("fold")}}


def load_models(model_dir: Path):
    """Every fold model of a ``srsnv train`` folder (engine format, or the older plain files),
    the vocabulary, the feature schema and the SNVQ table."""
    from genotool.engine.model_io import load_model
    from genotool_srsnv.model import model_from_config
    from genotool_srsnv.train import MODEL_PLUGIN

    paths = sorted(Path(model_dir).glob("model_fold*.pt"))
    if not paths:
        raise UserError(f"--model: no model_fold*.pt in {model_dir} (a `genotool srsnv train` output is expected)")
    models, vocab = [], None
    for p in paths:
        m, payload = load_model(model_dir, model_from_config, plugin=MODEL_PLUGIN, name=p.stem,
                                legacy=lambda _dir, p=p: _legacy_fold(p))
        models.append(m)
        vocab = payload["extra"]["vocab"]
    schema = json.loads((Path(model_dir) / "feature_schema.json").read_text())
    calib = json.loads((Path(model_dir) / "calibration.json").read_text())
    return models, vocab, schema, calib


def run_predict(cfg: PredictConfig) -> dict:
    from genotool.outputs import atomic_file, refuse_existing
    from genotool_srsnv.pipeline import default_workers

    output = Path(cfg.output)
    refuse_existing(output, cfg.force)
    models_dir = Path(cfg.model)
    if not (models_dir / "feature_schema.json").is_file():
        raise UserError(f"--model: {models_dir} is not a `genotool srsnv train` output (feature_schema.json missing)")
    schema = json.loads((models_dir / "feature_schema.json").read_text())
    length = int(schema["tensor_spec"]["length"])
    t0 = time.perf_counter()
    df, rec = encode_featuremap(cfg.bam, cfg.parquet, length=length,
                                workers=cfg.preprocess_num_workers or default_workers(), reference=cfg.reference,
                                max_missing=cfg.max_missing_reads_fraction)
    t_enc = time.perf_counter() - t0
    import pandas as pd

    from genotool_srsnv.calibration import apply_snvq, mqual
    from genotool_srsnv.model import encode_records
    from genotool_srsnv.train import predict_probs

    models, vocab, schema, calib = load_models(models_dir)
    plan = cfg.plan(default_batch_size=PREDICT_BATCH_SIZE)
    enc = encode_records(rec["pos"], rec["num"], rec["cat"], vocab)
    t1 = time.perf_counter()
    rows = np.arange(len(rec["row_id"]))
    prob = np.mean([predict_probs(m, enc, rows, plan, plan.batch_size) for m in models], axis=0)
    t_model = time.perf_counter() - t1
    full = np.full(len(df), np.nan)
    full[rec["row_id"]] = prob
    mq = mqual(np.nan_to_num(full, nan=0.0))
    snvq = apply_snvq(mq, calib)
    out = pd.DataFrame({"CHROM": df["CHROM"], "POS": df["POS"], "RN": df["RN"], "prob": full,
                        "MQUAL": np.where(np.isnan(full), np.nan, mq), "SNVQ": np.where(np.isnan(full), np.nan, snvq)})
    with atomic_file(output, force=True) as tmp:
        write_scores(out, tmp, {"command": "srsnv predict", "model": str(models_dir), "plan": plan.to_dict()})
    total = time.perf_counter() - t0
    return {"rows": int(len(df)), "scored": int(len(prob)), "seconds": total, "encode_seconds": t_enc,
            "model_seconds": t_model, "rows_per_second": len(df) / max(total, 1e-9), "plan": plan.to_dict()}


SCORES_METADATA_KEY = b"genotool"


def write_scores(frame, path: Path, facts: dict) -> None:
    """The scores parquet; ``facts`` (command, model, the probe's plan) ride in the file's
    key-value metadata under ``genotool``, since a one-file output has no metadata.json."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[SCORES_METADATA_KEY] = json.dumps(facts, default=str).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)

