"""``genotool codec ...``: each command parses its options into ONE options object of the verb's
module (``encode.py``: ``EncodeOptions`` + ``run_encode``, ...) and hands it to ``run_<verb>``.
A verb that runs the model has options inheriting ``genotool.options.RunOptions``. No
jax/flax/pod5 here (``genotool --help`` imports this module)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from genotool.options import (BatchSize, Device, Force, Model, OptionalData, OptionalModel, OptionalOutput, Output,
                              Precision, Seed, Threads, count_option, described)

app = typer.Typer(help="SimVQ-GAN codec for nanopore raw current: simulate, preprocess, train, encode/decode, "
                       "validate against a basecaller.", no_args_is_help=True, add_completion=False)

Pod5In = Annotated[list[Path], typer.Option("--pod5", help="POD5 file or folder (searched recursively); repeatable.")]
Codebooks = Annotated[Optional[int], typer.Option("--codebooks", help="Residual codebooks to use (bitrate); default all.")]
CodebookList = Annotated[Optional[str], typer.Option("--codebooks", help="Comma list of codebook counts "
                                                     "(default: n/4, n/2, 3n/4, n).")]
Window = Annotated[Optional[int], typer.Option("--window", help="Samples per coding window (default: the model's).")]
CacheDir = Annotated[Optional[Path], typer.Option("--cache-dir", help="Persistent XLA compilation cache.")]
Baselines = Annotated[bool, typer.Option("--baselines/--no-baselines", help="Also measure the non-learned "
                                         "baselines (bit rounding + VBZ, LFZip-style predictive quantiser).")]
RoundBits = Annotated[str, typer.Option("--round-bits", help="Bit-rounding baseline: low bits dropped, comma list "
                                        "(each 1..12).")]
MaxErrors = Annotated[str, typer.Option("--max-errors", help="Predictive-quantiser baseline: max errors in ADC "
                                        "units, comma list.")]
SearchMethod = Annotated[str, typer.Option("--search", help="How encode picks codes: greedy (nearest code per "
                                           "level; fastest), beam (beam search over the levels, --beam paths, "
                                           "by latent error), signal (candidates judged by the decoded signal; slowest "
                                           "encode, best identity). Decoding is the same for all.")]
SearchList = Annotated[str, typer.Option("--search", help="Encode search(es) to measure, comma list of greedy, "
                                         "beam, signal: one codec row per codebook count and search.")]
RateWeight = Annotated[float, typer.Option("--rate-weight", help="--search signal: squared error (normalised "
                                          "signal) one bit is worth; trades identity for file size, 0 = ignore "
                                          "the rate.")]
Beam = Annotated[int, typer.Option("--beam", help="Code paths kept per level (--search beam) and tried per "
                                    "token (signal).")]
InferBatch = Annotated[Optional[int], typer.Option("--batch-size", help="Windows per jitted encode/decode call; "
                                                   "default: the probe's choice, else 16.")]


@app.command()
def simulate(
    output: Output,
    chemistry: Annotated[str, typer.Option("--chemistry", help="r9.4.1 (4 kHz) or r10.4.1 (5 kHz).")] = "r9.4.1",
    num_reads: Annotated[int, count_option("reads", "Number of reads.")] = 200,
    read_length: Annotated[int, typer.Option("--read-length", help="Mean read length in bases (log-normal).")] = 2000,
    reference: Annotated[Optional[Path], typer.Option("--reference", help="FASTA to draw reads from "
                                                      "(default: a random one written to OUTPUT/reference.fa).")] = None,
    num_files: Annotated[int, count_option("files", "POD5 files (one flow-cell sub-folder each).")] = 2,
    seed: Seed = 0,
    force: Force = False,
):
    """Simulated raw current (pore model levels + noise + dwell) as POD5, with the true sequences."""
    from genotool_codec.simulate import SimulateOptions, run_simulate

    run_simulate(SimulateOptions(output=output, chemistry=chemistry, num_reads=num_reads, read_length=read_length,
                                 reference=reference, num_files=num_files, seed=seed, force=force))


@app.command()
def preprocess(
    pod5: Pod5In,
    output: Output,
    window: Annotated[int, typer.Option("--window", help="Samples per window.")] = 10000,
    sample_rate: Annotated[Optional[int], typer.Option("--sample-rate", help="Expected rate (Hz); other files are "
                                                       "skipped. Default: the first file's.")] = None,
    force: Force = False,
):
    """POD5 -> normalised (median/MAD) fixed windows + a dataset index with stats."""
    from genotool_codec.preprocess import PreprocessOptions, run_preprocess

    run_preprocess(PreprocessOptions(pod5=list(pod5), output=output, window=window, sample_rate=sample_rate,
                                     force=force))


@app.command()
def train(
    output: Output,
    data: OptionalData = None,
    pod5: Annotated[Optional[list[Path]], typer.Option("--pod5", help="Or POD5 files/folders (preprocessed in memory).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="JSON config (model/train/data sections) or "
                                                   "a preset name (r941-cpu).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config key: train.steps=500 "
                                                       "(value parsed as JSON); repeatable; applied last.")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", help="Optimiser steps (train.steps).")] = None,
    batch_size: described(BatchSize, "Windows per optimiser step (train.batch_size); default: the config's.") = None,
    max_minutes: Annotated[Optional[float], typer.Option("--max-minutes", help="Stop (and save) after this wall time.")] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue from this run's checkpoints.")] = None,
    host_devices: Annotated[Optional[int], typer.Option("--host-devices", help="Force N CPU devices (data "
                                                        "parallel test on CPU); must precede JAX start-up.")] = None,
    cache_dir: CacheDir = None,
    device: Device = None,
    precision: Precision = None,
    threads: Threads = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (sets train.seed).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    force: Force = False,
):
    """Train the SimVQ-GAN codec (orbax checkpoints, exact resume, data parallel over devices)."""
    from genotool_codec.train import TrainOptions, run_train

    run_train(TrainOptions(output=output, data=data, pod5=pod5, config=config, overrides=list(set_ or []), steps=steps,
                           max_minutes=max_minutes, resume=resume, host_devices=host_devices, cache_dir=cache_dir,
                           seed=seed, quiet=quiet, force=force, device=device, precision=precision,
                           batch_size=batch_size, threads=threads))


@app.command()
def encode(
    pod5: Pod5In,
    model: Model,
    output: Annotated[Path, typer.Option("--output", "-o", help="Token file to write (.tokens).")],
    codebooks: Codebooks = None,
    window: Window = None,
    search: SearchMethod = "greedy",
    beam: Beam = 4,
    rate_weight: RateWeight = 0.02,
    batch_size: InferBatch = None,
    device: Device = None,
    precision: Precision = None,
    threads: Threads = None,
    force: Force = False,
):
    """POD5 -> compact token file (codes + per-read normalisation stats, lengths and metadata)."""
    from genotool_codec.encode import EncodeOptions, run_encode
    from genotool_codec.search import Search

    run_encode(EncodeOptions(pod5=list(pod5), model=model, output=output, codebooks=codebooks, window=window,
                             search=Search(search, beam, rate_weight), force=force, device=device,
                             precision=precision, batch_size=batch_size, threads=threads))


@app.command()
def decode(
    tokens: Annotated[Path, typer.Option("--tokens", help="Token file from `codec encode`.")],
    model: Model,
    output: Annotated[Path, typer.Option("--output", "-o", help="POD5 file to write.")],
    batch_size: InferBatch = None,
    device: Device = None,
    precision: Precision = None,
    threads: Threads = None,
    force: Force = False,
):
    """Token file -> POD5 (every read keeps id, calibration, run_info, metadata; int16 signal)."""
    from genotool_codec.decode import DecodeOptions, run_decode

    run_decode(DecodeOptions(tokens=tokens, model=model, output=output, force=force, device=device,
                             precision=precision, batch_size=batch_size, threads=threads))


@app.command()
def predict(
    pod5: Pod5In,
    model: Model,
    output: Output,
    codebooks: Codebooks = None,
    window: Window = None,
    search: SearchMethod = "greedy",
    beam: Beam = 4,
    rate_weight: RateWeight = 0.02,
    batch_size: InferBatch = None,
    device: Device = None,
    precision: Precision = None,
    threads: Threads = None,
    force: Force = False,
):
    """Encode + decode in one go: OUTPUT/reads.tokens, OUTPUT/reconstructed.pod5, summary in metadata.json."""
    from genotool_codec.predict import PredictOptions, run_predict
    from genotool_codec.search import Search

    run_predict(PredictOptions(pod5=list(pod5), model=model, output=output, codebooks=codebooks, window=window,
                               search=Search(search, beam, rate_weight), force=force, device=device,
                               precision=precision, batch_size=batch_size, threads=threads))


@app.command()
def validate(
    model: Model,
    pod5: Pod5In,
    output: Output,
    codebooks: CodebookList = None,
    max_reads: Annotated[Optional[int], typer.Option("--max-reads", help="Use the first N reads.")] = None,
    window: Window = None,
    search: SearchList = "greedy",
    beam: Beam = 4,
    rate_weight: RateWeight = 0.02,
    baselines: Baselines = True,
    round_bits: RoundBits = "1,2,3,4,5",
    max_errors: MaxErrors = "4,8,16",
    batch_size: InferBatch = None,
    device: Device = None,
    precision: Precision = None,
    threads: Threads = None,
    force: Force = False,
):
    """Signal metrics (L1/RMSE pA, SNR, spectral distance), codebook use, bits/sample vs POD5: JSON + HTML."""
    from genotool_codec.baselines import BaselineConfig, int_list
    from genotool_codec.search import Search
    from genotool_codec.validate import ValidateOptions, run_validate

    run_validate(ValidateOptions(model=model, pod5=list(pod5), output=output, codebooks=int_list(codebooks, "--codebooks"),
                                 max_reads=max_reads, window=window,
                                 baselines=BaselineConfig.parse(baselines, round_bits, max_errors),
                                 searches=Search.parse_list(search, beam, rate_weight), force=force, device=device,
                                 precision=precision, batch_size=batch_size, threads=threads))


@app.command("dorado-validate")
def dorado_validate(
    model: Model,
    pod5: Pod5In,
    output: Output,
    truth: Annotated[Optional[Path], typer.Option("--truth", help="FASTA of the true read sequences (simulate's truth.fa).")] = None,
    codebooks: Annotated[Optional[str], typer.Option("--codebooks", help="Codebook count, or a comma list (one "
                                                     "rate-distortion row each); default all.")] = None,
    max_reads: Annotated[Optional[int], typer.Option("--max-reads", help="Basecall the first N reads.")] = 50,
    trim_samples: Annotated[Optional[int], typer.Option("--trim-samples", help="Keep the first N samples of each read.")] = None,
    dorado: Annotated[Optional[str], typer.Option("--dorado", help="Dorado binary (with --dorado-model); default: scrappie.")] = None,
    dorado_model: Annotated[Optional[str], typer.Option("--dorado-model", help="Dorado model name or path.")] = None,
    scrappie_model: Annotated[Optional[str], typer.Option("--scrappie-model", help="scrappie raw model "
                                                           "(default from the chemistry: rgrgr_r941 / rgrgr_r10).")] = None,
    basecaller_threads: Annotated[int, typer.Option("--basecaller-threads", help="Basecaller threads.")] = 1,
    window: Window = None,
    search: SearchList = "greedy",
    beam: Beam = 4,
    rate_weight: RateWeight = 0.02,
    baselines: Baselines = True,
    round_bits: RoundBits = "1,2,3,4,5",
    max_errors: MaxErrors = "4,8,16",
    also_model: Annotated[Optional[list[Path]], typer.Option("--also-model", help="Another trained model folder "
                                                             "coded and called on the same reads (its own codec "
                                                             "curve); repeatable.")] = None,
    also_codebooks: Annotated[Optional[str], typer.Option("--also-codebooks", help="Codebook counts for the "
                                                          "--also-model models, comma list; default all.")] = None,
    batch_size: InferBatch = None,
    device: Device = None,
    precision: Precision = None,
    threads: Threads = None,
    force: Force = False,
):
    """Basecall original and reconstructed signal; identity to the truth and to the original's call."""
    from genotool_codec.baselines import BaselineConfig, int_list
    from genotool_codec.dorado_validate import DoradoValidateOptions, run_dorado_validate
    from genotool_codec.search import Search

    run_dorado_validate(DoradoValidateOptions(
        model=model, pod5=list(pod5), output=output, truth=truth, codebooks=int_list(codebooks, "--codebooks"),
        max_reads=max_reads, baselines=BaselineConfig.parse(baselines, round_bits, max_errors),
        trim_samples=trim_samples, dorado=dorado, dorado_model=dorado_model, scrappie_model=scrappie_model,
        basecaller_threads=basecaller_threads, window=window, searches=Search.parse_list(search, beam, rate_weight),
        also_models=list(also_model or []), also_codebooks=int_list(also_codebooks, "--also-codebooks"), force=force,
        device=device, precision=precision, batch_size=batch_size, threads=threads))


