"""Dense training tracks of the genome-wide meta-layer: every position of the annotated transcript
bodies of a split, with context, in transcript orientation.

``preprocess`` writes, per split (train, val), one interval per merged body span of a strand
(padded by ``pad`` nt of context on each side, clipped to the split's region), concatenated:

* ``tracks/<split>.codes.u8`` (N,) uint8 sequence codes (A, C, G, T, N = 0..4);
* ``tracks/<split>.probs.f32`` (N, 3) float32 base probabilities (neither, acceptor, donor);
* ``tracks/<split>.labels.i8`` (N,) int8: donor 0 / acceptor 1 / neither 2 inside a body,
  -1 in the padding (context only, never a training target);
* ``tracks/<split>.json``: N, pad and the intervals (contig, strand, genomic start/end, offset).

Files are appended contig by contig (memory is one contig's intervals) and read back as memory
maps. :class:`BlockDataset` cuts them into training blocks of ``block`` target positions plus the
net's margin each side (N codes / zero probabilities beyond an interval, as at a sequence end).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FILES = {"codes": ("u8", np.uint8, ()), "probs": ("f32", np.float32, (3,)), "labels": ("i8", np.int8, ())}


def body_spans(transcripts, strand: str) -> list[tuple[int, int]]:
    """Merged [start, end) bodies (first exon start .. last exon end) of one strand's transcripts."""
    from genotool.genome.intervals import merge_intervals

    return merge_intervals((t.start, t.end) for t in transcripts if t.strand == strand)


class TrackWriter:
    """Appends intervals of one split to ``folder/<split>.*`` (see the module docstring)."""

    def __init__(self, folder: Path, split: str, pad: int):
        self.folder, self.split, self.pad = Path(folder), split, pad
        self.folder.mkdir(parents=True, exist_ok=True)
        self.handles = {k: open(self.folder / f"{split}.{ext}.tmp", "wb") for k, (ext, _, _) in FILES.items()}
        self.intervals: list[dict] = []
        self.n = 0

    def add(self, contig: str, strand: str, start: int, end: int, codes_t, probs_t, labels_t) -> None:
        """One interval [start, end) (genomic) given in transcript orientation."""
        n = end - start
        assert len(codes_t) == n and probs_t.shape == (n, 3) and len(labels_t) == n
        self.handles["codes"].write(np.ascontiguousarray(codes_t, np.uint8).tobytes())
        self.handles["probs"].write(np.ascontiguousarray(probs_t, np.float32).tobytes())
        self.handles["labels"].write(np.ascontiguousarray(labels_t, np.int8).tobytes())
        self.intervals.append({"contig": contig, "strand": strand, "start": int(start), "end": int(end),
                               "offset": self.n})
        self.n += n

    def close(self) -> dict:
        for k, fh in self.handles.items():
            fh.close()
            Path(fh.name).replace(self.folder / f"{self.split}.{FILES[k][0]}")
        info = {"positions": self.n, "pad": self.pad, "intervals": self.intervals}
        (self.folder / f"{self.split}.json").write_text(json.dumps(info) + "\n")
        return info


class Tracks:
    """One split's tracks as read-only memory maps."""

    def __init__(self, folder: Path, split: str):
        folder = Path(folder)
        info = json.loads((folder / f"{split}.json").read_text())
        self.pad, self.intervals, n = info["pad"], info["intervals"], info["positions"]
        for k, (ext, dtype, shape) in FILES.items():
            arr = np.memmap(folder / f"{split}.{ext}", dtype=dtype, mode="r", shape=(n, *shape)) if n \
                else np.zeros((0, *shape), dtype)
            setattr(self, k, arr)

    def __len__(self) -> int:
        return len(self.labels)

    def blocks(self, block: int) -> list[tuple[int, int, int]]:
        """(offset of the first target, number of targets, interval start, interval end) per block:
        each interval's labelled part tiled by ``block`` positions."""
        out = []
        for i, iv in enumerate(self.intervals):
            a = iv["offset"]
            b = self.intervals[i + 1]["offset"] if i + 1 < len(self.intervals) else len(self.labels)
            lab = np.flatnonzero(self.labels[a:b] >= 0)
            if len(lab) == 0:
                continue
            for s in range(a + int(lab[0]), a + int(lab[-1]) + 1, block):
                out.append((s, min(block, a + int(lab[-1]) + 1 - s), a, b))
        return out

    def window(self, lo: int, hi: int, a: int, b: int):
        """codes, probs, labels of offsets [lo, hi), N / zero / -1 outside the interval [a, b)."""
        n = hi - lo
        codes = np.full(n, 4, np.uint8)
        probs = np.zeros((n, 3), np.float32)
        labels = np.full(n, -1, np.int8)
        s, e = max(lo, a), min(hi, b)
        if s < e:
            codes[s - lo:e - lo] = self.codes[s:e]
            probs[s - lo:e - lo] = self.probs[s:e]
            labels[s - lo:e - lo] = self.labels[s:e]
        return codes, probs, labels


class BlockDataset:
    """torch-style dataset of blocks: items (codes (block + 2m,) uint8, probs (block + 2m, 3) float32,
    labels (block,) int64 with -1 = ignore)."""

    def __init__(self, tracks: Tracks, block: int, margin: int):
        if margin > tracks.pad:
            from genotool.errors import UserError

            raise UserError(f"--data: the tracks carry {tracks.pad} nt of context, the meta-layer needs {margin} "
                            f"(a smaller --window, or preprocess with a larger --window)")
        self.tracks, self.block, self.margin = tracks, block, margin
        self.index = tracks.blocks(block)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i):
        import torch

        s, n, a, b = self.index[i]
        m, S = self.margin, self.block
        codes, probs, labels = self.tracks.window(s - m, s + S + m, a, b)
        y = labels[m:m + S].astype(np.int64)
        y[n:] = -1
        return torch.from_numpy(codes), torch.from_numpy(probs), torch.from_numpy(y)
