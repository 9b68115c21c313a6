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


def _codec_rate(model_path: Path, runner, files, reads, codes, prior, total: int) -> dict:
    """Nominal bits/sample and the actual token-file bits/sample, fixed width and entropy-coded."""
    from genotool_codec.config import bits_per_sample as nominal
    from genotool_codec.predict import token_file_bytes

    fixed = 8 * token_file_bytes(model_path, runner, files, reads, codes, None) / max(total, 1)
    coded = 8 * token_file_bytes(model_path, runner, files, reads, codes, prior) / max(total, 1) if prior else fixed
    return {"bits_per_sample": nominal(runner.cfg["model"], runner.n), "fixed_width_file_bits_per_sample": fixed,
            "token_file_bits_per_sample": coded, "entropy_coded": prior is not None}


def _pa(reads, adc: list[np.ndarray]) -> list[np.ndarray]:
    return [(a.astype(np.float32) + np.float32(r.offset)) * np.float32(r.scale) for r, a in zip(reads, adc)]


def run_validate(model_path: Path, inputs: list[Path], out_dir: Path, *, levels: list[int] | None,
                 max_reads: int | None, window: int | None, batch: int = 16, precision: str | None = None,
                 searches=None, baselines: dict | None = None) -> dict:
    """Signal metrics and actual bits/sample of the codec at each codebook count and encode search
    (``searches``: list of settings.Search, default greedy), and of the non-learned baselines
    (``baselines``: {"round_bits": [...], "max_errors": [...]}, None: none)."""
    from genotool_codec.checkpoint import load_model
    from genotool_codec.predict import CodecRunner, model_prior, reconstruct

    model, meta = load_model(model_path)
    cfg = meta["config"]
    n_max = int(cfg["model"]["n_codebooks"])
    levels = sorted(set(levels or _default_levels(n_max)))
    files, reads = select_reads(inputs, cfg["data"].get("sample_rate"), max_reads, None)
    prior = model_prior(model_path)
    total = sum(len(r.signal) for r in reads)
    pod5_bytes = sum(f.stat().st_size for f in files)
    all_reads = sum(1 for f in files for _ in pod5_io.iter_reads(f))
    # Pro-rate the POD5 size to the reads used, so a --max-reads subset compares like with like.
    all_samples = sum(len(r.signal) for f in files for r in pod5_io.iter_reads(f))
    vbz_bps = 8 * pod5_bytes / max(all_samples, 1)
    rows, first = [], None
    for n, search in _coding_grid(levels, searches):
        runner = CodecRunner(model, cfg, window=window, batch=batch, n_codebooks=n, precision=precision,
                             search=search, prior=prior)
        adc, pa_o, pa_d, codes = reconstruct(runner, reads)
        cs = code_stats(codes, int(cfg["model"]["codebook_size"]))
        row = {"n_codebooks": n, "search": search.as_dict(), "search_label": search.suffix,
               **_codec_rate(model_path, runner, files, reads, codes, prior, total)}
        row.update(size_vs_vbz=row["token_file_bits_per_sample"] / vbz_bps, **signal_metrics(pa_o, pa_d),
                   usage_mean=cs["usage_mean"], perplexity_mean=cs["perplexity_mean"])
        rows.append(row)
        if n == n_max or first is None:
            first = (n, pa_o, pa_d, cs)
    base_rows = []
    if baselines is not None:
        from genotool_codec.baselines import run_baselines

        pa_o = [r.pa() for r in reads]
        for b in run_baselines([r.signal for r in reads], baselines["round_bits"], baselines["max_errors"]):
            adc = b.pop("adc")
            base_rows.append({**b, "size_vs_vbz": b["bits_per_sample"] / vbz_bps,
                              **signal_metrics(pa_o, _pa(reads, adc))})
    n_show, pa_o, pa_d, cs = first
    out = {"model": str(model_path), "inputs": [str(f) for f in files], "reads": len(reads), "samples": total,
           "vbz_bits_per_sample": vbz_bps, "pod5_bytes": pod5_bytes, "pod5_reads": all_reads,
           "prior": prior.id if prior else None, "rate_distortion": rows, "baselines": base_rows,
           "codebooks_at_full_rate": cs}
    _validate_report(out, rows, base_rows, n_show, pa_o, pa_d, cs, vbz_bps, out_dir)
    return out


