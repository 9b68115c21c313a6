"""Labels and splits of a preprocess folder: which column a task reads, its targets, the split's rows.

Shared by train, validate, compare, importance and causal (kept out of ``train`` so that modules
``train`` imports can read labels without an import circle).
"""

from __future__ import annotations

import numpy as np

from genotool.errors import UserError

PLUGIN = "snp"
TASKS = ("population", "phenotype")


def label_spec(data: dict, task: str, label: str | None, phenotype_type: str) -> dict:
    """How labels are read: {"kind": "classes", "classes": [...]} or {"kind": "quantitative", ...}."""
    from genotool_snp.samples import numeric

    if task not in TASKS:
        raise UserError(f"--task must be one of {', '.join(TASKS)}, not '{task}'")
    column = label or task
    table = data["table"]
    if column not in table:
        raise UserError(f"--label: column '{column}' is not in {data['path'] / 'samples.tsv'}")
    values = table[column]
    if task == "population":
        return {"kind": "classes", "column": column, "classes": sorted(set(values))}
    if phenotype_type not in ("auto", "binary", "quantitative"):
        raise UserError(f"--phenotype-type must be auto, binary or quantitative, not '{phenotype_type}'")
    x = numeric(values, column, data["path"] / "samples.tsv")
    binary = set(np.unique(x)) <= {0.0, 1.0}
    if phenotype_type == "binary" and not binary:
        raise UserError(f"{data['path'] / 'samples.tsv'}: column '{column}' is not 0/1, so not a binary phenotype")
    if binary and phenotype_type != "quantitative":
        return {"kind": "classes", "column": column, "classes": ["0", "1"], "binary": True}
    train = np.asarray([t == "train" for t in table["split"]])
    return {"kind": "quantitative", "column": column, "mean": float(x[train].mean()),
            "std": float(x[train].std() or 1.0)}


def targets(data: dict, spec: dict) -> np.ndarray:
    vals = data["table"][spec["column"]]
    if spec["kind"] == "classes":
        if spec.get("binary"):
            vals = [str(int(float(v))) for v in vals]
        index = {c: i for i, c in enumerate(spec["classes"])}
        return np.asarray([index.get(v, -1) for v in vals], np.int64)
    return (np.asarray([float(v) for v in vals]) - spec["mean"]) / spec["std"]


def split_rows(data: dict, name: str) -> np.ndarray:
    return np.flatnonzero(np.asarray([s == name for s in data["table"]["split"]]))
