"""Encode POD5 -> tokens, decode tokens -> POD5, and in-memory reconstruction for validation.

Whole reads are coded: a read of n samples is normalised, cut into ``window``-sample windows
(the last one zero-padded, zero being the normalised median), and windows from many reads are
batched through one jitted function of fixed shape (batch, window), so it compiles once.
Only ceil(n / hop) tokens per read are stored; decoding pads the token tail by repeating the
last token and cuts the output back to the true length n.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from genotool.errors import UserError

from genotool_codec import pod5_io
from genotool_codec.config import hop as hop_of, model_fingerprint
from genotool_codec.data import normalise, pad_to
from genotool_codec.search import SIGNAL_PHASES, code_bits, signal_step


class CodecRunner:
    """Jitted encode/decode of (batch, window) float32 <-> (batch, window / hop, n) int32."""

    def __init__(self, model, cfg: dict, *, window: int | None = None, batch: int = 16,
                 n_codebooks: int | None = None, precision: str | None = None, search=None, prior=None):
        import jax
        import jax.numpy as jnp
        from flax import nnx

        from genotool_codec.runtime import cast_for_compute, compute_dtype
        from genotool_codec.settings import Search

        self.cfg = cfg
        self.hop = hop_of(cfg["model"])
        self.window = int(window or cfg["data"]["window"])
        if self.window % self.hop:
            raise UserError(f"--window {self.window} is not a multiple of the model's hop {self.hop}")
        n_max = int(cfg["model"]["n_codebooks"])
        self.n = n_max if n_codebooks is None else int(n_codebooks)
        if not 1 <= self.n <= n_max:
            raise UserError(f"--codebooks must be between 1 and {n_max} for this model, not {self.n}")
        self.batch = int(batch)
        # Mixed precision (--precision bf16-mixed/fp16-mixed): encoder and decoder run in the
        # compute dtype, the codebook search in float32.
        self.dtype = compute_dtype(precision)
        gdef, state = nnx.split(model)
        self.state = cast_for_compute(state, self.dtype)
        dt = self.dtype

        self.search = search or Search()
        # One level has nothing to gain from a latent beam (the nearest code is the best); the
        # signal search still weighs its level-0 candidates by the decoded error.
        width = self.search.width if self.n > 1 or self.search.method == "signal" else 1

        def latent(m, x):
            return m.encoder(x[..., None].astype(dt)).astype(jnp.float32)

        def enc(state, x):
            m = nnx.merge(gdef, state)
            return m.quantizer.encode(latent(m, x), self.n, width)

        def cands(state, x):
            m = nnx.merge(gdef, state)
            return m.quantizer.candidates(latent(m, x), self.n, width)

        def dec(state, codes):
            m = nnx.merge(gdef, state)
            return m.decoder(m.quantizer.decode(codes).astype(dt))[..., 0].astype(jnp.float32)

        # The signal search weighs each candidate's bits under the entropy-coding prior when the
        # model has one (``prior``: entropy.Prior) and --rate-weight > 0.
        tables = None
        if prior is not None and self.search.method == "signal" and self.search.rate_weight > 0:
            tables = [jnp.asarray(t) for t in prior.bit_tables(self.n)]

        def refine(state, x, c, cur, phase):
            return signal_step(lambda codes: dec(state, codes), x, c, cur, phase, hop=self.hop,
                               bits=None if tables is None else (lambda codes: code_bits(tables, codes)),
                               rate_weight=float(self.search.rate_weight))

        self._enc = jax.jit(enc)
        self._cands = jax.jit(cands)
        self._dec = jax.jit(dec)
        self._refine = jax.jit(refine)

    def _encode_batch(self, x: np.ndarray) -> np.ndarray:
        """(batch, window) float32 -> (batch, window/hop, n) int32 under this runner's search."""
        if self.search.method != "signal":
            return np.asarray(self._enc(self.state, x))
        c = self._cands(self.state, x)
        cur = c[:, :, 0]
        for phase in range(SIGNAL_PHASES):
            cur = self._refine(self.state, x, c, cur, phase)
        return np.asarray(cur)

    def encode_windows(self, w: np.ndarray) -> np.ndarray:
        """(M, window) float32 -> (M, window/hop, n) int32 codes (first n levels)."""
        out = []
        for i in range(0, len(w), self.batch):
            chunk = w[i:i + self.batch]
            m = len(chunk)
            if m < self.batch:
                chunk = np.concatenate([chunk, np.zeros((self.batch - m, w.shape[1]), np.float32)])
            c = self._encode_batch(chunk)[:m]
            out.append(c)
        return np.concatenate(out) if out else np.zeros((0, self.window // self.hop, self.n), np.int32)

    def decode_windows(self, codes: np.ndarray) -> np.ndarray:
        """(M, window/hop, n) int32 -> (M, window) float32."""
        out = []
        tpw = self.window // self.hop
        for i in range(0, len(codes), self.batch):
            chunk = codes[i:i + self.batch]
            m = len(chunk)
            if m < self.batch:
                chunk = np.concatenate([chunk, np.zeros((self.batch - m, tpw, chunk.shape[-1]), np.int32)])
            out.append(np.asarray(self._dec(self.state, chunk))[:m])
        return np.concatenate(out) if out else np.zeros((0, self.window), np.float32)

    def encode_reads(self, signals: list[np.ndarray]) -> list[np.ndarray]:
        """Normalised reads [(n_i,)] -> codes [(ceil(n_i / hop), n)]."""
        wins, counts = [], []
        for x in signals:
            w = pad_to(x, self.window).reshape(-1, self.window)
            wins.append(w)
            counts.append(len(w))
        allc = self.encode_windows(np.concatenate(wins).astype(np.float32)) if wins else None
        out, k = [], 0
        for x, c in zip(signals, counts):
            codes = allc[k:k + c].reshape(-1, self.n)
            out.append(codes[: math.ceil(len(x) / self.hop)])
            k += c
        return out

    def decode_reads(self, codes: list[np.ndarray], lengths: list[int]) -> list[np.ndarray]:
        """codes [(t_i, n)] + true lengths -> normalised signals [(n_i,)]."""
        tpw = self.window // self.hop
        wins, counts = [], []
        for c in codes:
            pad = (-len(c)) % tpw
            if pad:  # repeat the last token: the decoder sees a plausible continuation, then we cut
                c = np.concatenate([c, np.repeat(c[-1:], pad, axis=0)])
            w = c.reshape(-1, tpw, c.shape[-1])
            wins.append(w)
            counts.append(len(w))
        if not wins:
            return []
        sig = self.decode_windows(np.concatenate(wins).astype(np.int32))
        out, k = [], 0
        for n, cnt in zip(lengths, counts):
            out.append(sig[k:k + cnt].reshape(-1)[:n])
            k += cnt
        return out


def load_runner(model_path: Path, **kw):
    """(CodecRunner, model meta) for a trained model folder; ``kw`` go to CodecRunner."""
    from genotool_codec.checkpoint import load_model

    model, meta = load_model(model_path)
    return CodecRunner(model, meta["config"], **kw), meta


def gather_reads(inputs: list[Path], expect_rate: int | None) -> tuple[list[Path], list]:
    """Read every read of every POD5 (corrupt file, mixed or wrong sample rate -> UserError)."""
    files = pod5_io.discover(inputs)
    reads, rates = [], {}
    for f in files:
        why = pod5_io.check_pod5(f)
        if why:
            raise UserError(f"{f}: {why}")
        for rd in pod5_io.iter_reads(f):
            reads.append(rd)
            rates.setdefault(rd.sample_rate, str(f))
    if len(rates) > 1:
        raise UserError("mixed sample rates in the input: " + ", ".join(f"{r} Hz ({f})" for r, f in sorted(rates.items()))
                        + "; code each rate with its own model")
    if expect_rate and rates and next(iter(rates)) != int(expect_rate):
        r = next(iter(rates))
        raise UserError(f"{rates[r]}: sample rate {r} Hz but the model was trained on {expect_rate} Hz data")
    if not reads:
        raise UserError(f"no reads in {', '.join(str(f) for f in files)}")
    return files, reads


def encode_pod5(inputs: list[Path], model_path: Path, output: Path, *, n_codebooks: int | None = None,
                window: int | None = None, batch: int = 16, precision: str | None = None, search=None,
                entropy_coding: bool = True, force: bool = False) -> dict:
    import pod5
    import time

    from genotool.outputs import atomic_file

    from genotool_codec import tokens

    output = Path(output)
    if output.exists() and not force:
        raise UserError(f"output already exists: {output} (use --force to overwrite)")
    prior = model_prior(model_path, entropy_coding)
    runner, meta = load_runner(model_path, window=window, batch=batch, n_codebooks=n_codebooks,
                               precision=precision, search=search, prior=prior)
    cfg = runner.cfg
    files, reads = gather_reads(inputs, cfg["data"].get("sample_rate"))
    t0 = time.perf_counter()
    norm = [normalise(rd.pa()) for rd in reads]
    codes = runner.encode_reads([n[0] for n in norm])
    enc_s = time.perf_counter() - t0
    run_infos, run_index, rmeta = [], {}, []
    for f in files:
        with pod5.Reader(f) as r:
            for rec in r.reads():
                rmeta.append(tokens.read_metadata(rec.to_read(), run_infos, run_index))
    header = token_header(cfg, runner, reads[0].sample_rate, files, run_infos, rmeta)
    with atomic_file(output, force=force) as tmp:
        with open(tmp, "wb"):
            pass
        payload_bits = tokens.write_tokens(tmp, header, codes, [len(n[0]) for n in norm],
                                           [n[1] for n in norm], [n[2] for n in norm], prior=prior)
    total = sum(len(n[0]) for n in norm)
    src_bytes = sum(f.stat().st_size for f in files)
    return {"reads": len(reads), "samples": total, "payload_bits": payload_bits,
            "payload_bits_per_sample": payload_bits / max(total, 1),
            "file_bytes": output.stat().st_size, "file_bits_per_sample": 8 * output.stat().st_size / max(total, 1),
            "pod5_bytes": src_bytes, "pod5_bits_per_sample": 8 * src_bytes / max(total, 1),
            "size_vs_pod5": output.stat().st_size / max(src_bytes, 1), "n_codebooks": runner.n,
            "nominal_bits_per_sample": runner.n * math.ceil(math.log2(int(cfg["model"]["codebook_size"]))) / runner.hop,
            "coding": "ans" if prior is not None else "fixed", "search": runner.search.as_dict(),
            "encode_seconds": round(enc_s, 3), "encode_samples_per_second": round(total / max(enc_s, 1e-9), 1)}


def decode_tokens(tokens_path: Path, model_path: Path, output: Path, *, batch: int = 16, precision: str | None = None,
                  force: bool = False) -> dict:
    import time

    from genotool_codec import tokens

    output = Path(output)
    if output.exists() and not force:
        raise UserError(f"output already exists: {output} (use --force to overwrite)")
    from genotool_codec.checkpoint import load_model

    model, meta = load_model(model_path)
    fp = model_fingerprint(meta["config"]["model"])

    def prior_for(header: dict):
        if header.get("fingerprint") != fp:
            raise UserError(f"{tokens_path}: token file was made by another model (fingerprint "
                            f"{header.get('fingerprint')}, --model has {fp})")
        return model_prior(model_path, header.get("coding") == "ans", warn=False)

    tok = tokens.read_tokens(tokens_path, prior_for)
    h = tok["header"]
    runner = CodecRunner(model, meta["config"], window=h["window"], batch=batch, n_codebooks=h["n_codebooks"],
                         precision=precision)
    t0 = time.perf_counter()
    sig = runner.decode_reads(tok["codes"], [int(n) for n in tok["n_samples"]])
    dec_s = time.perf_counter() - t0
    n = 0
    with pod5_io.Pod5Out(output, force=force) as w:
        for i, (x, rm) in enumerate(zip(sig, h["reads"])):
            pa = x * tok["scale"][i] + tok["median"][i]
            cal = rm["calibration"]
            w.add(tokens.build_read(rm, h["run_infos"], pod5_io.to_int16(pa / cal["scale"] - cal["offset"])))
            n += 1
    total = int(sum(tok["n_samples"]))
    return {"reads": n, "samples": total, "decode_seconds": round(dec_s, 3),
            "decode_samples_per_second": round(total / max(dec_s, 1e-9), 1)}


def token_header(cfg: dict, runner: CodecRunner, sample_rate: int, files: list[Path], run_infos: list,
                 rmeta: list) -> dict:
    """The token file header (before the coding fields ``write_tokens`` adds)."""
    return {"fingerprint": model_fingerprint(cfg["model"]), "model": cfg["model"], "n_codebooks": runner.n,
            "codebook_size": int(cfg["model"]["codebook_size"]), "hop": runner.hop, "window": runner.window,
            "sample_rate": sample_rate, "sources": [str(f) for f in files], "run_infos": run_infos, "reads": rmeta,
            "search": runner.search.as_dict()}


def model_prior(model_path: Path, wanted: bool = True, *, warn: bool = True):
    """The model folder's entropy-coding prior; None (fixed width) when not wanted or absent
    (absent: a model trained before priors existed -> one warning, fixed-width codes)."""
    from genotool_codec.checkpoint import find_model_dir
    from genotool_codec.entropy import PRIOR_FILE, load_prior

    if not wanted:
        return None
    d = find_model_dir(model_path)
    prior = load_prior(d)
    if prior is None and warn:
        from genotool.log import warn as warn_line

        warn_line(f"{d}: no {PRIOR_FILE} (a model from before entropy coding): token codes are written at "
                  f"fixed width; `genotool codec prior -m {model_path} -d DATA` fits one")
    return prior


def reconstruct(runner: CodecRunner, reads: list) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """RawReads -> (decoded int16 ADC, original pA, decoded pA) per read, all in memory."""
    norm = [normalise(rd.pa()) for rd in reads]
    codes = runner.encode_reads([n[0] for n in norm])
    dec = runner.decode_reads(codes, [len(n[0]) for n in norm])
    adc, pa_o, pa_d = [], [], []
    for rd, (x, med, sc), y in zip(reads, norm, dec):
        pa = y * sc + med
        a = pod5_io.to_int16(pa / rd.scale - rd.offset)
        adc.append(a)
        pa_o.append(rd.pa())
        pa_d.append((a.astype(np.float32) + rd.offset) * rd.scale)
    return adc, pa_o, pa_d, codes



def token_file_bytes(model_path: Path, runner: CodecRunner, files: list[Path], reads: list, codes: list[np.ndarray],
                     prior) -> int:
    """Size in bytes of the token file ``encode`` would write for ``reads`` (a subset of ``files``):
    the real writer, real header (every read's POD5 metadata), into a temporary file."""
    import tempfile

    import pod5

    from genotool_codec import tokens

    want = {r.read_id for r in reads}
    run_infos, run_index, by_id = [], {}, {}
    for f in files:
        with pod5.Reader(f) as r:
            for rec in r.reads():
                if str(rec.read_id) in want:
                    by_id[str(rec.read_id)] = tokens.read_metadata(rec.to_read(), run_infos, run_index)
    header = token_header(runner.cfg, runner, reads[0].sample_rate, files, run_infos, [by_id[r.read_id] for r in reads])
    norm = [normalise(rd.pa()) for rd in reads]
    with tempfile.TemporaryDirectory(prefix="genotool_codec_tok_") as td:
        p = Path(td) / "t.tokens"
        tokens.write_tokens(p, header, codes, [len(r.signal) for r in reads], [n[1] for n in norm],
                            [n[2] for n in norm], prior=prior)
        return p.stat().st_size
