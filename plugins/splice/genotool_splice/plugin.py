"""Entry point module: registers the ``splice`` command group (light import: only the Typer CLI)."""

from genotool.hookspecs import hookimpl


@hookimpl
def register_commands(register):
    from genotool_splice.cli import app

    register("splice", app, summary="Splice sites: a meta-layer over a SpliceAI-style base model "
             "(OpenSpliceAI weights or own), variant delta scores.", backend="torch")
