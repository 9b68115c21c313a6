"""`genotool codec ...` commands. No jax/flax/pod5 at module level: they load inside commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from genotool.errors import UserError
from genotool.options import BatchSize, Device, Force, Output, OptionalOutput, Precision, Seed

app = typer.Typer(help="SimVQ-GAN codec for nanopore raw current: simulate, preprocess, train, encode/decode, "
                       "validate against a basecaller.", no_args_is_help=True, add_completion=False)

Pod5In = Annotated[list[Path], typer.Option("--pod5", help="POD5 file or folder (searched recursively); repeatable.")]
ModelIn = Annotated[Path, typer.Option("--model", "-m", help="A `codec train` output folder.")]
Codebooks = Annotated[Optional[int], typer.Option("--codebooks", help="Residual codebooks to use (bitrate); default all.")]
Window = Annotated[Optional[int], typer.Option("--window", help="Samples per coding window (default: the model's).")]


def _plan(device, precision, batch_size=None, cache_dir=None):
    from genotool.probe import make_plan

    from genotool_codec.runtime import configure

    plan = make_plan(backend="jax", device=device, precision=precision, batch_size=batch_size)
    plan.jax_settings = configure(plan, cache_dir)  # recorded in metadata.json with the plan
    return plan


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


def _print_json(obj) -> None:
    import json

    typer.echo(json.dumps(obj, indent=2, default=str))


@app.command()
def simulate(
    output: Output,
    chemistry: Annotated[str, typer.Option("--chemistry", help="r9.4.1 (4 kHz) or r10.4.1 (5 kHz).")] = "r9.4.1",
    reads: Annotated[int, typer.Option("--reads", help="Number of reads.")] = 200,
    read_length: Annotated[int, typer.Option("--read-length", help="Mean read length in bases (log-normal).")] = 2000,
    reference: Annotated[Optional[Path], typer.Option("--reference", help="FASTA to draw reads from "
                                                      "(default: a random one written to OUTPUT/reference.fa).")] = None,
    files: Annotated[int, typer.Option("--files", help="POD5 files (one flow-cell sub-folder each).")] = 2,
    seed: Seed = 0,
    force: Force = False,
):
    """Simulated raw current (pore model levels + noise + dwell) as POD5, with the true sequences."""
    from genotool.errors import require_file
    from genotool.outputs import run_output

    if reference is not None:
        require_file(reference, "--reference")
    if reads < 1 or files < 1 or read_length < 50:
        raise UserError("--reads and --files must be >= 1 and --read-length >= 50")
    from genotool_codec.simulate import simulate as sim

    params = dict(chemistry=chemistry, reads=reads, read_length=read_length, reference=reference, files=files, seed=seed)
    with run_output(output, command="codec simulate", parameters=params,
                    inputs=[reference] if reference else [], force=force, resume=False) as run:
        summary = sim(run.path, chem_name=chemistry, n_reads=reads, mean_length=read_length, reference=reference,
                      seed=seed, n_files=files)
        summary = {k: (v.replace(str(run.path), str(run.final)) if isinstance(v, str) else
                       [x.replace(str(run.path), str(run.final)) for x in v] if isinstance(v, list) else v)
                   for k, v in summary.items()}
        run.runtime.update(summary)
    _err(f"simulated {reads} {chemistry} reads ({summary['total_samples']} samples) -> {output}")


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
    from genotool.outputs import run_output

    from genotool_codec.data import build_dataset

    if window < 8:
        raise UserError("--window must be >= 8")
    params = dict(pod5=pod5, window=window, sample_rate=sample_rate)
    with run_output(output, command="codec preprocess", parameters=params, inputs=list(pod5), force=force,
                    resume=False) as run:
        stats = build_dataset(list(pod5), run.path, window=window, sample_rate=sample_rate)
        run.runtime.update(stats)
    _err(f"{stats['n_windows']} windows of {window} samples from {stats['n_reads_used']} reads "
         f"({stats['n_files']} files, {stats['n_files_skipped']} skipped) -> {output}")


@app.command()
def train(
    output: Output,
    data: Annotated[Optional[Path], typer.Option("--data", help="A `codec preprocess` output folder.")] = None,
    pod5: Annotated[Optional[list[Path]], typer.Option("--pod5", help="Or POD5 files/folders (preprocessed in memory).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="JSON config (model/train/data sections).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config key: train.steps=500 "
                                                       "(value parsed as JSON); repeatable.")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", help="Optimiser steps (train.steps).")] = None,
    batch_size: BatchSize = None,
    max_minutes: Annotated[Optional[float], typer.Option("--max-minutes", help="Stop (and save) after this wall time.")] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue from this run's checkpoints.")] = None,
    host_devices: Annotated[Optional[int], typer.Option("--host-devices", help="Force N CPU devices (data "
                                                        "parallel test on CPU); must precede JAX start-up.")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Persistent XLA compilation cache.")] = None,
    device: Device = None,
    precision: Precision = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed (train.seed).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    force: Force = False,
):
    """Train the SimVQ-GAN codec (orbax checkpoints, exact resume, data parallel over devices)."""
    if host_devices:
        _force_host_devices(host_devices)
    from genotool.outputs import run_output

    from genotool_codec.config import load_config

    if (data is None) == (not pod5):
        raise UserError("give exactly one of --data (preprocess output) or --pod5")
    overrides = list(set_ or [])
    if steps is not None:
        overrides.append(f"train.steps={steps}")
    if batch_size is not None:
        overrides.append(f"train.batch_size={batch_size}")
    if seed is not None:
        overrides.append(f"train.seed={seed}")
    cfg = load_config(config, overrides)
    if resume is not None and not Path(resume).exists():
        raise UserError(f"--resume: not found: {resume}")
    if data is not None:
        from genotool_codec.data import load_dataset

        windows, index = load_dataset(data)
        stats = index["stats"]
    else:
        windows, stats = _windows_from_pod5(pod5, cfg["data"]["window"])
    if windows.shape[1] != cfg["data"]["window"]:
        cfg["data"]["window"] = int(windows.shape[1])
        from genotool_codec.config import validate

        validate(cfg)
    cfg["data"]["sample_rate"] = stats.get("sample_rate")
    plan = _plan(device, precision, cfg["train"]["batch_size"], cache_dir)
    if resume is not None:
        _check_resume(resume, cfg)
    from genotool_codec.train import fit

    params = {"config": cfg, "data": data, "pod5": pod5, "resume": resume, "max_minutes": max_minutes}
    with run_output(output, command="codec train", parameters=params,
                    inputs=[data] if data else list(pod5), force=force) as run:
        run.plan = {**plan.to_dict(), "jax": plan.jax_settings}
        if run.resumed:
            _check_resume(run.path, cfg)
        res = fit(cfg, windows, run.path, resume_from=resume, max_minutes=max_minutes, progress=not quiet,
                  data_info={k: stats.get(k) for k in ("n_windows", "window", "sample_rate", "n_reads_used")})
        run.runtime.update(res)
    fm = res["final_metrics"]
    _err(f"trained {res['steps']} steps in {res['wall_seconds']} s; time L1 {fm.get('time_l1', float('nan')):.4f}, "
         f"codebook usage {fm.get('usage', float('nan')):.2f} -> {output}")


def _force_host_devices(n: int) -> None:
    from genotool import jaxrt

    try:
        jaxrt.force_host_devices(n)
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"--host-devices: {exc}") from None


def _check_resume(path: Path, cfg: dict) -> None:
    """Refuse early (before any work) a checkpoint from another model config."""
    import json

    from genotool_codec.config import model_fingerprint

    p = Path(path)
    ck = p / "checkpoints" if (p / "checkpoints").is_dir() else p
    metas = sorted(ck.glob("*/meta/metadata")) + sorted(ck.glob("*/meta/*.json"))
    for m in metas:
        try:
            fp = json.loads(m.read_text()).get("fingerprint")
        except (OSError, json.JSONDecodeError):
            continue
        if fp and fp != model_fingerprint(cfg["model"]):
            raise UserError(f"checkpoint {m.parent.parent}: made with a different model config "
                            f"(fingerprint {fp} != {model_fingerprint(cfg['model'])})")


def _windows_from_pod5(pod5: list[Path], window: int):
    import tempfile

    import numpy as np

    from genotool_codec.data import build_dataset

    with tempfile.TemporaryDirectory(prefix="genotool_codec_ds_") as td:
        stats = build_dataset(list(pod5), Path(td), window=window)
        w = np.load(Path(td) / "windows.npy")
    return w, stats


@app.command()
def encode(
    pod5: Pod5In,
    model: ModelIn,
    output: Annotated[Path, typer.Option("--output", "-o", help="Token file to write (.tokens).")],
    codebooks: Codebooks = None,
    window: Window = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Windows per jitted call.")] = 16,
    device: Device = None,
    force: Force = False,
):
    """POD5 -> compact token file (codes + per-read normalisation stats, lengths and metadata)."""
    if Path(output).exists() and not force:
        raise UserError(f"output already exists: {output} (use --force to overwrite)")
    _plan(device, None)
    from genotool_codec.predict import encode_pod5

    res = encode_pod5(list(pod5), model, output, n_codebooks=codebooks, window=window, batch=batch_size, force=force)
    _err(f"encoded {res['reads']} reads, {res['samples']} samples at {res['file_bits_per_sample']:.3f} bits/sample "
         f"({res['size_vs_pod5']:.3f}x the POD5) -> {output}")
    _print_json(res)


@app.command()
def decode(
    tokens: Annotated[Path, typer.Option("--tokens", help="Token file from `codec encode`.")],
    model: ModelIn,
    output: Annotated[Path, typer.Option("--output", "-o", help="POD5 file to write.")],
    batch_size: Annotated[int, typer.Option("--batch-size", help="Windows per jitted call.")] = 16,
    device: Device = None,
    force: Force = False,
):
    """Token file -> POD5 (every read keeps id, calibration, run_info, metadata; int16 signal)."""
    if Path(output).exists() and not force:
        raise UserError(f"output already exists: {output} (use --force to overwrite)")
    _plan(device, None)
    from genotool_codec.predict import decode_tokens

    res = decode_tokens(tokens, model, output, batch=batch_size, force=force)
    _err(f"decoded {res['reads']} reads, {res['samples']} samples -> {output}")
    _print_json(res)


@app.command()
def predict(
    pod5: Pod5In,
    model: ModelIn,
    output: Output,
    codebooks: Codebooks = None,
    window: Window = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Windows per jitted call.")] = 16,
    device: Device = None,
    force: Force = False,
):
    """Encode + decode in one go: OUTPUT/reads.tokens, OUTPUT/reconstructed.pod5, summary in metadata.json."""
    from genotool.outputs import run_output

    _plan(device, None)
    from genotool_codec.predict import decode_tokens, encode_pod5

    params = dict(pod5=pod5, model=model, codebooks=codebooks, window=window)
    with run_output(output, command="codec predict", parameters=params, inputs=[*pod5, model], force=force,
                    resume=False) as run:
        enc = encode_pod5(list(pod5), model, run.path / "reads.tokens", n_codebooks=codebooks, window=window,
                          batch=batch_size)
        dec = decode_tokens(run.path / "reads.tokens", model, run.path / "reconstructed.pod5", batch=batch_size)
        run.runtime.update(encode=enc, decode=dec)
    _err(f"{enc['reads']} reads at {enc['file_bits_per_sample']:.3f} bits/sample -> {output}")


@app.command()
def validate(
    model: ModelIn,
    pod5: Pod5In,
    output: Output,
    codebooks: Annotated[Optional[str], typer.Option("--codebooks", help="Comma list of codebook counts for the "
                                                      "rate-distortion table (default: n/4, n/2, 3n/4, n).")] = None,
    max_reads: Annotated[Optional[int], typer.Option("--max-reads", help="Use the first N reads.")] = None,
    window: Window = None,
    device: Device = None,
    force: Force = False,
):
    """Signal metrics (L1/RMSE pA, SNR, spectral distance), codebook use, bits/sample vs POD5: JSON + HTML."""
    from genotool.outputs import run_output, write_json

    levels = _int_list(codebooks, "--codebooks")
    plan = _plan(device, None)
    from genotool_codec.validate import run_validate

    with run_output(output, command="codec validate", parameters=dict(model=model, pod5=pod5, codebooks=levels,
                    max_reads=max_reads), inputs=[*pod5, model], force=force, resume=False) as run:
        run.plan = plan.to_dict()
        res = run_validate(model, list(pod5), run.path, levels=levels, max_reads=max_reads, window=window)
        write_json(run.path / "validation.json", res)
        run.runtime.update({k: v for k, v in res.items() if k != "rate_distortion"})
    for r in res["rate_distortion"]:
        _err(f"{r['n_codebooks']:3d} codebooks  {r['token_file_bits_per_sample']:.3f} bits/sample "
             f"({r['size_vs_vbz']:.3f}x VBZ)  RMSE {r['rmse_pa']:.3f} pA  SNR {r['snr_db']:.2f} dB")


def _int_list(text: Optional[str], what: str) -> Optional[list[int]]:
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{what}: expected a comma-separated list of integers, got '{text}'") from None


@app.command("dorado-validate")
def dorado_validate(
    model: ModelIn,
    pod5: Pod5In,
    output: Output,
    truth: Annotated[Optional[Path], typer.Option("--truth", help="FASTA of the true read sequences (simulate's truth.fa).")] = None,
    codebooks: Codebooks = None,
    max_reads: Annotated[Optional[int], typer.Option("--max-reads", help="Basecall the first N reads.")] = 50,
    trim_samples: Annotated[Optional[int], typer.Option("--trim-samples", help="Keep the first N samples of each read.")] = None,
    dorado: Annotated[Optional[str], typer.Option("--dorado", help="Dorado binary (with --dorado-model); default: scrappie.")] = None,
    dorado_model: Annotated[Optional[str], typer.Option("--dorado-model", help="Dorado model name or path.")] = None,
    scrappie_model: Annotated[Optional[str], typer.Option("--scrappie-model", help="scrappie raw model "
                                                           "(default from the chemistry: rgrgr_r941 / rgrgr_r10).")] = None,
    threads: Annotated[int, typer.Option("--threads", help="Basecaller threads.")] = 1,
    window: Window = None,
    device: Device = None,
    force: Force = False,
):
    """Basecall original and reconstructed signal; identity to the truth and to the original's call."""
    from genotool.errors import require_file
    from genotool.outputs import run_output, write_json

    if truth is not None:
        require_file(truth, "--truth")
    plan = _plan(device, None)
    from genotool_codec.validate import basecall_validate

    params = dict(model=model, pod5=pod5, truth=truth, codebooks=codebooks, max_reads=max_reads,
                  trim_samples=trim_samples, dorado=dorado, dorado_model=dorado_model, scrappie_model=scrappie_model)
    with run_output(output, command="codec dorado-validate", parameters=params,
                    inputs=[*pod5, model] + ([truth] if truth else []), force=force, resume=False) as run:
        run.plan = plan.to_dict()
        rep = basecall_validate(model, list(pod5), run.path, truth=truth, n_codebooks=codebooks, max_reads=max_reads,
                                trim=trim_samples, dorado=dorado, dorado_model=dorado_model,
                                scrappie_model=scrappie_model, threads=threads, window=window)
        write_json(run.path / "dorado_report.json", rep)
        run.runtime.update({k: v for k, v in rep.items() if k != "per_read"})
    io, ig = rep.get("identity_original") or {}, rep.get("identity_generated") or {}
    msg = f"{rep['basecaller']}: {rep['reads']} reads, {rep['failed_reads']} failed"
    if io.get("median") is not None and ig.get("median") is not None:
        msg += f"; median identity original {io['median']:.4f}, reconstructed {ig['median']:.4f}"
    _err(msg + f" -> {output}")


@app.command()
def bench(
    output: OptionalOutput = None,
    model: Annotated[Optional[Path], typer.Option("--model", "-m", help="Trained model (default: a fresh default-config one).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="JSON config when no --model.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Config override key=value; repeatable.")] = None,
    seconds: Annotated[float, typer.Option("--seconds", help="Seconds of signal to encode and decode.")] = 60.0,
    train_steps: Annotated[int, typer.Option("--train-steps", help="Timed training steps (0: skip).")] = 10,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Windows per jitted encode/decode call.")] = 16,
    device: Device = None,
):
    """Encode/decode samples/s, training steps/s and samples/s, peak memory: one JSON object on stdout."""
    from genotool.bench import emit, log

    from genotool_codec.config import load_config

    cfg = load_config(config, list(set_ or []))
    plan = _plan(device, None)
    from genotool_codec.bench import run_bench

    log("codec bench: compiling and timing encode/decode" + (" and training" if train_steps else ""))
    res = run_bench(cfg, model_path=model, seconds_of_signal=seconds, batch=batch_size, train_steps=train_steps)
    res["plan"] = plan.to_dict()
    emit(res, output, plugin="codec")
