"""``snp compare``: every architecture trained on one split with one budget, then one table with
the baselines (rich on stderr, ``table.json`` in the output folder and ``--json``)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from genotool.log import log
from genotool.options import RunOptions

# The default budget (issue 15: compare on the default simulation in <= 20 min on 2 CPU cores):
# minutes of training per architecture, 17 in all, leaving ~3 for loading, evaluation and the
# PCA baselines. Measured at 19,674 SNPs on the shared machine (1 thread): the CNN ~88 s per
# epoch, the CNN-Transformer ~62 s, the GNN ~15 s (its 12 epochs took 3 min), so the CNN gets
# the most. An explicit --max-minutes applies to every architecture instead.
DEFAULT_MINUTES = {"cnn": 7.0, "cnn-transformer": 6.0, "gnn": 4.0}
DEFAULT_EPOCHS = 12     # a cosine schedule that ends inside the budget on an idle 2-core machine


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
    json: Path | None = None
    seed: int = 0
    force: bool = False


def run_compare(opts: CompareOptions) -> dict:
    from genotool.outputs import run_output, write_json
    from genotool_snp.predict import load
    from genotool_snp.preprocess import load_data
    from genotool_snp.train import TrainOptions, train_model
    from genotool_snp.validate import evaluate, table_rows

    data = load_data(opts.data)
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}
    t0 = time.perf_counter()
    with run_output(opts.output, command="snp compare", parameters=params, inputs=[str(opts.data)],
                    force=opts.force) as run:
        rows, results, baselines = [], {}, None
        for arch in opts.architectures:
            sub = run.path / arch
            sub.mkdir(exist_ok=True)
            t = time.perf_counter()
            tops = TrainOptions(data=opts.data, output=sub, architecture=arch, task=opts.task, label=opts.label,
                                preset=opts.preset, overrides=opts.overrides, epochs=opts.epochs,
                                max_minutes=opts.max_minutes or DEFAULT_MINUTES.get(arch, 5.0),
                                batch_size=opts.batch_size, device=opts.device, precision=opts.precision,
                                threads=opts.threads, seed=opts.seed, progress_label=f"[{arch}] ")
            summary = train_model(tops, data, sub)
            run.plan = summary["plan"]
            model, payload = load(sub, "cuda" if summary["plan"]["device"].startswith("cuda") else summary["plan"]["device"])
            from genotool.probe import Plan

            plan = Plan(**summary["plan"])
            res, _ = evaluate(model, payload, data, plan, plan.batch_size or 64, opts.seed)
            seconds = round(time.perf_counter() - t, 1)
            name = f"genotool-{arch}"
            row = next(r for r in table_rows(res) if r["method"] == name)
            row.update(epochs=summary["epochs_run"], train_seconds=seconds)
            rows.append(row)
            results[arch] = {"metrics": res["methods"][name], "train": summary}
            baselines = {k: v for k, v in res["methods"].items() if k != name}
            log(f"compare: {arch} done in {seconds} s")
        if baselines:
            base_rows = [r for r in table_rows({"methods": baselines})]
            rows += base_rows
        table = {"rows": rows, "methods": {**{f"genotool-{a}": r["metrics"] for a, r in results.items()},
                                           **(baselines or {})},
                 "wall_seconds": round(time.perf_counter() - t0, 1), "data": str(opts.data),
                 "task": opts.task, "preset": opts.preset}
        write_json(run.path / "table.json", table)
        run.runtime.update(wall_seconds_compare=table["wall_seconds"])
    if opts.json:
        write_json(opts.json, table)
    print_table(rows)
    return table


def print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    cols = list(dict.fromkeys(k for r in rows for k in r))
    t = Table(title="snp compare (test split)")
    for c in cols:
        t.add_column(c)
    for r in rows:
        t.add_row(*[f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols])
    Console(stderr=True, width=200).print(t)
    print(json.dumps(rows, default=float))
