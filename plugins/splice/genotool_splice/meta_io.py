"""Reading a trained meta-layer (a ``splice train`` output) through ``genotool.engine.model_io``.

Two protocols share the folder format (``model.pt`` + ``model_config.json``, plugin ``splice``,
config kind ``meta``): ``genome`` (the dense net of :mod:`genotool_splice.genome_meta`) and
``candidates`` (the row model of :mod:`genotool_splice.meta_model`; every model trained before
genome-wide training existed has no ``protocol`` key and is one of these).
"""

from __future__ import annotations

from pathlib import Path

from genotool.errors import UserError
from genotool_splice.base import BaseSpec

PLUGIN = "splice"


def protocol_of(config: dict) -> str:
    return config.get("protocol", "candidates")


def build_meta_model(config: dict):
    """The module a saved config describes (either protocol)."""
    if protocol_of(config) == "genome":
        from genotool_splice.genome_meta import build_genome_meta

        return build_genome_meta(config["model"])
    from genotool_splice.meta_model import build_meta

    return build_meta(config["model"])


def read_meta(model_dir: Path, option: str = "--model") -> dict:
    """The checked payload of a `splice train` output (a train-base output is refused by name)."""
    from genotool.engine.model_io import read_model

    payload = read_model(model_dir, plugin=PLUGIN, option=option)
    if payload["config"].get("kind") != "meta":
        raise UserError(f"{option}: {model_dir} is not a `splice train` output (kind "
                        f"'{payload['config'].get('kind')}')")
    return payload


def load_meta(model_dir: Path, device: str = "cpu", option: str = "--model"):
    """(model in eval mode, payload) of a `splice train` output."""
    from genotool.engine.model_io import load_model

    read_meta(model_dir, option)
    return load_model(model_dir, build_meta_model, plugin=PLUGIN, device=device, option=option)


def base_spec_of(payload: dict, base_weights: Path | None = None) -> BaseSpec:
    """The base the meta-layer was trained over (``--base-weights`` points elsewhere when it moved)."""
    spec = BaseSpec(**payload["config"]["base"])
    if base_weights:
        spec.weights = str(base_weights)
    if not Path(spec.weights).exists():
        raise UserError(f"--base-weights: the model's base weights {spec.weights} are not there; give "
                        f"--base-weights DIR")
    return spec


def head_of(model_dir: Path, plan, min_score: float | None = None, option: str = "--model"):
    """The scoring head of a trained meta-layer (see :mod:`genotool_splice.scoring`)."""
    from genotool_splice.scoring import DenseMetaHead, RowMetaHead

    model, payload = load_meta(model_dir, device=plan.device, option=option)
    if protocol_of(payload["config"]) == "genome":
        return DenseMetaHead(model, plan)
    gate = min_score if min_score is not None else payload["config"].get("call_threshold", 0.1)
    return RowMetaHead(model, payload, plan, gate)


def load_models(model_dir: Path, base_weights: Path | None, plan, min_score: float | None = None):
    """(head, payload, base scorer) of a meta-layer and the base model it was trained over."""
    from genotool_splice.base import load_base

    payload = read_meta(model_dir)
    spec = base_spec_of(payload, base_weights)
    scorer = load_base(spec, device=plan.device, batch_size=32, precision=plan.precision)
    if scorer.flank != payload["config"]["base_context"]:
        raise UserError(f"--base-weights: {spec.weights} has a {scorer.flank} nt context, the meta-layer was "
                        f"trained over {payload['config']['base_context']} nt")
    return head_of(model_dir, plan, min_score), payload, scorer
