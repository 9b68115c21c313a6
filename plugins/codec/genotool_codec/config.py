"""Codec configuration: model, training and data sections, JSON files and ``--set a.b=v`` overrides.

The model section fixes every array shape; a checkpoint or token file records its model section
and its :func:`model_fingerprint`, so loading one with another model config is refused.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from pathlib import Path

from genotool.errors import UserError

DEFAULT_CONFIG: dict = {
    "model": {
        # Encoder: channels per stage (one more entry than strides), strides multiply to the hop.
        "channels": [16, 32, 64, 96],
        "strides": [4, 4, 5],
        "res_blocks": 1,
        "kernel": 7,
        "latent_dim": 64,
        # SimVQ residual quantizer: n_codebooks levels of codebook_size codes each. The bitrate is
        # n_codebooks * log2(codebook_size) / hop bits per sample: 12 x 10 bits / 80 = 1.5.
        "codebook_size": 1024,
        "n_codebooks": 12,
        "codebook_seed": 1234,
        "disc_channels": [16, 32, 64, 64],
        "disc_strides": [4, 4, 4, 1],
    },
    "train": {
        "steps": 2000,
        "batch_size": 16,
        "crop": 2000,             # samples per training example (multiple of the hop); 0 = whole window
        "learning_rate": 1e-3,
        "schedule": "constant",   # constant | cosine (warm-up, then decay to 5% at train.steps)
        "warmup_steps": 100,
        "disc_learning_rate": 2e-4,
        "weight_decay": 1e-4,
        "b1": 0.8,
        "b2": 0.99,
        "grad_clip": 1.0,
        "grad_accum": 1,
        "loss_weights": {"time_l1": 1.0, "commit": 1.0, "gan": 0.1, "feature": 1.0},
        "beta": 0.25,             # commitment weight inside the SimVQ loss (codebook loss has 1.0)
        "quantizer_dropout": 0.5, # fraction of batches trained with fewer codebooks (bitrate choice)
        "active_codebooks": 0,    # 0: all levels (+ dropout); N: always the first N (fine-tune for one rate)
        "disc_start": 1000,       # generator-only warm-up steps before the GAN losses come in
        "disc_steps": 1,          # discriminator updates per generator step
        "log_every": 50,
        "save_every": 500,
        "keep_checkpoints": 2,
        "seed": 0,
        "host_prefetch": 4,
        "device_prefetch": 2,
        "tensorboard": False,
        "wandb": False,
    },
    "data": {"window": 10000, "sample_rate": None},
}


def hop(model_cfg: dict) -> int:
    return int(math.prod(model_cfg["strides"]))


def bits_per_sample(model_cfg: dict, n_codebooks: int | None = None) -> float:
    n = model_cfg["n_codebooks"] if n_codebooks is None else n_codebooks
    return n * math.log2(model_cfg["codebook_size"]) / hop(model_cfg)


def model_fingerprint(model_cfg: dict) -> str:
    return hashlib.sha256(json.dumps(model_cfg, sort_keys=True).encode()).hexdigest()[:16]


def _deep_update(base: dict, upd: dict, where: str = "") -> dict:
    for k, v in upd.items():
        if k not in base:
            raise UserError(f"config: unknown key '{where}{k}'")
        if isinstance(base[k], dict) and isinstance(v, dict):
            _deep_update(base[k], v, f"{where}{k}.")
        else:
            base[k] = v
    return base


def parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def load_config(path: Path | None = None, overrides: list[str] | None = None, base: dict | None = None) -> dict:
    """DEFAULT_CONFIG (or ``base``) <- JSON file <- ``key.sub=value`` overrides (values parsed as JSON)."""
    cfg = copy.deepcopy(base or DEFAULT_CONFIG)
    if path is not None:
        path = preset_path(path)
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise UserError(f"--config: file not found: {path}") from None
        except json.JSONDecodeError as exc:
            raise UserError(f"--config: {path} is not valid JSON ({exc})") from None
        _deep_update(cfg, data)
    for item in overrides or []:
        if "=" not in item:
            raise UserError(f"--set: expected key.sub=value, got '{item}'")
        key, val = item.split("=", 1)
        parts = key.strip().split(".")
        _deep_update(cfg, _nest(parts, parse_value(val)))
    validate(cfg)
    return cfg


def presets() -> list[str]:
    from importlib import resources

    return sorted(p.name[:-5] for p in (resources.files("genotool_codec") / "configs").iterdir()
                  if p.name.endswith(".json"))


def preset_path(path) -> Path:
    """A JSON path, or the name of a preset shipped in genotool_codec/configs (e.g. ``r941-cpu``)."""
    p = Path(path)
    if p.exists() or p.suffix == ".json" or "/" in str(path):
        return p
    from importlib import resources

    ref = resources.files("genotool_codec") / "configs" / f"{path}.json"
    if not ref.is_file():
        raise UserError(f"--config: no file or preset named '{path}' (presets: {', '.join(presets())})")
    return Path(str(ref))


def _nest(parts: list[str], value):
    d = value
    for p in reversed(parts):
        d = {p: d}
    return d


def validate(cfg: dict) -> None:
    m, t = cfg["model"], cfg["train"]
    if len(m["channels"]) != len(m["strides"]) + 1:
        raise UserError("config: model.channels needs one entry more than model.strides")
    if len(m["disc_channels"]) != len(m["disc_strides"]):
        raise UserError("config: model.disc_channels and model.disc_strides differ in length")
    if m["codebook_size"] < 2 or m["n_codebooks"] < 1:
        raise UserError("config: model.codebook_size must be >= 2 and model.n_codebooks >= 1")
    h = hop(m)
    if cfg["data"]["window"] % h:
        raise UserError(f"config: data.window {cfg['data']['window']} is not a multiple of the hop {h}")
    if t["crop"] and t["crop"] % h:
        raise UserError(f"config: train.crop {t['crop']} is not a multiple of the hop {h}")
    if not 0 <= int(t.get("active_codebooks", 0)) <= m["n_codebooks"]:
        raise UserError(f"config: train.active_codebooks must be 0 (all) .. model.n_codebooks ({m['n_codebooks']})")
    for k in ("steps", "batch_size", "grad_accum", "disc_steps"):
        if int(t[k]) < 1:
            raise UserError(f"config: train.{k} must be >= 1")


TINY_MODEL = {
    "channels": [8, 8, 16, 16], "strides": [2, 2, 2], "res_blocks": 1, "kernel": 3, "latent_dim": 8,
    "codebook_size": 16, "n_codebooks": 2, "codebook_seed": 1, "disc_channels": [4, 8], "disc_strides": [4, 2],
}
