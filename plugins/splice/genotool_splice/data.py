"""Candidate rows -> tensors for the meta-layer (windows, standardised features, labels, weights)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genotool.errors import UserError
from genotool_splice.features import FEATURE_NAMES, standardise
from genotool_splice.preprocess import CANDIDATES, SUMMARY
from genotool_splice.seqio import from_text


@dataclass
class Rows:
    """One split: window (n, W) uint8, raw features (n, 43) float32, label (n,), weight (n,), frame (meta cols)."""

    window: np.ndarray
    features: np.ndarray
    label: np.ndarray
    weight: np.ndarray
    info: object            # pandas DataFrame: chrom, position, strand, gene, candidate

    def __len__(self) -> int:
        return len(self.label)


def read_summary(data: Path) -> dict:
    data = Path(data)
    if not (data / CANDIDATES).is_file() or not (data / SUMMARY).is_file():
        raise UserError(f"--data: {data} is not a `splice preprocess` output (no {CANDIDATES}/{SUMMARY})")
    return json.loads((data / SUMMARY).read_text())


def load_split(data: Path, split: str) -> Rows:
    import pyarrow.parquet as pq

    read_summary(data)
    cols = ["chrom", "position", "strand", "gene", "label", "split", "sample_weight", "candidate", "sequence",
            *FEATURE_NAMES]
    try:
        table = pq.read_table(Path(data) / CANDIDATES, columns=cols, filters=[("split", "=", split)])
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign parquet is the user's input
        raise UserError(f"--data: {Path(data) / CANDIDATES} cannot be read ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    df = table.to_pandas()
    feats = df[list(FEATURE_NAMES)].to_numpy(np.float32)
    win = from_text(df["sequence"].tolist())
    return Rows(win, feats, df["label"].to_numpy(np.int64), df["sample_weight"].to_numpy(np.float32),
                df[["chrom", "position", "strand", "gene", "candidate"]])


class MetaDataset(torch.utils.data.Dataset):
    """Items (window (W,) uint8, features (43,) float32, label int64, weight float32)."""

    def __init__(self, rows: Rows, stats: dict):
        self.w = torch.from_numpy(rows.window)
        self.f = torch.from_numpy(standardise(rows.features, stats))
        self.y = torch.from_numpy(rows.label)
        self.sw = torch.from_numpy(np.array(rows.weight, dtype=np.float32))

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.w[i], self.f[i], self.y[i], self.sw[i]


def base_probs(features: np.ndarray) -> np.ndarray:
    """The base model's own (donor, acceptor, neither) probabilities from the raw features: (n, 3)."""
    return features[:, [FEATURE_NAMES.index("donor_score"), FEATURE_NAMES.index("acceptor_score"),
                        FEATURE_NAMES.index("neither_score")]].astype(np.float64)
