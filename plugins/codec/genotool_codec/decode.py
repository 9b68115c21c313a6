"""``codec decode``: a token file -> POD5 (every read keeps its id, calibration, run info and
metadata; int16 signal)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from genotool.log import log
from genotool.options import RunOptions


@dataclass(kw_only=True)
class DecodeOptions(RunOptions):
    """One ``codec decode`` command line."""

    tokens: Path
    model: Path
    output: Path
    force: bool = False


def run_decode(opts: DecodeOptions) -> dict:
    """Write the POD5; print (and return) reads, samples, speed and the plan as one JSON object."""
    from genotool.outputs import refuse_existing

    from genotool_codec.coding import decode_tokens
    from genotool_codec.model_io import load_model
    from genotool_codec.runtime import jax_plan

    refuse_existing(opts.output, opts.force)
    plan = jax_plan(opts)
    model, meta = load_model(opts.model)
    res = decode_tokens(opts.tokens, model, meta, opts.output, batch=plan.batch_size, precision=plan.precision,
                        given=opts.model)
    res["plan"] = plan.to_dict()
    log(f"decoded {res['reads']} reads, {res['samples']} samples -> {opts.output}")
    print(json.dumps(res, indent=2, default=str), flush=True)
    return res
