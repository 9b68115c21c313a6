"""``hello validate``: score a split (AUC, accuracy, precision, recall) with a ROC curve in report.html."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError, require_dir
from genotool.log import log
from genotool.options import RunOptions
from genotool_hello.predict import PREDICT_BATCH_SIZE, predict_probs


@dataclass
class ValidateOptions(RunOptions):
    """One ``hello validate`` command line."""

    model: Path
    data: Path
    output: Path
    split: str = "test"
    force: bool = False


def run_validate(opts: ValidateOptions) -> None:
    """OUTPUT/metrics.json + report.html (ROC)."""
    from genotool.outputs import run_output, write_json
    from genotool_hello.data import load_npz, subset
    from genotool_hello.metrics import binary_metrics
    from genotool_hello.model import load_model

    net, _ = load_model(require_dir(opts.model, "--model"))
    arrays = subset(load_npz(require_dir(opts.data, "--data")), opts.split)
    if len(arrays["labels"]) == 0 or np.isnan(arrays["labels"]).any():
        raise UserError(f"--data: split '{opts.split}' is empty or has no labels")
    plan = opts.plan(default_batch_size=PREDICT_BATCH_SIZE)
    with run_output(opts.output, command="hello validate", parameters=dict(split=opts.split),
                    inputs=[opts.model, opts.data], force=opts.force, resume=False) as run:
        run.plan = plan
        probs = predict_probs(net, arrays["codes"], plan, plan.batch_size)
        metrics = binary_metrics(probs, arrays["labels"])
        write_json(run.path / "metrics.json", metrics)
        _report(run.path, probs, arrays["labels"], metrics)
        run.runtime.update(metrics)
    log(f"AUC {metrics['auc']:.4f}, accuracy {metrics['accuracy']:.4f} -> {opts.output}")


def _report(out: Path, probs: np.ndarray, labels: np.ndarray, metrics: dict) -> None:
    """report.html: the metrics table and the ROC curve (PNG embedded, also written as roc.png)."""
    from genotool.report import Report
    from genotool_hello.metrics import roc_curve

    rep = Report("hello: motif detection")
    rep.add_table("Metrics", [{"metric": k, "value": v} for k, v in metrics.items()])
    fig = rep.figure(4.5, 4.0)
    ax = fig.subplots()
    fpr, tpr = roc_curve(probs, labels)
    ax.plot(fpr, tpr, label=f"AUC {metrics['auc']:.3f}")
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend()
    rep.add_figure("ROC curve", fig, png_path=out / "roc.png")
    rep.write(out / "report.html")
