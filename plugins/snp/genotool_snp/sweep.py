"""``snp sweep``: the scenario sweep of issue 26 - simulate, preprocess and ``compare --cv`` over
a table of cohorts (``presets/scenarios.json``: split times 100-2,000 generations, 2-6
populations, 30-150 diploids each, with and without migration, equal and unequal cohorts, and
stdpopsim's Out-of-Africa), then the floors: the first architecture's mean accuracy against
PCA(10) + nearest centroid's over the scenarios, and the scenarios where it falls more than one
spread (its standard deviation over the folds) below.

Output folder: ``<scenario>/sim``, ``<scenario>/data``, ``<scenario>/compare`` (each a complete
verb output), ``sweep.json``, ``report.html``. A killed sweep re-run with the same ``-o`` keeps
the scenarios (and steps) that finished.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.log import log
from genotool.options import RunOptions

REFERENCE = "pca10+nearest-centroid"
HARD_SPLIT = 500          # "hard" scenarios: populations split fewer generations ago than this


@dataclass
class SweepOptions(RunOptions):
    output: Path
    scenarios: Path | None = None       # None: the built-in table
    only: list = field(default_factory=list)
    architectures: list = field(default_factory=lambda: ["cnn"])
    cv: int = 5
    preset: str = "small-cpu"
    overrides: dict = field(default_factory=dict)
    epochs: int | None = None           # None: compare's default
    max_minutes: float | None = None
    length: int | None = None           # override every scenario's length (quick runs, tests)
    seed: int = 0
    force: bool = False


def load_scenarios(path: Path | None, only: list, length: int | None) -> list[dict]:
    """The scenario table: [{"name", **SimulateConfig fields}] (defaults applied, ``only`` kept)."""
    try:
        text = (Path(path).read_text() if path is not None
                else resources.files("genotool_snp").joinpath("presets/scenarios.json").read_text())
        table = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"--scenarios: cannot read {path}: {exc}") from None
    if not isinstance(table, dict) or not isinstance(table.get("scenarios"), list):
        raise UserError(f"--scenarios: {path} needs a 'scenarios' list (see presets/scenarios.json)")
    out = []
    for s in table["scenarios"]:
        if "name" not in s:
            raise UserError(f"--scenarios: {path}: a scenario without a 'name': {s}")
        out.append({**table.get("defaults", {}), **s, **({"length": length} if length else {})})
    names = [s["name"] for s in out]
    unknown = [n for n in only if n not in names]
    if unknown:
        raise UserError(f"--only: unknown scenario(s) {', '.join(unknown)} (known: {', '.join(names)})")
    return [s for s in out if not only or s["name"] in only]


def _simulate_config(s: dict, out: Path):
    from genotool_snp.simulate import SimulateConfig

    fields = {k: v for k, v in s.items() if k != "name"}
    try:
        cfg = SimulateConfig(out, **fields)
    except TypeError as exc:
        raise UserError(f"--scenarios: scenario '{s['name']}': {exc}") from None
    cfg.check()
    return cfg


def run_sweep(opts: SweepOptions) -> dict:
    from genotool.outputs import run_output, write_json

    if opts.cv < 3:
        raise UserError(f"--cv must be >= 3, not {opts.cv}")
    scenarios = load_scenarios(opts.scenarios, opts.only, opts.length)
    for s in scenarios:                       # every scenario checked before the first simulation
        _simulate_config(s, Path("."))
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}
    with run_output(opts.output, command="snp sweep", parameters=params, force=opts.force) as run:
        results = []
        for i, s in enumerate(scenarios):
            log(f"sweep: scenario {i + 1}/{len(scenarios)} {s['name']}")
            results.append(_scenario(opts, s, run.path / s["name"]))
            write_json(run.path / "sweep.json", summarise(opts, results))   # progress so far
        summary = summarise(opts, results)
        write_json(run.path / "sweep.json", summary)
        _report(summary, run.path)
    print_summary(summary)
    return summary


def _scenario(opts: SweepOptions, s: dict, folder: Path) -> dict:
    """simulate -> preprocess -> compare --cv for one scenario (steps already done are kept)."""
    from genotool.outputs import run_output
    from genotool_snp.compare import CompareOptions, run_compare
    from genotool_snp.preprocess import PreprocessConfig, run_preprocess
    from genotool_snp.simulate import simulate

    sim, data, cmp = folder / "sim", folder / "data", folder / "compare"
    timing = {"load_average_start": [round(v, 2) for v in os.getloadavg()]}
    t0 = time.perf_counter()
    if not sim.exists():
        cfg = _simulate_config(s, sim)
        with run_output(sim, command="snp simulate", parameters={k: str(v) for k, v in asdict(cfg).items()}) as r:
            r.runtime.update(simulate(cfg, r.path))
    t1 = time.perf_counter()
    if not data.exists():
        pcfg = PreprocessConfig(sim / "genotypes.vcf.gz", sim / "samples.tsv", data, threads=opts.threads,
                                seed=opts.seed)
        with run_output(data, command="snp preprocess", parameters={k: str(v) for k, v in asdict(pcfg).items()},
                        inputs=[str(sim)]) as r:
            r.runtime.update(run_preprocess(pcfg, r))
    t2 = time.perf_counter()
    if (cmp / "table.json").is_file():
        table = json.loads((cmp / "table.json").read_text())
    else:
        table = run_compare(CompareOptions(
            data=data, output=cmp, architectures=opts.architectures, preset=opts.preset, overrides=opts.overrides,
            max_minutes=opts.max_minutes, cv=opts.cv, seed=opts.seed, batch_size=opts.batch_size,
            device=opts.device, precision=opts.precision, threads=opts.threads, echo=False, force=True,
            **({"epochs": opts.epochs} if opts.epochs else {})))
    timing.update(simulate_seconds=round(t1 - t0, 1), preprocess_seconds=round(t2 - t1, 1),
                  compare_seconds=round(time.perf_counter() - t2, 1),
                  load_average_end=[round(v, 2) for v in os.getloadavg()])
    info = json.loads((data / "data.json").read_text())
    methods = {r["method"]: {"mean": r["accuracy"], "sd": r.get("accuracy_sd")} for r in table["rows"]}
    return {"name": s["name"], "scenario": s, "samples": info["samples"], "snps": info["snps"],
            "methods": methods, "timing": timing, "compare_wall_seconds": table.get("wall_seconds")}


def summarise(opts: SweepOptions, results: list[dict]) -> dict:
    """Per scenario the model's gap to PCA(10) + nearest centroid; over the sweep the floors."""
    model = f"genotool-{opts.architectures[0]}"
    rows = []
    for r in results:
        m, ref = r["methods"][model], r["methods"][REFERENCE]
        strict = r["methods"].get(f"{REFERENCE} (train+val)", ref)
        sd = m["sd"] or 0.0
        split = r["scenario"].get("split_time")
        rows.append({"scenario": r["name"], "samples": r["samples"], "snps": r["snps"],
                     "model": m["mean"], "model_sd": sd, "pca_nc": ref["mean"], "pca_nc_train_val": strict["mean"],
                     "logistic_all_snps": r["methods"].get("logistic-all-snps", {}).get("mean"),
                     "gap": m["mean"] - ref["mean"], "gap_train_val": m["mean"] - strict["mean"],
                     "more_than_one_spread_below": bool(m["mean"] < ref["mean"] - sd),
                     "more_than_one_spread_below_train_val": bool(m["mean"] < strict["mean"] - sd),
                     "hard": split is not None and split < HARD_SPLIT,
                     "compare_seconds": r["timing"]["compare_seconds"], "load_average": r["timing"]["load_average_end"]})
    out = {"model": model, "reference": REFERENCE, "cv": opts.cv, "scenarios": rows, "results": results,
           "overrides": opts.overrides, "preset": opts.preset}
    if rows:
        mean = float(np.mean([r["model"] for r in rows]))
        ref = float(np.mean([r["pca_nc"] for r in rows]))
        strict = float(np.mean([r["pca_nc_train_val"] for r in rows]))
        below = [r["scenario"] for r in rows if r["more_than_one_spread_below"]]
        below_tv = [r["scenario"] for r in rows if r["more_than_one_spread_below_train_val"]]
        hard = [r for r in rows if r["hard"]]
        out["floors"] = {
            "model_mean": mean, "pca_nc_mean": ref, "pca_nc_train_val_mean": strict,
            "mean_floor_met": bool(mean >= ref - 0.01), "mean_floor_met_train_val": bool(mean >= strict - 0.01),
            "scenarios_more_than_one_spread_below": below, "scenarios_more_than_one_spread_below_train_val": below_tv,
            "spread_floor_met": not below, "hard_scenarios": len(hard),
            "hard_scenarios_ahead": [r["scenario"] for r in hard if r["gap"] > 0],
        }
    return out