@app.command()
def prior(
    model: Model,
    data: Annotated[Path, typer.Option("--data", "-d", help="The `codec preprocess` folder the model was trained on.")],
    max_windows: Annotated[Optional[int], typer.Option("--max-windows", help="Use at most N windows (evenly "
                                                       "spread); default all.")] = None,
    batch_size: InferBatch = None,
    device: Device = None,
    precision: Precision = None,
    threads: Threads = None,
    force: Force = False,
):
    """Fit the entropy-coding prior (code counts per level, level given the level above) of a trained
    model on its training windows; `train` does this itself, this verb serves older model folders."""
    from genotool_codec.prior import PriorOptions, run_prior

    run_prior(PriorOptions(model=model, data=data, max_windows=max_windows, force=force, device=device,
                           precision=precision, batch_size=batch_size, threads=threads))


@app.command()
def bench(
    output: OptionalOutput = None,
    model: OptionalModel = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="JSON config when no --model.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Config override key=value; repeatable.")] = None,
    seconds: Annotated[float, typer.Option("--seconds", help="Seconds of signal to encode and decode.")] = 60.0,
    train_steps: Annotated[int, typer.Option("--train-steps", help="Timed training steps (0: skip).")] = 10,
    batch_size: InferBatch = None,
    device: Device = None,
    precision: Precision = None,
    threads: Threads = None,
    force: Force = False,
):
    """Encode/decode samples/s, training steps/s and samples/s, peak memory: one JSON object on stdout."""
    from genotool_codec.bench import BenchOptions, run_bench

    run_bench(BenchOptions(output=output, model=model, config=config, overrides=list(set_ or []), seconds=seconds,
                           train_steps=train_steps, force=force, device=device, precision=precision,
                           batch_size=batch_size, threads=threads))
