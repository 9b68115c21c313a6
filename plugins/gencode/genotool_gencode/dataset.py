"""Per-base label data of `gencode preprocess` (``{split}.jsonl`` chunks) as torch datasets, for
the models over strand-aware label states (``--states strand``)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from genotool.errors import UserError
from genotool_gencode.encoders import encode_sequence
from genotool_gencode.labels import NUM_LABELS, to_states


class ChunkDataset(torch.utils.data.Dataset):
    """Chunks of one split: items are (x (T,) uint8 base indices, y (T,) uint8 targets).

    Targets are strand-aware states (labels.py) when ``states`` is True, else the 11 labels.
    Chunks written before the strand track existed (no ``minus`` key) count as plus strand.
    """

    def __init__(self, path: Path, max_chunks: int | None = None, crop: int | None = None, states: bool = True):
        self.xs, self.ys, self.meta = [], [], []
        self.missing_strand = 0
        self.crop = crop if crop and crop > 0 else None
        if not path.is_file():
            raise UserError(f"--data: {path.name} not found in {path.parent} (run `genotool gencode preprocess`)")
        with open(path) as fh:
            for n, line in enumerate(fh, 1):
                if max_chunks is not None and len(self.xs) >= max_chunks:
                    break
                try:
                    rec = json.loads(line)
                    x = encode_sequence(rec["sequence"])
                    y = torch.tensor(rec["labels"], dtype=torch.uint8)
                    minus = torch.zeros(len(y), dtype=torch.bool)
                    if "minus" not in rec:
                        self.missing_strand += 1
                    for a, b in rec.get("minus", ()):
                        minus[int(a):int(b)] = True
                except (ValueError, KeyError, TypeError) as exc:
                    raise UserError(f"{path}: line {n}: not a preprocessed chunk ({exc})") from None
                if len(x) != len(y):
                    raise UserError(f"{path}: line {n}: sequence and labels differ in length")
                if int(y.max()) >= NUM_LABELS:
                    raise UserError(f"{path}: line {n}: label {int(y.max())} outside 0..{NUM_LABELS - 1}")
                self.xs.append(x)
                self.ys.append(to_states(y, minus) if states else y)
                self.meta.append((rec.get("chrom", "?"), int(rec.get("start", 0)), int(rec.get("end", len(x)))))
        if not self.xs:
            raise UserError(f"--data: {path} has no chunks (empty split)")

    def __len__(self):
        return len(self.xs)

    def __getitem__(self, i):
        x, y = self.xs[i], self.ys[i]
        if self.crop is not None and len(x) > self.crop:
            # a random window per visit (torch RNG: seeded and checkpointed by the engine)
            s = int(torch.randint(0, len(x) - self.crop + 1, (1,)))
            return x[s:s + self.crop], y[s:s + self.crop]
        return x, y

    @property
    def max_length(self) -> int:
        m = max(len(x) for x in self.xs)
        return min(m, self.crop) if self.crop else m


def collate(items):
    """list of (x, y) -> (x (B, T) long, y (B, T) long, lengths (B,) long), zero-padded."""
    lengths = torch.tensor([len(x) for x, _ in items], dtype=torch.long)
    T = int(lengths.max())
    x = torch.full((len(items), T), 4, dtype=torch.long)
    y = torch.zeros((len(items), T), dtype=torch.long)
    for i, (xi, yi) in enumerate(items):
        x[i, :len(xi)] = xi.long()
        y[i, :len(yi)] = yi.long()
    return x, y, lengths
