"""Entry point module: registers the ``snp`` command group (light import: only the Typer CLI)."""

from genotool.hookspecs import hookimpl


@hookimpl
def register_commands(register):
    from genotool_snp.cli import app

    register("snp", app, summary="Phased genotypes: CNN, CNN-Transformer and LD-graph GNN vs PCA/association/SuSiE.",
             backend="torch")
