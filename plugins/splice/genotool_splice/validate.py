"""``splice validate``: base model alone vs score-only vs meta-layer (and any ``--also-model``) on
the held-out regions of a ``preprocess`` output.

Primary table: genome-wide (:mod:`genotool_splice.genomewide`): every position of the annotated
transcript bodies of the split's regions (FASTA and GTF as ``preprocess`` recorded them, or
``--fasta``/``--annotation``), SpliceAI top-k and PR-AUC per site type. Secondary table: the
split's candidate rows (the source's protocol): PR-AUC and AP per class, top-k, ECE; a
genome-wide model is read at the rows' positions from the same scoring, a candidate-row model
runs on the rows themselves. ``validation.json`` says whether the two tables rank the models the
same. ``report.html`` holds both tables, PR curves and a reliability diagram.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.options import RunOptions


@dataclass
class ValidateConfig(RunOptions):
    data: Path
    model: Path
    output: Path
    score_only_model: Path | None = None
    also_models: list = field(default_factory=list)
    split: str = "test"
    fasta: Path | None = None
    gtf: Path | None = None
    base_weights: Path | None = None
    force: bool = False


def model_probs(model_dir: Path, rows, plan, option: str = "--model"):
    """(probs (n, 3), payload) of a candidate-row model over ``rows`` (the windows and features)."""
    import torch

    from genotool.engine import autocast_context
    from genotool_splice.data import MetaDataset
    from genotool_splice.meta_io import load_meta
    from genotool_splice.train import predict_probs

    model, payload = load_meta(model_dir, device=plan.device, option=option)
    if rows.window.shape[1] != payload["config"]["window"] and payload["config"]["model"]["architecture"] == "meta":
        raise UserError(f"{option}: {model_dir} was trained on {payload['config']['window']} nt windows, the data has "
                        f"{rows.window.shape[1]}")
    ds = MetaDataset(rows, payload["config"]["feature_stats"])
    loader = torch.utils.data.DataLoader(ds, batch_size=plan.batch_size or 512, shuffle=False)
    with torch.inference_mode(), autocast_context(plan):
        return predict_probs(model, loader, plan.device), payload


def _figures(rep, out: Path, curves: dict, labels: np.ndarray) -> None:
    from sklearn.metrics import precision_recall_curve

    from genotool_splice.metrics import reliability

    fig = rep.figure(10, 4)
    axes = fig.subplots(1, 2)
    for c, (ax, name) in enumerate(zip(axes, ("donor", "acceptor"))):
        for model, probs in curves.items():
            p, r, _ = precision_recall_curve(labels == c, probs[:, c])
            ax.plot(r, p, label=model)
        ax.set_title(f"{name} sites")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.legend()
    rep.add_figure("Candidate rows: precision-recall curves", fig, png_path=out / "pr_curves.png")
    fig = rep.figure(5, 4.5)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], "k:", label="perfect")
    for model, probs in curves.items():
        rel = reliability(probs, labels)
        ax.plot([b["confidence"] for b in rel], [b["accuracy"] for b in rel], "o-", label=model)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.legend()
    rep.add_figure("Candidate rows: reliability diagram (10 bins)", fig, png_path=out / "reliability.png")


def split_regions(summary: dict, split: str, ref) -> list[tuple[str, int, int]]:
    """The split's regions as preprocess recorded them -> [(FASTA contig, start0, end)]."""
    from genotool.genome.regions import parse_region

    out = []
    for text in summary["splits"].get(split, []):
        r = parse_region(text, "--data")
        name = ref.name_of(r.contig)
        if name is None:
            raise UserError(f"--fasta: {ref.path} has no contig '{r.contig}' (the data's {split} region {text})")
        out.append((name, r.start, r.stop(ref.lengths[name])))
    return out


def _ranking(genome: list[dict], rows: list[dict]) -> dict:
    """Model order by each table's top-k and PR-AUC (best first), and whether they agree."""
    out = {}
    for metric, gk, rk in (("topk", "topk", "topk_splice"), ("pr_auc", "pr_auc", "pr_auc_splice")):
        g = [r["model"] for r in sorted(genome, key=lambda r: -r[gk])]
        c = [r["model"] for r in sorted(rows, key=lambda r: -r[rk])]
        out[metric] = {"genome_wide": g, "candidate_rows": c, "same": g == c}
    return out


