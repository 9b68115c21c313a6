"""`genotool gencode ...` verbs. No torch/pysam at module level: command bodies import them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from genotool.errors import UserError, require_dir, require_file
from genotool.options import Device, Force, Precision, Seed

app = typer.Typer(help="Exon/intron segmentation with an exact semi-Markov CRF.", no_args_is_help=True,
                  pretty_exceptions_enable=False)

# --output-dir is the design note's name; --output/-o the genotool convention: both accepted.
OutDir = Annotated[Path, typer.Option("--output", "-o", "--output-dir", help="Output folder.")]
DataDir = Annotated[Path, typer.Option("--data-dir", help="Folder written by `gencode preprocess`.")]
ModelName = Annotated[str, typer.Option("--model", help="pytorch-crf, linear (K=1) or semicrf (K>1).")]
Encoder = Annotated[str, typer.Option("--encoder", help="bilstm or mamba (mamba-ssm on CUDA, mambapy otherwise).")]
MaxDuration = Annotated[int, typer.Option("--max-duration", help="Longest segment K of the semi-CRF.")]
HiddenDim = Annotated[int, typer.Option("--hidden-dim", help="Encoder width.")]
NumLayers = Annotated[int, typer.Option("--num-layers", help="Encoder layers.")]
Epochs = Annotated[int, typer.Option("--epochs", help="Training epochs.")]
BatchSz = Annotated[int, typer.Option("--batch-size", help="Chunks per batch.")]
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
Threads = Annotated[Optional[int], typer.Option("--threads", help="torch CPU threads (default: the probe's plan, 1 when"
                                                                  " the machine is oversubscribed).")]
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
Scheduler = Annotated[str, typer.Option("--scheduler", help="Learning-rate schedule: none, cosine (decay to 0 over "
                                        "the run), onecycle or plateau (the engine's schedulers).")]
MaxSteps = Annotated[Optional[int], typer.Option("--max-steps-per-epoch", help="Cap batches per epoch.")]



def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _check_model_args(model: str, encoder: str, max_duration: int, backend: str, chunk_T: int | None = None):
    from genotool_gencode.models import BACKENDS, MODELS

    if model not in MODELS:
        raise UserError(f"--model must be one of {', '.join(MODELS)}, not '{model}'")
    if encoder not in ("bilstm", "mamba"):
        raise UserError(f"--encoder must be bilstm or mamba, not '{encoder}'")
    if max_duration < 1:
        raise UserError(f"--max-duration must be >= 1, not {max_duration}")
    if model == "semicrf" and max_duration == 1:
        raise UserError("--max-duration 1 makes the semi-CRF a linear CRF; use --model linear")
    if backend not in BACKENDS:
        raise UserError(f"--backend must be one of {', '.join(BACKENDS)}, not '{backend}'")


def _model_config(model, encoder, max_duration, hidden_dim, num_layers, emission_clamp, backend, no_triton,
                  d_state, d_conv, expand, chain="canonical", states="strand", structure_init="counts",
                  durations="smooth", linear_warmup_epochs=0, boundary_scores=True, censor_edges=True,
                  long_runs="tail", orf_scores=True) -> dict:
    if chain not in ("canonical", "all"):
        raise UserError(f"--chain must be 'canonical' or 'all', not '{chain}'")
    _check_head_args(states, structure_init, durations, linear_warmup_epochs, long_runs)
    if hidden_dim < 2 or hidden_dim % 2:
        raise UserError(f"--hidden-dim must be an even number >= 2, not {hidden_dim}")
    if num_layers < 1:
        raise UserError(f"--num-layers must be >= 1, not {num_layers}")
    from genotool_gencode.models import make_model_config

    return make_model_config(model=model, encoder=encoder, max_duration=max_duration, hidden_dim=hidden_dim,
                             num_layers=num_layers, emission_clamp=emission_clamp, backend=backend,
                             no_triton=no_triton, d_state=d_state, d_conv=d_conv, expand=expand, chain=chain,
                             states=states, structure_init=structure_init, durations=durations,
                             linear_warmup_epochs=linear_warmup_epochs, boundary_scores=boundary_scores,
                             censor_edges=censor_edges, long_runs=long_runs, orf_scores=orf_scores)


def _check_scheduler(scheduler: str) -> None:
    from genotool.engine.config import SCHEDULERS

    if scheduler not in SCHEDULERS:
        raise UserError(f"--scheduler must be one of {', '.join(SCHEDULERS)}, not '{scheduler}'")


def _check_head_args(states: str, structure_init: str, durations: str = "smooth",
                     linear_warmup_epochs: int = 0, long_runs: str = "tail") -> None:
    from genotool_gencode.models import DURATIONS, LONG_RUNS

    if states not in ("strand", "labels"):
        raise UserError(f"--states must be 'strand' or 'labels', not '{states}'")
    if structure_init not in ("counts", "random"):
        raise UserError(f"--structure-init must be 'counts' or 'random', not '{structure_init}'")
    if durations not in DURATIONS:
        raise UserError(f"--durations must be one of {', '.join(DURATIONS)}, not '{durations}'")
    if linear_warmup_epochs < 0:
        raise UserError(f"--linear-warmup-epochs must be >= 0, not {linear_warmup_epochs}")
    if long_runs not in LONG_RUNS:
        raise UserError(f"--long-runs must be one of {', '.join(LONG_RUNS)}, not '{long_runs}'")


# ---------------------------------------------------------------------------------------------
@app.command()
def simulate(
    output: OutDir,
    seed: Seed = 0,
    num_chroms: Annotated[int, typer.Option("--num-chroms", help="Chromosomes chr1..chrN.")] = 22,
    chrom_length: Annotated[int, typer.Option("--chrom-length", help="Length of each chromosome (bp).")] = 150_000,
    genome_size: Annotated[Optional[int], typer.Option("--genome-size", help="Total bp (sets --chrom-length).")] = None,
    force: Force = False,
):
    """Simulate a genome FASTA + GENCODE-style GTF (both strands, GT-AG, ATG, stop codons)."""
    from genotool.outputs import run_output

    from genotool_gencode.simulate import simulate_genome

    if num_chroms < 1:
        raise UserError(f"--num-chroms must be >= 1, not {num_chroms}")
    if genome_size is not None:
        chrom_length = genome_size // num_chroms
    if chrom_length < 20_000:
        raise UserError(f"--chrom-length must be >= 20000 bp, not {chrom_length}")
    if num_chroms < 22:
        _log(f"note: only {num_chroms} chromosomes; the default splits expect chr1..chr22 "
             "(pass --train-chroms/--val-chroms/--test-chroms to preprocess)")
    params = {"seed": seed, "num_chroms": num_chroms, "chrom_length": chrom_length}
    with run_output(output, command="gencode simulate", parameters=params, force=force, resume=False) as run:
        summary = simulate_genome(run.path, num_chroms=num_chroms, chrom_length=chrom_length, seed=seed)
        run.runtime.update(summary)
    _log(f"wrote {output}/genome.fa and annotation.gtf: {summary['genes_plus']} + {summary['genes_minus']} genes "
         f"(+/- strand) on {num_chroms} chromosomes of {chrom_length:,} bp")


@app.command()
def preprocess(
    gtf: Annotated[Path, typer.Option("--gtf", help="GTF (plain or .gz; GENCODE/Ensembl or UCSC/RefSeq).")],
    fasta: Annotated[Path, typer.Option("--fasta", help="Genome FASTA (plain or bgzip; indexed or indexable).")],
    output: OutDir,
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="Chunk length (bp).")] = 10_000,
    overlap: Annotated[int, typer.Option("--overlap", help="Overlap between consecutive chunks (bp).")] = 500,
    train_chroms: Annotated[str, typer.Option("--train-chroms", help="Comma-separated.")] = "",
    val_chroms: Annotated[str, typer.Option("--val-chroms", help="Comma-separated.")] = "",
    test_chroms: Annotated[str, typer.Option("--test-chroms", help="Comma-separated.")] = "",
    min_genic: Annotated[float, typer.Option("--min-genic", help="Skip chunks with fewer genic bases.")] = 0.10,
    force: Force = False,
):
    """GTF + FASTA -> 10 kb labelled chunks (train/val/test JSONL) + segment statistics."""
    import resource
    import time

    from genotool.outputs import run_output

    from genotool_gencode.preprocess import DEFAULT_SPLITS, parse_chroms, preprocess as run_pre

    require_file(gtf, "--gtf")
    require_file(fasta, "--fasta")
    if overlap >= chunk_size:
        raise UserError(f"--overlap ({overlap}) must be smaller than --chunk-size ({chunk_size})")
    splits = {"train": parse_chroms(train_chroms or DEFAULT_SPLITS["train"], "--train-chroms"),
              "val": parse_chroms(val_chroms or DEFAULT_SPLITS["val"], "--val-chroms"),
              "test": parse_chroms(test_chroms or DEFAULT_SPLITS["test"], "--test-chroms")}
    params = {"chunk_size": chunk_size, "overlap": overlap, "splits": splits, "min_genic": min_genic}
    t0 = time.perf_counter()
    with run_output(output, command="gencode preprocess", parameters=params, inputs=[gtf, fasta], force=force,
                    resume=False) as run:
        summary = run_pre(gtf, fasta, run.path, chunk_size=chunk_size, overlap=overlap, splits=splits,
                          min_genic=min_genic, log=_log, progress=lambda c: _log(f"  {c} done"))
        summary["seconds"] = round(time.perf_counter() - t0, 2)
        summary["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        run.runtime.update(summary)
    s = summary["splits"]
    _log(f"chunks: train {s['train']['chunks']}, val {s['val']['chunks']}, test {s['test']['chunks']} "
         f"({summary['genes']} genes, {summary['seconds']} s, peak RSS {summary['peak_rss_mb']} MB)")


@app.command()
def train(
    data_dir: DataDir,
    output: OutDir,
    model: ModelName = "semicrf",
    encoder: Encoder = "bilstm",
    max_duration: MaxDuration = 500,
    hidden_dim: HiddenDim = 256,
    num_layers: NumLayers = 2,
    epochs: Epochs = 50,
    batch_size: BatchSz = 32,
    lr: Lr = 1e-3,
    weight_decay: Wd = 1e-5,
    crf_reg: CrfReg = 0.0,
    emission_clamp: EmClamp = 0.0,
    backend: Backend = "streaming",
    no_triton: NoTriton = False,
    log_every: LogEvery = 1,
    d_state: DState = 16,
    d_conv: DConv = 4,
    expand: Expand = 2,
    max_train_chunks: MaxTrain = None,
    max_val_chunks: MaxVal = None,
    max_steps_per_epoch: MaxSteps = None,
    patience: Annotated[Optional[int], typer.Option("--patience", help="Early-stopping patience (epochs).")] = None,
    crop_length: Crop = None,
    chain: Chain = "canonical",
    states: States = "strand",
    structure_init: StructureInit = "counts",
    durations: Durations = "smooth",
    linear_warmup_epochs: LinearWarmup = 0,
    boundary_scores: BoundaryScores = True,
    censor_edges: CensorEdges = True,
    long_runs: LongRuns = "tail",
    orf_scores: OrfScores = True,
    scheduler: Scheduler = "none",
    threads: Threads = None,
    device: Device = None,
    precision: Precision = None,
    seed: Seed = 0,
    force: Force = False,
):
    """Train one model (encoder + CRF head) with the shared engine (AMP, checkpoints, DDP)."""
    from genotool.outputs import run_output
    from genotool.probe import apply_torch, make_plan

    from genotool_gencode.train import run_training

    require_dir(data_dir, "--data-dir")
    _check_model_args(model, encoder, max_duration, backend)
    _check_scheduler(scheduler)
    cfg = _model_config(model, encoder, max_duration, hidden_dim, num_layers, emission_clamp, backend, no_triton,
                        d_state, d_conv, expand, chain, states, structure_init, durations, linear_warmup_epochs,
                        boundary_scores, censor_edges, long_runs, orf_scores)
    plan = make_plan(backend="torch", device=device, precision=precision, batch_size=batch_size,
                     cpu_threads=threads)
    apply_torch(plan)
    params = {**cfg, "epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
              "crf_reg": crf_reg, "log_every": log_every, "seed": seed, "max_train_chunks": max_train_chunks,
              "max_val_chunks": max_val_chunks, "max_steps_per_epoch": max_steps_per_epoch, "patience": patience,
              "crop_length": crop_length, "threads": threads}
    with run_output(output, command="gencode train", parameters=params, inputs=[data_dir], force=force) as run:
        run.plan = plan.to_dict()
        res = run_training(data_dir=data_dir, out_dir=run.path, model_config=cfg, plan=plan, epochs=epochs,
                           batch_size=batch_size, lr=lr, weight_decay=weight_decay, crf_reg=crf_reg,
                           log_every=log_every, seed=seed, max_train_chunks=max_train_chunks,
                           max_val_chunks=max_val_chunks, max_steps_per_epoch=max_steps_per_epoch,
                           patience=patience, crop_length=crop_length, scheduler=scheduler, log=_log)
        res.pop("history")
        run.runtime.update(res)
    _log(f"trained {model}: best val_loss {res['best_metric']:.4f} after {res['epochs_run']} epochs -> {output}")


@app.command()
def compare(
    data_dir: DataDir,
    output: OutDir,
    encoder: Encoder = "bilstm",
    max_duration: MaxDuration = 200,
    hidden_dim: HiddenDim = 64,
    num_layers: NumLayers = 1,
    epochs: Epochs = 45,
    batch_size: BatchSz = 16,
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
        "--max-test-chunks", help="Evaluate on at most N (default: the whole test split).")] = None,
    max_steps_per_epoch: MaxSteps = 100,
    models: Annotated[str, typer.Option("--models", help="Comma-separated subset to compare.")] =
        "pytorch-crf,linear,semicrf",
    output_json: Annotated[Optional[Path], typer.Option("--output-json", help="Also write the table as JSON.")] = None,
    crop_length: Crop = 1000,
    chain: Chain = "canonical",
    states: States = "strand",
    structure_init: StructureInit = "counts",
    durations: Durations = "smooth",
    linear_warmup_epochs: LinearWarmup = 0,
    boundary_scores: BoundaryScores = True,
    censor_edges: CensorEdges = True,
    long_runs: LongRuns = "tail",
    orf_scores: OrfScores = True,
    scheduler: Scheduler = "cosine",
    parallel: Annotated[bool, typer.Option("--parallel/--sequential", help="Train the models in parallel "
                        "processes (each with --threads, default 1) or one after the other.")] = True,
    threads: Threads = None,
    device: Device = None,
    precision: Precision = None,
    seed: Seed = 0,
    force: Force = False,
):
    """Train pytorch-crf, linear (K=1) and semicrf on the same encoder, data and budget; compare on test."""
    from genotool_gencode.compare import run_compare

    require_dir(data_dir, "--data-dir")
    names = [m.strip() for m in models.split(",") if m.strip()]
    _check_head_args(states, structure_init, durations, linear_warmup_epochs, long_runs)
    _check_scheduler(scheduler)
    for m in names:
        _check_model_args(m, encoder, max_duration if m == "semicrf" else 2, "streaming")
    run_compare(data_dir=data_dir, output=output, names=names, encoder=encoder, max_duration=max_duration,
                hidden_dim=hidden_dim, num_layers=num_layers, epochs=epochs, batch_size=batch_size, lr=lr,
                weight_decay=weight_decay, crf_reg=crf_reg, emission_clamp=emission_clamp, log_every=log_every,
                d_state=d_state, d_conv=d_conv, expand=expand, max_train_chunks=max_train_chunks,
                max_val_chunks=max_val_chunks, max_test_chunks=max_test_chunks,
                max_steps_per_epoch=max_steps_per_epoch, output_json=output_json, device=device,
                precision=precision, seed=seed, force=force, crop_length=crop_length, threads=threads, chain=chain,
                states=states, structure_init=structure_init, durations=durations,
                linear_warmup_epochs=linear_warmup_epochs, boundary_scores=boundary_scores,
                censor_edges=censor_edges, long_runs=long_runs, orf_scores=orf_scores, scheduler=scheduler,
                parallel=parallel, log=_log)


@app.command()
def predict(
    fasta: Annotated[Path, typer.Option("--fasta", help="FASTA to segment (indexed or indexable).")],
    model_dir: Annotated[Path, typer.Option("--model-dir", help="A `gencode train` output folder.")],
    output: OutDir,
    region: Annotated[Optional[str], typer.Option("--region", help="chrom or chrom:start-end (1-based).")] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="Window length (bp).")] = 10_000,
    overlap: Annotated[int, typer.Option("--overlap", help="Window overlap (bp).")] = 500,
    batch_size: BatchSz = 4,
    threads: Threads = None,
    device: Device = None,
    precision: Precision = None,
    force: Force = False,
):
    """FASTA (+ region) -> predicted segments as BED and GTF."""
    from genotool.outputs import run_output
    from genotool.probe import apply_torch, make_plan

    from genotool_gencode.predict import run_predict

    require_file(fasta, "--fasta")
    require_dir(model_dir, "--model-dir")
    if overlap >= chunk_size:
        raise UserError(f"--overlap ({overlap}) must be smaller than --chunk-size ({chunk_size})")
    plan = make_plan(backend="torch", device=device, precision=precision, batch_size=batch_size,
                     cpu_threads=threads)
    apply_torch(plan)
    params = {"region": region, "chunk_size": chunk_size, "overlap": overlap, "model_dir": str(model_dir)}
    with run_output(output, command="gencode predict", parameters=params, inputs=[fasta, model_dir],
                    force=force, resume=False) as run:
        run.plan = plan.to_dict()
        res = run_predict(fasta, model_dir, run.path, region=region, chunk_size=chunk_size, overlap=overlap,
                          batch_size=batch_size, device=plan.device, log=_log)
        run.runtime.update(res)
    _log(f"wrote {res['segments']} segments to {output}/predictions.bed and predictions.gtf")


@app.command()
def validate(
    data_dir: DataDir,
    model_dir: Annotated[Path, typer.Option("--model-dir", help="A `gencode train` output folder.")],
    output: OutDir,
    split: Annotated[str, typer.Option("--split", help="train, val or test.")] = "test",
    max_chunks: Annotated[Optional[int], typer.Option("--max-chunks", help="Evaluate at most N chunks.")] = None,
    batch_size: BatchSz = 4,
    threads: Threads = None,
    device: Device = None,
    precision: Precision = None,
    force: Force = False,
):
    """Position/boundary/segment F1, duration KL and an HTML report with duration histograms."""
    from genotool.outputs import run_output
    from genotool.probe import apply_torch, make_plan

    from genotool_gencode.validate import run_validate

    require_dir(data_dir, "--data-dir")
    require_dir(model_dir, "--model-dir")
    if split not in ("train", "val", "test"):
        raise UserError(f"--split must be train, val or test, not '{split}'")
    plan = make_plan(backend="torch", device=device, precision=precision, batch_size=batch_size,
                     cpu_threads=threads)
    apply_torch(plan)
    params = {"split": split, "max_chunks": max_chunks, "model_dir": str(model_dir)}
    with run_output(output, command="gencode validate", parameters=params, inputs=[data_dir, model_dir],
                    force=force, resume=False) as run:
        run.plan = plan.to_dict()
        summary = run_validate(data_dir, model_dir, run.path, split=split, max_chunks=max_chunks,
                               batch_size=batch_size, device=plan.device, log=_log)
        run.runtime.update({k: v for k, v in summary.items() if not isinstance(v, (dict, list))})
    _log(f"segment F1 {summary['segment_f1']:.4f}, position macro-F1 {summary['position_macro_f1']:.4f}, "
         f"duration KL {summary['duration_kl']:.4f} -> {output}/report.html")


@app.command()
def bench(
    batch: Annotated[int, typer.Option("--batch", "-B", help="Batch size B.")] = 4,
    length: Annotated[int, typer.Option("--length", "-T", help="Sequence length T.")] = 10_000,
    max_duration: Annotated[int, typer.Option("--max-duration", "-K", help="K.")] = 500,
    classes: Annotated[int, typer.Option("--classes", "-C", help="Labels C.")] = 11,
    skip_reference: Annotated[bool, typer.Option("--skip-reference", help="Do not time flash-semicrf.")] = False,
    skip_encoder: Annotated[bool, typer.Option("--skip-encoder", help="Do not time the encoders.")] = False,
    encoder_length: Annotated[int, typer.Option("--encoder-length", help="T for the encoder throughput.")] = 2000,
    threads: Annotated[Optional[int], typer.Option("--threads", help="torch CPU threads (default: all).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Also write the JSON here.")] = None,
    device: Device = None,
    seed: Seed = 0,
):
    """Semi-CRF loss forward+backward and Viterbi time/memory, ours vs flash-semicrf; encoder throughput."""
    from genotool.probe import apply_torch, make_plan

    from genotool_gencode.bench import run_bench

    for name, v in (("--batch", batch), ("--length", length), ("--max-duration", max_duration),
                    ("--classes", classes)):
        if v < 1:
            raise UserError(f"{name} must be >= 1, not {v}")
    plan = make_plan(backend="torch", device=device, cpu_threads=threads)
    apply_torch(plan)
    run_bench(B=batch, T=length, K=max_duration, C=classes, skip_reference=skip_reference,
              skip_encoder=skip_encoder, encoder_length=encoder_length, output=output,
              device=plan.device, seed=seed, log=_log)
