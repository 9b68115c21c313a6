"""What each ``genotool codec`` verb does, given its config object (``genotool_codec.settings``).

The CLI only parses options into a config and calls one function here; checks, output folders
(staging + atomic publish + metadata.json with the probe plan) and the work live here.
"""

from __future__ import annotations

import json
from pathlib import Path

from genotool.errors import UserError, require_file
from genotool.log import log

from genotool_codec.settings import (BaselineConfig, BasecallValidateConfig, BenchConfig, DecodeConfig, EncodeConfig,
                                     PredictConfig, PreprocessConfig, PriorConfig, SimulateConfig, TrainConfig,
                                     ValidateConfig, plan_record)


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=str), flush=True)


def _refuse_existing(path: Path, force: bool) -> None:
    if Path(path).exists() and not force:
        raise UserError(f"output already exists: {path} (use --force to overwrite)")


def simulate(c: SimulateConfig) -> None:
    from genotool.outputs import run_output

    from genotool_codec.simulate import simulate as sim

    if c.reference is not None:
        require_file(c.reference, "--reference")
    if c.num_reads < 1 or c.num_files < 1 or c.read_length < 50:
        raise UserError("--num-reads and --num-files must be >= 1 and --read-length >= 50")
    params = dict(chemistry=c.chemistry, num_reads=c.num_reads, read_length=c.read_length, reference=c.reference,
                  num_files=c.num_files, seed=c.seed)
    with run_output(c.output, command="codec simulate", parameters=params,
                    inputs=[c.reference] if c.reference else [], force=c.force, resume=False) as run:
        summary = sim(run.path, chem_name=c.chemistry, n_reads=c.num_reads, mean_length=c.read_length,
                      reference=c.reference, seed=c.seed, n_files=c.num_files)
        # Paths inside the staging folder -> their published names.
        summary = {k: (v.replace(str(run.path), str(run.final)) if isinstance(v, str) else
                       [x.replace(str(run.path), str(run.final)) for x in v] if isinstance(v, list) else v)
                   for k, v in summary.items()}
        run.runtime.update(summary)
    log(f"simulated {c.num_reads} {c.chemistry} reads ({summary['total_samples']} samples) -> {c.output}")


def preprocess(c: PreprocessConfig) -> None:
    from genotool.outputs import run_output

    from genotool_codec.data import build_dataset

    if c.window < 8:
        raise UserError("--window must be >= 8")
    params = dict(pod5=c.pod5, window=c.window, sample_rate=c.sample_rate)
    with run_output(c.output, command="codec preprocess", parameters=params, inputs=list(c.pod5), force=c.force,
                    resume=False) as run:
        stats = build_dataset(list(c.pod5), run.path, window=c.window, sample_rate=c.sample_rate)
        run.runtime.update(stats)
    log(f"{stats['n_windows']} windows of {c.window} samples from {stats['n_reads_used']} reads "
        f"({stats['n_files']} files, {stats['n_files_skipped']} skipped) -> {c.output}")


# ----------------------------------------------------------------------------------- train
def _train_config(c: TrainConfig) -> dict:
    """The codec config dict: --config, then --seed/--steps/--batch-size, then --set (last wins)."""
    from genotool_codec.config import load_config

    overrides = [f"train.seed={int(c.seed)}"]
    if c.steps is not None:
        overrides.append(f"train.steps={c.steps}")
    if c.runtime.batch_size is not None:
        overrides.append(f"train.batch_size={c.runtime.batch_size}")
    return load_config(c.config, overrides + list(c.overrides))


def _training_windows(c: TrainConfig, cfg: dict):
    """(windows (n, window), dataset stats) from --data, or from --pod5 preprocessed in memory."""
    import tempfile

    import numpy as np

    from genotool_codec.data import build_dataset, load_dataset

    if c.data is not None:
        windows, index = load_dataset(c.data)
        return windows, index["stats"]
    with tempfile.TemporaryDirectory(prefix="genotool_codec_ds_") as td:
        stats = build_dataset(list(c.pod5), Path(td), window=cfg["data"]["window"])
        return np.load(Path(td) / "windows.npy"), stats


