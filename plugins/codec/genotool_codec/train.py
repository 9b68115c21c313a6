"""``codec train``: train the SimVQ-GAN codec (orbax checkpoints, exact resume, data parallel over
devices), then fit the model's entropy-coding prior on the training windows.

The training loop is :mod:`genotool_codec.trainer`; the config (model/train/data sections) is
:mod:`genotool_codec.config`: ``--config``, then ``--seed``/``--steps``/``--batch-size``, then
``--set`` (last wins).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from genotool.errors import UserError
from genotool.log import log
from genotool.options import RunOptions


@dataclass(kw_only=True)
class TrainOptions(RunOptions):
    """One ``codec train`` command line."""

    output: Path
    data: Path | None = None               # a `codec preprocess` folder ...
    pod5: list[Path] | None = None         # ... or POD5 files/folders, preprocessed in memory
    config: Path | None = None             # JSON config or a preset name
    overrides: list[str] = field(default_factory=list)   # --set key=value
    steps: int | None = None
    max_minutes: float | None = None
    resume: Path | None = None
    host_devices: int | None = None
    cache_dir: Path | None = None          # persistent XLA compilation cache
    seed: int = 0
    quiet: bool = False
    force: bool = False

    def codec_config(self) -> dict:
        """The codec config dict: --config, then --seed/--steps/--batch-size, then --set (last wins)."""
        from genotool_codec.config import load_config

        overrides = [f"train.seed={int(self.seed)}"]
        if self.steps is not None:
            overrides.append(f"train.steps={self.steps}")
        if self.batch_size is not None:
            overrides.append(f"train.batch_size={self.batch_size}")
        return load_config(self.config, overrides + list(self.overrides))


def _training_windows(opts: TrainOptions, cfg: dict):
    """(windows (n, window), dataset stats) from --data, or from --pod5 preprocessed in memory."""
    import tempfile

    import numpy as np

    from genotool_codec.data import build_dataset, load_dataset

    if opts.data is not None:
        windows, index = load_dataset(opts.data)
        return windows, index["stats"]
    with tempfile.TemporaryDirectory(prefix="genotool_codec_ds_") as td:
        stats = build_dataset(list(opts.pod5), Path(td), window=cfg["data"]["window"])
        return np.load(Path(td) / "windows.npy"), stats


def run_train(opts: TrainOptions) -> dict:
    from genotool.outputs import run_output

    from genotool_codec.checkpoint import check_checkpoints_early
    from genotool_codec.config import validate
    from genotool_codec.runtime import jax_plan

    if opts.host_devices:
        from genotool import jaxrt

        try:
            jaxrt.force_host_devices(opts.host_devices)   # before JAX starts
        except (RuntimeError, ValueError) as exc:
            raise UserError(f"--host-devices: {exc}") from None
    if (opts.data is None) == (not opts.pod5):
        raise UserError("give exactly one of --data (preprocess output) or --pod5")
    cfg = opts.codec_config()
    if opts.resume is not None and not Path(opts.resume).exists():
        raise UserError(f"--resume: not found: {opts.resume}")
    windows, stats = _training_windows(opts, cfg)
    if windows.shape[1] != cfg["data"]["window"]:
        cfg["data"]["window"] = int(windows.shape[1])
        validate(cfg)
    cfg["data"]["sample_rate"] = stats.get("sample_rate")
    plan = jax_plan(opts, cfg["train"]["batch_size"], cache_dir=opts.cache_dir)
    if opts.resume is not None:
        check_checkpoints_early(opts.resume, cfg["model"])
    from genotool_codec.model_io import load_model
    from genotool_codec.prior import fit_prior_into
    from genotool_codec.trainer import fit

    params = {"config": cfg, "data": opts.data, "pod5": opts.pod5, "resume": opts.resume,
              "max_minutes": opts.max_minutes}
    with run_output(opts.output, command="codec train", parameters=params,
                    inputs=[opts.data] if opts.data else list(opts.pod5), force=opts.force) as run:
        run.plan = plan
        if run.resumed:
            check_checkpoints_early(run.path, cfg["model"])
        res = fit(cfg, windows, run.path, resume_from=opts.resume, max_minutes=opts.max_minutes,
                  progress=not opts.quiet, precision=plan.precision,
                  data_info={k: stats.get(k) for k in ("n_windows", "window", "sample_rate", "n_reads_used")})
        # The entropy-coding prior: code counts of the training windows under the trained model.
        model, meta = load_model(run.path)
        res["prior"] = fit_prior_into(model, meta, windows, batch=plan.batch_size, precision=plan.precision)
        run.runtime.update(res)
    fm = res["final_metrics"]
    log(f"trained {res['steps']} steps in {res['wall_seconds']} s; time L1 {fm.get('time_l1', float('nan')):.4f}, "
        f"codebook usage {fm.get('usage', float('nan')):.2f} -> {opts.output}")
    return res
