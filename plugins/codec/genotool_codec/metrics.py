"""How good a reconstruction is and what it costs: signal metrics, codebook use, actual bits/sample.

Shared by ``validate`` (signal metrics) and ``dorado-validate`` (basecalled identity): both code
the same reads at several rates and report these side by side.
"""

from __future__ import annotations

import math

import numpy as np


def log_spectral_distance(a: np.ndarray, b: np.ndarray, nfft: int = 256) -> float:
    """RMS difference in dB of the averaged power spectra of two equal-length signals (n,)."""
    n = (min(len(a), len(b)) // nfft) * nfft
    if n == 0:
        return float("nan")
    win = np.hanning(nfft)

    def psd(x):
        seg = x[:n].reshape(-1, nfft)
        seg = seg - seg.mean(1, keepdims=True)
        return (np.abs(np.fft.rfft(seg * win, axis=1)) ** 2).mean(0) + 1e-10

    pa, pb = psd(a), psd(b)
    return float(np.sqrt(np.mean((10 * np.log10(pa / pb)) ** 2)))


def signal_metrics(orig: list[np.ndarray], recon: list[np.ndarray]) -> dict:
    """Pooled metrics over reads of pA signals: L1, RMSE, SNR (dB, vs the read's own variance), LSD."""
    err_abs = err_sq = sig_sq = n = 0.0
    lsd = []
    for o, r in zip(orig, recon):
        e = o.astype(np.float64) - r
        err_abs += np.abs(e).sum()
        err_sq += (e * e).sum()
        sig_sq += ((o - np.median(o)) ** 2).sum()
        n += len(o)
        lsd.append(log_spectral_distance(o, r))
    return {"l1_pa": err_abs / n, "rmse_pa": math.sqrt(err_sq / n),
            "snr_db": 10 * math.log10(sig_sq / max(err_sq, 1e-12)),
            "spectral_distance_db": float(np.nanmean(lsd))}


def code_stats(codes: list[np.ndarray], k: int) -> dict:
    """Usage fraction and perplexity of every codebook level over all tokens."""
    allc = np.concatenate(codes)
    usage, ppl = [], []
    for lvl in range(allc.shape[1]):
        p = np.bincount(allc[:, lvl], minlength=k) / len(allc)
        usage.append(float((p > 0).mean()))
        nz = p[p > 0]
        ppl.append(float(np.exp(-(nz * np.log(nz)).sum())))
    return {"usage": usage, "perplexity": ppl, "usage_mean": float(np.mean(usage)),
            "perplexity_mean": float(np.mean(ppl)), "tokens": int(len(allc))}


def select_reads(inp, max_reads: int | None, trim: int | None):
    """The first ``max_reads`` reads of a :class:`~genotool_codec.pod5_io.Pod5Input` (all when
    None), each cut to its first ``trim`` samples when ``trim`` is given."""
    inp = inp.head(max_reads)
    if trim:
        for rd in inp.reads:
            rd.signal = rd.signal[:trim]
    return inp


def codec_rate(runner, inp, codes, prior, total: int) -> dict:
    """Nominal bits/sample and the actual token-file bits/sample, fixed width and entropy-coded."""
    from genotool_codec.coding import token_file_bytes
    from genotool_codec.config import bits_per_sample as nominal

    fixed = 8 * token_file_bytes(runner, inp, codes, None) / max(total, 1)
    coded = 8 * token_file_bytes(runner, inp, codes, prior) / max(total, 1) if prior else fixed
    return {"bits_per_sample": nominal(runner.cfg["model"], runner.n), "fixed_width_file_bits_per_sample": fixed,
            "token_file_bits_per_sample": coded, "entropy_coded": prior is not None}


def pa_of(reads, adc: list[np.ndarray]) -> list[np.ndarray]:
    """Current in pA (n,) float32 of int16 ADC signals, with each read's calibration."""
    return [(a.astype(np.float32) + np.float32(r.offset)) * np.float32(r.scale) for r, a in zip(reads, adc)]
