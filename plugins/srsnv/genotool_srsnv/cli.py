"""``genotool srsnv``: simulate, preprocess, train, predict, validate, bench.

Light module: ``genotool --help`` imports it, so torch/pysam/pandas/pyarrow/xgboost are imported
inside the command bodies only. Each command hands its options, as they are, to one config
object of the library (``TrainJob.from_options``, ``PredictConfig``, ...); the rules live there.
Shared concepts use the core vocabulary (``genotool.options``); the old spellings
``--cpu-threads``, ``--loader-num-workers`` and ``--n-reads`` are hidden aliases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from genotool.options import (BatchSize, Device, Force, Model, NumWorkers, OptionalData, OptionalOutput, Output,
                              Precision, Seed, Threads, count_option, described)

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
                                                  help="Persistent cache (default for train: <output>.deep_srsnv_cache "
                                                  "beside the output folder, so --force keeps it).")]
PWorkers = Annotated[Optional[int], typer.Option("--preprocess-num-workers",
                                                 help="Parallel shard workers (default: min(cores-2, 16), >= 1).")]
PRam = Annotated[float, typer.Option("--preprocess-max-ram-gb", help="RAM budget for shard planning.")]
PRows = Annotated[int, typer.Option("--preprocess-batch-rows", help="Requested rows per shard (before the RAM cap).")]
PMode = Annotated[str, typer.Option("--preprocess-storage-mode", help="single_file or shards.")]
PDry = Annotated[bool, typer.Option("--preprocess-dry-run", help="Print the preprocess plan and stop.")]
Vocab = Annotated[str, typer.Option("--encoder-vocab-source", help="known (schema) or scan (from the cache).")]
LPrefetch = Annotated[int, typer.Option("--loader-prefetch-factor", help="Batches prefetched per loader worker.")]
LPin = Annotated[bool, typer.Option("--loader-pin-memory", help="Pinned host memory (CUDA).")]
Amp = Annotated[bool, typer.Option("--use-amp", help="Mixed precision on CUDA (bf16 where native, else fp16).")]
Tf32 = Annotated[bool, typer.Option("--use-tf32", help="TF32 matmuls/convolutions on Ampere+.")]
Autotune = Annotated[bool, typer.Option("--autotune-batch-size", help="Measure the largest batch that fits (CUDA; engine search, cached).")]
Length = Annotated[int, typer.Option("--tensor-length", help="Tensor length L (columns per read).")]
Reference = Annotated[Optional[Path], typer.Option("--reference", help="FASTA for BAMs without MD tags.")]
MaxMissing = Annotated[float, typer.Option("--max-missing-reads-fraction",
                                           help="Fail when more FeatureMap rows than this have no read in the BAM.")]
TrainedModel = described(Model, "A `srsnv train` output folder.")


@app.command()
def simulate(
    output: Output,
    num_reads: Annotated[int, count_option("reads", "Reads per BAM (positives ~ n, negatives ~ 0.8 n rows).")] = 60000,
    genome_size: Annotated[int, typer.Option("--genome-size", help="Total reference length over chr1..chr22.")] = 2_000_000,
    read_only_weight: Annotated[float, typer.Option("--read-only-weight",
                                                    help="Strength of the error effects only the read shows.")] = 1.0,
    seed: Seed = 0,
    force: Force = False,
):
    """Write a simulated Ultima-like dataset: reference, BAMs, FeatureMaps, training regions."""
    from genotool.log import log
    from genotool_srsnv.simulate import SimulateConfig, run_simulate

    s = run_simulate(SimulateConfig(output=output, num_reads=num_reads, genome_size=genome_size,
                                    read_only_weight=read_only_weight, seed=seed, force=force))
    log(f"wrote {output}: {s['positive_rows']} positive and {s['negative_rows']} negative FeatureMap rows")


@app.command()
def preprocess(
    positive_bam: PosBam, negative_bam: NegBam, positive_parquet: PosPq, negative_parquet: NegPq,
    training_regions: Regions,
    output: described(OptionalOutput, "Cache folder (same as --preprocess-cache-dir).") = None,
    preprocess_cache_dir: CacheDir = None,
    split_manifest_in: ManIn = None,
    single_model_split: Single = True, val_fraction: ValFrac = 0.1, split_hash_key: HashKey = "RN",
    holdout_chromosomes: Holdout = "chr21,chr22", num_folds: NFolds = 3,
    preprocess_num_workers: PWorkers = None, preprocess_max_ram_gb: PRam = 48.0,
    preprocess_batch_rows: PRows = 16384, preprocess_storage_mode: PMode = "single_file",
    preprocess_dry_run: PDry = False, tensor_length: Length = 300, reference: Reference = None,
    max_missing_reads_fraction: MaxMissing = 0.02, seed: Seed = 0,
    force: described(Force, "Rebuild the cache entry even when these inputs are already cached.") = False,
):
    """FeatureMaps + BAMs -> cached tensor records (a rerun with the same inputs is a cache hit)."""
    options = dict(locals())  # first statement: exactly the command line's options
    import json

    from genotool_srsnv.preprocess import cache_summary, preprocess_command_config
    from genotool_srsnv.preprocess import preprocess as run_pre

    cfg = preprocess_command_config(options)
    res = run_pre(cfg, dry_run=preprocess_dry_run, force_rebuild=force)
    if preprocess_dry_run:
        typer.echo(json.dumps({"preprocess_plan": res.plan}, indent=2, default=str))
        return
    typer.echo(json.dumps(cache_summary(res), indent=2, default=str))


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
    encoder_vocab_source: Vocab = "known", num_workers: NumWorkers = None, loader_prefetch_factor: LPrefetch = 2,
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
    threads: Threads = None,
    tensor_length: Length = 300, reference: Reference = None, max_missing_reads_fraction: MaxMissing = 0.02,
    seed: Seed = 0, force: Force = False,
):
    """Train the CNN (per fold) with the shared engine; write models, predictions, SNVQ table, metadata."""
    options = dict(locals())  # first statement: exactly the command line's options
    from genotool.log import log
    from genotool_srsnv.train import TrainJob, run_train

    meta = run_train(TrainJob.from_options(options))
    if meta:
        h = meta["holdout_metrics"].get("all", {})
        log(f"holdout ROC AUC {h.get('roc_auc', float('nan')):.4f}, PR AUC {h.get('pr_auc', float('nan')):.4f}, "
            f"recall at SNVQ 60 {h.get('recall_at_snvq_60', float('nan')):.3f}; wrote {output}")


@app.command()
def predict(
    bam: Annotated[Path, typer.Option("--bam", help="Indexed BAM with the FeatureMap's reads.")],
    parquet: Annotated[Path, typer.Option("--parquet", help="FeatureMap parquet to score.")],
    model: TrainedModel,
    output: described(Output, "Output parquet (CHROM, POS, RN, prob, MQUAL, SNVQ)."),
    preprocess_num_workers: PWorkers = None, batch_size: BatchSize = None, device: Device = None,
    precision: Precision = None, threads: Threads = None, reference: Reference = None,
    max_missing_reads_fraction: MaxMissing = 0.02, force: Force = False,
):
    """Score a BAM + FeatureMap with a trained model."""
    from genotool.log import log
    from genotool_srsnv.predict import PredictConfig, run_predict

    res = run_predict(PredictConfig(bam=bam, parquet=parquet, model=model, output=output,
                                    workers=preprocess_num_workers, batch_size=batch_size, device=device,
                                    precision=precision, threads=threads, reference=reference,
                                    max_missing=max_missing_reads_fraction, force=force))
    log(f"scored {res['rows']} rows at {res['rows_per_second']:.0f} rows/s; wrote {output}")


@app.command()
def validate(
    model: TrainedModel,
    positive_parquet: PosPq, negative_parquet: NegPq, training_regions: Regions, output: Output,
    xgb_max_depth: Annotated[int, typer.Option("--xgb-max-depth", help="XGBoost tree depth.")] = 8,
    xgb_rounds: Annotated[int, typer.Option("--xgb-rounds", help="XGBoost boosting rounds (early stopping on val).")] = 600,
    no_xgboost: Annotated[bool, typer.Option("--no-xgboost", help="Skip the XGBoost baseline.")] = False,
    seed: Seed = 0, force: Force = False,
):
    """Holdout report (HTML + JSON) with the XGBoost baseline on the same split manifest.

    The CNN's holdout scores are the ones `train` wrote (no network runs here, so this verb has
    no --device/--precision/--batch-size)."""
    from genotool.log import log
    from genotool_srsnv.validate import ValidateConfig, run_validate

    rep = run_validate(ValidateConfig(model=model, positive_parquet=positive_parquet,
                                      negative_parquet=negative_parquet, training_regions=training_regions,
                                      output=output, xgb_depth=xgb_max_depth, xgb_rounds=xgb_rounds,
                                      with_xgb=not no_xgboost, seed=seed, force=force))
    c = rep["cnn"]["all"]
    line = f"CNN holdout AUC {c['roc_auc']:.4f}"
    if "xgboost" in rep:
        line += f", XGBoost {rep['xgboost']['all']['roc_auc']:.4f}"
    log(line + f"; wrote {output}")


@app.command()
def bench(
    data: described(OptionalData, "A `srsnv simulate` folder (default: simulate one).") = None,
    output: OptionalOutput = None,
    num_reads: Annotated[int, count_option("reads", "Reads per BAM when simulating.")] = 20000,
    workers: Annotated[int, typer.Option("--preprocess-num-workers", help="N for the N-worker preprocess run.")] = 2,
    train_steps: Annotated[int, typer.Option("--train-steps", help="Training batches timed.")] = 30,
    batch_size: BatchSize = None, device: Device = None, precision: Precision = None, threads: Threads = None,
    seed: Seed = 0, force: Force = False,
):
    """Print one JSON: preprocess rows/s (1 and N workers), cache-hit time, training samples/s,
    prediction rows/s, peak memory."""
    from genotool_srsnv.bench import BenchConfig, run_bench

    run_bench(BenchConfig(data=data, output=output, num_reads=num_reads, workers=workers, train_steps=train_steps,
                          batch_size=batch_size, device=device, precision=precision, threads=threads, seed=seed,
                          force=force))
