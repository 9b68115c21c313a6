"""``codec simulate``: simulated nanopore raw current written as valid POD5 (+ the true sequence of
every read).

Per read: a fragment of the reference (random strand) -> its k-mers -> per k-mer a level drawn
around the pore model's mean (``level_sd``), a dwell in samples (gamma, mean = sample_rate /
bases_per_second scaled by the k-mer's relative dwell) and Gaussian per-sample noise; then a
per-read gain/shift (real reads differ), pA -> int16 ADC with a per-channel offset and the
chemistry's range / digitisation as scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError, require_file
from genotool.log import log

from genotool_codec import pod5_io
from genotool_codec.pore_model import PoreModel, chemistry, load

_COMP = bytes.maketrans(b"ACGT", b"TGCA")


def revcomp(seq: str) -> str:
    return seq.encode().translate(_COMP)[::-1].decode()


def random_reference(rng: np.random.Generator, n_contigs: int = 2, length: int = 50_000) -> dict[str, str]:
    return {f"contig{i + 1}": "".join(np.array(list("ACGT"))[rng.integers(0, 4, length)])
            for i in range(n_contigs)}


def read_fasta(path: Path) -> dict[str, str]:
    seqs: dict[str, list[str]] = {}
    name = None
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read FASTA ({exc})") from exc
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            name = line[1:].split()[0]
            seqs[name] = []
        elif name is None:
            raise UserError(f"{path}: not a FASTA file (no '>' header before sequence)")
        else:
            seqs[name].append(line.upper())
    out = {k: "".join(v) for k, v in seqs.items()}
    if not out:
        raise UserError(f"{path}: no sequences in FASTA")
    return out


def write_fasta(path: Path, seqs: dict[str, str], width: int = 80) -> None:
    from genotool.outputs import atomic_file

    with atomic_file(path) as tmp, open(tmp, "w") as fh:
        for name, s in seqs.items():
            fh.write(f">{name}\n")
            for i in range(0, len(s), width):
                fh.write(s[i:i + width] + "\n")


def squiggle(seq: str, pm: PoreModel, chem: dict, rng: np.random.Generator,
             noise_scale: float = 1.0) -> np.ndarray:
    """(n_samples,) float32 current in pA for an ACGT sequence."""
    idx = pm.kmer_index(seq)
    mean_dwell = chem["sample_rate"] / chem["bases_per_second"]
    # gamma(shape 3): mostly 4-20 samples per base at 4 kHz, like real translocation.
    shape = 3.0
    dwell = rng.gamma(shape, mean_dwell * pm.dwell_rel[idx] / shape)
    dwell = np.maximum(1, np.rint(dwell)).astype(np.int64)
    level = pm.level[idx] + rng.normal(0, 1, len(idx)).astype(np.float32) * pm.level_sd[idx] * 0.5
    z = np.repeat(level, dwell) + (rng.normal(0, 1, int(dwell.sum())).astype(np.float32)
                                   * np.repeat(pm.noise_sd[idx], dwell) * noise_scale)
    gain = rng.normal(1.0, 0.04)
    shift = rng.normal(0.0, 3.0)
    return (z * pm.pa_stdv * gain + pm.pa_mean + shift).astype(np.float32)


def simulate(output: Path, *, chem_name: str = "r9.4.1", n_reads: int = 200, mean_length: int = 2000,
             reference: Path | None = None, seed: int = 0, n_files: int = 2, force: bool = False,
             progress=None) -> dict:
    """Write ``output``/reference.fa, truth.fa and pod5/<flowcell>/reads_<i>.pod5; return a summary."""
    chem = chemistry(chem_name)
    pm = load(chem["name"])
    rng = np.random.default_rng(seed)
    if reference is not None:
        ref = read_fasta(reference)
        ref = {k: v for k, v in ref.items() if set(v) <= set("ACGT") and len(v) > pm.k + 50}
        if not ref:
            raise UserError(f"{reference}: no ACGT-only sequence longer than {pm.k + 50} bases")
    else:
        ref = random_reference(rng, n_contigs=2, length=max(20_000, 3 * mean_length))
        write_fasta(output / "reference.fa", ref)
    names = list(ref)
    lengths = np.array([len(ref[n]) for n in names], dtype=np.float64)
    truth: dict[str, str] = {}
    per_file = [[] for _ in range(n_files)]
    acq = [f"{seed:08x}{i:04x}" + "0" * 20 for i in range(n_files)]
    run_infos = [pod5_io.make_run_info(chem, acquisition_id=acq[i], flow_cell_id=f"FAS{seed % 1000:03d}{i:02d}")
                 for i in range(n_files)]
    import pod5

    total_samples = 0
    for r in range(n_reads):
        c = names[rng.choice(len(names), p=lengths / lengths.sum())]
        L = int(np.clip(rng.lognormal(np.log(mean_length), 0.5), pm.k + 30, len(ref[c])))
        start = int(rng.integers(0, len(ref[c]) - L + 1))
        seq = ref[c][start:start + L]
        strand = "+" if rng.random() < 0.5 else "-"
        if strand == "-":
            seq = revcomp(seq)
        pa = squiggle(seq, pm, chem, rng)
        scale = chem["range"] / chem["digitisation"]
        offset = float(rng.integers(-260, -200))
        adc = pod5_io.to_int16(pa / scale - offset)
        rid = pod5_io.new_uuid(rng)
        f = r % n_files
        channel = int(rng.integers(1, 513))
        read = pod5.Read(
            read_id=rid, pore=pod5.Pore(channel=channel, well=1, pore_type=chem["pore_type"]),
            calibration=pod5.Calibration(offset=offset, scale=float(scale)), read_number=r,
            start_sample=int(r * 100_000), median_before=float(rng.normal(200, 5)),
            end_reason=pod5.EndReason(pod5.EndReasonEnum.SIGNAL_POSITIVE, False), run_info=run_infos[f],
            signal=adc)
        per_file[f].append(read)
        truth[str(rid)] = seq
        total_samples += len(adc)
        truth_meta = (c, start, strand)
        _ = truth_meta
        if progress:
            progress(r + 1, n_reads)
    files = []
    for f in range(n_files):
        # Several flow-cell sub-folders, as a real multi-run dataset would have.
        path = output / "pod5" / f"flowcell{f + 1}" / "reads.pod5"
        with pod5_io.Pod5Out(path, force=force) as w:
            for rd in per_file[f]:
                w.add(rd)
        files.append(str(path))
    write_fasta(output / "truth.fa", truth)
    return {"chemistry": chem["name"], "sample_rate": chem["sample_rate"], "flow_cell": chem["flow_cell"],
            "kit": chem["kit"], "n_reads": n_reads, "total_samples": total_samples,
            "pod5_files": files, "reference": str(reference or output / "reference.fa"),
            "truth": str(output / "truth.fa"), "pore_model": pm.name}


@dataclass
class SimulateOptions:
    """One ``codec simulate`` command line (no model runs)."""

    output: Path
    chemistry: str = "r9.4.1"
    num_reads: int = 200
    read_length: int = 2000
    reference: Path | None = None
    num_files: int = 2
    seed: int = 0
    force: bool = False


def run_simulate(opts: SimulateOptions) -> dict:
    from genotool.outputs import run_output

    if opts.reference is not None:
        require_file(opts.reference, "--reference")
    if opts.num_reads < 1 or opts.num_files < 1 or opts.read_length < 50:
        raise UserError("--num-reads and --num-files must be >= 1 and --read-length >= 50")
    params = dict(chemistry=opts.chemistry, num_reads=opts.num_reads, read_length=opts.read_length,
                  reference=opts.reference, num_files=opts.num_files, seed=opts.seed)
    with run_output(opts.output, command="codec simulate", parameters=params,
                    inputs=[opts.reference] if opts.reference else [], force=opts.force, resume=False) as run:
        summary = simulate(run.path, chem_name=opts.chemistry, n_reads=opts.num_reads, mean_length=opts.read_length,
                           reference=opts.reference, seed=opts.seed, n_files=opts.num_files)
        # Paths inside the staging folder -> their published names.
        summary = {k: (v.replace(str(run.path), str(run.final)) if isinstance(v, str) else
                       [x.replace(str(run.path), str(run.final)) for x in v] if isinstance(v, list) else v)
                   for k, v in summary.items()}
        run.runtime.update(summary)
    log(f"simulated {opts.num_reads} {opts.chemistry} reads ({summary['total_samples']} samples) -> {opts.output}")
    return summary
