"""Simulated Ultima-like SRSNV dataset: reference, positive/negative BAMs and FeatureMaps.

Generative model (per read, in sequencing direction where it matters):

* reference: homopolymer-rich sequence (run lengths geometric, mean ~1.7) on chr1..chr22,
  lengths ~ sqrt of the hg38 lengths so chr21/chr22 hold ~6% of the rows (the holdout);
* reads ~ N(230, 45) bases, 50% reverse, MAPQ mostly 60, soft-clips on ~16% of reads,
  hmer-length indels (Poisson 0.35 per read); MD/NM tags; Ultima tags tp (symmetric per
  homopolymer), t0 (observed Phred levels, lower near long homopolymers and read ends),
  rq ~ Beta(8, 2), tm, st/et (MIXED ~40%);
* substitution errors with logit-additive effects of: base quality, t0, homopolymer length >= 4,
  read ends, non-MIXED, non-adapter trimming, low rq (all partly visible in the FeatureMap
  columns), plus read-only effects the parquet does not carry: an indel or soft-clip boundary
  nearby, a long homopolymer 4-15 bases upstream, a quality dip at the neighbours, a latent
  error burst (visible only through other mismatches nearby) and tp flagged at the error.

Negatives are the errors (RAW_VAF <= 0.05); positives are random reference-matching bases
featurised as if a random X_ALT were the reference (REF := X_ALT, EDIST/HAMDIST + 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HG38_MB = [248.96, 242.19, 198.30, 190.21, 181.54, 170.81, 159.35, 145.14, 138.39, 133.80, 135.09, 133.28,
           114.36, 107.04, 101.99, 90.34, 83.26, 80.37, 58.62, 64.44, 46.71, 50.82]
BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
COMP = np.zeros(256, dtype=np.uint8)
for a, b in zip(b"ACGTN", b"TGCAN"):
    COMP[a] = b
T0_LEVELS = np.array([12, 25, 32, 34, 35, 38, 45, 51])
TM_CHOICES = (["A", "AQ", "AQZ", "AZ", "Q", "QZ", "Z"], [0.5, 0.1, 0.05, 0.05, 0.15, 0.05, 0.1])
ST_CHOICES = (["MIXED", "MINUS", "PLUS", "UNDETERMINED"], [0.4, 0.25, 0.25, 0.1])
# substitution spectrum: transitions twice as likely as each transversion
B0 = -8.5
_TS = {ord("A"): ord("G"), ord("G"): ord("A"), ord("C"): ord("T"), ord("T"): ord("C")}


def contig_lengths(genome_size: int) -> dict[str, int]:
    w = np.sqrt(np.array(HG38_MB))
    lens = np.maximum(5000, (w / w.sum() * genome_size).astype(int))
    return {f"chr{i + 1}": int(n) for i, n in enumerate(lens)}


def make_reference(rng, lengths: dict[str, int]) -> dict[str, np.ndarray]:
    """Homopolymer-rich sequence: run lengths ~ 1 + Geometric(0.55), next base != previous."""
    ref = {}
    for name, n in lengths.items():
        runs = np.minimum(rng.geometric(0.55, size=n), 12)   # >= 1
        shift = rng.integers(1, 4, size=len(runs))
        idx = np.cumsum(shift) % 4          # consecutive runs never share a base
        seq = np.repeat(BASES[idx], runs)[:n]
        ref[name] = seq.copy()
    return ref


def run_lengths(seq: np.ndarray) -> np.ndarray:
    """Length of the homopolymer run containing each base. (n,) -> (n,)"""
    n = len(seq)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.flatnonzero(seq[1:] != seq[:-1]) + 1
    starts = np.concatenate([[0], change])
    lens = np.diff(np.concatenate([starts, [n]]))
    return np.repeat(lens, lens)


def hmer_with(seq: np.ndarray, i: int, base: int) -> int:
    """Homopolymer length at ``i`` if base ``base`` sat there."""
    n, left, right = 1, i - 1, i + 1
    while left >= 0 and seq[left] == base:
        n, left = n + 1, left - 1
    while right < len(seq) and seq[right] == base:
        n, right = n + 1, right + 1
    return n


def simulate_reads(rng, ref: dict[str, np.ndarray], names: list[str], n_reads: int, prefix: str,
                   params: dict, tick=None) -> list[dict]:
    """Simulate ``n_reads`` reads; each dict holds alignment, tags and per-base latent facts.

    Per read, in this order (the order of the random draws is part of the dataset): alignment
    (length, soft-clips, indels, start) -> per-base qualities -> read tags -> substitution
    errors -> tp flags. A read whose alignment does not fit its contig is skipped.
    """
    lens = np.array([len(ref[c]) for c in names], dtype=float)
    contig_idx = rng.choice(len(names), size=n_reads, p=lens / lens.sum())
    reads = []
    for r in range(n_reads):
        if tick is not None and r % 1000 == 999:
            tick(1000)
        cname = names[contig_idx[r]]
        aln = _align_read(rng, ref[cname])
        if aln is None:
            continue
        n = len(aln["true_seq"])
        rev = bool(rng.random() < 0.5)
        idx = np.arange(n)
        seqpos = (n - 1 - idx) if rev else idx          # cycle in sequencing direction
        base = _base_qualities(rng, aln["true_seq"], seqpos)
        tags = _read_tags(rng)
        err, seq = _substitutions(rng, aln, rev, seqpos, base, tags, params)
        tp, q = _tp_flags(rng, seq, err, base["q"])
        reads.append(dict(name=f"{prefix}{r:07d}", contig=cname, start=aln["start"], rev=rev, seq=seq,
                          true_seq=aln["true_seq"], ref_pos=aln["ref_pos"], cigar=aln["cigar"], qual=q, tp=tp,
                          t0=base["t0"], rq=tags["rq"], tm=tags["tm"], st=tags["st"], et=tags["et"],
                          mapq=tags["mapq"], err=err, clip_l=aln["clip_l"], clip_r=aln["clip_r"], rl=n))
    return reads


def _align_read(rng, cseq: np.ndarray) -> dict | None:
    """Read length, soft-clips and hmer-length indels; the read's true bases and reference positions
    (-1 for clipped/inserted bases) and its CIGAR. None when the span does not fit the contig."""
    rl = int(np.clip(round(rng.normal(230, 45)), 60, 420))
    clip_l = int(rng.integers(4, 31)) if rng.random() < 0.08 else 0
    clip_r = int(rng.integers(4, 31)) if rng.random() < 0.08 else 0
    n_aln = rl - clip_l - clip_r
    n_ind = min(rng.poisson(0.35), 3)
    events = sorted(set(int(x) for x in rng.integers(12, max(13, n_aln - 12), size=n_ind)))
    kinds = [(("I" if rng.random() < 0.5 else "D"), 1 if rng.random() < 0.8 else 2) for _ in events]
    ins_total = sum(k[1] for k in kinds if k[0] == "I")
    del_total = sum(k[1] for k in kinds if k[0] == "D")
    span = n_aln - ins_total + del_total
    if span >= len(cseq) - 2:
        return None
    start = int(rng.integers(0, len(cseq) - span))
    # build aligned columns: segments of M separated by indels
    seq_parts, pos_parts, cig = [], [], []
    if clip_l:
        seq_parts.append(BASES[rng.integers(0, 4, clip_l)])
        pos_parts.append(np.full(clip_l, -1))
        cig.append((4, clip_l))
    rpos, qdone = start, 0
    for ev, (kind, ln) in zip(events, kinds):
        m = ev - qdone
        if m <= 0:
            continue
        seq_parts.append(cseq[rpos:rpos + m])
        pos_parts.append(np.arange(rpos, rpos + m))
        cig.append((0, m))
        rpos += m
        qdone += m
        if kind == "I":
            # hmer-length insertion: repeat the previous base (Ultima-like)
            seq_parts.append(np.full(ln, cseq[rpos - 1], dtype=np.uint8))
            pos_parts.append(np.full(ln, -1))
            cig.append((1, ln))
            qdone += ln
        else:
            cig.append((2, ln))
            rpos += ln
    m = n_aln - qdone
    if m <= 0:
        return None
    seq_parts.append(cseq[rpos:rpos + m])
    pos_parts.append(np.arange(rpos, rpos + m))
    cig.append((0, m))
    if clip_r:
        seq_parts.append(BASES[rng.integers(0, 4, clip_r)])
        pos_parts.append(np.full(clip_r, -1))
        cig.append((4, clip_r))
    return {"true_seq": np.concatenate(seq_parts).astype(np.uint8),
            "ref_pos": np.concatenate(pos_parts).astype(np.int64), "cigar": cig, "start": start,
            "clip_l": clip_l, "clip_r": clip_r}


def _base_qualities(rng, true_seq: np.ndarray, seqpos: np.ndarray) -> dict:
    """Per-base facts (all (n,)): run length ``rlen``, t0 level drops ``k``, ``t0``, base quality
    ``q`` before the tp adjustment, and the read-end distance ``from_end``."""
    n = len(true_seq)
    from_end = n - 1 - seqpos
    rlen = run_lengths(true_seq)
    long_near = np.zeros(n, dtype=bool)
    lm = rlen >= 4
    long_near |= lm
    long_near[1:] |= lm[:-1]
    long_near[:-1] |= lm[1:]
    end_zone = (from_end < 30) | (seqpos < 8)
    # t0: drop k levels from the top, more near long homopolymers and read ends
    k = rng.poisson(0.5 + 1.4 * long_near + 1.0 * end_zone)
    t0 = T0_LEVELS[np.clip(7 - k, 0, 7)]
    q = np.full(n, 40.0)
    q -= np.where(from_end < 25, rng.uniform(0, 12, n), 0)
    q -= np.where(rlen >= 5, rng.uniform(0, 10, n), 0)
    dips = rng.random(n) < 0.03
    q -= np.where(dips, rng.uniform(10, 28, n), 0)
    q = np.clip(np.round(q), 2, 40)
    return {"rlen": rlen, "k": k, "t0": t0, "q": q, "from_end": from_end}


def _read_tags(rng) -> dict:
    """Read-level tags: rq, tm, st, et, MAPQ."""
    rq = float(rng.beta(8, 2))
    tm = str(rng.choice(TM_CHOICES[0], p=TM_CHOICES[1]))
    st = str(rng.choice(ST_CHOICES[0], p=ST_CHOICES[1]))
    et = str(rng.choice(ST_CHOICES[0], p=ST_CHOICES[1]))
    mapq = 60 if rng.random() < 0.93 else int(rng.integers(0, 60))
    return {"rq": rq, "tm": tm, "st": st, "et": et, "mapq": mapq}


def _read_only_drivers(rng, aln: dict, rev: bool, rlen: np.ndarray, q: np.ndarray) -> dict:
    """Error drivers the FeatureMap does not carry (all (n,) bool): near an indel or a soft-clip
    boundary, a long homopolymer 4-15 bases upstream, a latent burst, a quality dip nearby."""
    n = len(aln["true_seq"])
    idx = np.arange(n)
    clip_l, clip_r = aln["clip_l"], aln["clip_r"]
    near_indel = np.zeros(n, dtype=bool)
    qcur = 0
    for op, ln in aln["cigar"]:
        if op in (1, 2):
            lo, hi = max(0, qcur - 10), min(n, qcur + ln + 10)
            near_indel[lo:hi] = True
        if op in (0, 1, 4):
            qcur += ln
    near_clip = np.zeros(n, dtype=bool)
    if clip_l:
        near_clip[clip_l:clip_l + 6] = True
    if clip_r:
        near_clip[n - clip_r - 6:n - clip_r] = True
    # long (>=5) reference homopolymer 4..15 bases upstream in sequencing direction
    c = np.concatenate([[0], np.cumsum((rlen >= 5).astype(np.int32))])
    if not rev:
        lo, hi = np.clip(idx - 15, 0, n), np.clip(idx - 3, 0, n)
    else:
        lo, hi = np.clip(idx + 4, 0, n), np.clip(idx + 16, 0, n)
    distal = (c[hi] - c[lo]) > 0
    burst = np.zeros(n, dtype=bool)
    for _ in range(rng.poisson(0.25)):
        s = int(rng.integers(0, n))
        burst[s:s + 14] = True
    qn = np.minimum(np.r_[40, 40, q[:-2]], np.r_[q[2:], 40, 40])
    qn = np.minimum(qn, np.minimum(np.r_[40, q[:-1]], np.r_[q[1:], 40]))
    return {"near_clip": near_clip, "near_indel": near_indel, "distal": distal, "burst": burst,
            "qual_dip": qn < 25}


def _substitutions(rng, aln: dict, rev: bool, seqpos: np.ndarray, base: dict, tags: dict,
                   params: dict) -> tuple[np.ndarray, np.ndarray]:
    """Substitution errors from the logit-additive model: (err (n,) bool, called bases (n,) uint8)."""
    true_seq, q, rlen, k = aln["true_seq"], base["q"], base["rlen"], base["k"]
    n = len(true_seq)
    mixed = tags["st"] == "MIXED" or tags["et"] == "MIXED"
    d = _read_only_drivers(rng, aln, rev, rlen, q)
    # duplex-like reads (both loop ends MIXED, ~16% of reads) are the clean tail: error odds
    # / 55, so their clean bases reach ~1e-6 (Q60) while the mean raw rate stays ~3e-3
    duplex = tags["st"] == "MIXED" and tags["et"] == "MIXED"
    logit = (params["b0"] + 0.09 * (40 - q) + 0.45 * k + 0.9 * (rlen >= 4) + 1.0 * (base["from_end"] < 20)
             + 0.5 * (seqpos < 10) + 0.3 * (not mixed) - 4.0 * duplex + 0.4 * ("A" not in tags["tm"])
             + 2.5 * (0.8 - tags["rq"])
             + params["w_read"] * (1.2 * d["near_clip"] + 1.1 * d["near_indel"] + 1.0 * d["distal"]
                                   + 1.8 * d["burst"] + 0.6 * d["qual_dip"]))
    p_err = 1 / (1 + np.exp(-logit))
    err = (aln["ref_pos"] >= 0) & (rng.random(n) < p_err)
    err[:aln["clip_l"]] = False
    seq = true_seq.copy()
    for i in np.flatnonzero(err):
        b = seq[i]
        if rng.random() < 0.5:
            seq[i] = _TS[int(b)]
        else:
            choices = [x for x in BASES if x != b and x != _TS[int(b)]]
            seq[i] = choices[int(rng.integers(0, 2))]
    return err, seq


def _tp_flags(rng, seq: np.ndarray, err: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tp on the called sequence (symmetric per homopolymer, more often for longer runs; some errors
    flagged as hmer-length uncertainty) and the base qualities lowered where tp is set."""
    n = len(seq)
    tp = np.zeros(n, dtype=np.int8)
    change = np.flatnonzero(seq[1:] != seq[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [n]]) - 1
    rl_run = ends - starts + 1
    pn = np.where(rl_run >= 2, np.minimum(0.9, 0.12 * rl_run), 0.04)
    flag = rng.random(len(starts)) < pn
    sgn = np.where(rng.random(len(starts)) < 0.5, -1, 1).astype(np.int8)
    tp[starts[flag]] = sgn[flag]
    tp[ends[flag]] = sgn[flag]
    inner = flag & (rl_run >= 4) & (rng.random(len(starts)) < 0.5)
    tp[starts[inner] + 1] = -sgn[inner]
    tp[ends[inner] - 1] = -sgn[inner]
    # the flow caller flags some errors as hmer-length uncertainty
    fl = err & (rng.random(n) < 0.35)
    tp[fl] = np.where(rng.random(int(fl.sum())) < 0.5, -1, 1)
    q = np.where(tp != 0, np.minimum(q, 40 - rng.integers(4, 16, n)), q).astype(np.int64)
    return tp, q


