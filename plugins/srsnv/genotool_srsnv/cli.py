"""``genotool srsnv``: simulate, preprocess, train, predict, validate, bench.

Light module: ``genotool --help`` imports it, so torch/pysam/pandas/pyarrow/xgboost are imported
inside the command bodies only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from genotool.options import Device, Force, Output, Precision, Seed

app = typer.Typer(name="srsnv", no_args_is_help=True, add_completion=False,
                  help="Single-read SNV quality: a BAM-native CNN with XGBoost split parity.")

# --- option types (design-note names) ---------------------------------------------------------
PosBam = Annotated[Path, typer.Option("--positive-bam", help="BAM with the reads of the positive FeatureMap (indexed).")]
NegBam = Annotated[Path, typer.Option("--negative-bam", help="BAM with the reads of the negative FeatureMap (indexed).")]
PosPq = Annotated[Path, typer.Option("--positive-parquet", help="Positive FeatureMap parquet.")]
NegPq = Annotated[Path, typer.Option("--negative-parquet", help="Negative FeatureMap parquet.")]
Regions = Annotated[Path, typer.Option("--training-regions", help="Picard interval_list with @SQ lines.")]
ManIn = Annotated[Optional[Path], typer.Option("--split-manifest-in", help="Reuse this split manifest (JSON).")]
ManOut = Annotated[Optional[Path], typer.Option("--split-manifest-out", help="Also write the split manifest here.")]
Single = Annotated[bool, typer.Option("--single-model-split/--kfold-split",
                                      help="One model with a hashed validation split (default) or chromosome K-fold.")]
ValFrac = Annotated[float, typer.Option("--val-fraction", help="Validation fraction of reads (single-model split).")]
HashKey = Annotated[str, typer.Option("--split-hash-key", help="Column hashed for the validation split.")]
Holdout = Annotated[str, typer.Option("--holdout-chromosomes", help="Comma-separated test chromosomes.")]
NFolds = Annotated[int, typer.Option("--num-folds", help="Folds in chromosome K-fold mode.")]
CacheDir = Annotated[Optional[Path], typer.Option("--preprocess-cache-dir",
                                                  help="Persistent cache (default: <output>/deep_srsnv_cache).")]
PWorkers = Annotated[Optional[int], typer.Option("--preprocess-num-workers",
                                                 help="Parallel shard workers (default: min(cores-2, 16), >= 1).")]
PRam = Annotated[float, typer.Option("--preprocess-max-ram-gb", help="RAM budget for shard planning.")]
PRows = Annotated[int, typer.Option("--preprocess-batch-rows", help="Requested rows per shard (before the RAM cap).")]
PMode = Annotated[str, typer.Option("--preprocess-storage-mode", help="single_file or shards.")]
PDry = Annotated[bool, typer.Option("--preprocess-dry-run", help="Print the preprocess plan and stop.")]
Vocab = Annotated[str, typer.Option("--encoder-vocab-source", help="known (schema) or scan (from the cache).")]
LWorkers = Annotated[int, typer.Option("--loader-num-workers", help="DataLoader workers.")]
LPrefetch = Annotated[int, typer.Option("--loader-prefetch-factor", help="Batches prefetched per loader worker.")]
LPin = Annotated[bool, typer.Option("--loader-pin-memory", help="Pinned host memory (CUDA).")]
Amp = Annotated[bool, typer.Option("--use-amp", help="Mixed precision on CUDA (bf16 where native, else fp16).")]
Tf32 = Annotated[bool, typer.Option("--use-tf32", help="TF32 matmuls/convolutions on Ampere+.")]
Autotune = Annotated[bool, typer.Option("--autotune-batch-size", help="Measure the largest batch that fits (CUDA; engine search, cached).")]
BatchSize = Annotated[Optional[int], typer.Option("--batch-size", help="Override the probe's batch size.")]
Length = Annotated[int, typer.Option("--tensor-length", help="Tensor length L (columns per read).")]
Reference = Annotated[Optional[Path], typer.Option("--reference", help="FASTA for BAMs without MD tags.")]
MaxMissing = Annotated[float, typer.Option("--max-missing-reads-fraction",
                                           help="Fail when more FeatureMap rows than this have no read in the BAM.")]


def _pcfg(positive_bam, negative_bam, positive_parquet, negative_parquet, training_regions, cache_dir, split_manifest_in,
          single_model_split, val_fraction, split_hash_key, holdout_chromosomes, num_folds, seed, workers, ram, rows,
          mode, length, reference, max_missing):
    from genotool_srsnv import splits
    from genotool_srsnv.preprocess import PreprocessConfig, default_workers

    params = splits.manifest_params(single_model=single_model_split,
                                    holdout=[c.strip() for c in holdout_chromosomes.split(",") if c.strip()],
                                    val_fraction=val_fraction, hash_key=split_hash_key, seed=seed, n_folds=num_folds)
    man_in = splits.read_manifest(split_manifest_in) if split_manifest_in else None
    return PreprocessConfig(positive_bam, negative_bam, positive_parquet, negative_parquet, training_regions,
                            cache_dir, params, man_in, num_workers=workers or default_workers(), max_ram_gb=ram,
                            batch_rows=rows, storage_mode=mode, length=length, reference=reference,
                            max_missing_fraction=max_missing)


@app.command()
def simulate(
    output: Output,
    n_reads: Annotated[int, typer.Option("--n-reads", help="Reads per BAM (positives ~ n, negatives ~ 0.8 n rows).")] = 60000,
    genome_size: Annotated[int, typer.Option("--genome-size", help="Total reference length over chr1..chr22.")] = 2_000_000,
    read_only_weight: Annotated[float, typer.Option("--read-only-weight",
                                                    help="Strength of the error effects only the read shows.")] = 1.0,
    seed: Seed = 0,
    force: Force = False,
):
    """Write a simulated Ultima-like dataset: reference, BAMs, FeatureMaps, training regions."""
    from genotool.errors import UserError
    from genotool.outputs import run_output
    from genotool_srsnv.simulate import simulate_dataset

    if n_reads < 200:
        raise UserError(f"--n-reads must be >= 200, not {n_reads}")
    if genome_size < 22 * 5000:
        raise UserError(f"--genome-size must be >= {22 * 5000}, not {genome_size}")
    params = {"n_reads": n_reads, "genome_size": genome_size, "seed": seed, "read_only_weight": read_only_weight}
    with run_output(output, command="srsnv simulate", parameters=params, force=force) as run:
        s = simulate_dataset(run.path, n_reads=n_reads, genome_size=genome_size, seed=seed,
                             read_only_weight=read_only_weight,
                             progress=lambda m: typer.echo(f"simulate: {m}", err=True))
        run.runtime.update(positive_rows=s["positive_rows"], negative_rows=s["negative_rows"])
    typer.echo(f"wrote {output}: {s['positive_rows']} positive and {s['negative_rows']} negative FeatureMap rows", err=True)


@app.command()
def preprocess(
    positive_bam: PosBam, negative_bam: NegBam, positive_parquet: PosPq, negative_parquet: NegPq,
    training_regions: Regions,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Cache folder (same as --preprocess-cache-dir).")] = None,
    preprocess_cache_dir: CacheDir = None,
    split_manifest_in: ManIn = None,
    single_model_split: Single = True, val_fraction: ValFrac = 0.1, split_hash_key: HashKey = "RN",
    holdout_chromosomes: Holdout = "chr21,chr22", num_folds: NFolds = 3,
    preprocess_num_workers: PWorkers = None, preprocess_max_ram_gb: PRam = 48.0,
    preprocess_batch_rows: PRows = 16384, preprocess_storage_mode: PMode = "single_file",
    preprocess_dry_run: PDry = False, tensor_length: Length = 300, reference: Reference = None,
    max_missing_reads_fraction: MaxMissing = 0.02, seed: Seed = 0,
):
    """FeatureMaps + BAMs -> cached tensor records (a rerun with the same inputs is a cache hit)."""
    import json

    from genotool.errors import UserError
    from genotool_srsnv.preprocess import preprocess as run_pre

    cache = preprocess_cache_dir or output
    if cache is None:
        raise UserError("--output/--preprocess-cache-dir: a cache folder is required")
    cfg = _pcfg(positive_bam, negative_bam, positive_parquet, negative_parquet, training_regions, cache,
                split_manifest_in, single_model_split, val_fraction, split_hash_key, holdout_chromosomes, num_folds,
                seed, preprocess_num_workers, preprocess_max_ram_gb, preprocess_batch_rows, preprocess_storage_mode,
                tensor_length, reference, max_missing_reads_fraction)
    res = run_pre(cfg, dry_run=preprocess_dry_run)
    if preprocess_dry_run:
        typer.echo(json.dumps({"preprocess_plan": res.plan}, indent=2, default=str))
        return
    tel = res.index.get("telemetry", {})
    summary = {"cache": str(res.path), "cache_hit": res.hit, "seconds": round(res.seconds, 4),
               "rows": res.index.get("rows"), "telemetry": tel}
    typer.echo(json.dumps(summary, indent=2, default=str))


@app.command()
def train(
    positive_bam: PosBam, negative_bam: NegBam, positive_parquet: PosPq, negative_parquet: NegPq,
    training_regions: Regions, output: Output,
    split_manifest_in: ManIn = None, split_manifest_out: ManOut = None,
    single_model_split: Single = True, val_fraction: ValFrac = 0.1, split_hash_key: HashKey = "RN",
    holdout_chromosomes: Holdout = "chr21,chr22", num_folds: NFolds = 3,
    preprocess_cache_dir: CacheDir = None, preprocess_num_workers: PWorkers = None,
    preprocess_max_ram_gb: PRam = 48.0, preprocess_batch_rows: PRows = 16384,
    preprocess_storage_mode: PMode = "single_file", preprocess_dry_run: PDry = False,
    encoder_vocab_source: Vocab = "known", loader_num_workers: LWorkers = 0, loader_prefetch_factor: LPrefetch = 2,
    loader_pin_memory: LPin = False, use_amp: Amp = False, use_tf32: Tf32 = False, autotune_batch_size: Autotune = False,
    batch_size: BatchSize = None, device: Device = None, precision: Precision = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Maximum epochs (early stopping on validation AUC).")] = 6,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (OneCycle).")] = 2e-3,
    patience: Annotated[int, typer.Option("--patience", help="Epochs without validation-AUC gain before stopping.")] = 2,
    channels: Annotated[int, typer.Option("--channels", help="CNN width (128 in the authors' GPU recipe).")] = 32,
    dilations: Annotated[str, typer.Option("--dilations", help="One residual block per dilation (GPU recipe: "
                                           "1,1,2,2,4,4).")] = "1,2,4,8",
    model_window: Annotated[int, typer.Option("--model-window", help="Columns around the focus the CNN convolves "
                                              "(>= L: the whole record).")] = 64,
    max_steps_per_epoch: Annotated[Optional[int], typer.Option("--max-steps-per-epoch", help="Cap batches per epoch.")] = None,
    snv_error_prior: Annotated[float, typer.Option("--snv-error-prior",
                                                   help="Raw per-base SNV error rate used by the SNVQ table.")] = 1e-3,
    basename: Annotated[str, typer.Option("--basename", help="Prefix of the metadata/predictions files.")] = "",
    cpu_threads: Annotated[int, typer.Option("--cpu-threads", help="CPU intra-op threads (0: auto, 1 when the "
                                             "machine is oversubscribed).")] = 0,
    tensor_length: Length = 300, reference: Reference = None, max_missing_reads_fraction: MaxMissing = 0.02,
    seed: Seed = 0, force: Force = False,
):
    """Train the CNN (per fold) with the shared engine; write models, predictions, SNVQ table, metadata."""
    from genotool_srsnv.train import TrainOptions, run_train

    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in locals().items()}
    cache = preprocess_cache_dir or (output / "deep_srsnv_cache")
    if preprocess_cache_dir is None:
        # default cache inside the output: keep it outside the staging folder so it survives --force
        cache = Path(str(output) + ".deep_srsnv_cache")
    pcfg = _pcfg(positive_bam, negative_bam, positive_parquet, negative_parquet, training_regions, cache,
                 split_manifest_in, single_model_split, val_fraction, split_hash_key, holdout_chromosomes, num_folds,
                 seed, preprocess_num_workers, preprocess_max_ram_gb, preprocess_batch_rows, preprocess_storage_mode,
                 tensor_length, reference, max_missing_reads_fraction)
    try:
        dil = tuple(int(x) for x in dilations.split(",") if x.strip())
    except ValueError:
        dil = ()
    if not dil or min(dil) < 1:
        from genotool.errors import UserError

        raise UserError(f"--dilations must be positive integers separated by commas, not {dilations!r}")
    opts = TrainOptions(epochs=epochs, lr=lr, patience=patience, channels=channels, dilations=dil, window=model_window,
                        batch_size=batch_size,
                        autotune_batch_size=autotune_batch_size, use_amp=use_amp, use_tf32=use_tf32, device=device,
                        precision=precision, loader_num_workers=loader_num_workers,
                        loader_prefetch_factor=loader_prefetch_factor, loader_pin_memory=loader_pin_memory,
                        max_steps_per_epoch=max_steps_per_epoch, vocab_source=encoder_vocab_source, seed=seed,
                        snv_error_prior=snv_error_prior, basename=basename, cpu_threads=cpu_threads)
    meta = run_train(pcfg, opts, output, force=force, manifest_out=split_manifest_out, parameters=params,
                     dry_run=preprocess_dry_run)
    if meta:
        h = meta["holdout_metrics"].get("all", {})
        typer.echo(f"holdout ROC AUC {h.get('roc_auc', float('nan')):.4f}, PR AUC {h.get('pr_auc', float('nan')):.4f}, "
                   f"recall at SNVQ 60 {h.get('recall_at_snvq_60', float('nan')):.3f}; wrote {output}", err=True)


@app.command()
def predict(
    bam: Annotated[Path, typer.Option("--bam", help="Indexed BAM with the FeatureMap's reads.")],
    parquet: Annotated[Path, typer.Option("--parquet", help="FeatureMap parquet to score.")],
    model: Annotated[Path, typer.Option("--model", help="A `srsnv train` output folder.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output parquet (CHROM, POS, RN, prob, MQUAL, SNVQ).")],
    preprocess_num_workers: PWorkers = None, batch_size: BatchSize = None, device: Device = None,
    precision: Precision = None, reference: Reference = None, max_missing_reads_fraction: MaxMissing = 0.02,
    force: Force = False,
):
    """Score a BAM + FeatureMap with a trained model."""
    from genotool_srsnv.predict import run_predict

    res = run_predict(bam, parquet, model, output, workers=preprocess_num_workers, batch_size=batch_size,
                      device=device, precision=precision, reference=reference,
                      max_missing=max_missing_reads_fraction, force=force)
    typer.echo(f"scored {res['rows']} rows at {res['rows_per_second']:.0f} rows/s; wrote {output}", err=True)


@app.command()
def validate(
    model: Annotated[Path, typer.Option("--model", help="A `srsnv train` output folder.")],
    positive_parquet: PosPq, negative_parquet: NegPq, training_regions: Regions, output: Output,
    xgb_max_depth: Annotated[int, typer.Option("--xgb-max-depth", help="XGBoost tree depth.")] = 8,
    xgb_rounds: Annotated[int, typer.Option("--xgb-rounds", help="XGBoost boosting rounds (early stopping on val).")] = 600,
    no_xgboost: Annotated[bool, typer.Option("--no-xgboost", help="Skip the XGBoost baseline.")] = False,
    seed: Seed = 0, force: Force = False,
):
    """Holdout report (HTML + JSON) with the XGBoost baseline on the same split manifest."""
    from genotool_srsnv.validate import run_validate

    rep = run_validate(model, positive_parquet, negative_parquet, training_regions, output, xgb_depth=xgb_max_depth,
                       xgb_rounds=xgb_rounds, with_xgb=not no_xgboost, seed=seed, force=force)
    c = rep["cnn"]["all"]
    line = f"CNN holdout AUC {c['roc_auc']:.4f}"
    if "xgboost" in rep:
        line += f", XGBoost {rep['xgboost']['all']['roc_auc']:.4f}"
    typer.echo(line + f"; wrote {output}", err=True)


@app.command()
def bench(
    data: Annotated[Optional[Path], typer.Option("--data", help="A `srsnv simulate` folder (default: simulate one).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Also write the JSON here.")] = None,
    n_reads: Annotated[int, typer.Option("--n-reads", help="Reads per BAM when simulating.")] = 20000,
    workers: Annotated[int, typer.Option("--preprocess-num-workers", help="N for the N-worker preprocess run.")] = 2,
    train_steps: Annotated[int, typer.Option("--train-steps", help="Training batches timed.")] = 30,
    batch_size: BatchSize = None, device: Device = None, precision: Precision = None, seed: Seed = 0,
):
    """Print one JSON: preprocess rows/s (1 and N workers), cache-hit time, training samples/s,
    prediction rows/s, peak memory."""
    from genotool_srsnv.bench import run_bench

    run_bench(data=data, output=output, n_reads=n_reads, workers=workers, train_steps=train_steps,
              batch_size=batch_size, device=device, precision=precision, seed=seed)
