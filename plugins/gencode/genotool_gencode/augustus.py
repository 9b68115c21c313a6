"""`compare --augustus`: AUGUSTUS (a generalised HMM gene finder) trained and run on the same
GenBank records, its predictions scored by our evaluation code as one more row.

AUGUSTUS reads its parameters from a config folder (``AUGUSTUS_CONFIG_PATH``). We never write
into the system one: a temporary folder links the system's read-only parts (model, extrinsic,
...) and holds a new species made from ``species/generic`` with ``stopCodonExcludedFromCDS
true`` (the records' CDS end before the stop codon; with ``false`` AUGUSTUS scores gene level 0
on these records). ``etraining`` fits the species on the training records (train + val: all
the records our models learn from), ``augustus`` predicts the test records; its GFF is turned into
labels (CDS -> exon labels, start/stop codons, introns) and scored like our models'
predictions. AUGUSTUS also prints its own evaluation for annotated GenBank input; we keep it
beside ours as a check of our evaluation code.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from genotool.errors import UserError
from genotool_gencode.labels import transcript_intervals

SPECIES = "genotool_gencode"
SYSTEM_CONFIGS = ("/usr/share/augustus/config", "/usr/local/share/augustus/config", "/opt/augustus/config")


def why_missing(data_dir: Path) -> str | None:
    """None when AUGUSTUS can run on this data, else the reason (shown in its row)."""
    missing = [b for b in ("augustus", "etraining") if shutil.which(b) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (apt-get install augustus)"
    if system_config() is None:
        return "no AUGUSTUS config folder found (set AUGUSTUS_CONFIG_PATH)"
    for name in ("train.gb", "test.gb"):
        if not (data_dir / "genbank" / name).is_file():
            return f"{data_dir} has no genbank/{name}: AUGUSTUS trains on GenBank records (preprocess --genbank " \
                   "... --test-genbank ...)"
    return None


def system_config() -> Path | None:
    for p in (os.environ.get("AUGUSTUS_CONFIG_PATH"), *SYSTEM_CONFIGS):
        if p and (Path(p) / "species" / "generic" / "generic_parameters.cfg").is_file():
            return Path(p)
    return None


def make_species(config_dir: Path, system: Path) -> None:
    """A config folder in ``config_dir``: links to the system's shared parts, and a new species
    copied from ``generic`` (file names and references renamed) with the stop codon outside the CDS."""
    for part in system.iterdir():
        if part.name != "species":
            (config_dir / part.name).symlink_to(part.resolve(), target_is_directory=part.is_dir())
    sp = config_dir / "species" / SPECIES
    sp.mkdir(parents=True)
    for f in (system / "species" / "generic").iterdir():
        text = f.read_text().replace("generic_", f"{SPECIES}_")
        if f.name == "generic_parameters.cfg":
            text, n = re.subn(r"(?m)^stopCodonExcludedFromCDS\s+\S+", "stopCodonExcludedFromCDS true", text)
            if n != 1:
                raise UserError(f"--augustus: {f} has no stopCodonExcludedFromCDS line to set")
        (sp / f.name.replace("generic_", f"{SPECIES}_")).write_text(text)


def run_augustus(train_gb: Path, test_gb: Path, out_dir: Path, log) -> dict:
    """etraining + augustus in a temporary config; writes ``out_dir/augustus.gff`` (its whole
    output); returns timings and AUGUSTUS's own evaluation (parsed from that output)."""
    system = system_config()
    with tempfile.TemporaryDirectory(prefix="genotool-augustus-") as tmp:
        cfg = Path(tmp) / "config"
        cfg.mkdir()
        make_species(cfg, system)
        env = {**os.environ, "AUGUSTUS_CONFIG_PATH": str(cfg)}
        t0 = time.perf_counter()
        _run(["etraining", f"--species={SPECIES}", str(train_gb)], env, out_dir / "etraining.log")
        t1 = time.perf_counter()
        log(f"AUGUSTUS etraining on {train_gb.name}: {t1 - t0:.1f} s; predicting {test_gb.name} ...")
        _run(["augustus", f"--species={SPECIES}", str(test_gb)], env, out_dir / "augustus.gff")
        t2 = time.perf_counter()
    return {"train_seconds": round(t1 - t0, 2), "predict_seconds": round(t2 - t1, 2),
            "own_evaluation": parse_own_evaluation((out_dir / "augustus.gff").read_text())}


def _run(cmd, env, out_path: Path) -> None:
    with open(out_path, "w") as out:
        res = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["no message"])[-1]
        raise UserError(f"--augustus: {cmd[0]} failed (exit {res.returncode}): {last}")


