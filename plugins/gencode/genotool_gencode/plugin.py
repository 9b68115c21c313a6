"""genotool entry point for the gencode plugin (light: imports only the Typer app)."""

from genotool.hookspecs import hookimpl


@hookimpl
def register_commands(register):
    from genotool_gencode.cli import app

    register("gencode", app, summary="Gene finding: a semi-Markov CRF over gene structure with sensors and a neural encoder",
             backend="torch")


@hookimpl
def probe_report(report):
    import importlib.util

    return {"gencode: mamba-ssm (CUDA)": importlib.util.find_spec("mamba_ssm") is not None,
            "gencode: flash-semicrf reference": importlib.util.find_spec("flash_semicrf") is not None}
