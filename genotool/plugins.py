"""Plugin discovery: entry points in group ``genotool.plugins``, loaded one by one.

pluggy's ``load_setuptools_entrypoints`` aborts on the first broken plugin; here each entry
point is imported in its own try/except so a broken plugin is listed with status ``error`` and
the others keep working. ``GENOTOOL_DISABLE_PLUGINS=a,b`` blocks plugins by entry-point name.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from genotool import hookspecs

GROUP = "genotool.plugins"
REQUIRED_VERBS = ("preprocess", "train", "predict", "validate", "bench")
RESERVED_NAMES = {"plugins", "probe", "version"}


@dataclass
class PluginRecord:
    """One row of ``genotool plugins``."""

    name: str
    distribution: str = ""
    version: str = ""
    backend: str = ""
    summary: str = ""
    commands: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | error | disabled | rejected
    reason: str = ""
    app: object = None  # typer.Typer, kept out of JSON

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "app"}
        return d


def _command_names(app) -> list[str]:
    names = []
    for info in getattr(app, "registered_commands", []):
        name = info.name or (info.callback.__name__.replace("_", "-") if info.callback else "")
        names.append(name)
    for info in getattr(app, "registered_groups", []):
        names.append(info.name or "")
    return sorted(n for n in names if n)


def disabled_names() -> set[str]:
    raw = os.environ.get("GENOTOOL_DISABLE_PLUGINS", "")
    return {n.strip() for n in raw.split(",") if n.strip()}


class PluginHost:
    """Holds the pluggy manager and the records of every plugin seen."""

    def __init__(self):
        self.pm = pluggy.PluginManager("genotool")
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.command_owner: dict[str, str] = {}

    # -- loading -------------------------------------------------------------------------
    def load_entry_points(self) -> None:
        blocked = disabled_names()
        for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else ""
            version = ep.dist.version if ep.dist else ""
            rec = PluginRecord(name=ep.name, distribution=dist, version=version)
            if ep.name in self.records:
                rec.status, rec.reason = "rejected", f"a plugin named '{ep.name}' is already loaded"
                self.records[f"{ep.name} ({dist})"] = rec
                continue
            self.records[ep.name] = rec
            if ep.name in blocked:
                rec.status, rec.reason = "disabled", "GENOTOOL_DISABLE_PLUGINS"
                continue
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
                rec.status, rec.reason = "error", f"{type(exc).__name__}: {exc}".splitlines()[0]
                continue
            self.register(module, name=ep.name, record=rec)

    def register(self, plugin, name: str, record: PluginRecord | None = None) -> PluginRecord:
        """Register a plugin object in-process (what tests and entry points both use)."""
        rec = record or self.records.get(name) or PluginRecord(name=name, distribution="(in-process)")
        self.records[name] = rec
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001
            rec.status, rec.reason = "error", f"{type(exc).__name__}: {exc}".splitlines()[0]
            return rec

        def register_group(group_name, app, summary="", backend="none"):
            self._add_group(rec, group_name, app, summary, backend)

        try:
            hook = self.pm.subset_hook_caller("register_commands", remove_plugins=[
                p for p in self.pm.get_plugins() if p is not plugin
            ])
            hook(register=register_group)
        except Exception as exc:  # noqa: BLE001
            rec.status, rec.reason = "error", f"{type(exc).__name__}: {exc}".splitlines()[0]
            self.pm.unregister(plugin)
        return rec

    def _add_group(self, rec: PluginRecord, group_name: str, app, summary: str, backend: str) -> None:
        if group_name in RESERVED_NAMES:
            rec.status, rec.reason = "rejected", f"command name '{group_name}' is reserved by genotool"
            return
        owner = self.command_owner.get(group_name)
        if owner is not None and owner != rec.name:
            rec.status = "rejected"
            rec.reason = f"command '{group_name}' is already provided by plugin '{owner}'"
            return
        verbs = _command_names(app)
        missing = [v for v in REQUIRED_VERBS if v not in verbs]
        if missing:
            rec.status = "error"
            rec.reason = f"command '{group_name}' lacks required verbs: {', '.join(missing)}"
            return
        from genotool.options import install_aliases

        install_aliases(app)  # old option spellings keep working, hidden from help
        self.command_owner[group_name] = rec.name
        rec.app = app
        rec.summary = summary
        rec.backend = backend
        rec.commands = verbs
        rec.group = group_name  # type: ignore[attr-defined]

    def unregister(self, name: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        rec = self.records.pop(name, None)
        for cmd, owner in list(self.command_owner.items()):
            if owner == name:
                del self.command_owner[cmd]
        return rec

    # -- queries -------------------------------------------------------------------------
    def groups(self):
        """Yield (command name, record) for every plugin that loaded fine."""
        for rec in self.records.values():
            if rec.status == "ok" and rec.app is not None:
                yield getattr(rec, "group", rec.name), rec


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loading entry points on first use."""
    global _HOST
    if _HOST is None:
        _HOST = PluginHost()
        _HOST.load_entry_points()
    return _HOST


def reset_host() -> None:
    """Forget loaded plugins (tests)."""
    global _HOST
    _HOST = None
    sys.modules.pop("genotool.cli", None)
