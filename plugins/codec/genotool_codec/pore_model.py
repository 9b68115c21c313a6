"""K-mer pore models (package data) and the chemistry table used by simulate and basecalling.

A pore model maps every k-mer (lexicographic ACGT order, index = base-4 number) to a z-scored
current level, its spread and the per-sample noise; ``pA = z * pa_stdv + pa_mean``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from genotool.errors import UserError

# Chemistry -> what a real run of it looks like. Basecallers choose their model from
# flow cell + kit + sample rate, so these must agree with each other.
CHEMISTRIES = {
    "r9.4.1": {"model": "dna_r9.4.1_400bps_6mer.npz", "sample_rate": 4000, "bases_per_second": 400,
               "flow_cell": "FLO-MIN106", "kit": "SQK-LSK109", "pore_type": "r9.4.1",
               "scrappie_model": "rgrgr_r941", "digitisation": 8192, "range": 1441.8},
    "r10.4.1": {"model": "dna_r10.4.1_400bps_9mer.npz", "sample_rate": 5000, "bases_per_second": 400,
                "flow_cell": "FLO-MIN114", "kit": "SQK-LSK114", "pore_type": "r10.4.1",
                "scrappie_model": "rgrgr_r10", "digitisation": 8192, "range": 1536.8},
}

_CODE = np.full(256, 255, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i


def chemistry(name: str) -> dict:
    key = name.lower().removeprefix("dna_")
    if key not in CHEMISTRIES:
        raise UserError(f"--chemistry must be one of {', '.join(CHEMISTRIES)}, not '{name}'")
    return {"name": key, **CHEMISTRIES[key]}


def chemistry_for(flow_cell: str, sample_rate: int) -> str | None:
    """Guess the chemistry of a POD5 run from its flow cell product code and sample rate."""
    for name, c in CHEMISTRIES.items():
        if c["flow_cell"] == flow_cell:
            return name
    for name, c in CHEMISTRIES.items():
        if c["sample_rate"] == int(sample_rate):
            return name
    return None


@dataclass
class PoreModel:
    name: str
    k: int
    level: np.ndarray        # (4**k,) float32, z units
    level_sd: np.ndarray     # (4**k,) float32, spread of the level between events, z units
    noise_sd: np.ndarray     # (4**k,) float32, per-sample noise, z units
    dwell_rel: np.ndarray    # (4**k,) float32, relative dwell (mean 1)
    pa_mean: float
    pa_stdv: float

    def kmer_index(self, seq: bytes | str) -> np.ndarray:
        """Indices (len(seq) - k + 1,) int64 of every k-mer of an ACGT sequence."""
        s = seq.encode() if isinstance(seq, str) else seq
        codes = _CODE[np.frombuffer(s, dtype=np.uint8)].astype(np.int64)
        if (codes > 3).any():
            raise ValueError("sequence has non-ACGT characters")
        n = len(codes) - self.k + 1
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        idx = np.zeros(n, dtype=np.int64)
        for j in range(self.k):
            idx = idx * 4 + codes[j:j + n]
        return idx


@lru_cache(maxsize=4)
def load(chem: str) -> PoreModel:
    c = chemistry(chem)
    ref = resources.files("genotool_codec") / "data" / "pore_models" / c["model"]
    with resources.as_file(ref) as path, np.load(path, allow_pickle=False) as d:
        level = d["current.mean"].astype(np.float32)
        level_sd = d["current.stdv"].astype(np.float32) if "current.stdv" in d.files else np.zeros_like(level)
        noise = d["current_sd.mean"].astype(np.float32) if "current_sd.mean" in d.files else np.full_like(level, 0.08)
        if "dwell.mean" in d.files:
            dw = d["dwell.mean"].astype(np.float32)
            dw = np.clip(dw / max(float(dw.mean()), 1e-6), 0.5, 2.0)
        else:
            dw = np.ones_like(level)
        return PoreModel(name=str(d["_name"]), k=int(d["_k"]), level=level, level_sd=level_sd,
                         noise_sd=noise, dwell_rel=dw.astype(np.float32),
                         pa_mean=float(d["_pa_mean"]), pa_stdv=float(d["_pa_stdv"]))