def md_tag(read: dict, cseq: np.ndarray) -> tuple[str, int]:
    out, run, nm, qp = [], 0, 0, 0
    seq, ref_pos = read["seq"], read["ref_pos"]
    rpos = read["start"]
    for op, ln in read["cigar"]:
        if op == 4:
            qp += ln
        elif op == 1:
            qp += ln
            nm += ln
        elif op == 0:
            blk = seq[qp:qp + ln]
            refblk = cseq[ref_pos[qp]:ref_pos[qp] + ln]
            mm = np.flatnonzero(blk != refblk)
            last = 0
            for j in mm:
                out.append(f"{run + j - last}{chr(refblk[j])}")
                run, last = 0, j + 1
            run += ln - last
            nm += len(mm)
            qp += ln
            rpos = ref_pos[qp - 1] + 1
        elif op == 2:
            out.append(f"{run}^{cseq[rpos:rpos + ln].tobytes().decode()}")
            run = 0
            rpos += ln
            nm += ln
    return "".join(out) + str(run), nm


def featurise(read: dict, i: int, cseq: np.ndarray, ref_base: int, alt: int, x_alt: int, edist: int,
              rng) -> dict:
    """One FeatureMap row for read base ``i`` (read index in BAM orientation)."""
    rp = int(read["ref_pos"][i])
    n = read["rl"]
    rev = read["rev"]
    index = (n - 1 - i) if rev else i
    q = read["qual"]
    lo_b, hi_b = (i + 1, i + 21) if rev else (max(0, i - 20), i)
    lo_a, hi_a = (max(0, i - 20), i) if rev else (i + 1, i + 21)
    qb, qa = q[lo_b:hi_b], q[lo_a:hi_a]
    smq_b = float(qb.mean()) if len(qb) else 40.0
    smq_a = float(qa.mean()) if len(qa) else 40.0
    ctx = lambda k: chr(cseq[rp + k]) if 0 <= rp + k < len(cseq) else "N"  # noqa: E731
    dp = int(rng.poisson(40))
    row = dict(CHROM=read["contig"], POS=rp + 1, REF=chr(ref_base), ALT=chr(alt), X_ALT=chr(x_alt),
               X_PREV1=ctx(-1), X_PREV2=ctx(-2), X_PREV3=ctx(-3), X_NEXT1=ctx(1), X_NEXT2=ctx(2), X_NEXT3=ctx(3),
               X_HMER_REF=0, X_HMER_ALT=0, DP=dp, RAW_VAF=0.0, VAF=0.0, RN=read["name"], INDEX=index, RL=n,
               REV=int(rev), DUP=int(rng.random() < 0.05),
               SCST=read["clip_r"] if rev else read["clip_l"], SCED=read["clip_l"] if rev else read["clip_r"],
               MAPQ=read["mapq"], EDIST=edist, HAMDIST=edist,
               BCSQ=int(np.clip(round(2 * q[i] + rng.normal(0, 5)), 0, 99)),
               BCSQCSS=int((ref_base * 7 + alt * 3 + int(cseq[max(0, rp - 1)])) % 3),
               SMQ_BEFORE=round(smq_b, 2), SMQ_AFTER=round(smq_a, 2), ADJ_REF_DIFF=int(rng.random() < 0.02),
               tm=read["tm"], rq=read["rq"], st=read["st"], et=read["et"])
    saved = cseq[rp]
    cseq[rp] = ref_base
    row["X_HMER_REF"] = hmer_with(cseq, rp, ref_base)
    row["X_HMER_ALT"] = hmer_with(cseq, rp, alt)
    cseq[rp] = saved
    return row


