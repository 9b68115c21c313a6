"""The codec's trained model folder: write it, find it, read it.

The same names and messages as the core's :mod:`genotool.engine.model_io` (the torch plugins'
format); the codec keeps its own files because its weights are a JAX/Flax state saved with orbax:
``<run>/model/model.json`` (``format`` ``genotool-codec.model/1``, the codec config, the model
fingerprint and training facts) and ``<run>/model/state`` (the generator's arrays, as the flat
leaf list of the state a config builds). Every problem is one :class:`~genotool.errors.UserError`
line naming ``--model`` and the folder or file. Loading runs no code from the folder: JSON and
arrays only.
"""

from __future__ import annotations

import json
from pathlib import Path

from genotool.errors import UserError

from genotool_codec.checkpoint import leaves_dict, unflatten
from genotool_codec.config import model_fingerprint

MODEL_DIR = "model"
MODEL_FORMAT = "genotool-codec.model"
MODEL_VERSION = 1


def export_model(run_dir: Path, state, cfg: dict, extra: dict) -> Path:
    """Save the generator's variables (params + frozen codebooks) to ``run_dir/model``."""
    import orbax.checkpoint as ocp

    path = (Path(run_dir) / MODEL_DIR).absolute()
    with ocp.StandardCheckpointer() as ck:
        ck.save(path / "state", leaves_dict(state))
    meta = {"format": f"{MODEL_FORMAT}/{MODEL_VERSION}", "config": cfg, "fingerprint": model_fingerprint(cfg["model"]),
            **extra}
    (path / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    return path


def model_dir(path: Path, option: str = "--model") -> Path:
    """The folder holding ``model.json``: ``path`` itself or its ``model/`` (a ``codec train`` output)."""
    p = Path(path)
    if not p.is_dir():
        raise UserError(f"{option}: {p} is not a folder (a `codec train` output)")
    for cand in (p, p / MODEL_DIR):
        if (cand / "model.json").is_file():
            return cand.absolute()
    raise UserError(f"{option}: {p} has no model.json (a `codec train` output)")


def read_model(path: Path, option: str = "--model") -> dict:
    """``model.json`` of a model folder, checked, with ``dir``: the resolved folder (no arrays read)."""
    d = model_dir(path, option)
    f = d / "model.json"
    try:
        meta = json.loads(f.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{option}: {f} cannot be read as a genotool model ({type(exc).__name__})") from None
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if not isinstance(fmt, str) or not fmt.startswith(MODEL_FORMAT + "/"):
        raise UserError(f"{option}: {f} is not a genotool model file")
    version = fmt.rsplit("/", 1)[1]
    if not version.isdigit() or not isinstance(meta.get("config"), dict) or not (d / "state").is_dir():
        raise UserError(f"{option}: {f} is a damaged genotool model file (no version, config or weights)")
    if int(version) > MODEL_VERSION:
        raise UserError(f"{option}: {f} has model format version {version}; this genotool reads "
                        f"<= {MODEL_VERSION} (upgrade genotool)")
    return {**meta, "dir": str(d)}


def load_model(path: Path, option: str = "--model"):
    """(Codec nnx module, meta) from a train output folder or its ``model/`` subfolder; ``meta`` is
    ``model.json`` plus ``dir``, the resolved folder (its prior lives there)."""
    import orbax.checkpoint as ocp
    from flax import nnx

    from genotool_codec.models import build

    meta = read_model(path, option)
    d = Path(meta["dir"])
    try:
        model, _ = build(meta["config"]["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{option}: {d}: the saved config does not describe a model this version builds "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    gdef, state = nnx.split(model)
    try:
        with ocp.StandardCheckpointer() as ck:
            saved = ck.restore(d / "state", leaves_dict(state))
        state = unflatten(state, saved)
    except ValueError as exc:
        raise UserError(f"{option}: {d}: weights do not fit the saved config ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign state folder is the user's input
        raise UserError(f"{option}: {d / 'state'} cannot be read as a genotool model ({type(exc).__name__})") from None
    return nnx.merge(gdef, state), meta
