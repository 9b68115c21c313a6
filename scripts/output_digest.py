"""output_digest.py OUT > digest.json: content hashes of every output of scripts/behaviour_check.sh
(parquet columns, npz/npy arrays, token files' arrays and header, POD5 signals, torch and orbax
model weights, JSON reports), with what depends on the run and not on the computation (timings,
paths, host, software versions, the probe's plan, command-line parameters) left out.
`output_digest.py --compare before.json after.json` lists what differs (exit 1 if anything does)."""
import hashlib
import json
import math
import re
import sys
import zlib
from pathlib import Path

import numpy as np

# keys whose values depend on the run, not on the computation
VOLATILE = re.compile(r"(seconds|elapsed|per_second|_time$|^time|started|finished|created|environment|software|mtime|"
                      r"load_average|wall|^path$|^paths$|cache_dir|^cache$|^inputs$|^sources$|^output$|^file$|"
                      r"worker|^argv$|^cwd$|^dir$|^model$|^source$|^plan$|^parameters$|peak|memory|_mb$|"
                      r"^jax$|^key$|^key_material$|^id$|versions|^hostname$|^telemetry$|^command$)")
SKIP_SUFFIX = {".html", ".png", ".bai", ".tbi", ".csv", ".log"}


def h(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()[:16]


def clean(o, root):
    if isinstance(o, dict):
        return {k: clean(v, root) for k, v in sorted(o.items()) if not VOLATILE.search(str(k))}
    if isinstance(o, list):
        return [clean(v, root) for v in o]
    if isinstance(o, str):
        return o.replace(root, "<ROOT>")
    if isinstance(o, float) and math.isnan(o):
        return "nan"
    return o


def arr_hash(a) -> str:
    a = np.asarray(a)
    if a.dtype.kind in "OUS":
        return h("\x1f".join(map(str, a.ravel().tolist())).encode())
    return h(str(a.dtype).encode() + str(a.shape).encode() + np.ascontiguousarray(a).tobytes())


def digest_file(p: Path, rel: str, root: str, out: dict):
    s = p.suffix
    if s == ".json" or p.name.endswith(".json"):
        try:
            obj = json.loads(p.read_text())
        except json.JSONDecodeError:
            return
        out[rel] = h(json.dumps(clean(obj, root), sort_keys=True, default=str).encode())
    elif s == ".parquet":
        import pyarrow.parquet as pq
        t = pq.read_table(p)
        for c in t.column_names:
            out[f"{rel}::{c}"] = arr_hash(t.column(c).to_numpy(zero_copy_only=False))
    elif s in (".npz", ".tokens"):
        with np.load(p, allow_pickle=False) as z:
            for k in z.files:
                if k == "header":
                    hdr = json.loads(zlib.decompress(z[k].tobytes()))
                    out[f"{rel}::header"] = h(json.dumps(clean(hdr, root), sort_keys=True).encode())
                else:
                    out[f"{rel}::{k}"] = arr_hash(z[k])
    elif s == ".npy":
        out[rel] = arr_hash(np.load(p))
    elif s == ".pt":
        import torch
        ck = torch.load(p, map_location="cpu", weights_only=False)
        if isinstance(ck, dict) and "state_dict" in ck:
            for k, v in ck["state_dict"].items():
                out[f"{rel}::state::{k}"] = arr_hash(v.numpy())
            out[f"{rel}::config"] = h(json.dumps(clean(ck.get("config"), root), sort_keys=True, default=str).encode())
            out[f"{rel}::extra"] = h(json.dumps(clean(ck.get("extra"), root), sort_keys=True, default=str).encode())
        else:   # training checkpoints (optimizer, RNG): the model weights only
            sd = ck.get("model") if isinstance(ck, dict) else None
            if isinstance(sd, dict):
                for k, v in sd.items():
                    out[f"{rel}::model::{k}"] = arr_hash(v.numpy())
    elif s == ".pod5":
        import pod5
        with pod5.Reader(p) as r:
            for rec in r.reads():
                out[f"{rel}::{rec.read_id}"] = h(np.asarray(rec.signal).tobytes() + repr(
                    (rec.calibration.offset, rec.calibration.scale, rec.read_number, rec.start_sample)).encode())
    elif s in (".fa", ".fasta", ".tsv", ".interval_list", ".txt"):
        out[rel] = h(p.read_bytes())
    elif s == ".bam":
        out[rel] = h(p.read_bytes())


def digest_orbax(d: Path, rel: str, out: dict):
    import orbax.checkpoint as ocp
    with ocp.StandardCheckpointer() as ck:
        tree = ck.restore(d.absolute())
    for k in sorted(tree):
        out[f"{rel}::{k}"] = arr_hash(np.asarray(tree[k]))


def digest(root: Path) -> dict:
    out = {}
    rs = str(root.resolve())
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if "checkpoints" in p.parts:     # training state (optimizer, RNG): the final weights are compared
            continue
        if p.is_dir() and p.name == "state" and (p.parent / "model.json").is_file():
            digest_orbax(p, rel, out)
            continue
        if not p.is_file() or p.suffix in SKIP_SUFFIX or any(x == "state" for x in p.parts):
            continue
        rel = re.sub(r"cache/[0-9a-f]{24}", "cache/<KEY>", rel)
        digest_file(p, rel, rs, out)
    return out


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        a, b = (json.loads(Path(x).read_text()) for x in sys.argv[2:4])
        only_a = sorted(set(a) - set(b))
        only_b = sorted(set(b) - set(a))
        diff = sorted(k for k in set(a) & set(b) if a[k] != b[k])
        print(f"{len(a)} entries before, {len(b)} after; {len(set(a) & set(b)) - len(diff)} identical")
        for k in only_a:
            print(f"only before: {k}")
        for k in only_b:
            print(f"only after:  {k}")
        for k in diff:
            print(f"DIFFERENT:   {k}")
        sys.exit(1 if (only_a or only_b or diff) else 0)
    print(json.dumps(digest(Path(sys.argv[1])), indent=1, sort_keys=True))
