"""Read -> fixed-length tensor record (the tensor spec and the per-read encoder).

A record is one read at one candidate SNV, laid out in *alignment columns* in sequencing
direction (reverse reads are reversed and complemented so read starts line up):

* soft-clipped bases: read base, no reference (0), softclip mask 1;
* M/=/X: read base and reference base;
* insertions: read base, reference ``-`` (gap);
* deletions: read ``-`` (gap), reference base, no quality/tp/t0.

``pos``  uint8 (8, L): read_base (ASCII), ref_base (ASCII, 0 = none), qual (Phred), tp (int8 bits),
         t0 (Phred), focus one-hot, softclip mask, valid mask.
``num``  float32 (4,): strand (1 = reverse), MAPQ, rq, mixed.
``cat``  str (3,): tm, st, et ('' when the tag is absent).

Windowing: a read with C <= L columns fills columns 0..C-1 and is zero padded; a longer read is
cut to the L columns centred on the focus (clamped to the read), so the candidate is always inside.
The reference at the focus column is overwritten with the row's REF (for positives REF := X_ALT),
the leakage guard that stops "read base == reference base" from giving positives away.
"""

from __future__ import annotations

import re

import numpy as np

POS_CHANNELS = ("read_base", "ref_base", "qual", "tp", "t0", "focus", "softclip", "valid")
NUM_CHANNELS = ("strand", "mapq", "rq", "mixed")
CAT_CHANNELS = ("tm", "st", "et")
ULTIMA_TAGS = ("tp", "t0", "rq", "tm", "st", "et")
SPEC_VERSION = 2

_COMP = np.arange(256, dtype=np.uint8)
for _a, _b in zip(b"ACGTNacgtn", b"TGCANtgcan"):
    _COMP[_a] = _b
_GAP = ord("-")
_MD_TOKEN = re.compile(r"(\d+)|\^([A-Za-z]+)|([A-Za-z])")


def tensor_spec(length: int) -> dict:
    return {"version": SPEC_VERSION, "length": int(length), "pos_channels": list(POS_CHANNELS),
            "num_channels": list(NUM_CHANNELS), "cat_channels": list(CAT_CHANNELS), "layout": "alignment-columns,"
            "sequencing-direction"}


class MissingMD(Exception):
    pass


def encode_read(read, ref_fetch=None):
    """Alignment columns of one pysam read.

    Returns a dict with ``cols`` uint8 (5, C) [read_base, ref_base, qual, tp, t0], ``clip`` bool (C,),
    ``refpos`` int64 (C,) (reference position per column, -1 for insertions/clips), ``has_tags``
    and the constants; orientation is still the BAM's (forward) here.
    """
    cig = read.cigartuples
    seq = np.frombuffer(read.query_sequence.encode(), dtype=np.uint8)
    nq = len(seq)
    qarr = read.query_qualities
    qual = np.frombuffer(qarr, dtype=np.uint8) if qarr is not None else np.zeros(nq, np.uint8)
    has = {t: read.has_tag(t) for t in ULTIMA_TAGS}
    tp = np.frombuffer(read.get_tag("tp"), dtype=np.int8).view(np.uint8) if has["tp"] else None
    t0 = (np.frombuffer(read.get_tag("t0").encode(), dtype=np.uint8) - 33).astype(np.uint8) if has["t0"] else None
    qidx_parts, rpos_parts, kind_parts = [], [], []
    qp, rp = 0, read.reference_start
    for op, ln in cig:
        if op in (0, 7, 8):
            qidx_parts.append(np.arange(qp, qp + ln))
            rpos_parts.append(np.arange(rp, rp + ln))
            kind_parts.append(np.zeros(ln, np.int8))
            qp += ln
            rp += ln
        elif op == 1:
            qidx_parts.append(np.arange(qp, qp + ln))
            rpos_parts.append(np.full(ln, -1))
            kind_parts.append(np.ones(ln, np.int8))
            qp += ln
        elif op == 4:
            qidx_parts.append(np.arange(qp, qp + ln))
            rpos_parts.append(np.full(ln, -1))
            kind_parts.append(np.full(ln, 2, np.int8))
            qp += ln
        elif op in (2, 3):
            qidx_parts.append(np.full(ln, -1))
            rpos_parts.append(np.arange(rp, rp + ln))
            kind_parts.append(np.full(ln, 3, np.int8))
            rp += ln
    qidx = np.concatenate(qidx_parts)
    rpos = np.concatenate(rpos_parts)
    kind = np.concatenate(kind_parts)
    ncol = len(qidx)
    onread = qidx >= 0
    qi = np.where(onread, qidx, 0)
    cols = np.zeros((5, ncol), dtype=np.uint8)
    cols[0] = np.where(onread, seq[qi], _GAP)
    cols[2] = np.where(onread, qual[qi], 0)
    if tp is not None and len(tp) == nq:
        cols[3] = np.where(onread, tp[qi], 0)
    if t0 is not None and len(t0) == nq:
        cols[4] = np.where(onread, t0[qi], 0)
    # reference row
    refcol = np.flatnonzero(rpos >= 0)            # M and D columns, in MD order
    if ref_fetch is not None:
        cols[1, refcol] = ref_fetch(read.reference_name, rpos[refcol])
    else:
        if not read.has_tag("MD"):
            raise MissingMD(read.query_name)
        md_ref = np.zeros(len(refcol), dtype=np.uint8)
        ptr = 0
        for num, dele, mm in _MD_TOKEN.findall(read.get_tag("MD")):
            if num:
                ptr += int(num)
            elif dele:
                md_ref[ptr:ptr + len(dele)] = np.frombuffer(dele.upper().encode(), np.uint8)
                ptr += len(dele)
            else:
                md_ref[ptr] = ord(mm.upper())
                ptr += 1
        rb = cols[0, refcol]
        cols[1, refcol] = np.where(md_ref > 0, md_ref, rb)
    cols[1, kind == 1] = _GAP
    return {"cols": cols, "clip": kind == 2, "refpos": rpos, "has_tags": has}


def place(enc: dict, focus: int, rev: bool, ref_at_focus: int, length: int, out: np.ndarray) -> None:
    """Write one record into ``out`` (uint8 (8, L), zeroed) from an encoded read.

    ``focus`` is the column index (forward orientation) of the candidate; ``ref_at_focus`` the
    row's REF base (forward strand ASCII).
    """
    cols, clip = enc["cols"], enc["clip"]
    ncol = cols.shape[1]
    if rev:
        # sequencing direction: reverse the columns and complement both base rows
        cols = cols[:, ::-1].copy()
        cols[0] = _COMP[cols[0]]
        cols[1] = _COMP[cols[1]]
        clip = clip[::-1]
        focus = ncol - 1 - focus
        ref_at_focus = int(_COMP[ref_at_focus])
    if ncol <= length:
        lo = 0
    else:
        lo = min(max(0, focus - length // 2), ncol - length)
    hi = min(ncol, lo + length)
    w = hi - lo
    out[0:5, :w] = cols[:, lo:hi]
    out[1, focus - lo] = ref_at_focus
    out[5, focus - lo] = 1
    out[6, :w] = clip[lo:hi]
    out[7, :w] = 1
