"""`genotool gencode ...` verbs. No torch/pysam at module level: command bodies import them.

Each verb parses its options into ONE config object (``PreprocessConfig``, ``TrainConfig``,
``PredictConfig``, ``ValidateConfig``, ``CompareConfig``, ``BenchConfig``, the last five inheriting
``genotool.options.RunOptions``) and hands it to ``run_<verb>(cfg)`` in the verb's module, which
checks it; this file holds no logic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from genotool.log import log
from genotool.options import (BatchSize, Data, Device, Force, Json, Model, OptionalOutput, Output, Precision,
                              Scheduler, Seed, TestRegions, Threads, TrainRegions, ValRegions)

from genotool_gencode.compare import DEFAULT_MODELS  # noqa: E402 - light (no torch)

app = typer.Typer(help="Gene finding: whole gene models from a semi-Markov CRF over gene structure (counted "
                  "sensors + a neural encoder), and per-base label models.", no_args_is_help=True,
                  pretty_exceptions_enable=False)

Head = Annotated[str, typer.Option("--head", help="CRF head: semicrf (explicit segment lengths), linear (a "
                                    "linear chain: geometric lengths) or pytorch-crf (--states strand only).")]
StatesOpt = Annotated[str, typer.Option("--states", help="'gene': gene-structure states with codon phase (every "
                                        "prediction a valid gene model); 'strand': 21 strand-aware label states "
                                        "(per-base labels).")]
Features = Annotated[str, typer.Option("--features", help="--states gene: what the CRF reads: sensors (counted "
                                       "Markov content and signal models), encoder (the neural encoder) or both.")]
EncoderSteps = Annotated[Optional[int], typer.Option("--encoder-steps", help="--states gene: training steps of "
                                                     "the encoder's convolutional trunk (default 400).")]
Encoder = Annotated[str, typer.Option("--encoder", help="--states strand: bilstm or mamba (mamba-ssm on CUDA, "
                                          "mambapy otherwise). Gene states use their own encoder (genes/encoder.py).")]
MaxDuration = Annotated[int, typer.Option("--max-duration", help="Longest segment K of the semi-CRF.")]
HiddenDim = Annotated[int, typer.Option("--hidden-dim", help="Encoder width.")]
NumLayers = Annotated[int, typer.Option("--num-layers", help="Encoder layers.")]
Epochs = Annotated[int, typer.Option("--epochs", help="Training epochs.")]
Lr = Annotated[float, typer.Option("--lr", help="AdamW learning rate.")]
Wd = Annotated[float, typer.Option("--weight-decay", help="AdamW weight decay.")]
CrfReg = Annotated[float, typer.Option("--crf-reg", help="L2 penalty on CRF transitions/durations.")]
EmClamp = Annotated[float, typer.Option("--emission-clamp", help="Clamp encoder outputs to +-value (0: off).")]
Backend = Annotated[str, typer.Option("--backend", help="Semi-CRF log Z: streaming/auto/exact (ours) or flash "
                                                      "(flash-semicrf's partition; gold term ours).")]
NoTriton = Annotated[bool, typer.Option("--no-triton", help="With --backend flash: no Triton kernels.")]
LogEvery = Annotated[int, typer.Option("--log-every", help="Full validation metrics every N epochs.")]
DState = Annotated[int, typer.Option("--d-state", help="Mamba SSM state size.")]
DConv = Annotated[int, typer.Option("--d-conv", help="Mamba local convolution width.")]
Expand = Annotated[int, typer.Option("--expand", help="Mamba expansion factor.")]
MaxTrain = Annotated[Optional[int], typer.Option("--max-train-chunks", help="Use at most N training chunks.")]
MaxVal = Annotated[Optional[int], typer.Option("--max-val-chunks", help="Validate on at most N chunks.")]
Crop = Annotated[Optional[int], typer.Option("--crop-length", help="Train on random windows of this length "
                                                                "(default: whole chunks).")]
Chain = Annotated[str, typer.Option("--chain", help="semicrf: 'canonical' (a same-label continuation only after a "
                                   "full-K segment: one segmentation per labelling, Viterbi = MAP labelling) or "
                                   "'all' (sum over every chain of same-label segments).")]
States = Annotated[str, typer.Option("--states", help="'strand': 21 strand-aware states (the gene grammar is "
                                     "first-order Markov; outputs are still the 11 labels) or 'labels': the 11 "
                                     "labels as CRF states.")]
StructureInit = Annotated[str, typer.Option("--structure-init", help="'counts': CRF transitions (and semi-CRF "
                                            "durations) start at their estimates from the training labels; "
                                            "'random': small random values.")]
Durations = Annotated[str, typer.Option("--durations", help="semicrf duration scores: 'smooth' (piecewise linear "
                                        "in log length, from kernel-smoothed counts) or 'table' (one free score "
                                        "per length).")]
LinearWarmup = Annotated[int, typer.Option("--linear-warmup-epochs", help="semicrf: train the encoder under a "
                                           "linear-chain CRF for the first N epochs, then the semi-CRF (0: off).")]
BoundaryScores = Annotated[bool, typer.Option("--boundary-scores/--no-boundary-scores", help="linear and "
                             "semicrf: the encoder also scores a run starting and a run ending at each base, "
                             "added at label switches only (splice-site sensors); pytorch-crf has none.")]
CensorEdges = Annotated[bool, typer.Option("--censor-edges/--no-censor-edges", help="linear and semicrf: a "
                          "piece cut by a chunk edge scores no duration (training crops truncate the runs at "
                          "their edges; scored as whole segments they skew the duration model).")]
LongRuns = Annotated[str, typer.Option("--long-runs", help="linear and semicrf: a run of K or more bases is "
                       "'tail' (a K piece, then one score per extra base: a geometric tail, as in GHMM gene "
                       "finders) or 'pieces' (full K pieces and a shorter last one, which shares its duration "
                       "score with runs of that length).")]
OrfScores = Annotated[bool, typer.Option("--orf-scores/--no-orf-scores", help="semicrf (with --long-runs tail "
                        "and strand states): a first or last exon holding a stop codon in the reading frame its "
                        "start or stop codon fixes scores a learned penalty (a segment-level feature; a linear "
                        "chain cannot express it).")]
MaxSteps = Annotated[Optional[int], typer.Option("--max-steps-per-epoch", help="Cap batches per epoch.")]



# ---------------------------------------------------------------------------------------------
@app.command()
def simulate(
    output: Output,
    seed: Seed = 0,
    num_chroms: Annotated[int, typer.Option("--num-chroms", help="Chromosomes chr1..chrN.")] = 22,
    chrom_length: Annotated[int, typer.Option("--chrom-length", help="Length of each chromosome (bp).")] = 150_000,
    genome_size: Annotated[Optional[int], typer.Option("--genome-size", help="Total bp (sets --chrom-length).")] = None,
    force: Force = False,
):
    """Simulate a genome FASTA + GENCODE-style GTF (both strands, GT-AG, ATG, stop codons)."""
    from genotool_gencode.simulate import SimulateConfig, run_simulate

    run_simulate(SimulateConfig(output, seed, num_chroms, chrom_length, genome_size, force), log)


@app.command()
def preprocess(
    output: Output,
    gtf: Annotated[Optional[Path], typer.Option("--gtf", help="GTF (plain or .gz; GENCODE/Ensembl or "
                                                "UCSC/RefSeq); with --fasta.")] = None,
    fasta: Annotated[Optional[Path], typer.Option("--fasta", help="Genome FASTA (plain or bgzip; indexed or "
                                                  "indexable).")] = None,
    genbank: Annotated[Optional[list[Path]], typer.Option("--genbank", help="GenBank file(s) of annotated "
                       "sequences (AUGUSTUS training sets; CDS join/complement; the stop codon is the 3 bases "
                       "after the CDS): training records (--val-fraction of them to val). Not with --gtf.")] = None,
    test_genbank: Annotated[Optional[list[Path]], typer.Option("--test-genbank", help="GenBank file(s) whose "
                            "records form the test split.")] = None,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="--genbank: every round(1/f)-th "
                            "training record goes to val.")] = 0.1,
    split: Annotated[Optional[str], typer.Option("--split", help="Write every input contig/record to this one "
                     "split (train, val or test), e.g. to evaluate a trained model on one annotated "
                     "region.")] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="Chunk length (bp) of the per-base label "
                                            "data; a GenBank record up to this long is one chunk.")] = 10_000,
    overlap: Annotated[int, typer.Option("--overlap", help="Overlap between consecutive chunks (bp).")] = 500,
    train_regions: TrainRegions = None,
    val_regions: ValRegions = None,
    test_regions: TestRegions = None,
    min_genic: Annotated[float, typer.Option("--min-genic", help="Skip chunks with fewer genic bases "
                                             "(GTF input).")] = 0.10,
    force: Force = False,
):
    """GTF + FASTA, or GenBank records -> per split: the regions' sequence and coding transcripts (gene
    models), labelled chunks (per-base models) and segment statistics. Without region options: chr1-18 /
    chr19-20 / chr21-22."""
    from genotool_gencode.preprocess import PreprocessConfig, run_preprocess

    run_preprocess(PreprocessConfig(output, gtf, fasta, genbank or [], test_genbank or [], val_fraction, split,
                                    chunk_size, overlap, train_regions, val_regions, test_regions, min_genic,
                                    force), log=log)


@app.command()
def train(
    data: Data,
    output: Output,
    states: StatesOpt = "gene",
    head: Head = "semicrf",
    features: Features = "both",
    encoder: Encoder = "bilstm",
    encoder_steps: EncoderSteps = None,
    max_duration: MaxDuration = 500,
    hidden_dim: HiddenDim = 256,
    num_layers: NumLayers = 2,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Training epochs (--states strand, default "
                      "50); passes of the CRF weight learning (--states gene, default 4).")] = None,
    batch_size: BatchSize = None,
    lr: Lr = 1e-3,
    weight_decay: Wd = 1e-5,
    crf_reg: CrfReg = 0.0,
    emission_clamp: EmClamp = 0.0,
    log_every: LogEvery = 1,
    d_state: DState = 16,
    d_conv: DConv = 4,
    expand: Expand = 2,
    max_train_chunks: MaxTrain = None,
    max_val_chunks: MaxVal = None,
    max_steps_per_epoch: MaxSteps = None,
    patience: Annotated[Optional[int], typer.Option("--patience", help="Early-stopping patience (epochs).")] = None,
    crop_length: Crop = None,
    structure_init: StructureInit = "counts",
    boundary_scores: BoundaryScores = True,
    orf_scores: OrfScores = True,
    scheduler: Scheduler = "none",
    threads: Threads = None,
    device: Device = None,
    precision: Precision = None,
    seed: Seed = 0,
    force: Force = False,
):
    """Train a gene finder (--states gene: sensors + neural encoder + gene-structure CRF) or an
    encoder + CRF head over label states (--states strand; shared engine: AMP, checkpoints, DDP;
    --batch-size default 32)."""
    from genotool_gencode.config import ModelConfig, TrainSettings
    from genotool_gencode.train import TrainConfig, run_train

    model = ModelConfig(head=head, encoder=encoder, max_duration=max_duration, hidden_dim=hidden_dim,
                        num_layers=num_layers, emission_clamp=emission_clamp, d_state=d_state, d_conv=d_conv,
                        expand=expand, structure_init=structure_init, boundary_scores=boundary_scores,
                        orf_scores=orf_scores)
    settings = TrainSettings(epochs=epochs or (4 if states == "gene" else 50), batch_size=batch_size, lr=lr,
                             weight_decay=weight_decay, crf_reg=crf_reg, log_every=log_every, seed=seed,
                             scheduler=scheduler, max_train_chunks=max_train_chunks, max_val_chunks=max_val_chunks,
                             max_steps_per_epoch=max_steps_per_epoch, patience=patience, crop_length=crop_length)
    run_train(TrainConfig(data=data, output=output, states=states, model=model, settings=settings, features=features,
                          encoder_steps=encoder_steps, force=force, device=device, precision=precision,
                          batch_size=batch_size, threads=threads), log=log)


@app.command()
def compare(
    data: Data,
    output: Output,
    models: Annotated[str, typer.Option("--models", help="Comma-separated rows: label-state models pytorch-crf, "
                      "linear, semicrf; gene finders gene-{semicrf,linear}-{sensors,encoder,both}.")] = DEFAULT_MODELS,
    encoder: Encoder = "bilstm",
    max_duration: MaxDuration = 200,
    hidden_dim: HiddenDim = 64,
    num_layers: NumLayers = 1,
    epochs: Annotated[int, typer.Option("--epochs", help="Label models: training epochs.")] = 45,
    batch_size: BatchSize = None,
    lr: Lr = 5e-3,
    weight_decay: Wd = 1e-5,
    crf_reg: CrfReg = 0.0,
    emission_clamp: EmClamp = 0.0,
    log_every: LogEvery = 45,
    d_state: DState = 16,
    d_conv: DConv = 4,
    expand: Expand = 2,
    max_train_chunks: MaxTrain = None,
    max_val_chunks: MaxVal = 4,
    max_test_chunks: Annotated[Optional[int], typer.Option(
        "--max-test-chunks", help="Label models: label metrics on at most N test chunks (default: all).")] = None,
    max_steps_per_epoch: MaxSteps = 100,
    crop_length: Crop = 1000,
    structure_init: StructureInit = "counts",
    boundary_scores: BoundaryScores = True,
    orf_scores: OrfScores = True,
    scheduler: Scheduler = "cosine",
    encoder_steps: EncoderSteps = None,
    gene_epochs: Annotated[int, typer.Option("--gene-epochs", help="Gene finders: passes of the CRF weight "
                           "learning.")] = 4,
    json_path: Json = None,
    parallel: Annotated[bool, typer.Option("--parallel/--sequential", help="Train the label models in parallel "
                        "processes (each with --threads, default 1) or one after the other.")] = True,
    augustus: Annotated[bool, typer.Option("--augustus", help="Also AUGUSTUS, trained by etraining on the same "
                        "training genes (needs the augustus package).")] = False,
    augustus_species: Annotated[Optional[str], typer.Option("--augustus-species", help="Also AUGUSTUS with this "
                                "shipped species (e.g. arabidopsis).")] = None,
    threads: Threads = None,
    device: Device = None,
    precision: Precision = None,
    seed: Seed = 0,
    force: Force = False,
):
    """Label models and gene finders on the same data and split, every row scored on the test split's
    gene models (nucleotide / exon / gene level); optional AUGUSTUS rows (--batch-size default 16)."""
    from genotool_gencode.compare import CompareConfig, run_compare
    from genotool_gencode.config import ModelConfig, TrainSettings

    model = ModelConfig(encoder=encoder, max_duration=max_duration, hidden_dim=hidden_dim, num_layers=num_layers,
                        emission_clamp=emission_clamp, no_triton=True, d_state=d_state, d_conv=d_conv, expand=expand,
                        structure_init=structure_init, boundary_scores=boundary_scores, orf_scores=orf_scores)
    settings = TrainSettings(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                             crf_reg=crf_reg, log_every=log_every, seed=seed, scheduler=scheduler,
                             max_train_chunks=max_train_chunks, max_val_chunks=max_val_chunks,
                             max_steps_per_epoch=max_steps_per_epoch, crop_length=crop_length)
    run_compare(CompareConfig(data=data, output=output, models=[m.strip() for m in models.split(",") if m.strip()],
                              model=model, settings=settings, max_test_chunks=max_test_chunks,
                              encoder_steps=encoder_steps, gene_epochs=gene_epochs, augustus=augustus,
                              augustus_species=augustus_species, parallel=parallel, json=json_path, force=force,
                              device=device, precision=precision, batch_size=batch_size, threads=threads), log)


@app.command()
def predict(
    fasta: Annotated[Path, typer.Option("--fasta", help="FASTA to annotate (indexed or indexable).")],
    model: Model,
    output: Output,
    region: Annotated[Optional[str], typer.Option("--region", help="CONTIG or CONTIG:START-END (1-based, "
                      "inclusive), comma-separated; default: every contig whole.")] = None,
    chunk_size: Annotated[Optional[int], typer.Option("--chunk-size", help="Window length (bp); default 200,000 "
                          "for a gene finder, 10,000 for a per-base model.")] = None,
    overlap: Annotated[Optional[int], typer.Option("--overlap", help="Window overlap (bp); default a tenth of "
                       "the window (gene finder), 500 (per-base model).")] = None,
    batch_size: BatchSize = None,
    threads: Threads = None,
    device: Device = None,
    precision: Precision = None,
    force: Force = False,
):
    """FASTA (+ regions) -> gene models as GTF and GFF3 (gene finder), or labelled segments as BED
    and GTF (per-base model; --batch-size default 4)."""
    from genotool_gencode.predict import PredictConfig, run_predict

    run_predict(PredictConfig(fasta=fasta, model=model, output=output, region=region, chunk_size=chunk_size,
                              overlap=overlap, force=force, batch_size=batch_size, threads=threads, device=device,
                              precision=precision), log)


@app.command()
def validate(
    data: Data,
    model: Model,
    output: Output,
    split: Annotated[str, typer.Option("--split", help="train, val or test.")] = "test",
    max_chunks: Annotated[Optional[int], typer.Option("--max-chunks", help="Per-base models: evaluate at most N "
                          "chunks.")] = None,
    batch_size: BatchSize = None,
    threads: Threads = None,
    device: Device = None,
    precision: Precision = None,
    force: Force = False,
):
    """A gene finder's gene models on a split (nucleotide/exon/gene levels), or a per-base model's
    position/boundary/segment F1 and duration KL; HTML report (--batch-size default 4)."""
    from genotool_gencode.validate import ValidateConfig, run_validate

    run_validate(ValidateConfig(data=data, model=model, output=output, split=split, max_chunks=max_chunks,
                                force=force, batch_size=batch_size, threads=threads, device=device,
                                precision=precision), log)


@app.command()
def bench(
    batch_size: BatchSize = None,
    length: Annotated[int, typer.Option("--length", "-T", help="Sequence length T.")] = 10_000,
    max_duration: Annotated[int, typer.Option("--max-duration", "-K", help="K.")] = 500,
    classes: Annotated[int, typer.Option("--classes", "-C", help="Labels C.")] = 11,
    skip_reference: Annotated[bool, typer.Option("--skip-reference", help="Do not time flash-semicrf.")] = False,
    skip_encoder: Annotated[bool, typer.Option("--skip-encoder", help="Do not time the encoders.")] = False,
    encoder_length: Annotated[int, typer.Option("--encoder-length", help="T for the encoder throughput.")] = 2000,
    gene_length: Annotated[int, typer.Option("--gene-length", help="Simulated genome (bp) for the gene finder's "
                           "throughput (0: skip).")] = 1_000_000,
    threads: Threads = None,
    output: OptionalOutput = None,
    device: Device = None,
    precision: Precision = None,
    seed: Seed = 0,
    force: Force = False,
):
    """The training head's semi-CRF loss forward+backward and Viterbi time/memory, ours vs flash-semicrf;
    the gene finder's and the encoders' throughput.

    --batch-size is the semi-CRF batch B (default 4; the old -B/--batch still work). --precision
    applies to the encoder timing (autocast); the semi-CRF recursion always runs in fp32.
    """
    from genotool_gencode.bench import BenchConfig, run_bench

    run_bench(BenchConfig(T=length, K=max_duration, C=classes, skip_reference=skip_reference,
                          skip_encoder=skip_encoder, encoder_length=encoder_length, gene_length=gene_length,
                          output=output, seed=seed, force=force, batch_size=batch_size, threads=threads,
                          device=device, precision=precision), log=log)
