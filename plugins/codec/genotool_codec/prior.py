"""``codec prior``: fit the entropy-coding prior of a trained model (code counts per level, each level
given the level above) on its training windows. ``train`` fits one itself (:func:`fit_prior_into`);
this verb serves model folders trained before priors existed. The prior's maths and coding are
:mod:`genotool_codec.entropy`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.log import log
from genotool.options import RunOptions


@dataclass(kw_only=True)
class PriorOptions(RunOptions):
    """One ``codec prior`` command line."""

    model: Path
    data: Path
    max_windows: int | None = None
    force: bool = False


def fit_prior_into(model, meta: dict, windows: np.ndarray, *, batch: int = 16, precision: str | None = None,
                   max_windows: int | None = None) -> dict:
    """Encode training windows (n, window) with a loaded model (``model``, ``meta`` from
    :func:`genotool_codec.model_io.load_model`), fit the prior on their codes (all levels) and store
    it in the model's folder. Returns the fit statistics."""
    from genotool_codec.entropy import fit_prior, save_prior
    from genotool_codec.runner import CodecRunner

    cfg = meta["config"]
    if max_windows and len(windows) > max_windows:   # evenly spread subset, deterministic
        windows = windows[np.linspace(0, len(windows) - 1, max_windows).astype(int)]
    runner = CodecRunner(model, cfg, window=int(windows.shape[1]), batch=batch, precision=precision)
    codes = np.concatenate([runner.encode_windows(np.asarray(windows[i:i + 256], np.float32)).reshape(-1, runner.n)
                            for i in range(0, len(windows), 256)])
    prior, stats = fit_prior(codes, int(cfg["model"]["codebook_size"]))
    save_prior(Path(meta["dir"]), prior, stats)
    return {**stats, "id": prior.id}


def run_prior(opts: PriorOptions) -> dict:
    """(Re)fit the prior of ``--model`` on the ``--data`` windows; print the statistics as JSON."""
    from genotool.outputs import refuse_existing

    from genotool_codec.data import load_dataset
    from genotool_codec.entropy import PRIOR_FILE, describe
    from genotool_codec.model_io import load_model, read_model
    from genotool_codec.runtime import jax_plan

    d = Path(read_model(opts.model)["dir"])
    refuse_existing(d / PRIOR_FILE, opts.force, option="--model")
    windows, _ = load_dataset(opts.data)
    plan = jax_plan(opts)
    model, meta = load_model(opts.model)
    stats = fit_prior_into(model, meta, windows, batch=plan.batch_size, precision=plan.precision,
                           max_windows=opts.max_windows)
    log(f"prior {stats['id']} from {stats['tokens']} tokens (held-out bits/token, alpha per level: "
        f"{describe(stats)}) -> {d / PRIOR_FILE}")
    out = {**stats, "plan": plan.to_dict()}
    print(json.dumps(out, indent=2, default=str), flush=True)
    return out