def write_bam(path: Path, reads: list[dict], ref: dict[str, np.ndarray], names: list[str]) -> None:
    import pysam

    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": c, "LN": int(len(ref[c]))} for c in names],
              "RG": [{"ID": "sim", "SM": "simulated", "PL": "ULTIMA"}],
              "PG": [{"ID": "genotool-srsnv-simulate", "PN": "genotool"}]}
    tid = {c: i for i, c in enumerate(names)}
    reads = sorted(reads, key=lambda r: (tid[r["contig"]], r["start"]))
    tmp = path.with_name(path.name + ".unsorted")
    with pysam.AlignmentFile(str(tmp), "wb", header=header) as out:
        for r in reads:
            a = pysam.AlignedSegment(out.header)
            a.query_name = r["name"]
            a.flag = 16 if r["rev"] else 0
            a.reference_id = tid[r["contig"]]
            a.reference_start = r["start"]
            a.mapping_quality = r["mapq"]
            a.cigartuples = r["cigar"]
            a.query_sequence = r["seq"].tobytes().decode()
            a.query_qualities = pysam.qualitystring_to_array("".join(chr(int(x) + 33) for x in r["qual"]))
            md, nm = md_tag(r, ref[r["contig"]])
            t0s = (r["t0"] + 33).astype(np.uint8).tobytes().decode()
            a.set_tags([("NM", nm, "i"), ("MD", md, "Z"), ("RG", "sim", "Z"),
                        ("tp", __import__("array").array("b", r["tp"].tolist())), ("t0", t0s, "Z"),
                        ("rq", r["rq"], "f"), ("tm", r["tm"], "Z"), ("st", r["st"], "Z"), ("et", r["et"], "Z")])
            out.write(a)
    # already coordinate-sorted; rename and index
    tmp.replace(path)
    pysam.index(str(path))


