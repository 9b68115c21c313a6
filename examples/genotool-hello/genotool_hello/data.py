"""Reading sequences, encoding them, and the torch Dataset.

Encoding: bases A, C, G, T -> codes 0..3, N -> 4 (stored as uint8, shape (N, L)); the dataset
one-hot encodes on the fly to float32 (4, L) with all-zero columns for N. ``preprocess`` writes
``data.npz`` with ``codes`` (N, L) uint8, ``labels`` (N,) float32 (NaN when unknown), ``ids``
and ``split`` (N,) uint8: 0 train, 1 validation, 2 test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genotool.errors import UserError

SPLITS = {"train": 0, "val": 1, "test": 2}
_LUT = np.full(256, 255, dtype=np.uint8)
for _code, _base in enumerate("ACGTN"):
    _LUT[ord(_base)] = _code
    _LUT[ord(_base.lower())] = _code


def read_tsv(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """ids, sequences, labels (NaN where the column is absent or empty) from a TSV."""
    ids, seqs, labels = [], [], []
    with open(path) as fh:
        header = fh.readline().rstrip("\n").split("\t")
        if "sequence" not in header:
            raise UserError(f"{path}: no 'sequence' column in the header")
        si = header.index("sequence")
        ii = header.index("id") if "id" in header else None
        li = header.index("label") if "label" in header else None
        for n, line in enumerate(fh, start=2):
            cols = line.rstrip("\n").split("\t")
            if len(cols) != len(header):
                raise UserError(f"{path}:{n}: expected {len(header)} columns, found {len(cols)}")
            ids.append(cols[ii] if ii is not None else f"row{n - 1}")
            seqs.append(cols[si])
            try:
                labels.append(float(cols[li]) if li is not None and cols[li] != "" else np.nan)
            except ValueError:
                raise UserError(f"{path}:{n}: label '{cols[li]}' is not a number") from None
    if not seqs:
        raise UserError(f"{path}: no sequences")
    return ids, seqs, np.asarray(labels, dtype=np.float32)


def encode(seqs: list[str], length: int, source: str = "input") -> np.ndarray:
    """(N, length) uint8 codes; shorter sequences are padded with N, longer ones truncated."""
    out = np.full((len(seqs), length), 4, dtype=np.uint8)
    for i, s in enumerate(seqs):
        codes = _LUT[np.frombuffer(s[:length].encode("ascii", "replace"), dtype=np.uint8)]
        if (codes == 255).any():
            bad = s[int(np.argmax(codes == 255))]
            raise UserError(f"{source}: sequence {i + 1} has a character '{bad}' that is not A/C/G/T/N")
        out[i, :len(codes)] = codes
    return out


def split_assignments(n: int, val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_val, n_test = int(round(n * val_fraction)), int(round(n * test_fraction))
    split = np.zeros(n, dtype=np.uint8)
    split[order[:n_val]] = SPLITS["val"]
    split[order[n_val:n_val + n_test]] = SPLITS["test"]
    return split


def load_npz(data_dir: Path) -> dict:
    path = Path(data_dir) / "data.npz"
    if not path.is_file():
        raise UserError(f"--data {data_dir}: no data.npz (run `genotool hello preprocess` first)")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def subset(data: dict, split: str | None) -> dict:
    """Rows of one split ('train', 'val', 'test') or all rows for None/'all'."""
    if split in (None, "all"):
        return data
    if split not in SPLITS:
        raise UserError(f"--split must be one of all, {', '.join(SPLITS)}; not '{split}'")
    keep = data["split"] == SPLITS[split]
    return {k: v[keep] for k, v in data.items()}


def make_dataset(codes: np.ndarray, labels: np.ndarray):
    """A torch Dataset of (one-hot (4, L) float32, label () float32)."""
    import torch
    from torch.utils.data import Dataset

    class OneHotDataset(Dataset):
        def __init__(self):
            self.codes = torch.from_numpy(codes.astype(np.int64))
            self.labels = torch.from_numpy(np.nan_to_num(labels, nan=0.0).astype(np.float32))
            # Row 4 (N) is all zeros: an unknown base contributes nothing to the convolution.
            self.table = torch.cat([torch.eye(4), torch.zeros(1, 4)])

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            return self.table[self.codes[i]].T.contiguous(), self.labels[i]

    return OneHotDataset()
