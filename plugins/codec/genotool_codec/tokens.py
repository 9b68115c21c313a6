"""The token file: codes + per-read normalisation stats, lengths and POD5 metadata.

Layout (``.npz``, not deflated: coded payloads are incompressible):

* ``header``  uint8: zlib-compressed JSON {format, version, coding, fingerprint, model config,
  n_codebooks, hop, window, sample_rate, bits, prior_id, run_infos, reads: [per-read POD5 metadata]}
* ``codes``   every read's codes (n_tokens_i, n_codebooks), concatenated, as
  - version 1 (``genotool-codec.tokens/1``), or version 2 with ``coding: "fixed"``: uint8,
    ``bits``-bit integers bit-packed;
  - version 2 with ``coding: "ans"``: uint32 ANS words under the model's prior (``entropy.py``),
    whose content hash ``prior_id`` the header records.
* ``n_tokens`` int64 (R,), ``n_samples`` int64 (R,): tokens per read and the read's true length
* ``median`` / ``scale`` float32 (R,): normalisation stats (pA) to undo median/MAD
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import uuid
import zlib
from pathlib import Path

import numpy as np

from genotool.errors import UserError

FORMAT_V1 = "genotool-codec.tokens/1"
FORMAT = "genotool-codec.tokens/2"
VERSION = 2


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """(M, n) non-negative ints < 2**bits -> packed uint8 (ceil(M * n * bits / 8),)."""
    flat = codes.astype(np.uint32).reshape(-1)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint32)
    b = ((flat[:, None] >> shifts) & 1).astype(np.uint8)
    return np.packbits(b.reshape(-1))


def unpack_codes(packed: np.ndarray, count: int, bits: int) -> np.ndarray:
    """Inverse of pack_codes: (count,) int32."""
    b = np.unpackbits(packed)[: count * bits].reshape(count, bits).astype(np.uint32)
    return (b << np.arange(bits - 1, -1, -1, dtype=np.uint32)).sum(1).astype(np.int32)


def build_read(meta: dict, run_infos: list, signal: np.ndarray, _cache: dict = {}):  # noqa: B006 - run-info cache
    """pod5.Read from a token file's read metadata (``pod5_io.index_run_infos``) and an int16 signal."""
    import pod5

    idx = meta["run_info"]
    key = (id(run_infos), idx)
    if key not in _cache:
        r = dict(run_infos[idx])
        for k in ("acquisition_start_time", "protocol_start_time"):
            r[k] = _dt.datetime.fromisoformat(r[k])
        _cache[key] = pod5.RunInfo(**r)

    def nan(v):
        return float("nan") if v is None else v

    er = meta["end_reason"]
    return pod5.Read(
        read_id=uuid.UUID(meta["read_id"]), pore=pod5.Pore(**meta["pore"]),
        calibration=pod5.Calibration(**meta["calibration"]), read_number=meta["read_number"],
        start_sample=meta["start_sample"], median_before=nan(meta["median_before"]),
        end_reason=pod5.EndReason(pod5.EndReasonEnum[er["reason"]], er["forced"]), run_info=_cache[key],
        num_minknow_events=meta.get("num_minknow_events", 0),
        tracked_scaling=pod5.pod5_types.ShiftScalePair(**{k: nan(v) for k, v in meta["tracked_scaling"].items()}),
        predicted_scaling=pod5.pod5_types.ShiftScalePair(**{k: nan(v) for k, v in meta["predicted_scaling"].items()}),
        num_reads_since_mux_change=meta.get("num_reads_since_mux_change", 0),
        time_since_mux_change=meta.get("time_since_mux_change", 0.0),
        open_pore_level=nan(meta.get("open_pore_level")), expected_open_pore_level=nan(meta.get("expected_open_pore_level")),
        selected_read_level=nan(meta.get("selected_read_level")), signal=signal)


def write_tokens(path: Path, header: dict, codes: list[np.ndarray], n_samples: list[int],
                 median: list[float], scale: list[float], prior=None) -> int:
    """Write a version-2 token file to ``path`` (a temporary name the caller renames): entropy-coded
    with ``prior`` (an ``entropy.Prior``), or bit-packed at fixed width when it is None.
    Returns the payload bits (the coded codes alone)."""
    from genotool_codec import entropy

    bits = int(math.ceil(math.log2(header["codebook_size"])))
    allc = np.concatenate([c.reshape(-1, c.shape[-1]) for c in codes]) if codes else np.zeros((0, 1), np.int32)
    if prior is not None:
        payload = entropy.encode_codes(allc, prior)
        header = dict(header, format=FORMAT, version=VERSION, coding="ans", bits=bits, prior_id=prior.id)
        payload_bits = 32 * int(payload.size)
    else:
        payload = pack_codes(allc, bits)
        header = dict(header, format=FORMAT, version=VERSION, coding="fixed", bits=bits, prior_id=None)
        payload_bits = int(allc.size * bits)
    hdr = np.frombuffer(zlib.compress(json.dumps(header, separators=(",", ":")).encode(), 9), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, header=hdr, codes=payload, n_tokens=np.array([len(c) for c in codes], np.int64),
                 n_samples=np.array(n_samples, np.int64), median=np.array(median, np.float32),
                 scale=np.array(scale, np.float32))
    return payload_bits


def read_tokens(path: Path, prior_for=None) -> dict:
    """{header, codes: [(n_tokens_i, n) int32], n_samples, median, scale} or UserError naming the file.

    ``prior_for(header)`` is called for every file before its codes are decoded: it checks the
    header against the model (fingerprint) and returns the model's prior (or None), which an
    entropy-coded file needs; version-1 and fixed-width files ignore it.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--tokens: file not found: {p}")
    try:
        with np.load(p, allow_pickle=False) as z:
            header = json.loads(zlib.decompress(z["header"].tobytes()))
            payload, n_tok = z["codes"], z["n_tokens"]
            out = {"n_samples": z["n_samples"], "median": z["median"], "scale": z["scale"]}
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad (or cut) token file
        raise UserError(f"{p}: not a codec token file, or truncated ({type(exc).__name__})") from None
    if header.get("format") not in (FORMAT_V1, FORMAT):
        raise UserError(f"{p}: not a codec token file (format {header.get('format')!r})")
    version = 1 if header["format"] == FORMAT_V1 else int(header.get("version", VERSION))
    header["version"] = version
    n, m = int(header["n_codebooks"]), int(n_tok.sum())
    prior = prior_for(header) if prior_for is not None else None
    if version >= 2 and header.get("coding") == "ans":
        if prior is None:
            raise UserError(f"{p}: entropy-coded, but the model folder has no prior to decode it")
        if prior.id != header.get("prior_id"):
            raise UserError(f"{p}: coded with another prior (prior {header.get('prior_id')}, the model's is {prior.id})")
        from genotool_codec import entropy

        try:
            flat = entropy.decode_codes(payload, m, n, prior)
        except Exception as exc:  # noqa: BLE001 - a damaged ANS stream
            raise UserError(f"{p}: corrupt entropy-coded payload ({type(exc).__name__})") from None
    else:
        if payload.size * 8 < m * n * int(header["bits"]):
            raise UserError(f"{p}: truncated token payload ({payload.size} bytes for {m} tokens)")
        flat = unpack_codes(payload, m * n, int(header["bits"])).reshape(-1, n)
    bounds = np.concatenate([[0], np.cumsum(n_tok)])
    out["codes"] = [flat[bounds[i]:bounds[i + 1]] for i in range(len(n_tok))]
    out["header"] = header
    return out
