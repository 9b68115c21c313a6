"""``codec validate``: signal metrics (L1/RMSE pA, SNR, spectral distance), codebook use and actual
bits/sample of the codec at several codebook counts and encode searches, beside the non-learned
baselines on the same reads: validation.json + report.html."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.log import log
from genotool.options import RunOptions

from genotool_codec.baselines import BaselineConfig
from genotool_codec.search import Search


@dataclass(kw_only=True)
class ValidateOptions(RunOptions):
    """One ``codec validate`` command line."""

    model: Path
    pod5: list[Path]
    output: Path
    codebooks: list[int] | None = None                   # None: n/4, n/2, 3n/4, n
    max_reads: int | None = None
    window: int | None = None
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    searches: list[Search] = field(default_factory=lambda: [Search()])   # one codec row each
    force: bool = False


def run_validate(opts: ValidateOptions) -> dict:
    """Code the reads at each codebook count and search; write validation.json and report.html."""
    from genotool.outputs import run_output, write_json

    from genotool_codec.runtime import jax_plan

    plan = jax_plan(opts)
    params = dict(model=opts.model, pod5=opts.pod5, codebooks=opts.codebooks, max_reads=opts.max_reads,
                  baselines=opts.baselines.as_dict(), searches=[s.as_dict() for s in opts.searches])
    with run_output(opts.output, command="codec validate", parameters=params, inputs=[*opts.pod5, opts.model],
                    force=opts.force, resume=False) as run:
        run.plan = plan
        res = rate_distortion(opts, run.path, batch=plan.batch_size, precision=plan.precision)
        write_json(run.path / "validation.json", res)
        run.runtime.update({k: v for k, v in res.items() if k not in ("rate_distortion", "baselines")})
    for r in res["rate_distortion"]:
        log(f"{r['n_codebooks']:3d} codebooks{r['search_label']}  {r['bits_per_sample']:.2f} nominal, "
            f"{r['token_file_bits_per_sample']:.3f} actual bits/sample ({r['size_vs_vbz']:.3f}x VBZ)  "
            f"RMSE {r['rmse_pa']:.3f} pA  SNR {r['snr_db']:.2f} dB")
    for r in res["baselines"]:
        log(f"{r['label']:>28}  {r['bits_per_sample']:.3f} bits/sample  RMSE {r['rmse_pa']:.3f} pA  "
            f"SNR {r['snr_db']:.2f} dB")
    return res


def rate_distortion(opts: ValidateOptions, out_dir: Path, *, batch: int, precision: str | None) -> dict:
    """Signal metrics and actual bits/sample of the codec at each codebook count and encode search,
    and of the non-learned baselines; the report's figures go to ``out_dir``."""
    from genotool_codec import pod5_io
    from genotool_codec.metrics import code_stats, codec_rate, pa_of, select_reads, signal_metrics
    from genotool_codec.model_io import load_model
    from genotool_codec.runner import CodecRunner, coding_grid, default_levels, model_prior, reconstruct

    model, meta = load_model(opts.model)
    cfg = meta["config"]
    n_max = int(cfg["model"]["n_codebooks"])
    levels = sorted(set(opts.codebooks or default_levels(n_max)))
    everything = pod5_io.read_inputs(opts.pod5, cfg["data"].get("sample_rate"))
    inp = select_reads(everything, opts.max_reads, None)
    files, reads = inp.files, inp.reads
    prior = model_prior(meta, given=opts.model)
    total = sum(len(r.signal) for r in reads)
    pod5_bytes = sum(f.stat().st_size for f in files)
    all_reads = len(everything.reads)
    # Pro-rate the POD5 size to the reads used, so a --max-reads subset compares like with like.
    all_samples = sum(len(r.signal) for r in everything.reads)
    vbz_bps = 8 * pod5_bytes / max(all_samples, 1)
    rows, first = [], None
    for n, search in coding_grid(levels, opts.searches):
        runner = CodecRunner(model, cfg, window=opts.window, batch=batch, n_codebooks=n, precision=precision,
                             search=search, prior=prior)
        adc, pa_o, pa_d, codes = reconstruct(runner, reads)
        cs = code_stats(codes, int(cfg["model"]["codebook_size"]))
        row = {"n_codebooks": n, "search": search.as_dict(), "search_label": search.suffix,
               **codec_rate(runner, inp, codes, prior, total)}
        row.update(size_vs_vbz=row["token_file_bits_per_sample"] / vbz_bps, **signal_metrics(pa_o, pa_d),
                   usage_mean=cs["usage_mean"], perplexity_mean=cs["perplexity_mean"])
        rows.append(row)
        if n == n_max or first is None:
            first = (n, pa_o, pa_d, cs)
    base_rows = []
    if opts.baselines.enabled:
        from genotool_codec.baselines import run_baselines

        pa_o = [r.pa() for r in reads]
        for b in run_baselines([r.signal for r in reads], opts.baselines.round_bits, opts.baselines.max_errors):
            adc = b.pop("adc")
            base_rows.append({**b, "size_vs_vbz": b["bits_per_sample"] / vbz_bps,
                              **signal_metrics(pa_o, pa_of(reads, adc))})
    n_show, pa_o, pa_d, cs = first
    out = {"model": str(opts.model), "inputs": [str(f) for f in files], "reads": len(reads), "samples": total,
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
