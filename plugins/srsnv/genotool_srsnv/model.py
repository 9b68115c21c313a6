"""Encoders (vocabularies) and the CNN.

Batch layout (what :class:`RecordBatcher` yields and :class:`SRSNVNet` consumes):

* ``idx``   int64 (B, 3, L): read_base, ref_base, t0 as vocabulary indices (0 = padding/unknown)
* ``num``   float32 (B, 5, L): qual/10, tp (clipped to [-4, 4]), focus, softclip, valid
* ``cnum``  float32 (B, 4): strand, MAPQ/60, rq, mixed
* ``ccat``  int64 (B, 3): tm, st, et indices
* ``focus`` int64 (B,): focus column (inside the window)
* ``summary`` float32 (B, 7): whole-record summaries (see :func:`read_summary`)
  (idx/num hold the ``window`` columns centred on the focus; L when window >= L)
* ``label`` float32 (B,) (absent when predicting)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from genotool_srsnv import featuremap as fm


# ------------------------------------------------------------------------------------------
# vocabularies

def known_vocab() -> dict:
    """Schema vocabularies. Lists map index i+1 -> value (0 is padding/unknown)."""
    return {"source": "known",
            "base": [ord(b) for b in fm.BASES] + [ord("-")],
            "t0": list(fm.T0_LEVELS),
            "tm": list(fm.TM_VALUES), "st": list(fm.ST_VALUES), "et": list(fm.ST_VALUES)}


def scan_vocab(pos: np.ndarray, cat: np.ndarray) -> dict:
    """Vocabularies rebuilt from cached records (``--encoder-vocab-source scan``)."""
    bases = np.union1d(np.unique(pos[:, 0]), np.unique(pos[:, 1]))
    t0 = np.unique(pos[:, 4])
    return {"source": "scan",
            "base": [int(b) for b in bases if b != 0],
            "t0": [int(t) for t in t0 if t != 0],
            "tm": sorted(set(cat[:, 0].tolist()) - {""}),
            "st": sorted((set(cat[:, 1].tolist()) | set(cat[:, 2].tolist())) - {""}),
            "et": sorted((set(cat[:, 1].tolist()) | set(cat[:, 2].tolist())) - {""})}


def _lut(values) -> np.ndarray:
    lut = np.zeros(256, dtype=np.uint8)
    for i, v in enumerate(values):
        lut[int(v)] = i + 1
    return lut


def encode_records(pos: np.ndarray, num: np.ndarray, cat: np.ndarray, vocab: dict) -> dict:
    """Vocabulary-encode cached records once (host memory, compact dtypes).

    pos uint8 (N, 8, L) -> idx uint8 (N, 3, L), raw uint8 (N, 5, L) [qual, tp, focus, softclip, valid];
    cat str (N, 3) -> ccat int64 (N, 3); num float32 (N, 4) -> cnum float32 (N, 4) (MAPQ / 60).
    """
    base = _lut(vocab["base"])
    # lower-case bases share the upper-case index
    for v in vocab["base"]:
        if 65 <= v <= 90:
            base[v + 32] = base[v]
    t0 = _lut(vocab["t0"])
    idx = np.empty((pos.shape[0], 3, pos.shape[2]), dtype=np.uint8)
    idx[:, 0] = base[pos[:, 0]]
    idx[:, 1] = base[pos[:, 1]]
    idx[:, 2] = t0[pos[:, 4]]
    raw = np.ascontiguousarray(pos[:, [2, 3, 5, 6, 7]])
    ccat = np.zeros(cat.shape, dtype=np.int64)
    for j, key in enumerate(("tm", "st", "et")):
        table = {v: i + 1 for i, v in enumerate(vocab[key])}
        ccat[:, j] = [table.get(v, 0) for v in cat[:, j]]
    cnum = num.astype(np.float32).copy()
    cnum[:, 1] /= 60.0
    focus = pos[:, 5].argmax(axis=1).astype(np.int64)
    return {"idx": idx, "raw": raw, "ccat": ccat, "cnum": cnum, "focus": focus,
            "summary": read_summary(pos, focus)}


def read_summary(pos: np.ndarray, focus: np.ndarray) -> np.ndarray:
    """Whole-record summaries, float32 (N, 7): length, focus position from both ends, other
    mismatches, gap columns (indels), soft-clipped columns, mean quality (scaled to ~[0, 1]).
    Computed once from the full L columns so the CNN can look at a window around the focus."""
    out = np.zeros((pos.shape[0], 7), dtype=np.float32)
    step = 8192
    for a in range(0, pos.shape[0], step):
        p = pos[a:a + step]
        valid = p[:, 7].astype(np.float32)
        n = np.maximum(valid.sum(1), 1)
        read, ref = p[:, 0], p[:, 1]
        mism = ((read != ref) & (read != 45) & (ref != 45) & (read > 0) & (ref > 0)).sum(1) - 1
        gaps = ((read == 45) | (ref == 45)).sum(1)
        f = focus[a:a + step].astype(np.float32)
        out[a:a + step] = np.stack([n / 300, f / n, (n - 1 - f) / n, mism / 10, gaps / 5, p[:, 6].sum(1) / 30,
                                    (p[:, 2] * valid).sum(1) / n / 40], axis=1)
    return out


class RecordBatcher(torch.utils.data.Dataset):
    """Map-style dataset over encoded records; ``__getitems__`` builds a whole batch at once
    (vectorised gather instead of per-sample collation)."""

    def __init__(self, enc: dict, rows: np.ndarray, labels: np.ndarray | None = None, window: int = 96):
        self.enc = enc
        self.window = window
        self.rows = np.asarray(rows, dtype=np.int64)
        self.labels = labels

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        return self.__getitems__([i])

    def __getitems__(self, indices):
        r = self.rows[np.asarray(indices, dtype=np.int64)]
        e = self.enc
        idx, raw, focus = e["idx"][r], e["raw"][r], e["focus"][r]
        length = idx.shape[-1]
        if self.window < length:
            # the window of columns centred on the focus; columns outside the record are padding
            cols = focus[:, None] - self.window // 2 + np.arange(self.window)[None, :]
            inside = ((cols >= 0) & (cols < length))[:, None, :]
            cols = np.clip(cols, 0, length - 1)[:, None, :]
            idx = np.take_along_axis(idx, np.broadcast_to(cols, (len(r), 3, self.window)), 2) * inside
            raw = np.take_along_axis(raw, np.broadcast_to(cols, (len(r), 5, self.window)), 2) * inside
            focus = np.full(len(r), self.window // 2, dtype=np.int64)
        raw = torch.from_numpy(np.ascontiguousarray(raw))
        num = raw.float()
        num[:, 0] /= 10.0
        num[:, 1] = raw[:, 1].view(torch.int8).float().clamp_(-4, 4)
        out = {"idx": torch.from_numpy(np.ascontiguousarray(idx)).long(), "num": num,
               "cnum": torch.from_numpy(e["cnum"][r]), "ccat": torch.from_numpy(e["ccat"][r]),
               "focus": torch.from_numpy(focus), "summary": torch.from_numpy(e["summary"][r])}
        if self.labels is not None:
            out["label"] = torch.from_numpy(self.labels[r].astype(np.float32))
        return out


def passthrough(batch):
    """collate_fn: ``__getitems__`` already returns the batch."""
    return batch


# ------------------------------------------------------------------------------------------
# network

class ResBlock(nn.Module):
    """Pre-activation residual block: BN-GELU-Conv(k=3, dilation d) x 2. (B, C, L) -> (B, C, L)"""

    def __init__(self, c: int, dilation: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.BatchNorm1d(c), nn.GELU(), nn.Conv1d(c, c, 3, padding=dilation, dilation=dilation),
            nn.BatchNorm1d(c), nn.GELU(), nn.Dropout(dropout), nn.Conv1d(c, c, 3, padding=dilation, dilation=dilation))

    def forward(self, x):
        return x + self.net(x)


class SRSNVNet(nn.Module):
    """Residual dilated 1D CNN over read columns with attention pooling + focus features.

    Input: a batch dict (see module docstring). Output: logits (B,).

    * Per-position input = [read emb 8, ref emb 8, t0 emb 4, qual/10, tp, focus, softclip, valid,
      read != ref] (26 channels) over the ``window`` columns centred on the focus, cut by
      :class:`RecordBatcher` (columns outside the record are padding; window >= L: whole record).
    * Read-level constants (tm/st/et embeddings, strand, MAPQ, rq, mixed) plus summaries of the
      whole record (length, focus position from both ends, mismatch/indel/soft-clip counts, mean
      quality) are projected to C, added to every position (every layer is conditioned on them)
      and fed to the head.
    * Head: [attention-pooled features, features at the focus, constants] -> MLP -> logit.
    """

    def __init__(self, n_base: int, n_t0: int, n_tm: int, n_st: int, channels: int = 64,
                 dilations=(1, 1, 2, 2, 4, 4), dropout: float = 0.1, window: int = 96, gap_index: int = -1):
        super().__init__()
        self.config = {"n_base": n_base, "n_t0": n_t0, "n_tm": n_tm, "n_st": n_st, "channels": channels,
                       "dilations": list(dilations), "dropout": dropout, "window": window, "gap_index": gap_index}
        self.gap_index = gap_index
        c = channels
        self.window = window
        self.read_emb = nn.Embedding(n_base + 1, 8, padding_idx=0)
        self.ref_emb = nn.Embedding(n_base + 1, 8, padding_idx=0)
        self.t0_emb = nn.Embedding(n_t0 + 1, 4, padding_idx=0)
        self.tm_emb = nn.Embedding(n_tm + 1, 4)
        self.st_emb = nn.Embedding(n_st + 1, 4)
        self.et_emb = nn.Embedding(n_st + 1, 4)
        n_const = 12 + 4 + 7
        self.const = nn.Sequential(nn.Linear(n_const, c), nn.GELU(), nn.Linear(c, c))
        self.stem = nn.Conv1d(26, c, 5, padding=2)
        self.blocks = nn.Sequential(*[ResBlock(c, d, dropout) for d in dilations])
        self.norm = nn.BatchNorm1d(c)
        self.attn = nn.Conv1d(c, 1, 1)
        self.head = nn.Sequential(nn.Linear(3 * c, c), nn.GELU(), nn.Dropout(dropout), nn.Linear(c, 1))

    def forward(self, batch) -> torch.Tensor:
        idx, num, fpos = batch["idx"], batch["num"], batch["focus"]
        read, ref, t0 = idx[:, 0], idx[:, 1], idx[:, 2]
        summary = batch["summary"].to(num.dtype)
        valid = num[:, 4:5]
        mism = ((read != ref) & (read > 0) & (ref > 0)).unsqueeze(1).to(num.dtype)
        x = torch.cat([self.read_emb(read).transpose(1, 2), self.ref_emb(ref).transpose(1, 2),
                       self.t0_emb(t0).transpose(1, 2), num, mism], dim=1)
        ccat = batch["ccat"]
        const = torch.cat([self.tm_emb(ccat[:, 0]), self.st_emb(ccat[:, 1]), self.et_emb(ccat[:, 2]),
                           batch["cnum"], summary], dim=1)
        cvec = self.const(const)
        h = self.stem(x) + cvec.unsqueeze(-1)
        h = self.blocks(h)
        h = torch.nn.functional.gelu(self.norm(h))
        score = self.attn(h).squeeze(1).float()
        score = score.masked_fill(valid.squeeze(1) <= 0, -1e4)
        w = torch.softmax(score, dim=-1).to(h.dtype)
        pooled = torch.einsum("bcl,bl->bc", h, w)
        f = fpos.view(-1, 1, 1).expand(-1, h.shape[1], 1)
        at_focus = h.gather(2, f).squeeze(-1)
        return self.head(torch.cat([pooled, at_focus, cvec], dim=1)).squeeze(-1)


def build_model(vocab: dict, channels: int, dilations, dropout: float = 0.1, window: int = 96) -> SRSNVNet:
    return SRSNVNet(len(vocab["base"]), len(vocab["t0"]), len(vocab["tm"]), max(len(vocab["st"]), len(vocab["et"])),
                    channels=channels, dilations=dilations, dropout=dropout, window=window,
                    gap_index=(vocab["base"].index(ord("-")) + 1) if ord("-") in vocab["base"] else -1)


def model_from_config(cfg: dict) -> SRSNVNet:
    return SRSNVNet(cfg["n_base"], cfg["n_t0"], cfg["n_tm"], cfg["n_st"], channels=cfg["channels"],
                    dilations=cfg["dilations"], dropout=cfg["dropout"], window=cfg.get("window", 96),
                    gap_index=cfg.get("gap_index", -1))
