"""``hello predict``: motif probabilities for every sequence of a ``hello preprocess`` folder or a TSV."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError, require_dir, require_file
from genotool.log import log
from genotool.options import RunOptions

PREDICT_BATCH_SIZE = 256   # inference default when neither --batch-size nor the probe chooses


@dataclass
class PredictOptions(RunOptions):
    """One ``hello predict`` command line."""

    model: Path
    output: Path
    data: Path | None = None           # a `hello preprocess` folder ...
    input: Path | None = None          # ... or a TSV with a 'sequence' column
    split: str = "all"
    force: bool = False


def predict_probs(model, codes: np.ndarray, plan, batch_size: int) -> np.ndarray:
    """Motif probabilities (N,) for encoded sequences (N, L)."""
    import torch
    from torch.utils.data import DataLoader

    from genotool.engine import predict_loop, resolve_device
    from genotool_hello.data import make_dataset

    model.to(resolve_device(plan))
    ds = make_dataset(codes, np.zeros(len(codes), dtype=np.float32))
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False)
    outs = predict_loop(model, loader, lambda m, b: torch.sigmoid(m(b[0]).float()), plan)
    return torch.cat(outs).numpy() if outs else np.zeros(0, dtype=np.float32)


def run_predict(opts: PredictOptions) -> None:
    """OUTPUT/predictions.tsv (id, probability[, label])."""
    from genotool.outputs import run_output
    from genotool_hello.data import encode, load_npz, read_tsv, subset
    from genotool_hello.model import load_model

    require_dir(opts.model, "--model")
    if (opts.data is None) == (opts.input is None):
        raise UserError("give exactly one of --data or --input")
    net, meta = load_model(opts.model)
    if opts.data is not None:
        arrays = subset(load_npz(require_dir(opts.data, "--data")), opts.split)
        ids, codes, labels = arrays["ids"], arrays["codes"], arrays["labels"]
    else:
        ids, seqs, labels = read_tsv(require_file(opts.input, "--input"))
        codes = encode(seqs, meta["length"], source=str(opts.input))
    plan = opts.plan(default_batch_size=PREDICT_BATCH_SIZE)
    inputs = [opts.model, opts.data if opts.data is not None else opts.input]
    with run_output(opts.output, command="hello predict", parameters=dict(split=opts.split), inputs=inputs,
                    force=opts.force, resume=False) as run:
        run.plan = plan
        probs = predict_probs(net, codes, plan, plan.batch_size)
        with open(run.path / "predictions.tsv", "w") as fh:
            fh.write("id\tprobability\tlabel\n")
            for rid, p, y in zip(ids, probs, labels):
                fh.write(f"{rid}\t{p:.6f}\t{'' if np.isnan(y) else int(y)}\n")
        run.runtime.update(n_predicted=int(len(probs)))
    log(f"{len(probs)} predictions -> {opts.output}/predictions.tsv")
