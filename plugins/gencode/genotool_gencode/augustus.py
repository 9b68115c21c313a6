"""`compare --augustus` / `--augustus-species`: AUGUSTUS (a generalised HMM gene finder) as rows
of the comparison, its predictions scored by our evaluation code (genes/scoring.py).

AUGUSTUS reads its parameters from a config folder (``AUGUSTUS_CONFIG_PATH``). We never write
into the system one: a temporary folder links the system's read-only parts (model, extrinsic,
...) and holds a new species made from ``species/generic`` with ``stopCodonExcludedFromCDS
true`` (our training records' CDS end before the stop codon; with ``false`` etraining rejects
almost every locus). ``etraining`` fits it on the training genes: the GenBank training records
(``preprocess --genbank``), or, for region splits, one transcript per gene of the train split
with 1 kb flanks as AUGUSTUS's own ``gff2gbSmallDNA.pl`` cuts them. ``--augustus-species NAME``
runs a shipped species (e.g. ``arabidopsis``) as it is. Either then predicts the test split's
sequences; on GenBank test records AUGUSTUS also prints its own evaluation, kept beside ours as a
check of our evaluation code.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from genotool.errors import UserError

SPECIES = "genotool_gencode"
SYSTEM_CONFIGS = ("/usr/share/augustus/config", "/usr/local/share/augustus/config", "/opt/augustus/config")
SCRIPT_DIRS = ("/usr/share/augustus/scripts", "/usr/local/share/augustus/scripts", "/opt/augustus/scripts")


def why_missing(data_dir: Path, species: str | None = None) -> str | None:
    """None when AUGUSTUS can run on this data (``species``: a shipped one, else etraining), else
    the reason (shown in its row)."""
    missing = [b for b in ("augustus", "etraining") if shutil.which(b) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (apt-get install augustus)"
    system = system_config()
    if system is None:
        return "no AUGUSTUS config folder found (set AUGUSTUS_CONFIG_PATH)"
    if species is not None and not (system / "species" / species).is_dir():
        return f"AUGUSTUS has no species '{species}' in {system / 'species'}"
    from genotool_gencode.genes.pieces import has_pieces

    if not has_pieces(data_dir, "test"):
        return f"{data_dir} has no test.fa (re-run `gencode preprocess`)"
    if species is None and not (data_dir / "genbank" / "train.gb").is_file():
        if not has_pieces(data_dir, "train"):
            return f"{data_dir} has no training genes (train.fa)"
        if gff2gb_script() is None:
            return "AUGUSTUS's gff2gbSmallDNA.pl not found (it cuts the training genes for etraining)"
    return None


def gff2gb_script() -> Path | None:
    found = shutil.which("gff2gbSmallDNA.pl")
    if found:
        return Path(found)
    for d in SCRIPT_DIRS:
        if (Path(d) / "gff2gbSmallDNA.pl").is_file():
            return Path(d) / "gff2gbSmallDNA.pl"
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


def training_records(data_dir: Path, folder: Path, log, flank: int = 1000) -> Path:
    """The GenBank records etraining reads: the GenBank training records, or (region splits) one
    transcript per gene of the train split with ``flank`` bp each side, cut by gff2gbSmallDNA.pl."""
    gb = data_dir / "genbank" / "train.gb"
    if gb.is_file():
        return gb
    from genotool_gencode.genes.gff import cds_parts
    from genotool_gencode.genes.pieces import load_split, one_per_gene

    gtf = folder / "train_cds.gtf"
    n = 0
    with open(gtf, "w") as fh:
        for p in load_split(data_dir, "train"):
            for g in one_per_gene(p.genes):
                for s, e in cds_parts(g):
                    fh.write(f'{p.name}\tannotation\tCDS\t{s + 1}\t{e}\t.\t{g.strand}\t.\t'
                             f'gene_id "{g.gene_id}"; transcript_id "{g.transcript_id}";\n')
                n += 1
    out = folder / "train.gb"
    _run(["perl", str(gff2gb_script()), str(gtf), str(data_dir / "train.fa"), str(flank), str(out)],
         os.environ, folder / "gff2gb.log")
    loci = sum(1 for line in open(out) if line.startswith("LOCUS"))
    log(f"AUGUSTUS training records: {n} genes -> {loci} loci ({flank} bp flanks, gff2gbSmallDNA.pl)")
    return out


def run_augustus(data_dir: Path, out_dir: Path, log, species: str | None = None) -> dict:
    """etraining (unless ``species``) + augustus on the test split in a temporary config; writes
    ``out_dir/augustus.gff``; returns timings and AUGUSTUS's own evaluation (GenBank test records)."""
    system = system_config()
    test_gb = data_dir / "genbank" / "test.gb"
    test_input = test_gb if test_gb.is_file() else data_dir / "test.fa"
    with tempfile.TemporaryDirectory(prefix="genotool-augustus-") as tmp:
        env = dict(os.environ)
        t0 = time.perf_counter()
        if species is None:
            cfg = Path(tmp) / "config"
            cfg.mkdir()
            make_species(cfg, system)
            env["AUGUSTUS_CONFIG_PATH"] = str(cfg)
            train_gb = training_records(data_dir, Path(tmp), log)
            _run(["etraining", f"--species={SPECIES}", str(train_gb)], env, out_dir / "etraining.log")
            name = SPECIES
        else:
            env["AUGUSTUS_CONFIG_PATH"] = str(system)
            name = species
        t1 = time.perf_counter()
        log(f"AUGUSTUS {'etraining ' + f'{t1 - t0:.1f} s; ' if species is None else ''}predicting "
            f"{test_input.name} with --species={name} ...")
        _run(["augustus", f"--species={name}", str(test_input)], env, out_dir / "augustus.gff")
        t2 = time.perf_counter()
    return {"train_seconds": round(t1 - t0, 2) if species is None else None, "predict_seconds": round(t2 - t1, 2),
            "own_evaluation": parse_own_evaluation((out_dir / "augustus.gff").read_text())}


