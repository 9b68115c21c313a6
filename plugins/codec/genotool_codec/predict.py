"""``codec predict``: encode + decode in one go: OUTPUT/reads.tokens, OUTPUT/reconstructed.pod5 and
the summary in metadata.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from genotool.log import log
from genotool.options import RunOptions

from genotool_codec.search import Search


@dataclass(kw_only=True)
class PredictOptions(RunOptions):
    """One ``codec predict`` command line."""

    pod5: list[Path]
    model: Path
    output: Path
    codebooks: int | None = None
    window: int | None = None
    search: Search = field(default_factory=Search)
    force: bool = False


def run_predict(opts: PredictOptions) -> dict:
    from genotool.outputs import run_output

    from genotool_codec import pod5_io
    from genotool_codec.coding import decode_tokens, encode_pod5
    from genotool_codec.model_io import load_model
    from genotool_codec.runner import CodecRunner, model_prior
    from genotool_codec.runtime import jax_plan

    plan = jax_plan(opts)
    params = dict(pod5=opts.pod5, model=opts.model, codebooks=opts.codebooks, window=opts.window,
                  search=opts.search.as_dict())
    with run_output(opts.output, command="codec predict", parameters=params, inputs=[*opts.pod5, opts.model],
                    force=opts.force, resume=False) as run:
        run.plan = plan
        model, meta = load_model(opts.model)
        prior = model_prior(meta, given=opts.model)
        runner = CodecRunner(model, meta["config"], window=opts.window, batch=plan.batch_size,
                             n_codebooks=opts.codebooks, precision=plan.precision, search=opts.search, prior=prior)
        inp = pod5_io.read_inputs(list(opts.pod5), meta["config"]["data"].get("sample_rate"))
        enc = encode_pod5(runner, inp, run.path / "reads.tokens", prior)
        dec = decode_tokens(run.path / "reads.tokens", model, meta, run.path / "reconstructed.pod5",
                            batch=plan.batch_size, precision=plan.precision, given=opts.model)
        run.runtime.update(encode=enc, decode=dec)
    log(f"{enc['reads']} reads at {enc['file_bits_per_sample']:.3f} bits/sample -> {opts.output}")
    return {"encode": enc, "decode": dec}
