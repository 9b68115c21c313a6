"""Non-learned lossy baselines for raw current, measured on the same reads as the codec.

* **Bit rounding** (slow5tools ``--lossy-sig-bits`` style): drop the ``k`` low bits of the int16
  ADC samples (arithmetic shift), store the shifted samples with POD5's lossless VBZ coder
  (``pod5.signal_tools.vbz_compress_signal``), decode at the bin centre ``(q << k) + 2^(k-1)``.
  Bits/sample come from the actual VBZ bytes.
* **Error-bounded predictive quantisation** (in the manner of LFZip, Chandak et al. 2020): a
  linear predictor of order :data:`ORDER` (least squares per read, on the original signal; its
  coefficients are stored) predicts each sample from the *reconstructed* past; the residual is
  quantised with step ``2e + 1`` so every sample is within ``e`` ADC units of the original; the
  quantised residuals are entropy-coded (ANS, constriction) under their empirical distribution,
  whose table is stored too. Bits/sample = ANS words + table + per-read coefficients and seed samples.

Each returns per-read int16 reconstructions (same lengths) and the coded size in bits.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from genotool.errors import UserError

ORDER = 3            # predictor order: LFZip uses NLMS of order ~32; a short LS predictor keeps a pure-Python loop fast
ROUND_BITS = (1, 2, 3, 4, 5)
MAX_ERRORS = (4, 8, 16)


def check_round_bits(k: int) -> int:
    if not 1 <= int(k) <= 12:
        raise UserError(f"bit rounding: k must be between 1 and 12 (low bits dropped of int16 ADC), not {k}")
    return int(k)


def bit_round(signals: list[np.ndarray], k: int) -> tuple[list[np.ndarray], int]:
    """Drop the k low bits of each int16 signal; (bin-centre reconstructions, VBZ-coded bits)."""
    from pod5.signal_tools import vbz_compress_signal

    k = check_round_bits(k)
    out, bits = [], 0
    for s in signals:
        q = (np.asarray(s, np.int16).astype(np.int32) >> k).astype(np.int16)
        bits += 8 * len(vbz_compress_signal(q))
        rec = (q.astype(np.int32) << k) + (1 << (k - 1))
        out.append(np.clip(rec, -32768, 32767).astype(np.int16))
    return out, bits


def _ls_predictor(x: np.ndarray, order: int) -> tuple[float, np.ndarray]:
    """(mean, coefficients (order,)) of x[t] - mean ~ sum_j c_j (x[t-1-j] - mean), least squares."""
    mu = float(np.mean(x))
    if len(x) <= 4 * order:
        return mu, np.zeros(order)
    d = x.astype(np.float64) - mu
    a = np.stack([d[order - 1 - j: len(d) - 1 - j] for j in range(order)], 1)
    c, *_ = np.linalg.lstsq(a, d[order:], rcond=None)
    return mu, c.astype(np.float32).astype(np.float64)   # stored as float32: use what the decoder sees


def _quantise_read(x: np.ndarray, e: int, mu: float, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sequential error-bounded coding of one read (ints): (quantised residuals, reconstruction)."""
    step = 2 * e + 1
    xs = x.astype(np.int64).tolist()
    p = len(c)
    hist = [int(round(mu))] * p              # reconstructed past, most recent first
    cs = [float(v) for v in c]
    qs, rec = [0] * len(xs), [0] * len(xs)
    for i, v in enumerate(xs):
        acc = mu
        for j in range(p):
            acc += cs[j] * (hist[j] - mu)
        pr = int(round(acc))
        q = (v - pr + e) // step             # floor division: |v - (pr + q*step)| <= e
        r = min(32767, max(-32768, pr + q * step))
        qs[i], rec[i] = q, r
        hist = [r] + hist[:-1]
    return np.asarray(qs, np.int64), np.asarray(rec, np.int16)


def predictive_quantise(signals: list[np.ndarray], e: int) -> tuple[list[np.ndarray], int]:
    """LFZip-style coding of int16 signals at max error ``e`` ADC units; (reconstructions, coded bits)."""
    import constriction

    if e < 1:
        raise UserError(f"predictive quantisation: the max error must be >= 1 ADC unit, not {e}")
    recs, qs, side_bits = [], [], 0
    for s in signals:
        mu, c = _ls_predictor(np.asarray(s), ORDER)
        q, r = _quantise_read(np.asarray(s), e, mu, c)
        recs.append(r)
        qs.append(q)
        side_bits += 32 * (1 + ORDER)       # mean + coefficients, float32
    allq = np.concatenate(qs) if qs else np.zeros(0, np.int64)
    if not len(allq):
        return recs, side_bits
    lo, hi = int(allq.min()), int(allq.max())
    counts = np.bincount(allq - lo, minlength=hi - lo + 1).astype(np.uint32)
    table_bits = 8 * len(zlib.compress(np.array([lo, hi], np.int32).tobytes() + counts.tobytes(), 9))
    model = constriction.stream.model.Categorical(counts / counts.sum(), perfect=False)
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse((allq - lo).astype(np.int32), model)
    words = coder.get_compressed()
    # Round trip check (cheap): the baseline's size is only honest if it decodes.
    back = constriction.stream.stack.AnsCoder(words).decode(model, len(allq)) + lo
    if not np.array_equal(back, allq):
        raise RuntimeError("predictive quantisation: ANS round trip failed")
    return recs, side_bits + table_bits + 32 * int(words.size)


def run_baselines(signals: list[np.ndarray], round_bits=ROUND_BITS, max_errors=MAX_ERRORS) -> list[dict]:
    """Every baseline at every setting: [{method, setting, label, adc: [int16], bits, bits_per_sample}]."""
    total = max(1, sum(len(s) for s in signals))
    rows = []
    for k in round_bits:
        adc, bits = bit_round(signals, k)
        rows.append({"method": "bit_round", "setting": int(k), "label": f"drop {k} bits + VBZ", "adc": adc,
                     "bits": bits, "bits_per_sample": bits / total})
    for e in max_errors:
        adc, bits = predictive_quantise(signals, int(e))
        rows.append({"method": "predictive", "setting": int(e), "label": f"LFZip-style max error {e}", "adc": adc,
                     "bits": bits, "bits_per_sample": bits / total})
    return rows


def int_list(text: str | None, what: str) -> list[int] | None:
    """``"1,2,3"`` -> [1, 2, 3] (None for an empty option); a one-line error naming ``what``."""
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{what}: expected a comma-separated list of integers, got '{text}'") from None


@dataclass
class BaselineConfig:
    """Non-learned baselines computed beside the codec: bit rounding at each k, LFZip-style
    predictive quantisation at each max error (ADC units); checked when made."""
    enabled: bool = True
    round_bits: list[int] = field(default_factory=lambda: list(ROUND_BITS))
    max_errors: list[int] = field(default_factory=lambda: list(MAX_ERRORS))

    def __post_init__(self):
        for k in self.round_bits:
            check_round_bits(k)
        for e in self.max_errors:
            if e < 1:
                raise UserError(f"--max-errors: each max error must be >= 1 ADC unit, not {e}")

    @classmethod
    def parse(cls, enabled: bool, round_bits: str, max_errors: str) -> "BaselineConfig":
        """From the options ``--baselines/--no-baselines``, ``--round-bits 1,2``, ``--max-errors 4,8``."""
        return cls(enabled=enabled, round_bits=int_list(round_bits, "--round-bits") or [],
                   max_errors=int_list(max_errors, "--max-errors") or [])

    def as_dict(self) -> dict | None:
        return {"round_bits": list(self.round_bits), "max_errors": list(self.max_errors)} if self.enabled else None