def run_validate(cfg: ValidateConfig) -> dict:
    from genotool.outputs import run_output, write_json
    from genotool.report import Report
    from genotool_splice.base import BaseSpec
    from genotool_splice.data import base_probs, load_split, read_summary
    from genotool_splice.genomewide import Candidate, add_to_report, candidate_from_path, evaluate_regions, table_rows
    from genotool_splice.inputs import Reference, check_annotation
    from genotool_splice.metrics import evaluate
    from genotool_splice.progress import bp_progress

    if cfg.split not in ("test", "val"):
        raise UserError(f"--split must be test or val, not '{cfg.split}'")
    summary = read_summary(cfg.data)
    rows = load_split(cfg.data, cfg.split)
    if len(rows) == 0:
        raise UserError(f"--data: the {cfg.split} split of {cfg.data} is empty (regions "
                        f"{', '.join(summary['splits'].get(cfg.split, [])) or 'none'})")
    if len(set(rows.label.tolist()) & {0, 1}) < 2:
        raise UserError(f"--data: the {cfg.split} split has no donor or no acceptor sites")
    fasta, gtf = cfg.fasta or summary.get("fasta"), cfg.gtf or summary.get("annotation")
    if not fasta or not gtf:
        raise UserError(f"--data: {cfg.data} does not record its FASTA and GTF (preprocessed by an older version); "
                        f"give --fasta and --annotation")
    ref = Reference.open(fasta)
    check_annotation(gtf, ref)
    regions = split_regions(summary, cfg.split, ref)
    base_spec = BaseSpec(**summary["base"])
    if cfg.base_weights:
        base_spec.weights = str(cfg.base_weights)
    cands = [Candidate("base", base_spec.weights, "base", base_spec)]
    named = [(cfg.score_only_model, "score-only", "--score-only-model"), (cfg.model, "meta", "--model")]
    named += [(m, None, "--also-model") for m in cfg.also_models]
    for path, label, option in named:
        if path is None:
            continue
        c = candidate_from_path(str(path), None, 1, None, cfg.base_weights, option)
        if label == "score-only" and c.info.get("architecture") != "score-only":
            raise UserError(f"--score-only-model: {path} is a '{c.info.get('architecture')}' model, not 'score-only'")
        if label:
            c.label = label if label == "score-only" else c.info.get("architecture", "meta")
        cands.append(c)
    labels = [c.label for c in cands]
    if len(set(labels)) != len(labels):
        raise UserError(f"--also-model: two models are labelled '{next(x for x in labels if labels.count(x) > 1)}'; "
                        f"name them LABEL=PATH")
    ref.check(sorted({c for c, _, _ in regions}))
    plan = cfg.plan()
    info = rows.info
    positions = {}
    for (chrom, strand), grp in info.groupby(["chrom", "strand"]):
        positions[(chrom, strand)] = np.unique(grp["position"].to_numpy(np.int64))
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()}
    params["also_models"] = [str(m) for m in cfg.also_models]
    inputs = [cfg.data, fasta, gtf] + [c.path for c in cands[1:]]
    total = 2 * sum(e - s for _, s, e in regions) * len({c.base_key for c in cands})
    with run_output(cfg.output, command="splice validate", parameters=params, inputs=inputs, force=cfg.force) as run:
        run.plan = plan.to_dict()
        with bp_progress("validate", total) as advance:
            ev = evaluate_regions(cands, ref, gtf, regions, plan, on_chunk=advance, positions=positions)
        genome = table_rows(ev)
        curves = {}
        for c in cands:
            if c.kind == "base":
                curves[c.label] = base_probs(rows.features)
            elif c.kind == "rows":
                curves[c.label], _ = model_probs(Path(c.path), rows, plan)
            else:
                out = np.zeros((len(rows), 3), np.float32)
                for key, idx in info.groupby(["chrom", "strand"]).indices.items():
                    where = np.searchsorted(positions[key], info["position"].to_numpy(np.int64)[idx])
                    out[idx] = ev.at[c.label][key][where]
                curves[c.label] = out
        table, full = [], {}
        for name, probs in curves.items():
            m = evaluate(probs, rows.label)
            full[name] = m
            table.append({"model": name, **{k: v for k, v in m.items() if isinstance(v, float)}})
        rep = {"split": cfg.split, "regions": ev.regions, "base": summary["base"],
               "genome_wide": {"positions": ev.positions, "sites": {t: int(ev.truth[t].sum()) for t in ("donor",
                                                                                                         "acceptor")},
                               "table": genome, "metrics": ev.table()},
               "rows": len(rows), "sites": full["base"]["sites"], "table": table, "metrics": full,
               "ranking": _ranking(genome, table)}
        write_json(run.path / "validation.json", rep)
        r = Report(f"splice validation ({cfg.split} regions: {', '.join(ev.regions)})")
        bd = summary["base"]
        r.add_text(f"Base model: {bd['kind']} ({bd['flank']} nt flank, {bd['seeds']} model(s)).")
        add_to_report(r, ev, genome, run.path, "Genome-wide (primary)")
        r.add_text(f"Candidate rows (secondary; the source's protocol): {len(rows)} rows "
                   f"({full['base']['sites']['donor']} donors, {full['base']['sites']['acceptor']} acceptors, the "
                   f"rest base calls and sampled negatives). Same ranking as genome-wide: top-k "
                   f"{rep['ranking']['topk']['same']}, PR-AUC {rep['ranking']['pr_auc']['same']}.")
        keys = ["model", "pr_auc_donor", "pr_auc_acceptor", "ap_donor", "ap_acceptor", "topk_donor", "topk_acceptor",
                "top100_donor", "top500_donor", "ece", "accuracy"]
        r.add_table("Candidate rows (secondary)", [{k: t[k] for k in keys} for t in table])
        _figures(r, run.path, curves, rows.label)
        r.write(run.path / "report.html")
    return rep