def _validate_report(out, rows, base_rows, n_show, pa_o, pa_d, cs, vbz_bps, out_dir: Path) -> None:
    from genotool.report import Report

    rep = Report("codec validation")
    rep.add_text(f"{out['reads']} reads, {out['samples']} samples; POD5 (VBZ) {vbz_bps:.2f} bits/sample. "
                 f"Token files {'entropy-coded with the model prior ' + out['prior'] if out['prior'] else 'at fixed width (no prior)'}.")
    rep.add_table("Rate-distortion of the codec (pA metrics)", rows)
    if base_rows:
        rep.add_table("Baselines on the same reads", base_rows)
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
    fig = rep.figure(9, 3.5)
    a1, a2 = fig.subplots(1, 2)
    searches = list(dict.fromkeys(r["search"]["method"] for r in rows))
    series = [("codec" + ("" if m == "greedy" else f", {m} search"), [r for r in rows if r["search"]["method"] == m],
               "token_file_bits_per_sample") for m in searches]
    for method, label in (("bit_round", "drop k bits + VBZ"), ("predictive", "LFZip-style")):
        sel = [r for r in base_rows if r["method"] == method]
        if sel:
            series.append((label, sel, "bits_per_sample"))
    for label, sel, key in series:
        a1.plot([r[key] for r in sel], [r["rmse_pa"] for r in sel], "o-", label=label)
        a2.plot([r[key] for r in sel], [r["snr_db"] for r in sel], "o-", label=label)
    a1.set_xlabel("actual bits/sample")
    a1.set_ylabel("RMSE (pA)")
    a2.axvline(vbz_bps, color="k", ls="--", label="POD5/VBZ (lossless)")
    a2.set_xlabel("actual bits/sample")
    a2.set_ylabel("SNR (dB)")
    a2.legend(fontsize=7)
    rep.add_figure("Rate-distortion", fig, png_path=out_dir / "rate_distortion.png")
    fig = rep.figure(6, 3)
    ax = fig.subplots()
    ax.bar(range(len(cs["usage"])), cs["usage"])
    ax.set_xlabel("codebook level")
    ax.set_ylabel("usage")
    rep.add_figure("Codebook usage per level", fig, png_path=out_dir / "codebook_usage.png")
    rep.write(out_dir / "report.html")


def _coding_grid(levels: list[int], searches) -> list[tuple]:
    """(codebook count, encode search) pairs, every search at each count; default search greedy."""
    from genotool_codec.settings import Search

    return [(n, s) for n in levels for s in (searches or [Search()])]


