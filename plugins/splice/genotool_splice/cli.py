"""``genotool splice``: simulate, train-base, preprocess, train, validate, evaluate, predict, variant, bench.

Light module (``genotool --help`` imports it): each verb parses its options into one config
dataclass (``RunOptions`` for verbs that run a model) and hands it to ``run_<verb>(cfg)`` in the
verb's module, which imports torch/pysam/pyarrow itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from genotool.options import (Architecture, BatchSize, Data, Device, Force, Model, OptionalModel, Output, Precision,
                              Scheduler, Seed, TestRegions, Threads, TrainRegions, ValRegions, count_option)

app = typer.Typer(name="splice", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Splice sites: a meta-layer over a SpliceAI-style base model (OpenSpliceAI weights or "
                       "own), genome-wide evaluation, variant delta scores.")

Fasta = Annotated[Path, typer.Option("--fasta", help="Genome FASTA (indexed or indexable).")]
Gtf = Annotated[Path, typer.Option("--annotation", help="GTF with exon lines (GENCODE/Ensembl/RefSeq style).")]
BaseKind = Annotated[str, typer.Option("--base-model", help="openspliceai (weights from --base-weights) or own "
                                       "(a `splice train-base` output in --base-weights).")]
BaseWeights = Annotated[Optional[Path], typer.Option("--base-weights", help="OpenSpliceAI folder (with "
                                                     "80nt/400nt/10000nt or the model_*nt_rs*.pt files), or a "
                                                     "`splice train-base` output for --base-model own.")]
BaseFlank = Annotated[int, typer.Option("--base-flank", help="OpenSpliceAI flank: 80, 400, 2000 or 10000 nt.")]
BaseSeeds = Annotated[int, typer.Option("--base-seeds", help="OpenSpliceAI models averaged (1-5 seeds).")]
Window = Annotated[int, typer.Option("--window", help="Sequence window of the meta-layer (odd).")]
Epochs = Annotated[Optional[int], typer.Option("--epochs", help="Maximum epochs (default: the preset's).")]
Lr = Annotated[Optional[float], typer.Option("--lr", help="AdamW learning rate (default: the preset's).")]
Patience = Annotated[Optional[int], typer.Option("--patience", help="Epochs without validation PR-AUC gain "
                                                 "before stopping (default: the preset's).")]
MaxMinutes = Annotated[Optional[float], typer.Option("--max-minutes", help="Wall-clock training budget.")]
StepsPerEpoch = Annotated[Optional[int], typer.Option("--steps-per-epoch", help="Batches per epoch (default: "
                                                      "all; fewer validates more often).")]
AlsoModels = Annotated[Optional[List[Path]], typer.Option("--also-model", help="Another model, [LABEL=]PATH "
                                                          "(repeatable): a `splice train` or `train-base` output "
                                                          "or an OpenSpliceAI weights folder.")]


@app.command()
def simulate(
    output: Output,
    genome_size: Annotated[int, typer.Option("--genome-size", help="Total genome length (bp).")] = 4_000_000,
    num_chromosomes: Annotated[int, count_option("chromosomes", "Contigs chr1..chrN.")] = 22,
    num_variants: Annotated[int, count_option("variants", "Rows of the SpliceVarDB-style table.")] = 400,
    seed: Seed = 0,
    force: Force = False,
):
    """Simulated genome.fa + annotation.gtf (multi-exon genes, both strands, alternative transcripts,
    decoys) and splicevardb.tsv."""
    from genotool_splice.simulate import SimulateConfig, run_simulate

    s = run_simulate(SimulateConfig(output, genome_size, num_chromosomes, num_variants, seed, force))
    typer.echo(f"wrote {output}: {s['genes']} genes, {s['transcripts']} transcripts, {s['variants']} variants",
               err=True)


@app.command("train-base")
def train_base(
    fasta: Fasta, annotation: Gtf, output: Output,
    init: Annotated[Optional[Path], typer.Option("--init", help="Start from this base (fine-tuning): an "
                                                 "OpenSpliceAI weights folder of one flank (its first seed) or a "
                                                 "`train-base` output.")] = None,
    flank: Annotated[Optional[int], typer.Option("--flank", help="Context: 80 or 400 nt (default 80; with --init "
                                                 "the init model's).")] = None,
    channels: Annotated[int, typer.Option("--channels", help="Convolution channels (not with --init).")] = 32,
    block: Annotated[int, typer.Option("--block", help="Positions scored per training block.")] = 1000,
    epochs: Annotated[int, typer.Option("--epochs", help="Maximum epochs.")] = 8,
    lr: Annotated[float, typer.Option("--lr", help="AdamW learning rate.")] = 2e-3,
    patience: Annotated[int, typer.Option("--patience", help="Epochs without validation gain before stopping.")] = 3,
    train_regions: TrainRegions = None, val_regions: ValRegions = None, test_regions: TestRegions = None,
    steps_per_epoch: StepsPerEpoch = None, scheduler: Scheduler = "onecycle", max_minutes: MaxMinutes = None,
    device: Device = None, precision: Precision = None, batch_size: BatchSize = None, threads: Threads = None,
    seed: Seed = 0, force: Force = False,
):
    """Train a SpliceAI-style base model on the training regions, from scratch or from --init."""
    from genotool_splice.train_base import TrainBaseConfig, run_train_base

    res = run_train_base(TrainBaseConfig(
        fasta=fasta, gtf=annotation, output=output, init=init, flank=flank, channels=channels, block=block,
        epochs=epochs, lr=lr, patience=patience, train_regions=train_regions, val_regions=val_regions,
        test_regions=test_regions, steps_per_epoch=steps_per_epoch, scheduler=scheduler, max_minutes=max_minutes,
        device=device, precision=precision, batch_size=batch_size, threads=threads, seed=seed, force=force))
    typer.echo(f"base model: validation PR-AUC {res['val_pr_auc']:.4f} after {res['epochs']} epochs; wrote {output}",
               err=True)


@app.command()
def preprocess(
    fasta: Fasta, annotation: Gtf, output: Output,
    base_model: BaseKind = "openspliceai", base_weights: BaseWeights = None, base_flank: BaseFlank = 400,
    base_seeds: BaseSeeds = 1, window: Window = 501,
    call_threshold: Annotated[float, typer.Option("--call-threshold", help="Base-model calls at or above this "
                                                  "donor/acceptor probability become candidate rows.")] = 0.1,
    negative_ratio: Annotated[float, typer.Option("--negative-ratio", help="Sampled negative rows per true "
                                                  "site.")] = 1.2,
    max_call_ratio: Annotated[float, typer.Option("--max-call-ratio", help="At most this many base-model calls per "
                                                  "true site and strand (the strongest).")] = 4.0,
    variants: Annotated[Optional[Path], typer.Option("--variants", help="SpliceVarDB-format table: sample weights "
                                                     "2.0/1.5/0.5 near splice-altering/normal/low-frequency "
                                                     "variants.")] = None,
    train_regions: TrainRegions = None, val_regions: ValRegions = None, test_regions: TestRegions = None,
    keep_base_scores: Annotated[bool, typer.Option("--keep-base-scores", help="Keep the per-contig base scores "
                                                   "(base_scores/*.npy) in the output.")] = False,
    device: Device = None, precision: Precision = None, batch_size: BatchSize = None, threads: Threads = None,
    seed: Seed = 0, force: Force = False,
):
    """GTF + FASTA + base model -> candidates.parquet (43 score features, window, label, split, weight) and
    the training tracks of the genome-wide meta-layer."""
    from genotool_splice.preprocess import PreprocessConfig, run_preprocess

    s = run_preprocess(PreprocessConfig(
        fasta=fasta, gtf=annotation, output=output, base_model=base_model, base_weights=base_weights,
        base_flank=base_flank, base_seeds=base_seeds, window=window, call_threshold=call_threshold,
        negative_ratio=negative_ratio, max_call_ratio=max_call_ratio, variants=variants, train_regions=train_regions,
        val_regions=val_regions, test_regions=test_regions, keep_base_scores=keep_base_scores, device=device,
        precision=precision, batch_size=batch_size, threads=threads, seed=seed, force=force))
    typer.echo(f"rows train/val/test {s['rows']['train']}/{s['rows']['val']}/{s['rows']['test']}; track positions "
               f"train/val {s['tracks']['train']:,}/{s['tracks']['val']:,}; wrote {output}", err=True)


@app.command()
def train(
    data: Data, output: Output,
    architecture: Architecture = "meta",
    protocol: Annotated[str, typer.Option("--protocol", help="genome (every position of the training transcript "
                                          "bodies, dense net) or candidates (the source's candidate rows).")]
    = "genome",
    preset: Annotated[str, typer.Option("--preset", help="lightweight (kernels 3/5/7, 32 filters, hidden 128) or "
                                        "default (3/5/7/11, 64 filters, hidden 256, lr 1e-4, patience 10).")]
    = "lightweight",
    fusion: Annotated[str, typer.Option("--fusion", help="concat or add (candidates also: cross-attention).")]
    = "concat",
    encoder: Annotated[str, typer.Option("--encoder", help="Sequence encoder: cnn (the only one that runs "
                                         "offline; no silent fallback).")] = "cnn",
    epochs: Epochs = None, lr: Lr = None, patience: Patience = None,
    dropout: Annotated[float, typer.Option("--dropout", help="Dropout in the score encoder and head.")] = 0.1,
    balance_classes: Annotated[Optional[bool], typer.Option("--balance-classes/--no-balance-classes",
                                                            help="Inverse-frequency class weights in the loss "
                                                                 "(default: on for candidates, off for genome: "
                                                                 "it would inflate every probability).")] = None,
    steps_per_epoch: StepsPerEpoch = None, scheduler: Scheduler = "none", max_minutes: MaxMinutes = None,
    device: Device = None, precision: Precision = None, batch_size: BatchSize = None, threads: Threads = None,
    seed: Seed = 0, force: Force = False,
):
    """Train the meta-layer (or the score-only ablation) with the shared engine (best/last checkpoints,
    history, resume, early stopping on validation PR-AUC)."""
    from genotool_splice.train import MetaTrainConfig, run_train

    res = run_train(MetaTrainConfig(
        data=data, output=output, architecture=architecture, protocol=protocol, preset=preset, fusion=fusion,
        encoder=encoder, epochs=epochs, lr=lr, patience=patience, dropout=dropout, balance_classes=balance_classes,
        steps_per_epoch=steps_per_epoch, scheduler=scheduler, max_minutes=max_minutes, device=device,
        precision=precision, batch_size=batch_size, threads=threads, seed=seed, force=force))
    typer.echo(f"{architecture} ({protocol}): best validation PR-AUC {res['best_val_pr_auc']:.4f} (epoch "
               f"{res['best_epoch']}); wrote {output}", err=True)


@app.command()
def validate(
    data: Data, model: Model, output: Output,
    score_only_model: Annotated[Optional[Path], typer.Option("--score-only-model", help="A score-only `splice "
                                                             "train` output, reported beside the meta-layer.")] = None,
    also_model: AlsoModels = None,
    split: Annotated[str, typer.Option("--split", help="Regions evaluated: test (default) or val.")] = "test",
    fasta: Annotated[Optional[Path], typer.Option("--fasta", help="The FASTA, when it moved since preprocess.")]
    = None,
    annotation: Annotated[Optional[Path], typer.Option("--annotation", help="The GTF, when it moved since "
                                                       "preprocess.")] = None,
    base_weights: BaseWeights = None,
    device: Device = None, precision: Precision = None, batch_size: BatchSize = None, threads: Threads = None,
    force: Force = False,
):
    """Base model vs score-only vs meta-layer on the held-out regions: genome-wide top-k and PR-AUC
    (primary), candidate-row metrics (secondary); HTML."""
    from genotool_splice.validate import ValidateConfig, run_validate

    rep = run_validate(ValidateConfig(
        data=data, model=model, output=output, score_only_model=score_only_model, also_models=list(also_model or []),
        split=split, fasta=fasta, gtf=annotation, base_weights=base_weights, device=device, precision=precision,
        batch_size=batch_size, threads=threads, force=force))
    rows = {r["model"]: r for r in rep["table"]}
    for g in rep["genome_wide"]["table"]:
        r = rows[g["model"]]
        typer.echo(f"{g['model']:>12s}  genome-wide top-k {g['topk']:.4f} PR-AUC {g['pr_auc']:.4f} | candidate rows "
                   f"top-k {r['topk_splice']:.4f} PR-AUC {r['pr_auc_splice']:.4f}", err=True)
    typer.echo(f"wrote {output}", err=True)


@app.command()
def evaluate(
    fasta: Fasta, annotation: Gtf, output: Output,
    model: OptionalModel = None, also_model: AlsoModels = None,
    test_regions: TestRegions = None,
    base_flank: Annotated[Optional[int], typer.Option("--base-flank", help="Flank of an OpenSpliceAI folder "
                                                     "holding several.")] = None,
    base_seeds: BaseSeeds = 1, base_weights: BaseWeights = None,
    min_score: Annotated[Optional[float], typer.Option("--min-score", help="Gate of candidate-row meta-layers "
                                                       "(default: each model's call threshold).")] = None,
    variant_check: Annotated[int, typer.Option("--variant-check", help="Also score N SNVs at canonical "
                                               "dinucleotides and N exonic + N deep-intronic controls (AUC of "
                                               "|delta|).")] = 0,
    device: Device = None, precision: Precision = None, batch_size: BatchSize = None, threads: Threads = None,
    seed: Seed = 0, force: Force = False,
):
    """Genome-wide top-k and PR-AUC of any set of models over the annotated transcript bodies of the test
    regions (both strands)."""
    from genotool_splice.evaluate import EvaluateConfig, run_evaluate

    rep = run_evaluate(EvaluateConfig(
        fasta=fasta, gtf=annotation, output=output, model=model, also_models=list(also_model or []),
        test_regions=test_regions, base_flank=base_flank, base_seeds=base_seeds, base_weights=base_weights,
        min_score=min_score, variant_check=variant_check, device=device, precision=precision, batch_size=batch_size,
        threads=threads, seed=seed, force=force))
    for g in rep["table"]:
        typer.echo(f"{g['model']:>28s}  top-k {g['topk']:.4f}  PR-AUC {g['pr_auc']:.4f}  ({g['seconds']:.1f} s)",
                   err=True)
    typer.echo(f"wrote {output}", err=True)


@app.command()
def predict(
    fasta: Fasta, model: Model, output: Output,
    region: Annotated[Optional[str], typer.Option("--region", help="CONTIG or CONTIG:START-END (1-based, "
                                                  "inclusive), comma-separated; default every contig.")] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="Meta-layer probability for a called site (BED).")]
    = 0.5,
    min_score: Annotated[Optional[float], typer.Option("--min-score", help="Positions where neither the base nor "
                                                       "the meta-layer reaches this donor/acceptor probability are "
                                                       "not written; 0 to 0.5 (default 0.01; a candidate-row meta-layer: "
                                                       "its call threshold, and it rescores only base calls).")] = None,
    base_weights: BaseWeights = None,
    device: Device = None, precision: Precision = None, batch_size: BatchSize = None, threads: Threads = None,
    force: Force = False,
):
    """FASTA (+ regions) -> bedGraphs of base and meta donor/acceptor probabilities and a BED of called sites."""
    from genotool_splice.predict import PredictConfig, run_predict

    res = run_predict(PredictConfig(fasta=fasta, model=model, output=output, region=region, threshold=threshold,
                                    min_score=min_score, base_weights=base_weights, device=device,
                                    precision=precision, batch_size=batch_size, threads=threads, force=force))
    typer.echo(f"{res['called_sites']} sites called over {res['bp']:,} bp; wrote {output}", err=True)


@app.command()
def variant(
    fasta: Fasta, model: Model, output: Output,
    variants: Annotated[Path, typer.Option("--variants", help="VCF (.vcf/.vcf.gz) or SpliceVarDB-format table.")],
    annotation: Annotated[Optional[Path], typer.Option("--annotation", help="GTF: a variant's strand from the gene "
                                                       "it lies in (else both strands, larger delta).")] = None,
    distance: Annotated[int, typer.Option("--distance", help="Delta positions searched either side (SpliceAI: 50).")]
    = 50,
    base_weights: BaseWeights = None,
    device: Device = None, precision: Precision = None, batch_size: BatchSize = None, threads: Threads = None,
    force: Force = False,
):
    """SpliceAI-style delta scores (acceptor/donor gain/loss and positions) from the base model and the
    meta-layer: TSV + VCF INFO; AUC of |delta| when a classification column is present."""
    from genotool_splice.variant import VariantConfig, run_variant

    res = run_variant(VariantConfig(fasta=fasta, model=model, output=output, variants=variants, gtf=annotation,
                                    distance=distance, base_weights=base_weights, device=device,
                                    precision=precision, batch_size=batch_size, threads=threads, force=force))
    line = f"scored {res['scored']} variants"
    if res.get("auc"):
        line += f"; AUC splice-altering vs normal: base {res['auc']['base']:.3f}, meta {res['auc']['meta']:.3f}"
    typer.echo(line + f"; wrote {output}", err=True)


@app.command()
def bench(
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Also write the JSON here.")] = None,
    base_weights: BaseWeights = None,
    flanks: Annotated[str, typer.Option("--flanks", help="Flank sizes timed (comma-separated).")] = "80,400,10000",
    bases: Annotated[int, typer.Option("--bases", help="Sequence length scored per flank size.")] = 200_000,
    rows: Annotated[int, typer.Option("--rows", help="Candidate rows for feature/training/prediction timing.")] = 4096,
    repeats: Annotated[int, typer.Option("--repeats", help="Timed scoring calls per flank (median; the "
                                         "plain-forward reference interleaved at 400 nt).")] = 3,
    device: Device = None, precision: Precision = None, batch_size: BatchSize = None, threads: Threads = None,
    seed: Seed = 0, force: Force = False,
):
    """One JSON: base scoring nt/s per flank (one model and the 5-seed ensemble; at 400 nt also the
    plain nn.Module forward and the genome-wide meta-layer), feature rows/s, candidate-row meta-layer
    training samples/s and prediction rows/s, peak memory."""
    from genotool_splice.bench import BenchConfig, run_bench

    run_bench(BenchConfig(output=output, base_weights=base_weights, flanks=flanks, bases=bases, rows=rows,
                          repeats=repeats, device=device, precision=precision, batch_size=batch_size,
                          threads=threads, seed=seed, force=force))
