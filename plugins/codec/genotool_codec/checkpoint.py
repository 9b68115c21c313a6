"""Training checkpoints: orbax (absolute paths) of arbitrary pytrees plus a JSON meta record.

States are saved as their flat list of leaves: restoring needs the same tree structure, which a
model config fixes, and the meta's model fingerprint is checked first so a checkpoint from another
config is refused with a clear message instead of a shape error. The trained model folder is
:mod:`genotool_codec.model_io`.
"""

from __future__ import annotations

import json
from pathlib import Path

from genotool.errors import UserError

from genotool_codec.config import model_fingerprint

CKPT_DIR = "checkpoints"


def leaves_dict(tree) -> dict:
    """``{"00000": leaf, ...}``: a pytree as its flat leaf list (what orbax saves)."""
    import jax

    leaves = jax.tree.leaves(tree)
    return {f"{i:05d}": leaf for i, leaf in enumerate(leaves)}


def unflatten(template, saved: dict):
    """``template``'s tree with the leaves of ``saved``; ValueError when they do not fit."""
    import jax

    leaves, treedef = jax.tree.flatten(template)
    if len(saved) != len(leaves):
        raise ValueError(f"{len(saved)} arrays where the model needs {len(leaves)}")
    new = [saved[f"{i:05d}"] for i in range(len(leaves))]
    for a, b in zip(new, leaves):
        if tuple(a.shape) != tuple(b.shape):
            raise ValueError(f"array shape {tuple(a.shape)} differs from the model's {tuple(b.shape)}")
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
        self.mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(leaves_dict(state)),
                                                    meta=ocp.args.JsonSave(meta)))

    def meta(self, step: int) -> dict:
        ocp = self.ocp
        return self.mgr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

    def restore(self, step: int, template, model_cfg: dict):
        ocp = self.ocp
        meta = self.meta(step)
        check_fingerprint(meta.get("fingerprint"), model_cfg, f"{self.dir}/{step}")
        got = self.mgr.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(leaves_dict(template))))["state"]
        try:
            return unflatten(template, got), meta
        except ValueError as exc:
            raise UserError(f"checkpoint {self.dir}/{step}: {exc}") from None

    def wait(self):
        self.mgr.wait_until_finished()

    def close(self):
        self.mgr.wait_until_finished()
        self.mgr.close()