def simulate_dataset(out: Path, *, n_reads: int = 60000, genome_size: int = 2_000_000, seed: int = 0,
                     read_only_weight: float = 1.0, progress=None) -> dict:
    """Write the full dataset into ``out``; returns a summary dict (also written as JSON)."""
    import pandas as pd
    import pysam

    rng = np.random.default_rng(seed)
    lengths = contig_lengths(genome_size)
    names = list(lengths)
    ref = make_reference(rng, lengths)
    fa = out / "reference.fa"
    with open(fa, "w") as fh:
        for c in names:
            fh.write(f">{c}\n")
            s = ref[c].tobytes().decode()
            for k in range(0, len(s), 60):
                fh.write(s[k:k + 60] + "\n")
    pysam.faidx(str(fa))
    # b0 chosen for a raw substitution rate of a few 1e-3 per aligned base
    params = {"b0": B0, "w_read": read_only_weight}
    summary = {"seed": seed, "n_reads": n_reads, "genome_size": genome_size, "read_only_weight": read_only_weight,
               "contigs": lengths}
    # --- negatives: errors; positives: reference-matching bases (separate read sets) ---
    from genotool_srsnv.shards import progress_bar

    with progress_bar(progress is not None, 2 * n_reads) as bar:
        task = bar.add_task("simulate reads", total=2 * n_reads) if bar else None
        tick = (lambda k: bar.advance(task, k)) if bar else None
        neg_reads = simulate_reads(rng, ref, names, n_reads, "neg_", params, tick)
        pos_reads = simulate_reads(rng, ref, names, n_reads, "pos_", params, tick)
    if progress:
        progress("reads simulated")
    n_err = sum(int(r["err"].sum()) for r in neg_reads)
    n_bases = sum(int((r["ref_pos"] >= 0).sum()) for r in neg_reads)
    summary["raw_substitution_error_rate"] = n_err / max(1, n_bases)
    neg_rows, pos_rows = [], []
    for r in neg_reads:
        cseq = ref[r["contig"]]
        md, nm = md_tag(r, cseq)
        for i in np.flatnonzero(r["err"]):
            rp = r["ref_pos"][i]
            row = featurise(r, int(i), cseq, int(cseq[rp]), int(r["seq"][i]), int(r["seq"][i]), nm, rng)
            # errors: RAW_VAF ~ 1/DP; 3% sit on germline-like sites (filtered by RAW_VAF <= 0.05)
            dp = max(1, row["DP"])
            row["RAW_VAF"] = row["VAF"] = round((dp // 2 if rng.random() < 0.03 else 1) / dp, 4)
            neg_rows.append(row)
    for r in pos_reads:
        cseq = ref[r["contig"]]
        ok = np.flatnonzero((r["ref_pos"] >= 0) & (r["seq"] == cseq[np.maximum(r["ref_pos"], 0)]))
        if len(ok) == 0:
            continue
        i = int(rng.choice(ok))
        b = int(r["seq"][i])
        x_alt = int(rng.choice([x for x in BASES if x != b]))
        md, nm = md_tag(r, cseq)
        # featurised as if X_ALT were the reference: REF := X_ALT, ALT = read base, EDIST + 1
        row = featurise(r, i, cseq, x_alt, b, x_alt, nm + 1, rng)
        row["RAW_VAF"] = row["VAF"] = round(1 / max(1, row["DP"]), 4)
        pos_rows.append(row)
    # the positive BAM keeps all its reads; the negative BAM keeps reads with errors + 15% others
    keep_neg = [r for r in neg_reads if r["err"].any() or rng.random() < 0.15]
    write_bam(out / "positive.bam", pos_reads, ref, names)
    write_bam(out / "negative.bam", keep_neg, ref, names)
    if progress:
        progress("BAMs written")
    for name, rows in (("positive.parquet", pos_rows), ("negative.parquet", neg_rows)):
        df = pd.DataFrame(rows)
        df = df.sort_values(["CHROM", "POS"], kind="stable").reset_index(drop=True)
        df["rq"] = df["rq"].astype(np.float32)
        df.to_parquet(out / name, index=False)
    # training regions: each contig minus 1 kb at both ends, split in two intervals
    with open(out / "training_regions.interval_list", "w") as fh:
        fh.write("@HD\tVN:1.6\tSO:coordinate\n")
        for c in names:
            fh.write(f"@SQ\tSN:{c}\tLN:{lengths[c]}\n")
        for c in names:
            n = lengths[c]
            mid = n // 2
            fh.write(f"{c}\t1001\t{mid}\t+\tsim\n{c}\t{mid + 1}\t{n - 1000}\t+\tsim\n")
    summary.update(positive_rows=len(pos_rows), negative_rows=len(neg_rows), positive_reads=len(pos_reads),
                   negative_bam_reads=len(keep_neg),
                   files={k: k for k in ("reference.fa", "positive.bam", "negative.bam", "positive.parquet",
                                         "negative.parquet", "training_regions.interval_list")})
    (out / "simulation.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


@dataclass
class SimulateConfig:
    """One ``srsnv simulate`` command line."""

    output: Path
    num_reads: int = 60000
    genome_size: int = 2_000_000
    read_only_weight: float = 1.0
    seed: int = 0
    force: bool = False


def run_simulate(cfg: SimulateConfig) -> dict:
    """Check the options, then write the dataset into ``cfg.output`` (run folder with metadata)."""
    from genotool.errors import UserError
    from genotool.log import log
    from genotool.outputs import run_output

    if cfg.num_reads < 200:
        raise UserError(f"--num-reads must be >= 200, not {cfg.num_reads}")
    if cfg.genome_size < 22 * 5000:
        raise UserError(f"--genome-size must be >= {22 * 5000}, not {cfg.genome_size}")
    params = {"n_reads": cfg.num_reads, "genome_size": cfg.genome_size, "seed": cfg.seed,
              "read_only_weight": cfg.read_only_weight}
    with run_output(cfg.output, command="srsnv simulate", parameters=params, force=cfg.force) as run:
        s = simulate_dataset(run.path, n_reads=cfg.num_reads, genome_size=cfg.genome_size, seed=cfg.seed,
                             read_only_weight=cfg.read_only_weight, progress=lambda m: log(f"simulate: {m}"))
        run.runtime.update(positive_rows=s["positive_rows"], negative_rows=s["negative_rows"])
    return s
