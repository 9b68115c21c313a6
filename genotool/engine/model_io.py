"""One trained-model format for every torch plugin: ``export_model`` / ``load_model``.

A trained model is a file ``<model_dir>/<name>.pt`` (default name ``model``) holding one
``torch.save`` dict::

    {"format": "genotool.model", "version": 1, "plugin": "gencode",
     "config": {...},            # what the plugin's ``build(config)`` needs to rebuild the module
     "state_dict": {...},        # weights of the unwrapped module (no DDP/compile prefixes)
     "extra": {...},             # plugin data that is not a constructor argument (vocabularies, ...)
     "software": {"genotool": ..., "torch": ...}}

and a human-readable copy of ``config`` beside it (``<name>_config.json``). Writes are atomic
(temp file + rename). ``load_model`` checks the tag, the plugin and the version, passes the
config through the plugin's ``upgrade`` (old saved configs gain the defaults of options added
since), and turns every problem into one :class:`~genotool.errors.UserError` line naming the file.
Files written before this format existed are handed to the plugin's ``legacy`` reader.

Models are files people share, so loading one never runs code from it: ``config`` and ``extra``
are stored as plain data (numpy values become Python ones, paths strings) and the file is read
with ``torch.load(weights_only=True)``, which unpickles tensors and plain containers only.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Callable

import torch

from genotool.engine.checkpoint import save_atomic, unwrap
from genotool.errors import UserError

MODEL_FORMAT = "genotool.model"
MODEL_VERSION = 1


def model_file(model_dir: str | os.PathLike, name: str = "model") -> Path:
    return Path(model_dir) / f"{name}.pt"


def _plain(value):
    """``value`` as JSON-able plain data (what ``weights_only`` loading accepts), via JSON itself:
    numpy scalars and arrays become numbers and lists, anything else its ``str``."""
    def convert(obj):
        if hasattr(obj, "tolist"):           # numpy scalar or array
            return obj.tolist()
        return str(obj)

    return json.loads(json.dumps(value, default=convert))


def export_model(model: torch.nn.Module, model_dir: str | os.PathLike, *, plugin: str, config: dict,
                 name: str = "model", extra: dict | None = None) -> Path:
    """Write ``model``'s weights and ``config`` as ``<model_dir>/<name>.pt`` (+ ``<name>_config.json``)."""
    from genotool import __version__
    from genotool.outputs import atomic_file

    payload = {"format": MODEL_FORMAT, "version": MODEL_VERSION, "plugin": plugin, "config": _plain(dict(config)),
               "state_dict": unwrap(model).state_dict(), "extra": _plain(dict(extra or {})),
               "software": {"genotool": str(__version__), "torch": str(torch.__version__)}}
    path = save_atomic(payload, model_file(model_dir, name))
    with atomic_file(Path(model_dir) / f"{name}_config.json") as tmp:
        Path(tmp).write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")
    return path


def read_model(model_dir: str | os.PathLike, *, plugin: str, name: str = "model", option: str = "--model",
               legacy: Callable[[Path], dict] | None = None) -> dict:
    """Load and check the payload of ``<model_dir>/<name>.pt`` (see the module docstring).

    ``legacy(model_dir)`` turns a folder in an older plugin-specific layout into a payload dict
    (``config``, ``state_dict``, optional ``extra``); without it such a folder is an error.
    """
    model_dir = Path(model_dir)
    if model_dir.is_file():
        path, model_dir = model_dir, model_dir.parent
    else:
        path = model_file(model_dir, name)
    if not model_dir.is_dir():
        raise UserError(f"{option}: {model_dir} is not a folder (a `{plugin} train` output)")
    if not path.is_file():
        if legacy is not None:
            return _checked_legacy(legacy, model_dir, option)
        raise UserError(f"{option}: {model_dir} has no {path.name} (a `{plugin} train` output)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower():
            raise UserError(f"{option}: {path} cannot be read as a genotool model (UnpicklingError)") from exc
        raise UserError(f"{option}: {path} holds Python objects besides tensors and plain data; genotool does "
                        f"not unpickle them (a model file runs no code when loaded)") from exc
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file is the user's input
        raise UserError(f"{option}: {path} cannot be read as a genotool model ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        if legacy is not None:
            return _checked_legacy(legacy, model_dir, option)
        raise UserError(f"{option}: {path} is not a genotool model file")
    if payload.get("plugin") != plugin:
        raise UserError(f"{option}: {path} is a '{payload.get('plugin')}' model, not a '{plugin}' one")
    version = payload.get("version")
    if not isinstance(version, int) or not isinstance(payload.get("state_dict"), dict) \
            or not isinstance(payload.get("config"), dict):
        raise UserError(f"{option}: {path} is a damaged genotool model file (no version, config or weights)")
    if version > MODEL_VERSION:
        raise UserError(f"{option}: {path} has model format version {version}; this genotool reads "
                        f"<= {MODEL_VERSION} (upgrade genotool)")
    payload.setdefault("extra", {})
    return payload


def _checked_legacy(legacy: Callable[[Path], dict], model_dir: Path, option: str) -> dict:
    payload = legacy(model_dir)
    if not payload or "state_dict" not in payload or "config" not in payload:
        raise UserError(f"{option}: {model_dir} holds no model this genotool can read")
    payload.setdefault("extra", {})
    payload.setdefault("version", 0)
    return payload


def load_model(model_dir: str | os.PathLike, build: Callable[[dict], torch.nn.Module], *, plugin: str,
               name: str = "model", option: str = "--model", device: str = "cpu",
               upgrade: Callable[[dict], dict] | None = None,
               legacy: Callable[[Path], dict] | None = None) -> tuple[torch.nn.Module, dict]:
    """Rebuild a trained model: ``build(config)`` then its weights; returns ``(model.eval(), payload)``.

    ``upgrade(config)`` maps an older saved config to the current one (new keys get the values
    that reproduce the old behaviour). ``payload["config"]`` is the upgraded config.
    """
    payload = read_model(model_dir, plugin=plugin, name=name, option=option, legacy=legacy)
    config = upgrade(dict(payload["config"])) if upgrade else dict(payload["config"])
    payload["config"] = config
    try:
        model = build(config)
    except (KeyError, TypeError, ValueError) as exc:  # a saved config this version cannot build
        raise UserError(f"{option}: {model_dir}: the saved config does not describe a model this "
                        f"version builds ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise UserError(f"{option}: {model_dir}: weights do not fit the saved config "
                        f"({first[1].strip() if len(first) > 1 else first[0]})") from exc
    return model.to(device).eval(), payload
