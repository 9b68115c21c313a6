"""Entry point module: registers the ``srsnv`` command group (light import: only the Typer CLI)."""

from genotool.hookspecs import hookimpl


@hookimpl
def register_commands(register):
    from genotool_srsnv.cli import app

    register("srsnv", app, summary="Single-read SNV quality: BAM-native CNN with XGBoost split parity.",
             backend="torch")