def _default_levels(n: int) -> list[int]:
    return sorted({max(1, n // 4), max(1, n // 2), max(1, (3 * n) // 4), n})


# ---------------------------------------------------------------- basecaller validation
def _caller(reads, dorado, dorado_model, scrappie_model, threads, out_dir: Path):
    """(name, call(tag, int16 signals) -> {read_id: {seq|error}}) for Dorado (via POD5) or scrappie."""
    from genotool_codec import basecall
    from genotool_codec.pore_model import chemistry, chemistry_for

    if dorado:
        def call(tag, adc):
            calls = {}
            sig = {r.read_id: a for r, a in zip(reads, adc)}
            for f in sorted({r.source for r in reads}):
                tmp = out_dir / f".{tag}_{len(calls)}.pod5"
                pod5_io.copy_with_signal(Path(f), tmp, sig, only=set(sig), force=True)
                calls.update(basecall.dorado_call(tmp, binary=dorado, model=dorado_model))
                tmp.unlink()
            return calls
        return f"dorado {dorado_model}", call
    chem = chemistry_for(reads[0].flow_cell, reads[0].sample_rate)
    smodel = scrappie_model or (chemistry(chem)["scrappie_model"] if chem else "rgrgr_r941")

    def call(tag, adc):
        return basecall.scrappie_call([(r.read_id, a, r.offset, r.scale, r.sample_rate) for r, a in zip(reads, adc)],
                                      model=smodel, threads=threads)
    return f"scrappie raw --model {smodel}", call


def _per_read(reads, calls_o: dict, calls_g: dict, truth_seqs: dict) -> list[dict]:
    from genotool_codec import basecall

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
    return per_read


def _summ(per_read: list[dict], key: str) -> dict:
    v = [p[key] for p in per_read if p.get(key) is not None]
    return {"mean": float(np.mean(v)) if v else None, "median": float(np.median(v)) if v else None, "n": len(v)}


def _identity_row(per_read: list[dict], truth: bool) -> dict:
    row = {"failed_reads": sum(p["status"] == "failed" for p in per_read),
           "identity_generated": _summ(per_read, "identity_generated") if truth else None,
           "identity_generated_vs_original_call": _summ(per_read, "identity_generated_vs_original_call"),
           "relative_length": _summ(per_read, "relative_length")}
    io, ig = _summ(per_read, "identity_original"), row["identity_generated"]
    if truth and io["median"] is not None and ig["median"] is not None:
        row["median_identity_drop_points"] = 100 * (io["median"] - ig["median"])
    return row


def basecall_validate(model_path: Path, inputs: list[Path], out_dir: Path, *, truth: Path | None,
                      n_codebooks, max_reads: int | None, trim: int | None,
                      dorado: str | None, dorado_model: str | None, scrappie_model: str | None,
                      threads: int = 1, window: int | None = None, batch: int = 16,
                      precision: str | None = None, searches=None, baselines: dict | None = None,
                      also_models: list[tuple[Path, list[int] | None]] = ()) -> dict:
    """Basecall the original reads and their reconstructions by the codec at each codebook count in
    ``n_codebooks`` (an int, a list, or None: all) and by the baselines; identity to the truth and to
    the original's call, and actual bits/sample, for one rate-distortion table. ``also_models``:
    further trained models (folder, codebook counts or None: all) coded and called on the same reads,
    each its own codec curve (e.g. a model fine-tuned for one rate beside the variable-rate one).

    The top-level fields (per_read, identity_generated, generated*.pod5, calls_generated.fasta)
    describe the codec at the largest codebook count, as before.
    """
    from genotool_codec.checkpoint import load_model
    from genotool_codec.predict import CodecRunner, model_prior, reconstruct
    from genotool_codec.simulate import read_fasta

    if bool(dorado) != bool(dorado_model):
        raise UserError("--dorado and --dorado-model go together")
    model, meta = load_model(model_path)
    cfg = meta["config"]
    others = []   # (folder, codebook counts, model, config) of each --also-model, refused before any work
    for path, counts in also_models:
        m2, meta2 = load_model(path)
        if meta2["config"]["data"].get("sample_rate") != cfg["data"].get("sample_rate"):
            raise UserError(f"--also-model {path}: trained at {meta2['config']['data'].get('sample_rate')} Hz, "
                            f"--model at {cfg['data'].get('sample_rate')} Hz")
        others.append((path, counts, m2, meta2["config"]))
    files, reads = select_reads(inputs, cfg["data"].get("sample_rate"), max_reads, trim)
    truth_seqs = read_fasta(truth) if truth else {}
    levels = sorted(set([n_codebooks] if isinstance(n_codebooks, int) else
                        (n_codebooks or [int(cfg["model"]["n_codebooks"])])))
    prior = model_prior(model_path)
    total = sum(len(r.signal) for r in reads)
    caller, call = _caller(reads, dorado, dorado_model, scrappie_model, threads, out_dir)
    calls_o = call("original", [r.signal for r in reads])
    def codec_row(path, mdl, mcfg, mprior, n, search, label, tag):
        """Code the reads with one model at ``n`` codebooks and basecall them: (row, main-tuple)."""
        runner = CodecRunner(mdl, mcfg, window=window, batch=batch, n_codebooks=n, precision=precision,
                             search=search, prior=mprior)
        label, tag = label + search.suffix, f"{tag}_{search.method}"
        adc, pa_o, pa_d, codes = reconstruct(runner, reads)
        calls_g = call(tag, adc)
        per_read = _per_read(reads, calls_o, calls_g, truth_seqs)
        row = {"method": "codec", "model": _model_name(path), "setting": n, "label": label,
               "search": search.as_dict(),
               **_codec_rate(path, runner, files, reads, codes, mprior, total),
               **_identity_row(per_read, bool(truth)), "signal": signal_metrics(pa_o, pa_d)}
        return row, (n, adc, pa_o, pa_d, calls_g, per_read)

    rows, main = [], None
    for n, search in _coding_grid(levels, searches):
        row, main = codec_row(model_path, model, cfg, prior, n, search, f"codec {n} codebooks", f"codec{n}")
        rows.append(row)
    n_main = len(rows)
    for i, (path, counts, m2, cfg2) in enumerate(others):
        prior2 = model_prior(path)
        for n, search in _coding_grid(sorted(set(counts or [int(cfg2["model"]["n_codebooks"])])), searches):
            rows.append(codec_row(path, m2, cfg2, prior2, n, search, f"codec {_model_name(path)} {n} codebooks",
                                  f"also{i}_codec{n}")[0])
    if baselines is not None:
        from genotool_codec.baselines import run_baselines

        pa_o = [r.pa() for r in reads]
        for b in run_baselines([r.signal for r in reads], baselines["round_bits"], baselines["max_errors"]):
            adc = b.pop("adc")
            per_read = _per_read(reads, calls_o, call(f"{b['method']}{b['setting']}", adc), truth_seqs)
            rows.append({**b, "token_file_bits_per_sample": b["bits_per_sample"], **_identity_row(per_read, bool(truth)),
                         "signal": signal_metrics(pa_o, _pa(reads, adc))})
    n, adc, pa_o, pa_d, calls_g, per_read = main
    _write_pod5s(files, reads, adc, out_dir)
    report = {"basecaller": caller, "reads": len(reads), "n_codebooks": n,
              "bits_per_sample": rows[n_main - 1]["bits_per_sample"],
              "token_file_bits_per_sample": rows[n_main - 1]["token_file_bits_per_sample"],
              "truth": str(truth) if truth else None,
              "identity_original": _summ(per_read, "identity_original") if truth else None,
              **_identity_row(per_read, bool(truth)), "signal": signal_metrics(pa_o, pa_d),
              "rate_distortion": rows, "per_read": per_read}
    _write_calls(out_dir / "calls_original.fasta", calls_o)
    _write_calls(out_dir / "calls_generated.fasta", calls_g)
    _basecall_report(report, out_dir)
    return report


def _model_name(path: Path) -> str:
    """A trained model's label in tables: its run folder's name (not the inner model/)."""
    p = Path(path).resolve()
    return p.parent.name if p.name == "model" else p.name


def _write_pod5s(files, reads, adc, out_dir: Path) -> None:
    """Trimmed original + generated POD5 (the main codec rate), keeping every read's metadata."""
    import pod5

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


def _basecall_report(rep: dict, out_dir: Path) -> None:
    """report.html: the rate-distortion table and one PNG of identity vs actual bits/sample."""
    from genotool.report import Report

    truth = rep["truth"] is not None
    key = "identity_generated" if truth else "identity_generated_vs_original_call"
    table = [{"method": r["method"], "model": r.get("model"), "setting": r["setting"],
              "search": (r.get("search") or {}).get("method"), "actual bits/sample": r["token_file_bits_per_sample"],
              "nominal bits/sample": r.get("bits_per_sample") if r["method"] == "codec" else None,
              "median identity to truth": (r["identity_generated"] or {}).get("median") if truth else None,
              "median identity to original call": r["identity_generated_vs_original_call"]["median"],
              "failed reads": r["failed_reads"]} for r in rep["rate_distortion"]]
    page = Report("codec rate-distortion against a basecaller")
    page.add_text(f"{rep['reads']} reads basecalled with {rep['basecaller']}"
                  + (f"; median identity of the original signal to the truth "
                     f"{rep['identity_original']['median']:.4f}." if truth and rep["identity_original"]["median"] else "."))
    page.add_table("Rate-distortion: codec and baselines on the same reads", table)
    fig = page.figure(7, 4.5)
    ax = fig.subplots()
    curves = list(dict.fromkeys((r.get("model"), r["search"]["method"])
                                for r in rep["rate_distortion"] if r["method"] == "codec"))
    several = len({m for m, _ in curves}) > 1
    series = [(("codec", m, srch), "codec (entropy-coded tokens)" + (f", {m}" if several else "")
               + ("" if srch == "greedy" else f", {srch} search"), "o-" if i == 0 else "D-")
              for i, (m, srch) in enumerate(curves)]
    series += [(("bit_round", None, None), "drop k bits + VBZ", "s--"),
               (("predictive", None, None), "LFZip-style predictive quantiser", "^:")]
    for (method, model, srch), label, style in series:
        sel = sorted((r for r in rep["rate_distortion"] if r["method"] == method
                      and (method != "codec" or (r.get("model"), r["search"]["method"]) == (model, srch))),
                     key=lambda r: r["token_file_bits_per_sample"])
        pts = [(r["token_file_bits_per_sample"], (r[key] or {}).get("median")) for r in sel]
        pts = [p for p in pts if p[1] is not None]
        if pts:
            ax.plot(*zip(*pts), style, label=label)
            for r, (x, y) in zip(sel, pts):
                ax.annotate(str(r["setting"]), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if truth and rep["identity_original"]["median"]:
        ax.axhline(rep["identity_original"]["median"], color="k", lw=0.8, ls="--", label="original signal")
    ax.set_xlabel("actual bits/sample")
    ax.set_ylabel("median identity " + ("to truth" if truth else "to the original's call"))
    ax.legend(fontsize=8)
    page.add_figure("Identity vs actual bits/sample", fig, png_path=out_dir / "rate_distortion_identity.png")
    page.write(out_dir / "report.html")


def _write_calls(path: Path, calls: dict) -> None:
    with open(path, "w") as fh:
        for rid, c in calls.items():
            if c.get("seq"):
                fh.write(f">{rid}\n{c['seq']}\n")