def parse_own_evaluation(text: str) -> dict:
    """AUGUSTUS's evaluation table (printed for annotated input) -> {level: {sensitivity, specificity}}."""
    out = {}
    m = re.search(r"nucleotide level\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)", text)
    if m:
        out["nucleotide"] = {"sensitivity": float(m.group(1)), "specificity": float(m.group(2))}
    for level in ("exon", "gene"):
        m = re.search(rf"(?m)^{level} level\s*\|(.*)$", text)
        if m:
            nums = re.findall(r"-?[\d.]+", m.group(1))
            if len(nums) >= 2:
                out[level] = {"sensitivity": float(nums[-2]), "specificity": float(nums[-1])}
    return out


def gff_intervals(path: Path) -> dict[str, list[tuple[int, int, int, int, bool]]]:
    """AUGUSTUS's predicted transcripts -> labelled intervals per sequence, as ChunkPainter takes
    them ((start, end, label, order, minus)). Only lines from the AUGUSTUS source (annotated
    input is echoed with source 'database')."""
    tx = defaultdict(lambda: {"cds": [], "start": [], "stop": [], "strand": "+", "seq": ""})
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            if line.startswith("#") or not line.strip():
                continue
            c = line.rstrip("\n").split("\t")
            if len(c) != 9 or c[1] != "AUGUSTUS" or c[2] not in ("CDS", "start_codon", "stop_codon"):
                continue
            m = re.search(r'transcript_id "([^"]+)"', c[8])
            if not m:
                raise UserError(f"{path}: line {n}: {c[2]} without transcript_id")
            t = tx[(c[0], m.group(1))]
            t["seq"], t["strand"] = c[0], c[6]
            iv = (int(c[3]) - 1, int(c[4]))
            t[{"CDS": "cds", "start_codon": "start", "stop_codon": "stop"}[c[2]]].append(iv)
    out = defaultdict(list)
    for order, t in enumerate(tx.values()):
        exons = _with_stop(sorted(t["cds"]), t["stop"], t["strand"])
        for s, e, lab in transcript_intervals(t["strand"], exons, t["cds"], t["start"] or _no_codon(),
                                              t["stop"]):
            out[t["seq"]].append((s, e, lab, order, t["strand"] == "-"))
    return out


def _no_codon():
    # a partial prediction without its start codon: an empty list would make transcript_intervals
    # derive one from the CDS end; a zero-length interval paints nothing
    return [(0, 0)]


def _with_stop(cds, stop, strand):
    """The CDS parts with the stop codon joined to the 3' exon (stop codon outside the CDS)."""
    if not stop or not cds:
        return cds
    ex = list(cds)
    if strand == "+":
        ex[-1] = (ex[-1][0], max(ex[-1][1], max(e for _, e in stop)))
    else:
        ex[0] = (min(ex[0][0], min(s for s, _ in stop)), ex[0][1])
    return ex


def augustus_row(data_dir: Path, sub: Path, max_test_chunks: int | None, columns, log) -> dict:
    """The AUGUSTUS row of `compare`: trained and run when possible, scored on the test chunks
    by the same SegmentationMetrics as our models; else a row that says why it is missing."""
    from genotool.outputs import write_json
    from genotool_gencode.metrics import SegmentationMetrics
    from genotool_gencode.preprocess import ChunkPainter
    from genotool_gencode.train import ChunkDataset

    reason = why_missing(data_dir)
    if reason is not None:
        log(f"augustus: row missing: {reason}")
        return {"model": "augustus", "missing": reason}
    sub.mkdir(exist_ok=True)
    info = run_augustus(data_dir / "genbank" / "train.gb", data_dir / "genbank" / "test.gb", sub, log)
    ivs = gff_intervals(sub / "augustus.gff")
    ds = ChunkDataset(data_dir / "test.jsonl", max_test_chunks, states=False)
    metrics, painters = SegmentationMetrics(), {}
    for (chrom, lo, hi), y in zip(ds.meta, ds.ys):
        painter = painters.setdefault(chrom, ChunkPainter(ivs.get(chrom, [])))
        metrics.update(y.numpy(), painter.paint(lo, lo + len(y)))
    summary = metrics.summary()
    write_json(sub / "test_metrics.json", {**summary, "per_class": metrics.per_class(),
                                          "augustus_own_evaluation": info["own_evaluation"]})
    return {"model": "augustus", "K": "GHMM", **{k: summary[k] for k in columns if k in summary},
            "train_seconds": info["train_seconds"], "eval_seconds": info["predict_seconds"],
            "test_chunks": len(ds), "duration_kl_per_label": summary["duration_kl_per_label"],
            "augustus_own_evaluation": info["own_evaluation"]}