def _run(cmd, env, out_path: Path) -> None:
    with open(out_path, "w") as out:
        res = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["no message"])[-1]
        raise UserError(f"--augustus: {Path(cmd[0]).name if cmd[0] != 'perl' else Path(cmd[1]).name} failed "
                        f"(exit {res.returncode}): {last}")


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


def augustus_row(data_dir: Path, sub: Path, log, species: str | None = None) -> dict:
    """An AUGUSTUS row of `compare`: run when possible and scored on the test split's gene models
    by the same code as our models; else a row that says why it is missing."""
    from genotool.outputs import write_json

    from genotool_gencode.genes.gff import read_gene_models, write_gtf
    from genotool_gencode.genes.pieces import load_split
    from genotool_gencode.genes.scoring import score_genes

    name = "augustus" if species is None else f"augustus-{species}"
    reason = why_missing(data_dir, species)
    if reason is not None:
        log(f"{name}: row missing: {reason}")
        return {"model": name, "missing": reason}
    sub.mkdir(exist_ok=True)
    info = run_augustus(data_dir, sub, log, species)
    pieces = {p.name: p for p in load_split(data_dir, "test")}
    pred = []
    for g in read_gene_models(sub / "augustus.gff", source="AUGUSTUS", what="--augustus"):
        p = pieces.get(g.contig)
        if p is not None:
            pred.append(g.shifted(p.start, p.contig))
    truth = [g for p in pieces.values() for g in p.to_contig(p.genes)]
    metrics = score_genes(truth, pred)
    with open(sub / "test_predictions.gtf", "w") as fh:
        write_gtf(fh, pred, source="AUGUSTUS")
    write_json(sub / "test_metrics.json", {**metrics, "augustus_own_evaluation": info["own_evaluation"]})
    return {"model": name, "K": "GHMM", **metrics, "train_seconds": info["train_seconds"],
            "predict_seconds": info["predict_seconds"], "augustus_own_evaluation": info["own_evaluation"]}
