"""Loading a trained gencode model folder, whatever it holds: a gene finder (``--states gene``:
genes/saved.py) or an encoder + CRF head over label states (models.py), in the engine's model
format or the layout written before it; and the inference plan of predict/validate."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from genotool.errors import UserError
from genotool_gencode.config import ModelConfig


def _legacy_model(model_dir: Path) -> dict | None:
    """A model folder written before genotool.engine.model_io: model_config.json + a bare state_dict."""
    cfg_path, w_path = model_dir / "model_config.json", model_dir / "model.pt"
    if not cfg_path.is_file() or not w_path.is_file():
        return None
    try:
        return {"config": json.loads(cfg_path.read_text()),
                "state_dict": torch.load(w_path, map_location="cpu", weights_only=True)}
    except Exception as exc:  # noqa: BLE001 - a damaged folder is the user's input
        raise UserError(f"--model: {model_dir} cannot be read as a gencode model ({type(exc).__name__})") from exc


def load_model(model_dir: Path, device: str = "cpu"):
    """A trained model folder -> (model, config): a gene finder (genes.finder.GeneFinder) with its
    config dict, or a SegmentationModel in eval mode with its ModelConfig."""
    from genotool.engine import load_model as engine_load

    device_type = device.split(":")[0]

    def build(c):
        if c.get("states") == "gene":
            from genotool_gencode.genes.saved import GeneFinderModule

            return GeneFinderModule(c)
        from genotool_gencode.models import SegmentationModel

        return SegmentationModel(ModelConfig.from_json(c), device_type=device_type)

    def upgrade(c):
        return c if c.get("states") == "gene" else ModelConfig.from_json(c).to_json()

    model, payload = engine_load(model_dir, build, plugin="gencode", device=device, upgrade=upgrade,
                                 legacy=_legacy_model)
    if payload["config"].get("states") == "gene":
        from genotool_gencode.genes.saved import finder_from_payload

        return finder_from_payload(model, payload), payload["config"]
    return model, model.config


def is_gene_finder(model) -> bool:
    from genotool_gencode.genes.finder import GeneFinder

    return isinstance(model, GeneFinder)
