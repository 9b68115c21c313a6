"""The hooks a genotool plugin implements (pluggy project name ``genotool``).

A plugin is a module registered under the entry-point group ``genotool.plugins``::

    [project.entry-points."genotool.plugins"]
    myplugin = "my_package.plugin"

and that module implements hooks with :data:`hookimpl`. Built-in plugins use exactly the same
mechanism. Keep the plugin module light: it is imported by ``genotool --help``, so torch/jax
may only be imported inside command bodies.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("genotool")
hookimpl = pluggy.HookimplMarker("genotool")


@hookspec
def register_commands(register):
    """Register a command group.

    Call ``register(name, app, summary=..., backend=...)`` once per command group, where
    ``app`` is a ``typer.Typer`` whose commands include ``preprocess``, ``train``, ``predict``,
    ``validate`` and ``bench`` (plus any others), ``summary`` is the one-line help shown by
    ``genotool --help`` and ``backend`` is ``"torch"``, ``"jax"`` or ``"none"``.
    """


@hookspec
def probe_report(report):
    """Add plugin-specific lines to ``genotool probe``.

    ``report`` is the probe's dict; return a dict of extra facts (for example whether an
    optional accelerated kernel is importable) or None. Runs only for ``genotool probe``.
    """
