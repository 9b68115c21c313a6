"""``genotool srsnv``: simulate, preprocess, train, predict, validate, bench.

Light module: ``genotool --help`` imports it, so torch/pysam/pandas/pyarrow/xgboost are imported
inside the command bodies only. Each command parses its options into ONE options object of the
verb's module (``PreprocessOptions``, ``TrainOptions``, ``PredictConfig``, ...) and hands it to
``run_<verb>``; the rules about the options live there. Shared concepts use the core vocabulary
(``genotool.options``); the old spellings ``--cpu-threads``, ``--loader-num-workers``,
``--n-reads``, ``--use-amp`` (``--precision auto``) and ``--use-tf32`` (``--tf32``) are hidden
aliases. ``train``'s options are grouped into panels in ``--help``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from genotool.options import (TF32, BatchSize, Device, Force, Model, NumWorkers, OptionalData, OptionalOutput, Output,
                              Precision, Seed, Threads, count_option, described, in_panel)

app = typer.Typer(name="srsnv", no_args_is_help=True, add_completion=False,
                  help="Single-read SNV quality: a BAM-native CNN with XGBoost split parity.")

# --help panels of train (and preprocess): a few groups instead of 44 flags in one list
INPUTS, OUTPUT, SPLIT, CACHE, MODEL, TRAINING, LOADING, RUN, XGB = (
    "Inputs", "Output", "Split", "Preprocessing", "Model", "Training", "Data loading", "Hardware and precision",
    "XGBoost baseline")


def _opt(flags: str | tuple, help: str, panel: str):
    flags = (flags,) if isinstance(flags, str) else flags
    return typer.Option(*flags, help=help, rich_help_panel=panel)


# --- option types (design-note names) ---------------------------------------------------------
PosBam = Annotated[Path, _opt("--positive-bam", "BAM with the reads of the positive FeatureMap (indexed).", INPUTS)]
NegBam = Annotated[Path, _opt("--negative-bam", "BAM with the reads of the negative FeatureMap (indexed).", INPUTS)]
PosPq = Annotated[Path, _opt("--positive-parquet", "Positive FeatureMap parquet.", INPUTS)]
NegPq = Annotated[Path, _opt("--negative-parquet", "Negative FeatureMap parquet.", INPUTS)]
Regions = Annotated[Path, _opt("--training-regions", "Picard interval_list with @SQ lines.", INPUTS)]
Reference = Annotated[Optional[Path], _opt("--reference", "FASTA for BAMs without MD tags.", INPUTS)]
MaxMissing = Annotated[float, _opt("--max-missing-reads-fraction",
                                   "Fail when more FeatureMap rows than this have no read in the BAM.", INPUTS)]
ManIn = Annotated[Optional[Path], _opt("--split-manifest-in", "Reuse this split manifest (JSON).", SPLIT)]
ManOut = Annotated[Optional[Path], _opt("--split-manifest-out", "Also write the split manifest here.", SPLIT)]
Single = Annotated[bool, _opt("--single-model-split/--kfold-split",
                              "One model with a hashed validation split (default) or chromosome K-fold.", SPLIT)]
ValFrac = Annotated[float, _opt("--val-fraction", "Validation fraction of reads (single-model split).", SPLIT)]
HashKey = Annotated[str, _opt("--split-hash-key", "Column hashed for the validation split.", SPLIT)]
Holdout = Annotated[str, _opt("--holdout-chromosomes", "Comma-separated test chromosomes.", SPLIT)]
NFolds = Annotated[int, _opt("--num-folds", "Folds in chromosome K-fold mode.", SPLIT)]
CacheDir = Annotated[Optional[Path], _opt("--preprocess-cache-dir", "Persistent cache (default for train: "
                                          "<output>.deep_srsnv_cache beside the output folder, so --force keeps it).",
                                          CACHE)]
PWorkers = Annotated[Optional[int], _opt("--preprocess-num-workers",
                                         "Parallel shard workers (default: min(cores-2, 16), >= 1).", CACHE)]
PRam = Annotated[float, _opt("--preprocess-max-ram-gb", "RAM budget for shard planning.", CACHE)]
PRows = Annotated[int, _opt("--preprocess-batch-rows", "Requested rows per shard (before the RAM cap).", CACHE)]
PMode = Annotated[str, _opt("--preprocess-storage-mode", "single_file or shards.", CACHE)]
PDry = Annotated[bool, _opt("--preprocess-dry-run", "Print the preprocess plan and stop.", CACHE)]
Length = Annotated[int, _opt("--tensor-length", "Tensor length L (columns per read).", CACHE)]
Vocab = Annotated[str, _opt("--encoder-vocab-source", "known (schema) or scan (from the cache).", MODEL)]
LPrefetch = Annotated[int, _opt("--loader-prefetch-factor", "Batches prefetched per loader worker.", LOADING)]
LPin = Annotated[bool, _opt("--loader-pin-memory", "Pinned host memory (CUDA).", LOADING)]
Autotune = Annotated[bool, _opt("--autotune-batch-size", "Measure the largest batch that fits (CUDA; engine "
                                "search, cached).", RUN)]
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
    output: in_panel(described(OptionalOutput, "Cache folder (same as --preprocess-cache-dir)."), CACHE) = None,
    preprocess_cache_dir: CacheDir = None,
    split_manifest_in: ManIn = None,
    single_model_split: Single = True, val_fraction: ValFrac = 0.1, split_hash_key: HashKey = "RN",
    holdout_chromosomes: Holdout = "chr21,chr22", num_folds: NFolds = 3,
    preprocess_num_workers: PWorkers = None, preprocess_max_ram_gb: PRam = 48.0,
    preprocess_batch_rows: PRows = 16384, preprocess_storage_mode: PMode = "single_file",
    preprocess_dry_run: PDry = False, tensor_length: Length = 300, reference: Reference = None,
    max_missing_reads_fraction: MaxMissing = 0.02, seed: in_panel(Seed, SPLIT) = 0,
    force: in_panel(described(Force, "Rebuild the cache entry even when these inputs are already cached."),
                    CACHE) = False,
):
    """FeatureMaps + BAMs -> cached tensor records (a rerun with the same inputs is a cache hit)."""
    from genotool_srsnv.preprocess import PreprocessOptions, run_preprocess

    run_preprocess(PreprocessOptions(
        positive_bam=positive_bam, negative_bam=negative_bam, positive_parquet=positive_parquet,
        negative_parquet=negative_parquet, training_regions=training_regions, output=output,
        preprocess_cache_dir=preprocess_cache_dir, split_manifest_in=split_manifest_in,
        single_model_split=single_model_split, val_fraction=val_fraction, split_hash_key=split_hash_key,
        holdout_chromosomes=holdout_chromosomes, num_folds=num_folds, preprocess_num_workers=preprocess_num_workers,
        preprocess_max_ram_gb=preprocess_max_ram_gb, preprocess_batch_rows=preprocess_batch_rows,
        preprocess_storage_mode=preprocess_storage_mode, preprocess_dry_run=preprocess_dry_run,
        tensor_length=tensor_length, reference=reference, max_missing_reads_fraction=max_missing_reads_fraction,
        seed=seed, force=force))


@app.command()
def train(
    positive_bam: PosBam, negative_bam: NegBam, positive_parquet: PosPq, negative_parquet: NegPq,
    training_regions: Regions, output: in_panel(Output, OUTPUT),
    split_manifest_in: ManIn = None, split_manifest_out: ManOut = None,
    single_model_split: Single = True, val_fraction: ValFrac = 0.1, split_hash_key: HashKey = "RN",
    holdout_chromosomes: Holdout = "chr21,chr22", num_folds: NFolds = 3,
    preprocess_cache_dir: CacheDir = None, preprocess_num_workers: PWorkers = None,
    preprocess_max_ram_gb: PRam = 48.0, preprocess_batch_rows: PRows = 16384,
    preprocess_storage_mode: PMode = "single_file", preprocess_dry_run: PDry = False,
    encoder_vocab_source: Vocab = "known", num_workers: in_panel(NumWorkers, LOADING) = None,
    loader_prefetch_factor: LPrefetch = 2, loader_pin_memory: LPin = False, autotune_batch_size: Autotune = False,
    batch_size: in_panel(BatchSize, RUN) = None, device: in_panel(Device, RUN) = None,
    precision: in_panel(described(Precision, "fp32 (default), auto (the probe's mixed precision: bf16 where the "
                                  "GPU has it natively, else fp16), bf16-mixed or fp16-mixed."), RUN) = None,
    tf32: in_panel(TF32, RUN) = None,
    epochs: Annotated[int, _opt("--epochs", "Maximum epochs (early stopping on validation AUC).", TRAINING)] = 6,
    lr: Annotated[float, _opt("--lr", "Peak learning rate (OneCycle).", TRAINING)] = 2e-3,
    patience: Annotated[int, _opt("--patience", "Epochs without validation-AUC gain before stopping.", TRAINING)] = 2,
    channels: Annotated[int, _opt("--channels", "CNN width (128 in the authors' GPU recipe).", MODEL)] = 32,
    dilations: Annotated[str, _opt("--dilations", "One residual block per dilation (GPU recipe: 1,1,2,2,4,4).",
                                   MODEL)] = "1,2,4,8",
    model_window: Annotated[int, _opt("--model-window", "Columns around the focus the CNN convolves (>= L: the "
                                      "whole record).", MODEL)] = 64,
    max_steps_per_epoch: Annotated[Optional[int], _opt("--max-steps-per-epoch", "Cap batches per epoch.",
                                                       TRAINING)] = None,
    snv_error_prior: Annotated[float, _opt("--snv-error-prior", "Raw per-base SNV error rate used by the SNVQ "
                                           "table.", TRAINING)] = 1e-3,
    basename: Annotated[str, _opt("--basename", "Prefix of the metadata/predictions files.", OUTPUT)] = "",
    threads: in_panel(Threads, RUN) = None,
    tensor_length: Length = 300, reference: Reference = None, max_missing_reads_fraction: MaxMissing = 0.02,
    seed: in_panel(Seed, TRAINING) = 0, force: in_panel(Force, OUTPUT) = False,
):
    """Train the CNN (per fold) with the shared engine; write models, predictions, SNVQ table, metadata."""
    from genotool.log import log
    from genotool_srsnv.train import TrainOptions, run_train

    meta = run_train(TrainOptions(
        positive_bam=positive_bam, negative_bam=negative_bam, positive_parquet=positive_parquet,
        negative_parquet=negative_parquet, training_regions=training_regions, output=output,
        split_manifest_in=split_manifest_in, split_manifest_out=split_manifest_out,
        single_model_split=single_model_split, val_fraction=val_fraction, split_hash_key=split_hash_key,
        holdout_chromosomes=holdout_chromosomes, num_folds=num_folds, preprocess_cache_dir=preprocess_cache_dir,
        preprocess_num_workers=preprocess_num_workers, preprocess_max_ram_gb=preprocess_max_ram_gb,
        preprocess_batch_rows=preprocess_batch_rows, preprocess_storage_mode=preprocess_storage_mode,
        preprocess_dry_run=preprocess_dry_run, encoder_vocab_source=encoder_vocab_source, num_workers=num_workers,
        loader_prefetch_factor=loader_prefetch_factor, loader_pin_memory=loader_pin_memory,
        autotune_batch_size=autotune_batch_size, batch_size=batch_size, device=device, precision=precision,
        tf32=tf32, threads=threads, epochs=epochs, lr=lr, patience=patience, channels=channels, dilations=dilations,
        model_window=model_window, max_steps_per_epoch=max_steps_per_epoch, snv_error_prior=snv_error_prior,
        basename=basename, tensor_length=tensor_length, reference=reference,
        max_missing_reads_fraction=max_missing_reads_fraction, seed=seed, force=force))
    if meta:
        h = meta["holdout_metrics"].get("all", {})
        log(f"holdout ROC AUC {h.get('roc_auc', float('nan')):.4f}, PR AUC {h.get('pr_auc', float('nan')):.4f}, "
            f"recall at SNVQ 60 {h.get('recall_at_snvq_60', float('nan')):.3f}; wrote {output}")


@app.command()
def predict(
    bam: Annotated[Path, _opt("--bam", "Indexed BAM with the FeatureMap's reads.", INPUTS)],
    parquet: Annotated[Path, _opt("--parquet", "FeatureMap parquet to score.", INPUTS)],
    model: in_panel(TrainedModel, INPUTS),
    output: in_panel(described(Output, "Output parquet (CHROM, POS, RN, prob, MQUAL, SNVQ)."), OUTPUT),
    preprocess_num_workers: PWorkers = None, batch_size: in_panel(BatchSize, RUN) = None,
    device: in_panel(Device, RUN) = None, precision: in_panel(Precision, RUN) = None,
    threads: in_panel(Threads, RUN) = None, reference: Reference = None,
    max_missing_reads_fraction: MaxMissing = 0.02, force: in_panel(Force, OUTPUT) = False,
):
    """Score a BAM + FeatureMap with a trained model."""
    from genotool.log import log
    from genotool_srsnv.predict import PredictConfig, run_predict

    res = run_predict(PredictConfig(bam=bam, parquet=parquet, model=model, output=output,
                                    preprocess_num_workers=preprocess_num_workers, batch_size=batch_size,
                                    device=device, precision=precision, threads=threads, reference=reference,
                                    max_missing_reads_fraction=max_missing_reads_fraction, force=force))
    log(f"scored {res['rows']} rows at {res['rows_per_second']:.0f} rows/s; wrote {output}")


@app.command()
def validate(
    model: in_panel(TrainedModel, INPUTS),
    positive_parquet: PosPq, negative_parquet: NegPq, training_regions: Regions, output: in_panel(Output, OUTPUT),
    xgb_max_depth: Annotated[int, _opt("--xgb-max-depth", "XGBoost tree depth.", XGB)] = 8,
    xgb_rounds: Annotated[int, _opt("--xgb-rounds", "XGBoost boosting rounds (early stopping on val).", XGB)] = 600,
    no_xgboost: Annotated[bool, _opt("--no-xgboost", "Skip the XGBoost baseline.", XGB)] = False,
    seed: in_panel(Seed, XGB) = 0, force: in_panel(Force, OUTPUT) = False,
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