def train(c: TrainConfig) -> None:
    from genotool.outputs import run_output

    from genotool_codec.checkpoint import check_checkpoints_early
    from genotool_codec.config import validate

    if c.host_devices:
        from genotool import jaxrt

        try:
            jaxrt.force_host_devices(c.host_devices)   # before JAX starts
        except (RuntimeError, ValueError) as exc:
            raise UserError(f"--host-devices: {exc}") from None
    if (c.data is None) == (not c.pod5):
        raise UserError("give exactly one of --data (preprocess output) or --pod5")
    cfg = _train_config(c)
    if c.resume is not None and not Path(c.resume).exists():
        raise UserError(f"--resume: not found: {c.resume}")
    windows, stats = _training_windows(c, cfg)
    if windows.shape[1] != cfg["data"]["window"]:
        cfg["data"]["window"] = int(windows.shape[1])
        validate(cfg)
    cfg["data"]["sample_rate"] = stats.get("sample_rate")
    plan = c.runtime.plan(default_batch=cfg["train"]["batch_size"])
    if c.resume is not None:
        check_checkpoints_early(c.resume, cfg["model"])
    from genotool_codec.entropy import fit_prior_into
    from genotool_codec.train import fit

    params = {"config": cfg, "data": c.data, "pod5": c.pod5, "resume": c.resume, "max_minutes": c.max_minutes}
    with run_output(c.output, command="codec train", parameters=params,
                    inputs=[c.data] if c.data else list(c.pod5), force=c.force) as run:
        run.plan = plan_record(plan)
        if run.resumed:
            check_checkpoints_early(run.path, cfg["model"])
        res = fit(cfg, windows, run.path, resume_from=c.resume, max_minutes=c.max_minutes, progress=not c.quiet,
                  precision=plan.precision,
                  data_info={k: stats.get(k) for k in ("n_windows", "window", "sample_rate", "n_reads_used")})
        # The entropy-coding prior: code counts of the training windows under the trained model.
        res["prior"] = fit_prior_into(run.path, windows, batch=plan.batch_size, precision=plan.precision)
        run.runtime.update(res)
    fm = res["final_metrics"]
    log(f"trained {res['steps']} steps in {res['wall_seconds']} s; time L1 {fm.get('time_l1', float('nan')):.4f}, "
        f"codebook usage {fm.get('usage', float('nan')):.2f} -> {c.output}")


def prior(c: PriorConfig) -> None:
    """(Re)fit the entropy-coding prior of a trained model on a preprocessed training set."""
    from genotool_codec.checkpoint import find_model_dir
    from genotool_codec.data import load_dataset
    from genotool_codec.entropy import PRIOR_FILE, describe, fit_prior_into

    d = find_model_dir(c.model)
    if (d / PRIOR_FILE).exists() and not c.force:
        raise UserError(f"{d / PRIOR_FILE} already exists (use --force to replace it)")
    windows, _ = load_dataset(c.data)
    plan = c.runtime.plan()
    stats = fit_prior_into(c.model, windows, batch=plan.batch_size, precision=plan.precision,
                           max_windows=c.max_windows)
    log(f"prior {stats['id']} from {stats['tokens']} tokens (held-out bits/token, alpha per level: "
        f"{describe(stats)}) -> {d / PRIOR_FILE}")
    _print_json({**stats, "plan": plan_record(plan)})


def check_baselines(b: BaselineConfig) -> BaselineConfig:
    from genotool_codec.baselines import check_round_bits

    for k in b.round_bits:
        check_round_bits(k)
    for e in b.max_errors:
        if e < 1:
            raise UserError(f"--max-errors: each max error must be >= 1 ADC unit, not {e}")
    return b


# ----------------------------------------------------------------------------------- coding
def encode(c: EncodeConfig) -> None:
    from genotool_codec.predict import encode_pod5

    _refuse_existing(c.output, c.force)
    plan = c.runtime.plan()
    res = encode_pod5(list(c.pod5), c.model, c.output, n_codebooks=c.codebooks, window=c.window,
                      batch=plan.batch_size, precision=plan.precision, search=c.search, force=c.force)
    res["plan"] = plan_record(plan)
    log(f"encoded {res['reads']} reads, {res['samples']} samples at {res['file_bits_per_sample']:.3f} bits/sample "
        f"({res['size_vs_pod5']:.3f}x the POD5) -> {c.output}")
    _print_json(res)


def decode(c: DecodeConfig) -> None:
    from genotool_codec.predict import decode_tokens

    _refuse_existing(c.output, c.force)
    plan = c.runtime.plan()
    res = decode_tokens(c.tokens, c.model, c.output, batch=plan.batch_size, precision=plan.precision, force=c.force)
    res["plan"] = plan_record(plan)
    log(f"decoded {res['reads']} reads, {res['samples']} samples -> {c.output}")
    _print_json(res)


def predict(c: PredictConfig) -> None:
    from genotool.outputs import run_output

    from genotool_codec.predict import decode_tokens, encode_pod5

    plan = c.runtime.plan()
    params = dict(pod5=c.pod5, model=c.model, codebooks=c.codebooks, window=c.window, search=c.search.as_dict())
    with run_output(c.output, command="codec predict", parameters=params, inputs=[*c.pod5, c.model], force=c.force,
                    resume=False) as run:
        run.plan = plan_record(plan)
        enc = encode_pod5(list(c.pod5), c.model, run.path / "reads.tokens", n_codebooks=c.codebooks, window=c.window,
                          batch=plan.batch_size, precision=plan.precision, search=c.search)
        dec = decode_tokens(run.path / "reads.tokens", c.model, run.path / "reconstructed.pod5",
                            batch=plan.batch_size, precision=plan.precision)
        run.runtime.update(encode=enc, decode=dec)
    log(f"{enc['reads']} reads at {enc['file_bits_per_sample']:.3f} bits/sample -> {c.output}")


