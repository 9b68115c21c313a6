"""Entry point module of the codec plugin (kept light: `genotool --help` imports it)."""

from __future__ import annotations

from genotool.hookspecs import hookimpl


@hookimpl
def register_commands(register):
    from genotool_codec.cli import app

    register("codec", app, summary="SimVQ-GAN neural codec for nanopore POD5 raw current (JAX/Flax).",
             backend="jax")


@hookimpl
def probe_report(report):
    import shutil

    return {"codec: scrappie": shutil.which("scrappie") or "not found",
            "codec: dorado": shutil.which("dorado") or "not found"}
