"""The base-score cache of ``preprocess``: per contig and strand, keyed by content.

A key is the digest of the contig's sequence (:meth:`Reference.check`), the base model (kind,
flank, seeds and the size and modification time of each weight file) and the scored pieces of
the contig, so an edited FASTA, other weights or other regions never reuse stale scores (a key
of contig name and length did: issue 27, D12). Files are ``<contig>.<key>.{plus,minus}.npy``
(the minus strand in reverse-complement orientation, as scored) written under a temporary name
and renamed, with a ``<contig>.<key>.json`` holding each file's CRC-32: a file that is
truncated or damaged fails the check and is scored again.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from pathlib import Path

import numpy as np

from genotool_splice.base import BaseSpec, _weight_files

STRANDS = ("plus", "minus")


def weights_fingerprint(spec: BaseSpec) -> list:
    """(name, size, mtime) of the files a base spec loads: other weights -> another key."""
    folder = Path(spec.weights)
    files = _weight_files(folder, spec.flank)[:spec.seeds] if spec.kind == "openspliceai" \
        else sorted(folder.glob("base_model.pt"))
    return [[str(p.resolve()), p.stat().st_size, int(p.stat().st_mtime_ns)] for p in files]


def cache_key(sequence_digest: str, spec: BaseSpec, spans: list) -> str:
    blob = json.dumps({"sequence": sequence_digest, "kind": spec.kind, "flank": spec.flank, "seeds": spec.seeds,
                       "weights": weights_fingerprint(spec), "spans": [list(s) for s in spans]}, sort_keys=True)
    return hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()


def _safe(contig: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", contig)


def _crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            crc = zlib.crc32(block, crc)
    return crc


class ScoreCache:
    """``folder/<contig>.<key>.*``: :meth:`load` (memory-mapped, checked) or :meth:`create` + :meth:`commit`."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def paths(self, contig: str, key: str) -> tuple[list[Path], Path]:
        stem = f"{_safe(contig)}.{key}"
        return [self.folder / f"{stem}.{s}.npy" for s in STRANDS], self.folder / f"{stem}.json"

    def load(self, contig: str, key: str, length: int):
        """(plus, minus) read-only memory maps of shape (length, 3), or None (absent, stale, damaged)."""
        files, meta = self.paths(contig, key)
        if not meta.is_file() or not all(p.is_file() for p in files):
            return None
        try:
            crcs = json.loads(meta.read_text())["crc32"]
            if [_crc(p) for p in files] != crcs:
                return None
            arrs = [np.load(p, mmap_mode="r") for p in files]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if any(a.shape != (length, 3) or a.dtype != np.float32 for a in arrs):
            return None
        return arrs[0], arrs[1]

    def create(self, contig: str, key: str, length: int):
        """Zeroed writable (plus, minus) memory maps under temporary names."""
        self.folder.mkdir(parents=True, exist_ok=True)
        files, _ = self.paths(contig, key)
        return tuple(np.lib.format.open_memmap(p.with_suffix(".tmp.npy"), mode="w+", dtype=np.float32,
                                               shape=(length, 3)) for p in files)

    def commit(self, contig: str, key: str, arrays) -> None:
        """Flush, rename into place, record the CRCs (the JSON last: it marks the entry complete)."""
        files, meta = self.paths(contig, key)
        for p, a in zip(files, arrays):
            a.flush()
            del a
            p.with_suffix(".tmp.npy").replace(p)
        tmp = meta.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"crc32": [_crc(p) for p in files]}))
        tmp.replace(meta)

    def drop_others(self, contig: str, key: str) -> None:
        """Remove entries of ``contig`` with another key (stale scores of an edited input)."""
        keep = {p.name for p in self.paths(contig, key)[0]} | {self.paths(contig, key)[1].name}
        for p in self.folder.glob(f"{_safe(contig)}.*"):
            if p.name not in keep:
                p.unlink(missing_ok=True)
