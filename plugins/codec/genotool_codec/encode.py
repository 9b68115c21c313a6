"""``codec encode``: POD5 -> a compact token file (codes + per-read normalisation stats, lengths and
POD5 metadata), entropy-coded with the model's prior. Each POD5 file is read once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from genotool.log import log
from genotool.options import RunOptions

from genotool_codec.search import Search


@dataclass(kw_only=True)
class EncodeOptions(RunOptions):
    """One ``codec encode`` command line."""

    pod5: list[Path]
    model: Path
    output: Path
    codebooks: int | None = None      # None: all of the model's
    window: int | None = None         # None: the model's
    search: Search = field(default_factory=Search)
    force: bool = False


def run_encode(opts: EncodeOptions) -> dict:
    """Write the token file; print (and return) sizes, rates, speed and the plan as one JSON object."""
    from genotool.outputs import refuse_existing

    from genotool_codec import pod5_io
    from genotool_codec.coding import encode_pod5
    from genotool_codec.model_io import load_model
    from genotool_codec.runner import CodecRunner, model_prior
    from genotool_codec.runtime import jax_plan

    refuse_existing(opts.output, opts.force)
    plan = jax_plan(opts)
    model, meta = load_model(opts.model)
    prior = model_prior(meta, given=opts.model)
    runner = CodecRunner(model, meta["config"], window=opts.window, batch=plan.batch_size, n_codebooks=opts.codebooks,
                         precision=plan.precision, search=opts.search, prior=prior)
    inp = pod5_io.read_inputs(list(opts.pod5), meta["config"]["data"].get("sample_rate"))
    res = encode_pod5(runner, inp, opts.output, prior)
    res["plan"] = plan.to_dict()
    log(f"encoded {res['reads']} reads, {res['samples']} samples at {res['file_bits_per_sample']:.3f} bits/sample "
        f"({res['size_vs_pod5']:.3f}x the POD5) -> {opts.output}")
    print(json.dumps(res, indent=2, default=str), flush=True)
    return res
