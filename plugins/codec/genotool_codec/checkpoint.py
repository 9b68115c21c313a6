"""Orbax checkpoints (absolute paths) of arbitrary pytrees plus a JSON meta record.

States are saved as their flat list of leaves: restoring needs the same tree structure, which a
model config fixes, and the meta's model fingerprint is checked first so a checkpoint from another
config is refused with a clear message instead of a shape error.
"""

from __future__ import annotations

import json
from pathlib import Path

from genotool.errors import UserError

from genotool_codec.config import model_fingerprint

MODEL_DIR = "model"
CKPT_DIR = "checkpoints"


def _leaves_dict(tree):
    import jax

    leaves = jax.tree.leaves(tree)
    return {f"{i:05d}": leaf for i, leaf in enumerate(leaves)}


def _unflatten(template, saved: dict):
    import jax

    leaves, treedef = jax.tree.flatten(template)
    if len(saved) != len(leaves):
        raise UserError(f"checkpoint has {len(saved)} arrays where the model needs {len(leaves)}")
    new = [saved[f"{i:05d}"] for i in range(len(leaves))]
    for a, b in zip(new, leaves):
        if tuple(a.shape) != tuple(b.shape):
            raise UserError(f"checkpoint array shape {tuple(a.shape)} differs from the model's {tuple(b.shape)}")
    return jax.tree.unflatten(treedef, new)


def check_fingerprint(found: str | None, model_cfg: dict, where: str, *, required: bool = True) -> None:
    """The one fingerprint check: refuse a checkpoint made with another model config."""
    want = model_fingerprint(model_cfg)
    if (found or required) and found != want:
        raise UserError(f"checkpoint {where}: made with a different model config (fingerprint {found} != {want})")


def check_checkpoints_early(path: Path, model_cfg: dict) -> None:
    """Refuse, before any work (no orbax, no JAX), the checkpoints in a run folder (or its
    ``checkpoints/``) that were made with another model config; their JSON metas are read directly."""
    p = Path(path)
    ck = p / CKPT_DIR if (p / CKPT_DIR).is_dir() else p
    for m in sorted(ck.glob("*/meta/metadata")) + sorted(ck.glob("*/meta/*.json")):
        try:
            found = json.loads(m.read_text()).get("fingerprint")
        except (OSError, json.JSONDecodeError):
            continue
        check_fingerprint(found, model_cfg, str(m.parent.parent), required=False)


class Checkpoints:
    """Step checkpoints under ``dir`` (made absolute: orbax refuses relative paths)."""

    def __init__(self, directory: Path, keep: int = 2):
        import orbax.checkpoint as ocp

        self.dir = Path(directory).absolute()
        self.ocp = ocp
        self.mgr = ocp.CheckpointManager(self.dir, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

    def latest(self) -> int | None:
        return self.mgr.latest_step()

    def save(self, step: int, state, meta: dict) -> None:
        ocp = self.ocp
        self.mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(_leaves_dict(state)),
                                                    meta=ocp.args.JsonSave(meta)))

    def meta(self, step: int) -> dict:
        ocp = self.ocp
        return self.mgr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

    def restore(self, step: int, template, model_cfg: dict):
        ocp = self.ocp
        meta = self.meta(step)
        check_fingerprint(meta.get("fingerprint"), model_cfg, f"{self.dir}/{step}")
        got = self.mgr.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(_leaves_dict(template))))["state"]
        return _unflatten(template, got), meta

    def wait(self):
        self.mgr.wait_until_finished()

    def close(self):
        self.mgr.wait_until_finished()
        self.mgr.close()


def export_model(run_dir: Path, state, cfg: dict, extra: dict) -> Path:
    """Save the generator's variables (params + frozen codebooks) to ``run_dir/model``."""
    import orbax.checkpoint as ocp

    path = (Path(run_dir) / MODEL_DIR).absolute()
    with ocp.StandardCheckpointer() as ck:
        ck.save(path / "state", _leaves_dict(state))
    meta = {"format": "genotool-codec.model/1", "config": cfg, "fingerprint": model_fingerprint(cfg["model"]), **extra}
    (path / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    return path


def find_model_dir(path: Path) -> Path:
    p = Path(path)
    for cand in (p, p / MODEL_DIR):
        if (cand / "model.json").is_file():
            return cand.absolute()
    raise UserError(f"--model: {p} is not a trained codec (no model.json; give a `codec train` output)")


def load_model(path: Path):
    """(Codec nnx module, meta dict) from a train output folder or its model/ subfolder."""
    import orbax.checkpoint as ocp
    from flax import nnx

    from genotool_codec.models import build

    d = find_model_dir(path)
    try:
        meta = json.loads((d / "model.json").read_text())
        cfg = meta["config"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise UserError(f"--model: {d}/model.json is unreadable ({exc})") from None
    model, _ = build(cfg["model"])
    gdef, state = nnx.split(model)
    with ocp.StandardCheckpointer() as ck:
        saved = ck.restore(d / "state", _leaves_dict(state))
    state = _unflatten(state, saved)
    return nnx.merge(gdef, state), meta
