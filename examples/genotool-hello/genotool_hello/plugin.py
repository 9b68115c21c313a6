"""Entry-point module (``genotool.plugins: hello``). Imported by ``genotool --help``: keep it light,
no torch here - the CLI module is imported only when the hook runs and imports torch lazily too."""

from __future__ import annotations

from genotool.hookspecs import hookimpl


@hookimpl
def register_commands(register):
    from genotool_hello.cli import app

    register("hello", app, summary="Example plugin: find a DNA motif with a 1D CNN (template).",
             backend="torch")


@hookimpl
def probe_report(report):
    # A plugin can add facts to `genotool probe`; here, the default motif it looks for.
    from genotool_hello.simulate import DEFAULT_MOTIF

    return {"hello: default motif": DEFAULT_MOTIF}
