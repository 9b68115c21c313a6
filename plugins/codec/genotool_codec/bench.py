"""``codec bench``: throughput of encode, decode and training steps on this machine (one JSON object)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.log import log
from genotool.options import RunOptions


@dataclass(kw_only=True)
class BenchOptions(RunOptions):
    """One ``codec bench`` command line."""

    output: Path | None = None
    model: Path | None = None              # a trained model; else a fresh one from --config
    config: Path | None = None
    overrides: list[str] = field(default_factory=list)
    seconds: float = 60.0                  # seconds of signal encoded and decoded
    train_steps: int = 10                  # 0: skip training
    force: bool = False


def run_bench(opts: BenchOptions) -> dict:
    """Measure and print one JSON object (also written to ``--output``)."""
    from genotool.bench import emit
    from genotool.outputs import refuse_existing

    from genotool_codec.config import load_config
    from genotool_codec.runtime import jax_plan

    refuse_existing(opts.output, opts.force)
    cfg = load_config(opts.config, list(opts.overrides))
    plan = jax_plan(opts)
    log("codec bench: compiling and timing encode/decode" + (" and training" if opts.train_steps else ""))
    res = measure(cfg, model_path=opts.model, seconds_of_signal=opts.seconds, batch=plan.batch_size,
                  train_steps=opts.train_steps, precision=plan.precision)
    res["plan"] = plan.to_dict()
    return emit(res, opts.output, plugin="codec")


def _entropy_timing(codes: np.ndarray, cfg: dict, model_dir, res: dict) -> tuple[float, float, str]:
    """Seconds to entropy-code and decode ``codes`` (M, n) with the prior in ``model_dir`` (or,
    without one, a prior fitted on these codes); the encode/decode throughputs include them, as
    `encode` does."""
    from genotool_codec import entropy

    prior = entropy.load_prior(Path(model_dir)) if model_dir is not None else None
    src = "model" if prior is not None else "fitted on the bench codes"
    if prior is None:
        prior, _ = entropy.fit_prior(codes, int(cfg["model"]["codebook_size"]))
    t0 = time.perf_counter()
    words = entropy.encode_codes(codes, prior)
    ee = time.perf_counter() - t0
    t0 = time.perf_counter()
    back = entropy.decode_codes(words, len(codes), codes.shape[1], prior)
    ed = time.perf_counter() - t0
    if not np.array_equal(back, codes):
        raise RuntimeError("entropy coding round trip failed in bench")
    res["entropy_coded_bits_per_token"] = 32 * len(words) / max(len(codes), 1)
    return ee, ed, src


def _search_timing(model, cfg: dict, x: np.ndarray, *, window: int, batch: int, precision, decode_seconds_per_sample):
    """Encode speed of each --search (default beam width) on the first <= 4 batches of ``x``; decode
    does not depend on the search, so encode+decode uses the decode time measured above."""
    from genotool_codec.runner import CodecRunner
    from genotool_codec.search import SEARCHES, Search

    xs = x[: min(len(x), 4 * batch)]
    out = {}
    for method in SEARCHES:
        s = Search(method)
        runner = CodecRunner(model, cfg, window=window, batch=batch, precision=precision, search=s)
        runner.encode_windows(xs[:batch])                      # compile
        t0 = time.perf_counter()
        runner.encode_windows(xs)
        te = time.perf_counter() - t0
        out[method] = {"beam": s.width, "encode_samples_per_second": round(xs.size / te, 1),
                       "encode_decode_samples_per_second":
                           round(xs.size / (te + xs.size * decode_seconds_per_sample), 1)}
    return out


def measure(cfg: dict, *, model_path=None, seconds_of_signal: float = 60.0, batch: int = 16,
            train_steps: int = 10, train_batch: int | None = None, precision: str | None = None) -> dict:
    import jax

    from genotool_codec.config import bits_per_sample, hop
    from genotool_codec.runner import CodecRunner

    model_dir = None
    if model_path is not None:
        from genotool_codec.model_io import load_model

        model, meta = load_model(model_path)
        cfg, model_dir = meta["config"], meta["dir"]
    else:
        from genotool_codec.models import build

        model, _ = build(cfg["model"], seed=0)
    window = int(cfg["data"]["window"])
    rate = int(cfg["data"].get("sample_rate") or 4000)
    n_win = max(batch, int(round(seconds_of_signal * rate / window / batch)) * batch)
    rng = np.random.default_rng(0)
    # Speed does not depend on the values; a piecewise-constant + noise signal keeps it honest.
    x = np.repeat(rng.normal(0, 1, (n_win, window // 10)), 10, axis=1).astype(np.float32)
    x += rng.normal(0, 0.1, x.shape).astype(np.float32)
    runner = CodecRunner(model, cfg, window=window, batch=batch, precision=precision)
    res: dict = {"config": cfg["model"], "window": window, "batch": batch, "hop": hop(cfg["model"]),
                 "bits_per_sample": bits_per_sample(cfg["model"]), "compute_dtype": str(runner.dtype), "devices": [str(d) for d in jax.devices()]}
    t0 = time.perf_counter()
    runner.encode_windows(x[:batch])
    runner.decode_windows(runner.encode_windows(x[:batch]))
    res["compile_seconds"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    codes = runner.encode_windows(x)
    te = time.perf_counter() - t0
    t0 = time.perf_counter()
    runner.decode_windows(codes)
    td = time.perf_counter() - t0
    n = x.size
    ee, ed, prior_src = _entropy_timing(codes.reshape(-1, codes.shape[-1]), cfg, model_dir, res)
    te, td = te + ee, td + ed
    res.update(samples=int(n), encode_seconds=round(te, 4), decode_seconds=round(td, 4),
               encode_samples_per_second=round(n / te, 1), decode_samples_per_second=round(n / td, 1),
               encode_decode_samples_per_second=round(n / (te + td), 1), entropy_coding_prior=prior_src,
               entropy_encode_seconds=round(ee, 4), entropy_decode_seconds=round(ed, 4))
    res["encode_search"] = _search_timing(model, cfg, x, window=window, batch=batch, precision=precision,
                                          decode_seconds_per_sample=td / n)
    if train_steps > 0:
        from genotool_codec.trainer import Trainer

        tcfg = {**cfg, "train": dict(cfg["train"])}
        if train_batch:
            tcfg["train"]["batch_size"] = train_batch
        tcfg["train"]["grad_accum"] = 1
        crop = int(tcfg["train"]["crop"] or window)
        bs = int(tcfg["train"]["batch_size"])
        tr = Trainer(tcfg, precision=precision)
        xb = tr.put_batch(np.repeat(rng.normal(0, 1, (bs, crop // 10)), 10, axis=1).astype(np.float32))
        out = {}
        for gan in (False, True):
            step0 = 0 if gan else 10**9  # disc_start: GAN on / off
            tr.cfg["train"]["disc_start"] = step0 if gan else 10**9
            t0 = time.perf_counter()
            jax.block_until_ready(tr.micro_step(0, xb, 1)["g_total"])
            comp = time.perf_counter() - t0
            t0 = time.perf_counter()
            for i in range(train_steps):
                logs = tr.micro_step(i + 1, xb, 1)
            jax.block_until_ready(logs["g_total"])
            dt = time.perf_counter() - t0
            key = "with_gan" if gan else "generator_only"
            out[key] = {"first_step_seconds_incl_compile": round(comp, 3),
                        "steps_per_second": round(train_steps / dt, 3),
                        "samples_per_second": round(train_steps * bs * crop / dt, 1)}
        res["train"] = {"batch_size": bs, "crop": crop, **out}
    return res