def _report(summary: dict, out: Path) -> None:
    from genotool.report import Report

    rep = Report(f"snp sweep: {summary['model']} vs PCA(10) + nearest centroid ({summary['cv']}-fold CV)")
    for line in summary_lines(summary):
        rep.add_text(line)
    rep.add_table("Scenarios (accuracy: mean over folds)", [{k: v for k, v in r.items() if k != "load_average"}
                                                           for r in summary["scenarios"]])
    rows = summary["scenarios"]
    if rows:
        fig = rep.figure(9, 0.35 * len(rows) + 1.5)
        ax = fig.subplots()
        yy = np.arange(len(rows))
        ax.errorbar([r["model"] for r in rows], yy + 0.15, xerr=[r["model_sd"] for r in rows], fmt="o",
                    color="#3465a4", label=summary["model"] + " (mean +- sd)")
        ax.plot([r["pca_nc"] for r in rows], yy - 0.15, "s", color="#888a85", label="PCA(10) + nearest centroid")
        ax.set_yticks(yy, [r["scenario"] for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel("accuracy (5-fold CV)")
        ax.legend(fontsize=8)
        rep.add_figure("Accuracy per scenario", fig, png_path=out / "sweep.png")
    rep.write(out / "report.html")


def summary_lines(summary: dict) -> list[str]:
    f = summary.get("floors")
    if not f:
        return ["no scenario finished"]
    n = len(summary["scenarios"])
    lines = [f"{summary['model']}: mean accuracy {f['model_mean']:.3f} over {n} scenarios vs PCA(10) + nearest "
             f"centroid {f['pca_nc_mean']:.3f} (fitted on the training + validation folds: "
             f"{f['pca_nc_train_val_mean']:.3f}); floor (>= PCA - 0.01): "
             + ("met" if f["mean_floor_met"] else "NOT met") + "."]
    below = f["scenarios_more_than_one_spread_below"]
    lines.append("No scenario more than one spread below PCA(10) + nearest centroid." if not below else
                 f"More than one spread BELOW PCA(10) + nearest centroid on: {', '.join(below)}.")
    if f["hard_scenarios"]:
        lines.append(f"Ahead of PCA on {len(f['hard_scenarios_ahead'])} of {f['hard_scenarios']} scenarios split "
                     f"< {HARD_SPLIT} generations ago.")
    return lines


def print_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"snp sweep: {summary['model']} ({summary['cv']}-fold CV)")
    cols = ["scenario", "samples", "snps", "model", "model_sd", "pca_nc", "pca_nc_train_val", "logistic_all_snps",
            "gap", "compare_seconds"]
    for c in cols:
        t.add_column(c)
    for r in summary["scenarios"]:
        t.add_row(*[f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols])
    Console(stderr=True, width=220).print(t)
    for line in summary_lines(summary):
        print(line)
