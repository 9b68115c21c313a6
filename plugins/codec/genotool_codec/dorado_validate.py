"""``codec dorado-validate``: basecall the original and the reconstructed signal (scrappie, or
Dorado when given), identity to the truth and to the original's call at each rate, beside the
baselines: dorado_report.json + report.html + the original/generated POD5s and calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.errors import UserError, require_file
from genotool.log import log
from genotool.options import RunOptions

from genotool_codec import pod5_io
from genotool_codec.baselines import BaselineConfig
from genotool_codec.search import Search


@dataclass(kw_only=True)
class DoradoValidateOptions(RunOptions):
    """One ``codec dorado-validate`` command line."""

    model: Path
    pod5: list[Path]
    output: Path
    truth: Path | None = None
    codebooks: list[int] | None = None
    max_reads: int | None = 50
    trim_samples: int | None = None
    dorado: str | None = None
    dorado_model: str | None = None
    scrappie_model: str | None = None
    basecaller_threads: int = 1
    window: int | None = None
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    also_models: list[Path] = field(default_factory=list)   # further models, each its own codec curve
    also_codebooks: list[int] | None = None               # their codebook counts (None: all levels)
    searches: list[Search] = field(default_factory=lambda: [Search()])   # one codec row each
    force: bool = False

    def check(self) -> None:
        if self.truth is not None:
            require_file(self.truth, "--truth")
        if self.basecaller_threads < 1:
            raise UserError(f"--basecaller-threads must be >= 1, not {self.basecaller_threads}")
        if bool(self.dorado) != bool(self.dorado_model):
            raise UserError("--dorado and --dorado-model go together")


def run_dorado_validate(opts: DoradoValidateOptions) -> dict:
    from genotool.outputs import run_output, write_json

    from genotool_codec.runtime import jax_plan

    opts.check()
    plan = jax_plan(opts)
    c = opts
    params = dict(model=c.model, pod5=c.pod5, truth=c.truth, codebooks=c.codebooks, max_reads=c.max_reads,
                  trim_samples=c.trim_samples, dorado=c.dorado, dorado_model=c.dorado_model,
                  scrappie_model=c.scrappie_model, basecaller_threads=c.basecaller_threads,
                  baselines=c.baselines.as_dict(), also_models=c.also_models, also_codebooks=c.also_codebooks,
                  searches=[s.as_dict() for s in c.searches])
    with run_output(c.output, command="codec dorado-validate", parameters=params,
                    inputs=[*c.pod5, c.model, *c.also_models] + ([c.truth] if c.truth else []), force=c.force,
                    resume=False) as run:
        run.plan = plan
        rep = basecall_rate_distortion(
            c.model, list(c.pod5), run.path, truth=c.truth, n_codebooks=c.codebooks, max_reads=c.max_reads,
            trim=c.trim_samples, dorado=c.dorado, dorado_model=c.dorado_model, scrappie_model=c.scrappie_model,
            threads=c.basecaller_threads, window=c.window, batch=plan.batch_size, precision=plan.precision,
            searches=c.searches, baselines=c.baselines.as_dict(), also_models=[(m, c.also_codebooks) for m in c.also_models])
        write_json(run.path / "dorado_report.json", rep)
        run.runtime.update({k: v for k, v in rep.items() if k not in ("per_read", "rate_distortion")})
    io, ig = rep.get("identity_original") or {}, rep.get("identity_generated") or {}
    msg = f"{rep['basecaller']}: {rep['reads']} reads, {rep['failed_reads']} failed"
    if io.get("median") is not None and ig.get("median") is not None:
        msg += f"; median identity original {io['median']:.4f}, reconstructed {ig['median']:.4f}"
    log(msg + f" -> {c.output}")
    for r in rep["rate_distortion"]:
        ident = (r.get("identity_generated") or {}).get("median")
        log(f"{r['label']:>32}  {r['token_file_bits_per_sample']:.3f} bits/sample  identity "
            f"{'-' if ident is None else f'{ident:.4f}'}  vs original call "
            f"{r['identity_generated_vs_original_call']['median'] or float('nan'):.4f}")
    return rep


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


def basecall_rate_distortion(model_path: Path, inputs: list[Path], out_dir: Path, *, truth: Path | None,
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
    from genotool_codec.metrics import codec_rate, pa_of, select_reads, signal_metrics
    from genotool_codec.model_io import load_model
    from genotool_codec.runner import CodecRunner, coding_grid, model_prior, reconstruct
    from genotool_codec.simulate import read_fasta

    model, meta = load_model(model_path)
    cfg = meta["config"]
    others = []   # (folder, codebook counts, model, config) of each --also-model, refused before any work
    for path, counts in also_models:
        m2, meta2 = load_model(path, option="--also-model")
        if meta2["config"]["data"].get("sample_rate") != cfg["data"].get("sample_rate"):
            raise UserError(f"--also-model {path}: trained at {meta2['config']['data'].get('sample_rate')} Hz, "
                            f"--model at {cfg['data'].get('sample_rate')} Hz")
        others.append((path, counts, m2, meta2))
    inp = select_reads(pod5_io.read_inputs(inputs, cfg["data"].get("sample_rate")), max_reads, trim)
    files, reads = inp.files, inp.reads
    truth_seqs = read_fasta(truth) if truth else {}
    levels = sorted(set([n_codebooks] if isinstance(n_codebooks, int) else
                        (n_codebooks or [int(cfg["model"]["n_codebooks"])])))
    prior = model_prior(meta, given=model_path)
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
               **codec_rate(runner, inp, codes, mprior, total),
               **_identity_row(per_read, bool(truth)), "signal": signal_metrics(pa_o, pa_d)}
        return row, (n, adc, pa_o, pa_d, calls_g, per_read)

    rows, main = [], None
    for n, search in coding_grid(levels, searches):
        row, main = codec_row(model_path, model, cfg, prior, n, search, f"codec {n} codebooks", f"codec{n}")
        rows.append(row)
    n_main = len(rows)
    for i, (path, counts, m2, meta2) in enumerate(others):
        cfg2, prior2 = meta2["config"], model_prior(meta2, given=path)
        for n, search in coding_grid(sorted(set(counts or [int(cfg2["model"]["n_codebooks"])])), searches):
            rows.append(codec_row(path, m2, cfg2, prior2, n, search, f"codec {_model_name(path)} {n} codebooks",
                                  f"also{i}_codec{n}")[0])
    if baselines is not None:
        from genotool_codec.baselines import run_baselines

        pa_o = [r.pa() for r in reads]
        for b in run_baselines([r.signal for r in reads], baselines["round_bits"], baselines["max_errors"]):
            adc = b.pop("adc")
            per_read = _per_read(reads, calls_o, call(f"{b['method']}{b['setting']}", adc), truth_seqs)
            rows.append({**b, "token_file_bits_per_sample": b["bits_per_sample"], **_identity_row(per_read, bool(truth)),
                         "signal": signal_metrics(pa_o, pa_of(reads, adc))})
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
