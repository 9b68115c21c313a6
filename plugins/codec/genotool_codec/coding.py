"""Token files from POD5 reads and POD5 from token files: what ``encode`` writes and ``decode`` reads.

The token file format itself is :mod:`genotool_codec.tokens`; the model at work is
:class:`genotool_codec.runner.CodecRunner`. Callers check the output once before any work
(``genotool.outputs.refuse_existing``); here files are only written, atomically.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from genotool.errors import UserError

from genotool_codec import pod5_io, tokens
from genotool_codec.config import model_fingerprint
from genotool_codec.data import normalise
from genotool_codec.runner import CodecRunner, model_prior


def token_header(runner: CodecRunner, inp: pod5_io.Pod5Input) -> dict:
    """The token file header (before the coding fields ``write_tokens`` adds) for the reads of
    ``inp``, with their POD5 metadata (each distinct run info once)."""
    cfg = runner.cfg
    run_infos, rmeta = pod5_io.index_run_infos(inp.metadata)
    return {"fingerprint": model_fingerprint(cfg["model"]), "model": cfg["model"], "n_codebooks": runner.n,
            "codebook_size": int(cfg["model"]["codebook_size"]), "hop": runner.hop, "window": runner.window,
            "sample_rate": inp.sample_rate, "sources": [str(f) for f in inp.files], "run_infos": run_infos,
            "reads": rmeta, "search": runner.search.as_dict()}


def encode_pod5(runner: CodecRunner, inp: pod5_io.Pod5Input, output: Path, prior=None) -> dict:
    """Encode every read of ``inp`` into the token file ``output`` (entropy-coded with ``prior``,
    else fixed width); returns sizes, rates and speed."""
    from genotool.outputs import atomic_file

    output = Path(output)
    t0 = time.perf_counter()
    norm = [normalise(rd.pa()) for rd in inp.reads]
    codes = runner.encode_reads([n[0] for n in norm])
    enc_s = time.perf_counter() - t0
    header = token_header(runner, inp)
    with atomic_file(output) as tmp:
        payload_bits = tokens.write_tokens(tmp, header, codes, [len(n[0]) for n in norm],
                                           [n[1] for n in norm], [n[2] for n in norm], prior=prior)
    cfg = runner.cfg
    total = sum(len(n[0]) for n in norm)
    src_bytes = sum(f.stat().st_size for f in inp.files)
    size = output.stat().st_size
    return {"reads": len(inp.reads), "samples": total, "payload_bits": payload_bits,
            "payload_bits_per_sample": payload_bits / max(total, 1),
            "file_bytes": size, "file_bits_per_sample": 8 * size / max(total, 1),
            "pod5_bytes": src_bytes, "pod5_bits_per_sample": 8 * src_bytes / max(total, 1),
            "size_vs_pod5": size / max(src_bytes, 1), "n_codebooks": runner.n,
            "nominal_bits_per_sample": runner.n * math.ceil(math.log2(int(cfg["model"]["codebook_size"]))) / runner.hop,
            "coding": "ans" if prior is not None else "fixed", "search": runner.search.as_dict(),
            "encode_seconds": round(enc_s, 3), "encode_samples_per_second": round(total / max(enc_s, 1e-9), 1)}


def decode_tokens(tokens_path: Path, model, meta: dict, output: Path, *, batch: int = 16,
                  precision: str | None = None, given: Path | None = None) -> dict:
    """Decode the token file ``tokens_path`` with a loaded model (``model``, ``meta`` from
    :func:`genotool_codec.model_io.load_model`) into the POD5 ``output``; refuses a token file made
    by another model."""
    fp = model_fingerprint(meta["config"]["model"])

    def prior_for(header: dict):
        if header.get("fingerprint") != fp:
            raise UserError(f"{tokens_path}: token file was made by another model (fingerprint "
                            f"{header.get('fingerprint')}, --model has {fp})")
        return model_prior(meta, header.get("coding") == "ans", warn=False, given=given)

    tok = tokens.read_tokens(tokens_path, prior_for)
    h = tok["header"]
    runner = CodecRunner(model, meta["config"], window=h["window"], batch=batch, n_codebooks=h["n_codebooks"],
                         precision=precision)
    t0 = time.perf_counter()
    sig = runner.decode_reads(tok["codes"], [int(n) for n in tok["n_samples"]])
    dec_s = time.perf_counter() - t0
    n = 0
    with pod5_io.Pod5Out(output, force=True) as w:
        for i, (x, rm) in enumerate(zip(sig, h["reads"])):
            pa = x * tok["scale"][i] + tok["median"][i]
            cal = rm["calibration"]
            w.add(tokens.build_read(rm, h["run_infos"], pod5_io.to_int16(pa / cal["scale"] - cal["offset"])))
            n += 1
    total = int(sum(tok["n_samples"]))
    return {"reads": n, "samples": total, "decode_seconds": round(dec_s, 3),
            "decode_samples_per_second": round(total / max(dec_s, 1e-9), 1)}


def token_file_bytes(runner: CodecRunner, inp: pod5_io.Pod5Input, codes: list[np.ndarray], prior) -> int:
    """Size in bytes of the token file ``encode`` would write for the reads of ``inp`` with
    ``codes``: the real writer, real header (every read's POD5 metadata), into a temporary file."""
    import tempfile

    norm = [normalise(rd.pa()) for rd in inp.reads]
    with tempfile.TemporaryDirectory(prefix="genotool_codec_tok_") as td:
        p = Path(td) / "t.tokens"
        tokens.write_tokens(p, token_header(runner, inp), codes, [len(r.signal) for r in inp.reads],
                            [n[1] for n in norm], [n[2] for n in norm], prior=prior)
        return p.stat().st_size
