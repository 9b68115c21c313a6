"""Shared helpers for the core test suite (imported by name: pytest adds tests/ to sys.path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_genotool(*args: str, env: dict | None = None, cwd=None, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run the installed CLI in a subprocess (as a user would)."""
    full_env = {**os.environ, "TERMINAL_WIDTH": "200", "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "genotool", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


def make_fake_dist(root: Path, dist: str, plugins: dict[str, str], version: str = "9.9.9") -> Path:
    """Write an importable distribution with ``genotool.plugins`` entry points.

    ``plugins`` maps entry-point name -> module source. Returns the folder to put on PYTHONPATH.
    """
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = ["[genotool.plugins]"]
    for ep_name, source in plugins.items():
        mod = f"{dist.replace('-', '_')}_{ep_name}"
        (root / f"{mod}.py").write_text(textwrap.dedent(source))
        lines.append(f"{ep_name} = {mod}")
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return root


GOOD_PLUGIN = '''
import typer
from genotool.hookspecs import hookimpl

app = typer.Typer()

def _verb(name):
    def cmd(output: str = typer.Option("out", "--output", "-o")):
        typer.echo(f"{name} -> {output}")
    cmd.__doc__ = f"{name} verb"
    app.command(name)(cmd)

for _v in ("preprocess", "train", "predict", "validate", "bench"):
    _verb(_v)

@hookimpl
def register_commands(register):
    register("{command}", app, summary="A fake plugin for tests.", backend="none")
'''


def plugin_source(command: str) -> str:
    return GOOD_PLUGIN.replace("{command}", command)


def plugins_json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}
