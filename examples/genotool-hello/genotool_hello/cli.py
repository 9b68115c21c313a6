"""``genotool hello ...``: simulate, preprocess, train, predict, validate, bench.

Imported by ``genotool --help``: torch and the engine are imported inside command bodies only.
Every verb follows docs/architecture.md and speaks the shared vocabulary (``genotool.options``):
options not positionals, ``--output/-o``, folders via ``run_output`` (metadata.json), user
mistakes as ``UserError``, bench prints one JSON object. Each command only parses its options
into one options object and hands it to ``run_<verb>`` in the verb's own module
(``simulate.py``, ``preprocess.py``, ``train.py``, ``predict.py``, ``validate.py``, ``bench.py``),
where the rules live; a verb that runs a model has options inheriting ``genotool.options.RunOptions``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from genotool.options import (BatchSize, Data, Device, Force, Model, NumWorkers, OptionalData, OptionalOutput,
                              Output, Precision, Scheduler, Seed, Threads, TF32, count_option, described)

app = typer.Typer(help="Example plugin: find a DNA motif with a small 1D CNN.", no_args_is_help=True,
                  add_completion=False)

# The shared vocabulary (genotool.options), with this plugin's wording where it helps.
DataDir = described(Data, "A `hello preprocess` output folder.")
ModelDir = described(Model, "A `hello train` output folder.")


@app.command()
def simulate(
    output: Output,
    num_sequences: Annotated[int, count_option("sequences", "Number of sequences.")] = 2000,
    length: Annotated[int, typer.Option("--length", help="Sequence length.")] = 100,
    motif: Annotated[str, typer.Option("--motif", help="Motif planted in positives.")] = "TATAAT",
    positive_fraction: Annotated[float, typer.Option("--positive-fraction")] = 0.5,
    gc: Annotated[float, typer.Option("--gc", help="GC fraction of the background.")] = 0.5,
    seed: Seed = 0,
    force: Force = False,
):
    """Write OUTPUT/sequences.tsv: random DNA, positives carry --motif (labels exact)."""
    from genotool_hello.simulate import SimulateOptions, run_simulate

    run_simulate(SimulateOptions(output=output, num_sequences=num_sequences, length=length, motif=motif,
                                positive_fraction=positive_fraction, gc=gc, seed=seed, force=force))


@app.command()
def preprocess(
    input: Annotated[Path, typer.Option("--input", "-i", help="sequences.tsv, or a `hello simulate` folder.")],
    output: Output,
    length: Annotated[Optional[int], typer.Option("--length", help="Pad/truncate to this length "
                                                  "(default: the longest sequence).")] = None,
    val_fraction: Annotated[float, typer.Option("--val-fraction")] = 0.1,
    test_fraction: Annotated[float, typer.Option("--test-fraction")] = 0.1,
    seed: Seed = 0,
    force: Force = False,
):
    """Encode sequences (A/C/G/T/N -> 0..4) and assign train/val/test splits -> OUTPUT/data.npz."""
    from genotool_hello.preprocess import PreprocessOptions, run_preprocess

    run_preprocess(PreprocessOptions(input=input, output=output, length=length, val_fraction=val_fraction,
                                     test_fraction=test_fraction, seed=seed, force=force))


@app.command()
def train(
    data: DataDir,
    output: Output,
    epochs: Annotated[int, typer.Option("--epochs")] = 10,
    lr: Annotated[float, typer.Option("--lr")] = 3e-3,
    channels: Annotated[int, typer.Option("--channels")] = 32,
    kernel: Annotated[int, typer.Option("--kernel")] = 9,
    patience: Annotated[int, typer.Option("--patience", help="Early-stopping patience (epochs).")] = 3,
    scheduler: Scheduler = "onecycle",
    device: Device = None,
    precision: Precision = None,
    batch_size: BatchSize = None,
    threads: Threads = None,
    tf32: TF32 = None,
    num_workers: NumWorkers = None,
    tensorboard: Annotated[bool, typer.Option("--tensorboard", help="Write TensorBoard logs.")] = False,
    seed: Seed = 0,
    force: Force = False,
):
    """Train the CNN with the shared engine. A killed run resumes when re-run with the same -o."""
    from genotool_hello.train import TrainOptions, run_train

    run_train(TrainOptions(data=data, output=output, epochs=epochs, lr=lr, channels=channels, kernel=kernel,
                           patience=patience, scheduler=scheduler, num_workers=num_workers, tensorboard=tensorboard,
                           seed=seed, force=force, device=device, precision=precision, batch_size=batch_size,
                           threads=threads, tf32=tf32))


@app.command()
def predict(
    model: ModelDir,
    output: Output,
    data: described(OptionalData, "A `hello preprocess` folder.") = None,
    input: Annotated[Optional[Path], typer.Option("--input", "-i", help="Or a TSV with a 'sequence' column.")] = None,
    split: Annotated[str, typer.Option("--split", help="all, train, val or test (with --data).")] = "all",
    device: Device = None,
    precision: Precision = None,
    batch_size: BatchSize = None,
    threads: Threads = None,
    force: Force = False,
):
    """Motif probabilities for every sequence -> OUTPUT/predictions.tsv (id, probability[, label])."""
    from genotool_hello.predict import PredictOptions, run_predict

    run_predict(PredictOptions(model=model, output=output, data=data, input=input, split=split, force=force,
                               device=device, precision=precision, batch_size=batch_size, threads=threads))


@app.command()
def validate(
    model: ModelDir,
    data: DataDir,
    output: Output,
    split: Annotated[str, typer.Option("--split", help="Split to score (default: the held-out test split).")] = "test",
    device: Device = None,
    precision: Precision = None,
    batch_size: BatchSize = None,
    threads: Threads = None,
    force: Force = False,
):
    """Score a split: AUC, accuracy, precision, recall -> OUTPUT/metrics.json + report.html (ROC)."""
    from genotool_hello.validate import ValidateOptions, run_validate

    run_validate(ValidateOptions(model=model, data=data, output=output, split=split, force=force,
                                 device=device, precision=precision, batch_size=batch_size, threads=threads))


@app.command()
def bench(
    output: OptionalOutput = None,
    length: Annotated[int, typer.Option("--length")] = 200,
    steps: Annotated[int, typer.Option("--steps", help="Timed batches per phase.")] = 20,
    device: Device = None,
    precision: Precision = None,
    batch_size: BatchSize = None,
    threads: Threads = None,
    force: Force = False,
):
    """Time training steps and inference of the CNN on random sequences; print one JSON object."""
    from genotool_hello.bench import BenchOptions, run_bench

    run_bench(BenchOptions(output=output, length=length, steps=steps, force=force, device=device,
                           precision=precision, batch_size=batch_size, threads=threads))
