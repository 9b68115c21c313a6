"""Signal-level validation (metrics, rate-distortion, HTML) and basecaller validation."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np

from genotool.errors import UserError

from genotool_codec import pod5_io
from genotool_codec.config import bits_per_sample


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


def select_reads(inputs: list[Path], expect_rate, max_reads: int | None, trim: int | None):
    from genotool_codec.predict import gather_reads

    files, reads = gather_reads(inputs, expect_rate)
    if max_reads:
        reads = reads[:max_reads]
    if trim:
        for rd in reads:
            rd.signal = rd.signal[:trim]
    return files, reads


def run_validate(model_path: Path, inputs: list[Path], out_dir: Path, *, levels: list[int] | None,
                 max_reads: int | None, window: int | None, batch: int = 16, precision: str | None = None) -> dict:
    from genotool.report import Report

    from genotool_codec import tokens
    from genotool_codec.predict import CodecRunner, reconstruct
    from genotool_codec.checkpoint import load_model

    model, meta = load_model(model_path)
    cfg = meta["config"]
    n_max = int(cfg["model"]["n_codebooks"])
    levels = sorted(set(levels or _default_levels(n_max)))
    files, reads = select_reads(inputs, cfg["data"].get("sample_rate"), max_reads, None)
    total = sum(len(r.signal) for r in reads)
    pod5_bytes = sum(f.stat().st_size for f in files)
    all_reads = sum(1 for f in files for _ in pod5_io.iter_reads(f))
    # Pro-rate the POD5 size to the reads used, so a --max-reads subset compares like with like.
    all_samples = sum(len(r.signal) for f in files for r in pod5_io.iter_reads(f))
    vbz_bps = 8 * pod5_bytes / max(all_samples, 1)
    rows, first = [], None
    for n in levels:
        runner = CodecRunner(model, cfg, window=window, batch=batch, n_codebooks=n, precision=precision)
        adc, pa_o, pa_d, codes = reconstruct(runner, reads)
        m = signal_metrics(pa_o, pa_d)
        cs = code_stats(codes, int(cfg["model"]["codebook_size"]))
        with tempfile.TemporaryDirectory() as td:
            tp = Path(td) / "t.tokens"
            tokens.write_tokens(tp, {"fingerprint": "", "model": cfg["model"], "n_codebooks": n,
                                     "codebook_size": int(cfg["model"]["codebook_size"]), "reads": [],
                                     "run_infos": []}, codes, [len(p) for p in pa_o], [0.0] * len(codes),
                                [1.0] * len(codes))
            tok_bytes = tp.stat().st_size + 16 * len(codes)  # + per-read id/calibration, roughly
        row = {"n_codebooks": n, "bits_per_sample": bits_per_sample(cfg["model"], n),
               "token_file_bits_per_sample": 8 * tok_bytes / max(total, 1),
               "size_vs_vbz": (8 * tok_bytes / max(total, 1)) / vbz_bps, **m,
               "usage_mean": cs["usage_mean"], "perplexity_mean": cs["perplexity_mean"]}
        rows.append(row)
        if n == n_max or first is None:
            first = (n, pa_o, pa_d, cs)
    n_show, pa_o, pa_d, cs = first
    out = {"model": str(model_path), "inputs": [str(f) for f in files], "reads": len(reads), "samples": total,
           "vbz_bits_per_sample": vbz_bps, "pod5_bytes": pod5_bytes, "pod5_reads": all_reads,
           "rate_distortion": rows, "codebooks_at_full_rate": cs}
    rep = Report("codec validation")
    rep.add_text(f"{len(reads)} reads, {total} samples; POD5 (VBZ) {vbz_bps:.2f} bits/sample.")
    rep.add_table("Rate-distortion (pA metrics)", rows)
    fig = rep.figure(9, 3.5)
    ax = fig.subplots()
    i = int(np.argmax([len(p) for p in pa_o]))
    s = slice(min(2000, len(pa_o[i]) // 4), min(2000, len(pa_o[i]) // 4) + 1500)
    ax.plot(pa_o[i][s], lw=0.7, label="original")
    ax.plot(pa_d[i][s], lw=0.7, label=f"reconstructed ({n_show} codebooks)")
    ax.set_xlabel("sample")
    ax.set_ylabel("current (pA)")
    ax.legend()
    rep.add_figure("Original vs reconstructed current", fig, png_path=out_dir / "overlay.png")
    fig = rep.figure(8, 3.5)
    a1, a2 = fig.subplots(1, 2)
    bps = [r["token_file_bits_per_sample"] for r in rows]
    a1.plot(bps, [r["rmse_pa"] for r in rows], "o-")
    a1.set_xlabel("bits/sample (token file)")
    a1.set_ylabel("RMSE (pA)")
    a2.plot(bps, [r["snr_db"] for r in rows], "o-")
    a2.axvline(vbz_bps, color="k", ls="--", label="POD5/VBZ (lossless)")
    a2.set_xlabel("bits/sample")
    a2.set_ylabel("SNR (dB)")
    a2.legend()
    rep.add_figure("Rate-distortion", fig, png_path=out_dir / "rate_distortion.png")
    fig = rep.figure(6, 3)
    ax = fig.subplots()
    ax.bar(range(len(cs["usage"])), cs["usage"])
    ax.set_xlabel("codebook level")
    ax.set_ylabel("usage")
    rep.add_figure("Codebook usage per level", fig, png_path=out_dir / "codebook_usage.png")
    rep.write(out_dir / "report.html")
    return out


def _default_levels(n: int) -> list[int]:
    return sorted({max(1, n // 4), max(1, n // 2), max(1, (3 * n) // 4), n})


# ---------------------------------------------------------------- basecaller validation
def basecall_validate(model_path: Path, inputs: list[Path], out_dir: Path, *, truth: Path | None,
                      n_codebooks: int | None, max_reads: int | None, trim: int | None,
                      dorado: str | None, dorado_model: str | None, scrappie_model: str | None,
                      threads: int = 1, window: int | None = None, batch: int = 16,
                      precision: str | None = None) -> dict:
    import pod5

    from genotool_codec import basecall
    from genotool_codec.checkpoint import load_model
    from genotool_codec.pore_model import chemistry, chemistry_for
    from genotool_codec.predict import CodecRunner, reconstruct
    from genotool_codec.simulate import read_fasta

    if bool(dorado) != bool(dorado_model):
        raise UserError("--dorado and --dorado-model go together")
    model, meta = load_model(model_path)
    cfg = meta["config"]
    files, reads = select_reads(inputs, cfg["data"].get("sample_rate"), max_reads, trim)
    truth_seqs = read_fasta(truth) if truth else {}
    runner = CodecRunner(model, cfg, window=window, batch=batch, n_codebooks=n_codebooks, precision=precision)
    adc, pa_o, pa_d, codes = reconstruct(runner, reads)
    # Trimmed original + generated POD5, keeping every read's metadata.
    keep = {r.read_id for r in reads}
    orig_sig = {r.read_id: r.signal for r in reads}
    gen_sig = {r.read_id: a for r, a in zip(reads, adc)}
    written = 0
    for f in files:
        with pod5.Reader(f) as rr:
            ids = {str(x) for x in rr.read_ids} & keep
        if not ids:
            continue
        suffix = "" if len(files) == 1 else f"_{written}"
        pod5_io.copy_with_signal(f, out_dir / f"original{suffix}.pod5", orig_sig, only=ids)
        pod5_io.copy_with_signal(f, out_dir / f"generated{suffix}.pod5", gen_sig, only=ids)
        written += 1
    if dorado:
        caller = f"dorado {dorado_model}"
        calls_o, calls_g = {}, {}
        for p in sorted(out_dir.glob("original*.pod5")):
            calls_o.update(basecall.dorado_call(p, binary=dorado, model=dorado_model))
        for p in sorted(out_dir.glob("generated*.pod5")):
            calls_g.update(basecall.dorado_call(p, binary=dorado, model=dorado_model))
    else:
        chem = chemistry_for(reads[0].flow_cell, reads[0].sample_rate)
        smodel = scrappie_model or (chemistry(chem)["scrappie_model"] if chem else "rgrgr_r941")
        caller = f"scrappie raw --model {smodel}"
        calls_o = basecall.scrappie_call([(r.read_id, r.signal, r.offset, r.scale, r.sample_rate) for r in reads],
                                         model=smodel, threads=threads)
        calls_g = basecall.scrappie_call([(r.read_id, a, r.offset, r.scale, r.sample_rate)
                                          for r, a in zip(reads, adc)], model=smodel, threads=threads)
    per_read = []
    for r in reads:
        co, cg = calls_o.get(r.read_id, {"error": "no call"}), calls_g.get(r.read_id, {"error": "no call"})
        t = truth_seqs.get(r.read_id)
        rec = {"read_id": r.read_id, "samples": int(len(r.signal)),
               "original_call_length": len(co.get("seq", "")), "generated_call_length": len(cg.get("seq", ""))}
        if "error" in co:
            rec["original_error"] = co["error"]
        if "error" in cg:
            rec["generated_error"] = cg["error"]
        so, sg = co.get("seq"), cg.get("seq")
        if t:
            rec["identity_original"] = basecall.identity(so, t) if so else None
            rec["identity_generated"] = basecall.identity(sg, t) if sg else None
        rec["identity_generated_vs_original_call"] = basecall.identity(sg, so, infix=False) if so and sg else None
        rec["relative_length"] = (len(sg) / len(so)) if so and sg else None
        rec["status"] = "ok" if so and sg else "failed"
        per_read.append(rec)

    def summ(key):
        v = [p[key] for p in per_read if p.get(key) is not None]
        return {"mean": float(np.mean(v)) if v else None, "median": float(np.median(v)) if v else None, "n": len(v)}

    report = {"basecaller": caller, "reads": len(reads), "failed_reads": sum(p["status"] == "failed" for p in per_read),
              "n_codebooks": runner.n, "bits_per_sample": bits_per_sample(cfg["model"], runner.n),
              "truth": str(truth) if truth else None,
              "identity_original": summ("identity_original") if truth else None,
              "identity_generated": summ("identity_generated") if truth else None,
              "identity_generated_vs_original_call": summ("identity_generated_vs_original_call"),
              "relative_length": summ("relative_length"), "signal": signal_metrics(pa_o, pa_d), "per_read": per_read}
    if truth and report["identity_original"]["median"] is not None and report["identity_generated"]["median"] is not None:
        report["median_identity_drop_points"] = 100 * (report["identity_original"]["median"]
                                                       - report["identity_generated"]["median"])
    _write_calls(out_dir / "calls_original.fasta", calls_o)
    _write_calls(out_dir / "calls_generated.fasta", calls_g)
    return report


def _write_calls(path: Path, calls: dict) -> None:
    with open(path, "w") as fh:
        for rid, c in calls.items():
            if c.get("seq"):
                fh.write(f">{rid}\n{c['seq']}\n")
