"""``snp compare``: every architecture trained with one budget beside the baselines, on the data's
split or, with ``--cv K``, on K stratified folds (mean and spread); one table (rich on stderr,
``table.json``, ``--json``), ``report.html``, and plain sentences on stdout saying whether a
baseline beats a model.

On one split the spread is the binomial standard error of each accuracy (``accuracy_se``).

Folds (``--cv K``): stratified K-fold over every sample (by the label, numeric labels by
quintile); fold i is the test set, fold i + 1 the validation set (early stopping and the linear
head's choice) and the other K - 2 folds the training set, so K = 5 gives the 60/20/20 of
``preprocess``. The baselines are fitted on the same training rows as the models; the PCA ones
are also fitted on training + validation rows (``(train+val)`` rows: they have nothing to tune
on validation, so a user would give them those samples too).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.log import log
from genotool.options import RunOptions

# The default budget (issue 15: compare on the default simulation in <= 20 min on 2 CPU cores):
# minutes of training per architecture, 17 in all, leaving ~3 for loading, evaluation and the
# PCA baselines. Measured at 19,674 SNPs on the shared machine (1 thread): the CNN ~88 s per
# epoch, the CNN-Transformer ~62 s, the GNN ~15 s (its 12 epochs took 3 min), so the CNN gets
# the most. An explicit --max-minutes applies to every architecture instead. With --cv K each
# fold gets 1/K of its architecture's budget.
DEFAULT_MINUTES = {"cnn": 7.0, "cnn-transformer": 6.0, "gnn": 4.0}
DEFAULT_EPOCHS = 12     # a cosine schedule that ends inside the budget on an idle 2-core machine
HEADLINE = ("accuracy", "macro_f1", "roc_auc", "pr_auc", "r2", "pearson_r")


@dataclass
class CompareOptions(RunOptions):
    data: Path
    output: Path
    architectures: list = field(default_factory=lambda: ["cnn", "cnn-transformer", "gnn"])
    task: str = "population"
    label: str | None = None
    preset: str = "small-cpu"
    overrides: dict = field(default_factory=dict)
    epochs: int | None = DEFAULT_EPOCHS
    max_minutes: float | None = None   # None: DEFAULT_MINUTES per architecture
    cv: int | None = None              # K stratified folds instead of the data's split
    json: Path | None = None
    seed: int = 0
    force: bool = False
    progress: bool = True
    echo: bool = True                  # print the table and verdicts (the sweep keeps them quiet)

    def check(self) -> None:
        if self.cv is not None and self.cv < 3:
            raise UserError(f"--cv must be >= 3 (a test, a validation and a training fold), not {self.cv}")


def folds(data: dict, column: str, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """K stratified folds: [(train rows, validation rows, test rows)], fold i + 1 validating fold i."""
    from sklearn.model_selection import StratifiedKFold

    from genotool_snp.samples import strata

    labels = strata(list(data["table"][column]))
    counts = {v: labels.count(v) for v in set(labels)}
    small = {v: n for v, n in counts.items() if n < k}
    if small:
        raise UserError(f"--cv {k}: label(s) of '{column}' with fewer than {k} samples: "
                        + ", ".join(f"{v} ({n})" for v, n in sorted(small.items())))
    parts = [te for _, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels)]
    out = []
    for i in range(k):
        va = parts[(i + 1) % k]
        tr = np.sort(np.concatenate([parts[j] for j in range(k) if j not in (i, (i + 1) % k)]))
        out.append((tr, np.sort(va), np.sort(parts[i])))
    return out


def _primary(spec: dict) -> str:
    if spec["kind"] != "classes":
        return "r2"
    return "roc_auc" if spec.get("binary") else "accuracy"


def run_compare(opts: CompareOptions) -> dict:
    from genotool.outputs import run_output, write_json
    from genotool_snp.evaluate import blas_threads
    from genotool_snp.preprocess import load_data
    from genotool_snp.labels import label_spec, split_rows, targets

    opts.check()
    data = load_data(opts.data)
    spec = label_spec(data, opts.task, opts.label, "auto")
    y = targets(data, spec)
    splits = (folds(data, spec["column"], opts.cv, opts.seed) if opts.cv
              else [tuple(split_rows(data, k) for k in ("train", "val", "test"))])
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}
    t0 = time.perf_counter()
    load0 = [round(v, 2) for v in os.getloadavg()]
    with run_output(opts.output, command="snp compare", parameters=params, inputs=[str(opts.data)],
                    force=opts.force) as run, blas_threads(opts.threads):
        per_fold: dict[str, list[dict]] = {}      # method -> per-fold metrics
        trained: dict[str, list[dict]] = {}       # architecture -> per-fold train summaries
        for i, rows in enumerate(splits):
            fold = f"fold {i + 1}/{len(splits)}" if opts.cv else "split"
            for name, m in _baselines(data, spec, y, rows, opts.seed).items():
                per_fold.setdefault(name, []).append(m)
            for arch in opts.architectures:
                m, summary = _one(opts, data, spec, y, rows, arch, run.path / arch / (f"fold{i + 1}" if opts.cv else ""),
                                  f"[{arch}{' ' + fold if opts.cv else ''}] ")
                run.plan = summary["plan"]
                per_fold.setdefault(f"genotool-{arch}", []).append(m)
                trained.setdefault(arch, []).append(summary)
        table = _table(opts, spec, per_fold, trained, splits)
        table["wall_seconds"] = round(time.perf_counter() - t0, 1)
        table["load_average"] = {"start": load0, "end": [round(v, 2) for v in os.getloadavg()]}
        write_json(run.path / "table.json", table)
        _report(table, run.path)
        run.runtime.update(wall_seconds_compare=table["wall_seconds"])
    if opts.json:
        write_json(opts.json, table)
    if opts.echo:
        print_table(table)
    return table


def _baselines(data, spec, y, rows, seed: int) -> dict:
    from genotool_snp.validate import baselines

    tr, va, te = rows
    base, _ = baselines(data, spec, y, tr, va, te, seed)
    more, _ = baselines(data, spec, y, np.sort(np.concatenate([tr, va])), va, te, seed, linear=False)
    return {**base, **{f"{k} (train+val)": v for k, v in more.items()}}


def _one(opts: CompareOptions, data, spec, y, rows, arch: str, out: Path, label: str):
    """Train ``arch`` on rows[0] (early stopping on rows[1]) and score it on rows[2]."""
    from genotool.probe import Plan
    from genotool_snp import train as train_mod      # looked up at call time (tests spy on it)
    from genotool_snp.predict import load
    from genotool_snp.validate import model_metrics

    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    cap = opts.max_minutes or DEFAULT_MINUTES.get(arch, 5.0)
    tops = train_mod.TrainOptions(data=opts.data, output=out, architecture=arch, task=opts.task, label=opts.label,
                                  preset=opts.preset, overrides=opts.overrides, epochs=opts.epochs,
                                  max_minutes=cap / (opts.cv or 1), batch_size=opts.batch_size, device=opts.device,
                                  precision=opts.precision, threads=opts.threads, seed=opts.seed,
                                  progress=opts.progress, progress_label=label)
    summary = train_mod.train_model(tops, data, out, rows=rows[:2])
    plan = Plan(**summary["plan"])
    model, _ = load(out, "cuda" if plan.device.startswith("cuda") else plan.device)
    m, _ = model_metrics(model, data, spec, y, rows[2], plan, plan.batch_size or 64)
    m["train_seconds"] = round(time.perf_counter() - t, 1)
    log(f"compare: {label.strip()} {_primary(spec)} {m[_primary(spec)]:.3f} in {m['train_seconds']} s")
    return m, summary


def _table(opts, spec, per_fold: dict, trained: dict, splits) -> dict:
    """Rows (mean over folds, with the primary metric's spread), the verdicts, per-fold numbers."""
    from genotool_snp.verdict import standard_error

    key = _primary(spec)
    rows, stats = [], {}
    n_test = len(splits[0][2])
    for name, ms in per_fold.items():
        vals = np.asarray([m[key] for m in ms], float)
        # the spread: standard deviation over the folds, or on one split accuracy's standard error
        sd = (float(vals.std(ddof=1)) if len(vals) > 1 else
              standard_error(float(vals[0]), n_test) if key == "accuracy" else None)
        stats[name] = (float(vals.mean()), sd)
        row = {"method": name}
        for k in HEADLINE:
            if k in ms[0]:
                row[k] = float(np.mean([m[k] for m in ms]))
        if sd is not None:
            row[f"{key}_{'sd' if opts.cv else 'se'}"] = sd
        for c in ms[0].get("per_class", {}):
            row[f"acc_{c}"] = float(np.nanmean([m["per_class"][c]["accuracy"] for m in ms]))
        arch = name.removeprefix("genotool-")
        if arch in trained:
            row["epochs"] = round(float(np.mean([s["epochs_run"] for s in trained[arch]])), 1)
            row["train_seconds"] = round(float(sum(m["train_seconds"] for m in ms)), 1)
        rows.append(row)
    models = [f"genotool-{a}" for a in opts.architectures]
    baselines = [n for n in per_fold if n not in models]
    for row in rows:            # the table says when a baseline is within a model's spread
        if row["method"] in baselines and stats[row["method"]][1] is not None:
            mean = stats[row["method"]][0]
            row["within_spread_of"] = ",".join(m.removeprefix("genotool-") for m in models
                                               if abs(mean - stats[m][0]) <= (stats[m][1] or 0)) or "-"
    verdicts = _verdicts(opts, spec, stats, models, baselines, trained, len(splits))
    order = models + baselines
    rows.sort(key=lambda r: order.index(r["method"]))
    return {"rows": rows, "verdicts": verdicts, "metric": key, "cv": opts.cv,
            "folds": {n: ms for n, ms in per_fold.items()},
            "fold_sizes": [[len(r) for r in s] for s in splits],
            "linear_head": {a: [s["linear_head"] for s in ss] for a, ss in trained.items()},
            "data": str(opts.data), "task": opts.task, "preset": opts.preset}


def _verdicts(opts, spec, stats, models, baselines, trained, k) -> list[dict]:
    """One verdict per architecture: on the folds' test accuracies (--cv), or on the validation
    split (the data's split, as ``train`` says it)."""
    from genotool_snp.verdict import against_baselines

    if spec["kind"] != "classes" or spec.get("binary"):
        return []
    out = []
    for m in models:
        if opts.cv:
            # the (train+val) rows are the stricter reference (more training samples)
            base = {b: stats[b][0] for b in baselines}
            v = against_baselines(m, stats[m][0], base, f"over {k} folds (test accuracy, mean)", spread=stats[m][1])
        else:
            v = trained[m.removeprefix("genotool-")][0]["validation"]["verdict"]
        out.append({"method": m, **v})
    return out


def _report(table: dict, out: Path) -> None:
    from genotool.report import Report

    key = table["metric"]
    rep = Report("snp compare" + (f" ({table['cv']}-fold cross-validation)" if table["cv"] else " (test split)"))
    for v in table["verdicts"]:
        rep.add_text(v["sentence"])
    rep.add_table("Methods (mean over folds)" if table["cv"] else "Methods (test split)", table["rows"])
    fig = rep.figure(7, 0.45 * len(table["rows"]) + 1.2)
    ax = fig.subplots()
    names = [r["method"] for r in table["rows"]][::-1]
    means = [r.get(key, np.nan) for r in table["rows"]][::-1]
    sds = [r.get(f"{key}_sd") or 0 for r in table["rows"]][::-1]
    ax.barh(names, means, xerr=sds, color=["#3465a4" if n.startswith("genotool-") else "#888a85" for n in names])
    ax.set_xlabel(key + (" (mean +- sd over folds)" if table["cv"] else " (test)"))
    ax.set_xlim(max(0.0, min(means) - 0.1), 1.0 if key != "r2" else max(means) + 0.05)
    rep.add_figure(f"{key} by method", fig, png_path=out / "compare.png")
    rep.write(out / "report.html")


def print_table(table: dict) -> None:
    """The table on stderr (rich), the verdicts and the rows (one JSON line) on stdout."""
    from rich.console import Console
    from rich.table import Table

    rows = table["rows"]
    cols = list(dict.fromkeys(k for r in rows for k in r))
    t = Table(title="snp compare " + (f"({table['cv']}-fold CV: mean over folds)" if table["cv"] else "(test split)"))
    for c in cols:
        t.add_column(c)
    for r in rows:
        t.add_row(*[f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols])
    Console(stderr=True, width=220).print(t)
    for v in table["verdicts"]:
        print(v["sentence"])
    print(json.dumps(rows, default=float))
