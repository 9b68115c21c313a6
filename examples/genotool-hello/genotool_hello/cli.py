"""``genotool hello ...``: simulate, preprocess, train, predict, validate, bench.

Imported by ``genotool --help``: torch and the engine are imported inside command bodies only.
Every verb follows docs/architecture.md: options not positionals, ``--output/-o``, folders via
``run_output`` (metadata.json), user mistakes as ``UserError``, bench prints one JSON object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from genotool.errors import UserError, require_dir, require_file
from genotool.log import log
from genotool.options import (SCHEDULERS, BatchSize, Data, Device, Force, Model, NumWorkers, OptionalData,
                              OptionalOutput, Output, Precision, Scheduler, Seed, Threads, check_choice,
                              count_option, described)

app = typer.Typer(help="Example plugin: find a DNA motif with a small 1D CNN.", no_args_is_help=True,
                  add_completion=False)

# The shared vocabulary (genotool.options), with this plugin's wording where it helps.
DataDir = described(Data, "A `hello preprocess` output folder.")
ModelDir = described(Model, "A `hello train` output folder.")


def _plan(device, precision, batch_size, threads=None):
    """The probe's plan with the user's --device/--precision/--batch-size/--threads applied."""
    from genotool.probe import apply_torch, make_plan

    plan = make_plan(backend="torch", device=device, precision=precision, batch_size=batch_size,
                     cpu_threads=threads)
    apply_torch(plan)
    return plan


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
    from genotool.outputs import run_output
    from genotool_hello.simulate import simulate_records, write_tsv

    motif = motif.upper()
    n = num_sequences
    if n < 10 or length < 1 or not set(motif) <= set("ACGT") or not motif:
        raise UserError("--num-sequences must be >= 10 and --motif a non-empty A/C/G/T string")
    if len(motif) > length:
        raise UserError(f"--motif ({len(motif)} bp) is longer than --length ({length})")
    if not 0 < positive_fraction < 1 or not 0 < gc < 1:
        raise UserError("--positive-fraction and --gc must be between 0 and 1")
    params = dict(num_sequences=n, length=length, motif=motif, positive_fraction=positive_fraction, gc=gc, seed=seed)
    with run_output(output, command="hello simulate", parameters=params, force=force, resume=False) as run:
        records = simulate_records(n, length, motif, positive_fraction, gc, seed)
        write_tsv(records, run.path / "sequences.tsv")
        run.runtime.update(n_sequences=n, n_positive=sum(r[2] for r in records))
    log(f"simulated {n} sequences -> {output}/sequences.tsv")


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
    import numpy as np

    from genotool.outputs import run_output
    from genotool_hello.data import encode, read_tsv, split_assignments

    tsv = input / "sequences.tsv" if input.is_dir() else input
    require_file(tsv, "--input")
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise UserError("--val-fraction and --test-fraction must be in [0, 1) and sum to < 1")
    params = dict(length=length, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    with run_output(output, command="hello preprocess", parameters=params, inputs=[tsv], force=force,
                    resume=False) as run:
        ids, seqs, labels = read_tsv(tsv)
        length = length or max(len(s) for s in seqs)
        codes = encode(seqs, length, source=str(tsv))
        split = split_assignments(len(seqs), val_fraction, test_fraction, seed)
        np.savez(run.path / "data.npz", codes=codes, labels=labels, ids=np.asarray(ids), split=split)
        run.runtime.update(n_sequences=len(seqs), length=length,
                           n_train=int((split == 0).sum()), n_val=int((split == 1).sum()),
                           n_test=int((split == 2).sum()))
    log(f"encoded {len(seqs)} sequences of length {length} -> {output}/data.npz")


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
    num_workers: NumWorkers = None,
    tensorboard: Annotated[bool, typer.Option("--tensorboard", help="Write TensorBoard logs.")] = False,
    seed: Seed = 0,
    force: Force = False,
):
    """Train the CNN with the shared engine. A killed run resumes when re-run with the same -o."""
    from genotool.engine import TrainConfig
    from genotool.outputs import run_output
    from genotool_hello.data import load_npz
    from genotool_hello.train import train as run_train

    require_dir(data, "--data")
    if epochs < 1 or channels < 1 or kernel < 1:
        raise UserError("--epochs, --channels and --kernel must be >= 1")
    check_choice(scheduler, SCHEDULERS, "--scheduler")
    arrays = load_npz(data)
    if arrays["codes"].shape[1] < kernel:
        raise UserError(f"--kernel {kernel} is longer than the sequences ({arrays['codes'].shape[1]})")
    plan = _plan(device, precision, batch_size, threads)
    from genotool_hello.train import choose_batch_size

    bs = choose_batch_size(plan, channels, kernel, int(arrays["codes"].shape[1]))
    cfg = TrainConfig(max_epochs=epochs, lr=lr, weight_decay=1e-2, optimizer="adamw", scheduler=scheduler,
                      monitor="val_auc", monitor_mode="max", patience=patience, clip_grad_norm=1.0,
                      batch_size=bs, num_workers=num_workers or 0,
                      pin_memory=plan.device.startswith("cuda"), seed=seed, tensorboard=tensorboard,
                      extra={"channels": channels, "kernel": kernel})
    params = dict(epochs=epochs, lr=lr, channels=channels, kernel=kernel, patience=patience,
                  scheduler=scheduler, batch_size=cfg.batch_size, seed=seed)
    with run_output(output, command="hello train", parameters=params, inputs=[data], force=force) as run:
        run.plan = plan.to_dict()
        if run.resumed:
            log(f"resuming from {run.path}")
        run.runtime.update(run_train(arrays, run.path, cfg, plan, channels, kernel))
        run.extra["train_config"] = cfg.to_dict()
    log(f"model -> {output}")


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
    import numpy as np

    from genotool.outputs import run_output
    from genotool_hello.data import encode, load_npz, read_tsv, subset
    from genotool_hello.model import load_model
    from genotool_hello.train import predict_probs

    require_dir(model, "--model")
    if (data is None) == (input is None):
        raise UserError("give exactly one of --data or --input")
    net, meta = load_model(model)
    if data is not None:
        arrays = subset(load_npz(require_dir(data, "--data")), split)
        ids, codes, labels = arrays["ids"], arrays["codes"], arrays["labels"]
    else:
        ids, seqs, labels = read_tsv(require_file(input, "--input"))
        codes = encode(seqs, meta["length"], source=str(input))
    plan = _plan(device, precision, batch_size, threads)
    if plan.batch_size is None:
        plan.batch_size, plan.batch_size_source = 256, "default"
    inputs = [model, data if data is not None else input]
    with run_output(output, command="hello predict", parameters=dict(split=split), inputs=inputs,
                    force=force, resume=False) as run:
        run.plan = plan.to_dict()
        probs = predict_probs(net, codes, plan, plan.batch_size)
        with open(run.path / "predictions.tsv", "w") as fh:
            fh.write("id\tprobability\tlabel\n")
            for rid, p, y in zip(ids, probs, labels):
                fh.write(f"{rid}\t{p:.6f}\t{'' if np.isnan(y) else int(y)}\n")
        run.runtime.update(n_predicted=int(len(probs)))
    log(f"{len(probs)} predictions -> {output}/predictions.tsv")


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
    import numpy as np

    from genotool.outputs import run_output, write_json
    from genotool.report import Report
    from genotool_hello.data import load_npz, subset
    from genotool_hello.metrics import binary_metrics, roc_curve
    from genotool_hello.model import load_model
    from genotool_hello.train import predict_probs

    net, _ = load_model(require_dir(model, "--model"))
    arrays = subset(load_npz(require_dir(data, "--data")), split)
    if len(arrays["labels"]) == 0 or np.isnan(arrays["labels"]).any():
        raise UserError(f"--data: split '{split}' is empty or has no labels")
    plan = _plan(device, precision, batch_size, threads)
    if plan.batch_size is None:
        plan.batch_size, plan.batch_size_source = 256, "default"
    with run_output(output, command="hello validate", parameters=dict(split=split), inputs=[model, data],
                    force=force, resume=False) as run:
        run.plan = plan.to_dict()
        probs = predict_probs(net, arrays["codes"], plan, plan.batch_size)
        metrics = binary_metrics(probs, arrays["labels"])
        write_json(run.path / "metrics.json", metrics)
        rep = Report("hello: motif detection")
        rep.add_table("Metrics", [{"metric": k, "value": v} for k, v in metrics.items()])
        fig = rep.figure(4.5, 4.0)
        ax = fig.subplots()
        fpr, tpr = roc_curve(probs, arrays["labels"])
        ax.plot(fpr, tpr, label=f"AUC {metrics['auc']:.3f}")
        ax.plot([0, 1], [0, 1], ls=":", color="grey")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend()
        rep.add_figure("ROC curve", fig, png_path=run.path / "roc.png")
        rep.write(run.path / "report.html")
        run.runtime.update(metrics)
    log(f"AUC {metrics['auc']:.4f}, accuracy {metrics['accuracy']:.4f} -> {output}")


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
    from genotool.bench import emit
    from genotool.outputs import refuse_existing
    from genotool_hello.bench import run_bench

    if steps < 1 or length < 9:
        raise UserError("--steps must be >= 1 and --length >= 9")
    refuse_existing(output, force)
    plan = _plan(device, precision, batch_size, threads)
    log(f"hello bench: {plan.device}, {plan.precision}")
    emit(run_bench(plan, length=length, steps=steps), output, plugin="hello")
