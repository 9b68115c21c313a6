"""The ``genotool`` command line: core commands plus one command group per plugin.

Import cost matters: ``genotool --help`` imports this module and every plugin's CLI module,
so nothing here imports torch or jax at module level.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from typing import Annotated

import typer

from genotool import __version__
from genotool.errors import UserError
from genotool.outputs import WRITE_ERRNOS
from genotool.plugins import get_host

app = typer.Typer(
    name="genotool",
    help="Deep-learning models for genomics: one CLI, one plugin contract, one hardware probe.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
)


def _print_version(value: bool):
    if value:
        typer.echo(f"genotool {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.",
                                          callback=_print_version, is_eager=True)] = False,
):
    # --debug is read by main() from argv (setting an environment variable here would leak
    # into every later in-process invocation, e.g. in tests).
    del debug


@app.command("plugins")
def plugins_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False):
    """List installed plugins: name, distribution, version, backend, commands, status."""
    rows = [r.to_dict() for r in get_host().records.values()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="genotool plugins")
    for col in ("name", "distribution", "version", "backend", "commands", "status"):
        table.add_column(col)
    for r in rows:
        status = r["status"] if r["status"] == "ok" else f"[red]{r['status']}[/red]: {r['reason']}"
        table.add_row(r["name"], r["distribution"], r["version"], r["backend"],
                      ", ".join(r["commands"]), status)
    Console().print(table)


@app.command("probe")
def probe_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    backend: Annotated[str, typer.Option("--backend", help="Plan for torch or jax.")] = "torch",
    device: Annotated[str, typer.Option("--device", help="Device to plan for (auto, cpu, cuda, mps).")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="Precision to plan for (default: probe's choice).")] = "",
):
    """Report CPU/RAM, torch CUDA/MPS, JAX devices and the plan commands would use."""
    from genotool.probe import make_plan, probe

    hw = probe()
    plan = make_plan(backend=backend, device=device, precision=precision or None, hw=hw)
    extras = {}
    for item in get_host().pm.hook.probe_report(report=hw):
        if item:
            extras.update(item)
    out = {**hw, "plugins": extras, "plan": plan.to_dict()}
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="genotool probe", show_header=False)
    table.add_column("item", style="bold")
    table.add_column("value")
    cpu = hw["cpu"]
    table.add_row("CPU cores", str(cpu["cores"]))
    table.add_row("RAM", f"{cpu['ram_gb']} GB ({cpu['ram_available_gb']} GB available)")
    th = hw["torch"]
    if th.get("installed"):
        table.add_row("torch", f"{th['version']}  CUDA: {th['cuda_available']}  MPS: {th['mps_available']}  "
                               f"TF32 API: {th.get('tf32_api')}")
        for g in th["gpus"]:
            table.add_row(f"GPU {g['index']}", f"{g['name']}  cc {g['compute_capability']}  {g['memory_gb']} GB  "
                                             f"bf16 native: {g['bf16_native']}  TF32: {g['tf32']}")
    else:
        table.add_row("torch", "not installed")
    jx = hw["jax"]
    if jx.get("installed"):
        table.add_row("jax", f"{jx.get('version', '?')}  backend: {jx.get('backend', jx.get('error'))}  "
                             f"devices: {', '.join(jx.get('devices', []))}")
    else:
        table.add_row("jax", "not installed")
    for k, v in extras.items():
        table.add_row(k, str(v))
    p = plan
    table.add_row("plan", f"backend {p.backend}, device {p.device}, precision {p.precision}, "
                          f"TF32 {'on' if p.tf32 else 'off'}, grad scaler {'on' if p.grad_scaler else 'off'}")
    table.add_row("batch size", p.batch_size_strategy)
    for r in p.reasons:
        table.add_row("why", r)
    Console().print(table)


def build_app() -> typer.Typer:
    """The core app plus one group per loaded plugin (a fresh copy: main() may run repeatedly)."""
    root = copy.copy(app)
    root.registered_groups = list(app.registered_groups)
    for name, rec in get_host().groups():
        root.add_typer(rec.app, name=name, help=rec.summary, rich_help_panel="Plugins")
    return root


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning UserError into one line on stderr and exit code 2."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or os.environ.get("GENOTOOL_DEBUG") == "1"
    try:
        build_app()(args=argv, prog_name="genotool")
    except UserError as exc:
        if debug:
            raise
        print(f"genotool: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except OSError as exc:
        # A full disk, a quota or a permission the user lacks is theirs to fix wherever it
        # surfaces; any other OSError is a bug and keeps its traceback.
        if debug or exc.errno not in WRITE_ERRNOS:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"genotool: error: {where}{exc.strerror or exc}", file=sys.stderr)
        sys.exit(UserError.exit_code)
    except KeyboardInterrupt:
        print("genotool: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
