"""A gene finder as a model file (genotool.engine.model_io): the encoder's weights are the
state_dict; the counted sensors (count tables, length tables, statistics) travel as plain data in
``extra``; the config says what was trained (``states: gene``, features, durations, weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from genotool_gencode.genes.encoder import GeneEncoder
from genotool_gencode.genes.finder import GeneFinder
from genotool_gencode.genes.sensors import Sensors


class GeneFinderModule(nn.Module):
    """What model_io saves and rebuilds: the encoder (if the finder has one)."""

    def __init__(self, config: dict):
        super().__init__()
        enc = dict(config.get("encoder") or {})
        n = int(enc.pop("ensemble", 0))
        if not enc:
            self.encoder = None
        elif n:
            from genotool_gencode.genes.fit import EnsembleEncoder

            self.encoder = EnsembleEncoder([GeneEncoder(dict(enc)) for _ in range(n)])
        else:
            self.encoder = GeneEncoder(enc)


def finder_config(finder: GeneFinder, head: str) -> dict:
    return {"states": "gene", "head": head, "features": finder.kind, "durations": finder.durations,
            "weights": dict(finder.weights), "sensor_settings": dict(finder.sensors.settings.__dict__),
            "encoder": finder.encoder.config() if finder.encoder is not None else None}


def _plain(state):
    if isinstance(state, dict):
        return {k: _plain(v) for k, v in state.items()}
    if isinstance(state, np.ndarray):
        return state.tolist()
    return state


def save_finder(finder: GeneFinder, out_dir: Path, head: str) -> dict:
    from genotool.engine import export_model

    module = GeneFinderModule(finder_config(finder, head))
    if finder.encoder is not None:
        module.encoder.load_state_dict(finder.encoder.state_dict())
    config = finder_config(finder, head)
    export_model(module, out_dir, plugin="gencode", config=config, extra={"sensors": _plain(finder.sensors.state())})
    return config


def _arrays(state):
    if isinstance(state, dict):
        return {k: (v if k in ("settings", "stats") else _arrays(v)) for k, v in state.items()}
    if isinstance(state, list) and state and isinstance(state[0], (list, float, int)):
        return np.asarray(state, dtype=np.float64)
    if isinstance(state, list):
        return [_arrays(v) for v in state]
    return state


def finder_from_payload(module: GeneFinderModule, payload: dict) -> GeneFinder:
    from genotool.errors import UserError

    cfg = payload["config"]
    try:
        sensors = Sensors.from_state(_arrays(payload["extra"]["sensors"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"--model: the saved gene finder's sensors cannot be read ({type(exc).__name__})") from None
    enc = module.encoder
    if enc is not None:
        enc.eval()
    return GeneFinder(sensors, cfg["weights"], kind=cfg["features"], durations=cfg["durations"], encoder=enc)