# ----------------------------------------------------------------------------------- validation
def validate(c: ValidateConfig) -> None:
    from genotool.outputs import run_output, write_json

    from genotool_codec.validate import run_validate

    check_baselines(c.baselines)
    plan = c.runtime.plan()
    params = dict(model=c.model, pod5=c.pod5, codebooks=c.codebooks, max_reads=c.max_reads,
                  baselines=c.baselines.as_dict(), searches=[s.as_dict() for s in c.searches])
    with run_output(c.output, command="codec validate", parameters=params, inputs=[*c.pod5, c.model],
                    force=c.force, resume=False) as run:
        run.plan = plan_record(plan)
        res = run_validate(c.model, list(c.pod5), run.path, levels=c.codebooks, max_reads=c.max_reads,
                           window=c.window, batch=plan.batch_size, precision=plan.precision,
                           searches=c.searches, baselines=c.baselines.as_dict())
        write_json(run.path / "validation.json", res)
        run.runtime.update({k: v for k, v in res.items() if k not in ("rate_distortion", "baselines")})
    for r in res["rate_distortion"]:
        log(f"{r['n_codebooks']:3d} codebooks{r['search_label']}  {r['bits_per_sample']:.2f} nominal, "
            f"{r['token_file_bits_per_sample']:.3f} actual bits/sample ({r['size_vs_vbz']:.3f}x VBZ)  RMSE {r['rmse_pa']:.3f} pA  SNR {r['snr_db']:.2f} dB")
    for r in res["baselines"]:
        log(f"{r['label']:>28}  {r['bits_per_sample']:.3f} bits/sample  RMSE {r['rmse_pa']:.3f} pA  "
            f"SNR {r['snr_db']:.2f} dB")


def basecall_validate(c: BasecallValidateConfig) -> None:
    from genotool.outputs import run_output, write_json

    from genotool_codec.validate import basecall_validate as run_basecall

    if c.truth is not None:
        require_file(c.truth, "--truth")
    check_baselines(c.baselines)
    if c.basecaller_threads < 1:
        raise UserError(f"--basecaller-threads must be >= 1, not {c.basecaller_threads}")
    plan = c.runtime.plan()
    params = dict(model=c.model, pod5=c.pod5, truth=c.truth, codebooks=c.codebooks, max_reads=c.max_reads,
                  trim_samples=c.trim_samples, dorado=c.dorado, dorado_model=c.dorado_model,
                  scrappie_model=c.scrappie_model, basecaller_threads=c.basecaller_threads,
                  baselines=c.baselines.as_dict(), also_models=c.also_models, also_codebooks=c.also_codebooks,
                  searches=[s.as_dict() for s in c.searches])
    with run_output(c.output, command="codec dorado-validate", parameters=params,
                    inputs=[*c.pod5, c.model, *c.also_models] + ([c.truth] if c.truth else []), force=c.force,
                    resume=False) as run:
        run.plan = plan_record(plan)
        rep = run_basecall(c.model, list(c.pod5), run.path, truth=c.truth, n_codebooks=c.codebooks,
                           max_reads=c.max_reads, trim=c.trim_samples, dorado=c.dorado, dorado_model=c.dorado_model,
                           scrappie_model=c.scrappie_model, threads=c.basecaller_threads, window=c.window,
                           batch=plan.batch_size, precision=plan.precision, searches=c.searches,
                           baselines=c.baselines.as_dict(), also_models=[(m, c.also_codebooks) for m in c.also_models])
        write_json(run.path / "dorado_report.json", rep)
        run.runtime.update({k: v for k, v in rep.items() if k not in ("per_read", "rate_distortion")})
    io, ig = rep.get("identity_original") or {}, rep.get("identity_generated") or {}
    msg = f"{rep['basecaller']}: {rep['reads']} reads, {rep['failed_reads']} failed"
    if io.get("median") is not None and ig.get("median") is not None:
        msg += f"; median identity original {io['median']:.4f}, reconstructed {ig['median']:.4f}"
    log(msg + f" -> {c.output}")
    for r in rep["rate_distortion"]:
        ident = (r.get("identity_generated") or {}).get("median")
        log(f"{r['label']:>32}  {r['token_file_bits_per_sample']:.3f} bits/sample  identity "
            f"{'-' if ident is None else f'{ident:.4f}'}  vs original call "
            f"{r['identity_generated_vs_original_call']['median'] or float('nan'):.4f}")


def bench(c: BenchConfig) -> None:
    from genotool.bench import emit

    from genotool_codec.bench import run_bench
    from genotool_codec.config import load_config

    if c.output is not None:
        _refuse_existing(c.output, c.force)
    cfg = load_config(c.config, list(c.overrides))
    plan = c.runtime.plan()
    log("codec bench: compiling and timing encode/decode" + (" and training" if c.train_steps else ""))
    res = run_bench(cfg, model_path=c.model, seconds_of_signal=c.seconds, batch=plan.batch_size,
                    train_steps=c.train_steps, precision=plan.precision)
    res["plan"] = plan_record(plan)
    emit(res, c.output, plugin="codec")
