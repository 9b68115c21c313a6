"""``codec preprocess``: POD5 -> normalised (median/MAD) fixed windows + a dataset index with stats
(the work is :func:`genotool_codec.data.build_dataset`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genotool.errors import UserError
from genotool.log import log


@dataclass
class PreprocessOptions:
    """One ``codec preprocess`` command line (no model runs)."""

    pod5: list[Path]
    output: Path
    window: int = 10000
    sample_rate: int | None = None      # None: the first file's
    force: bool = False


def run_preprocess(opts: PreprocessOptions) -> dict:
    from genotool.outputs import run_output

    from genotool_codec.data import build_dataset

    if opts.window < 8:
        raise UserError("--window must be >= 8")
    params = dict(pod5=opts.pod5, window=opts.window, sample_rate=opts.sample_rate)
    with run_output(opts.output, command="codec preprocess", parameters=params, inputs=list(opts.pod5),
                    force=opts.force, resume=False) as run:
        stats = build_dataset(list(opts.pod5), run.path, window=opts.window, sample_rate=opts.sample_rate)
        run.runtime.update(stats)
    log(f"{stats['n_windows']} windows of {opts.window} samples from {stats['n_reads_used']} reads "
        f"({stats['n_files']} files, {stats['n_files_skipped']} skipped) -> {opts.output}")
    return stats
