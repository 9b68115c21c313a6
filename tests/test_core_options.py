"""genotool.options: hidden aliases are rewritten to the canonical option and absent from --help."""

from __future__ import annotations

import types
from typing import get_args

import pytest
import typer

from genotool.hookspecs import hookimpl
from genotool.options import (TF32, HIDDEN_ALIASES, AliasedCommand, Device, Force, Model, NumWorkers, Output,
                              Precision, Threads, check_choice, described, in_panel)


@pytest.fixture
def alias_plugin(genotool_host):
    """A plugin whose train has the canonical --threads/--num-workers/--model and whose predict has
    its own --n option (an alias key the command declares itself must not be rewritten)."""
    app = typer.Typer()

    @app.command("train")
    def train(output: Output, threads: Threads = None, num_workers: NumWorkers = None, force: Force = False,
              precision: Precision = None, tf32: TF32 = None):
        typer.echo(f"threads={threads} workers={num_workers} output={output} precision={precision} tf32={tf32}")

    @app.command("predict")
    def predict(model: Model, n: int = typer.Option(1, "--n")):
        typer.echo(f"model={model} n={n}")

    for verb in ("preprocess", "validate", "bench"):
        app.command(verb)(lambda: None)
    plugin = types.ModuleType("alias_plugin")
    plugin.register_commands = hookimpl(lambda register: register("aliased", app, summary="aliases"))
    rec = genotool_host.register(plugin, name="aliased")
    assert rec.status == "ok", rec.reason
    return rec


def test_every_plugin_command_gets_the_aliased_class(alias_plugin):
    assert all(info.cls is AliasedCommand for info in alias_plugin.app.registered_commands)


@pytest.mark.parametrize("args", [["--cpu-threads", "3", "--loader-num-workers", "2"],
                                  ["--cpu-threads=3", "--loader-num-workers=2"]])
def test_old_spellings_are_rewritten(alias_plugin, genotool_cli, args):
    res = genotool_cli("aliased", "train", "-o", "x", *args)
    assert res.exit_code == 0, res.stderr
    assert "threads=3 workers=2 output=x" in res.stdout
    assert "--cpu-threads is now spelled --threads" in res.stderr
    assert "--loader-num-workers is now spelled --num-workers" in res.stderr


def test_output_dir_alias_and_values_after_double_dash(alias_plugin, genotool_cli):
    res = genotool_cli("aliased", "train", "--output-dir", "y", "--threads", "1")
    assert res.exit_code == 0 and "output=y" in res.stdout
    res = genotool_cli("aliased", "predict", "--model-dir", "m")
    assert res.exit_code == 0 and "model=m" in res.stdout


def test_an_option_the_command_declares_is_not_rewritten(alias_plugin, genotool_cli):
    # HIDDEN_ALIASES maps --n to --num-sequences; this predict declares --n itself
    assert HIDDEN_ALIASES["--n"] == "--num-sequences"
    res = genotool_cli("aliased", "predict", "-m", "m", "--n", "4")
    assert res.exit_code == 0 and "n=4" in res.stdout and "now spelled" not in res.stderr


def test_alias_without_its_canonical_option_stays_an_error(alias_plugin, genotool_cli):
    res = genotool_cli("aliased", "predict", "-m", "m", "--cpu-threads", "2")
    assert res.exit_code == 2
    assert "No such option" in res.stdout + res.stderr


def test_aliases_are_absent_from_help(alias_plugin, genotool_cli):
    res = genotool_cli("aliased", "train", "--help", env={"TERMINAL_WIDTH": "200", "COLUMNS": "200"})
    assert res.exit_code == 0
    assert "--threads" in res.stdout and "--num-workers" in res.stdout
    for old in HIDDEN_ALIASES:
        if old != "--n":
            assert old not in res.stdout, old


def test_described_keeps_flags_and_type_and_changes_help():
    m = described(Model, "A `toy train` output folder.")
    base, info = get_args(m)[:2]
    assert base is get_args(Model)[0]
    assert (info.default, info.param_decls) == (get_args(Model)[1].default, get_args(Model)[1].param_decls)
    assert info.help == "A `toy train` output folder." and get_args(Model)[1].help != info.help


def test_check_choice_is_one_line():
    from genotool.errors import UserError

    assert check_choice("cosine", ("none", "cosine"), "--scheduler") == "cosine"
    with pytest.raises(UserError, match=r"^--scheduler must be one of none, cosine, not 'step'$"):
        check_choice("step", ("none", "cosine"), "--scheduler")


def test_an_option_value_is_never_rewritten(alias_plugin, genotool_cli):
    # "-o --cpu-threads": the token after -o is its value, a folder that happens to look like an alias
    res = genotool_cli("aliased", "train", "-o", "--cpu-threads", "--cpu-threads", "2")
    assert res.exit_code == 0, res.stderr
    assert "threads=2 workers=None output=--cpu-threads" in res.stdout
    # a flag takes no value: the next token is still rewritten
    res = genotool_cli("aliased", "train", "--force", "--output-dir", "z")
    assert res.exit_code == 0 and "output=z" in res.stdout


def test_an_old_flag_becomes_a_value_of_an_option(alias_plugin, genotool_cli):
    """srsnv's --use-amp is --precision auto now, --use-tf32 is --tf32: old scripts keep working."""
    res = genotool_cli("aliased", "train", "-o", "x", "--use-amp", "--use-tf32")
    assert res.exit_code == 0, res.stderr
    assert "precision=auto tf32=True" in res.stdout
    assert "note: --use-amp is now spelled --precision auto" in res.stderr
    assert "note: --use-tf32 is now spelled --tf32" in res.stderr
    res = genotool_cli("aliased", "train", "-o", "x", "--no-tf32")
    assert res.exit_code == 0 and "precision=None tf32=False" in res.stdout


def test_in_panel_keeps_flags_type_and_default():
    base, info = get_args(in_panel(Device, "Hardware"))[:2]
    assert base == get_args(Device)[0] and info.param_decls == get_args(Device)[1].param_decls
    assert info.rich_help_panel == "Hardware" and get_args(Device)[1].rich_help_panel is None
