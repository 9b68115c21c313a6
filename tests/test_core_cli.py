"""The root CLI: fast help without torch/jax, every plugin verb answers -h, error conventions."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest
import typer

from core_support import run_genotool
from genotool.errors import UserError
from genotool.hookspecs import hookimpl
from genotool.plugins import REQUIRED_VERBS, get_host

HELP_PROBE = """
import sys, time, json
t0 = time.perf_counter()
sys.argv = ["genotool", "--help"]
from genotool.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps({"torch": "torch" in sys.modules, "jax": "jax" in sys.modules,
                  "seconds": time.perf_counter() - t0}), file=sys.stderr)
"""


def test_help_imports_neither_torch_nor_jax():
    res = subprocess.run([sys.executable, "-c", HELP_PROBE], capture_output=True, text=True,
                         env={"TERMINAL_WIDTH": "200", "PATH": ""}, timeout=60)
    facts = json.loads(res.stderr.strip().splitlines()[-1])
    assert facts["torch"] is False, "genotool --help imported torch"
    assert facts["jax"] is False, "genotool --help imported jax"
    assert "plugins" in res.stdout and "probe" in res.stdout
    # every loaded plugin is listed with its one-line summary
    for name, rec in get_host().groups():
        assert name in res.stdout
        assert rec.summary.split()[0] in res.stdout


def _plugin_verbs():
    host = get_host()
    for name, rec in host.groups():
        for verb in rec.commands:
            yield name, verb


@pytest.mark.parametrize("group,verb", list(_plugin_verbs()))
def test_every_plugin_verb_answers_help(group, verb, genotool_cli):
    res = genotool_cli(group, verb, "-h", env={"TERMINAL_WIDTH": "200"})
    assert res.exit_code == 0, res.stderr
    assert "Usage" in res.stdout


def test_every_plugin_has_required_verbs():
    for name, rec in get_host().groups():
        assert set(REQUIRED_VERBS) <= set(rec.commands), name


@pytest.fixture
def failing_plugin(genotool_host):
    app = typer.Typer()

    def make(verb):
        def cmd(path: str = typer.Option("missing.bam", "--bam")):
            if verb == "train":
                raise UserError(f"--bam: file not found: {path}\nsecond line folded")
            if verb == "predict":
                raise RuntimeError("an internal bug")
        app.command(verb)(cmd)
    for verb in REQUIRED_VERBS:
        make(verb)
    plugin = types.ModuleType("failing_plugin")
    plugin.register_commands = hookimpl(lambda register: register("failing", app, summary="fails"))
    genotool_host.register(plugin, name="failing")


def test_user_error_is_one_line_exit_2(failing_plugin, genotool_cli):
    res = genotool_cli("failing", "train", "--bam", "x.bam")
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert lines == ["genotool: error: --bam: file not found: x.bam second line folded"]
    assert "Traceback" not in res.stderr


def test_debug_shows_traceback(failing_plugin, genotool_cli):
    with pytest.raises(UserError):
        genotool_cli("--debug", "failing", "train")
    # --debug must not stick to the process: the next invocation is back to one line, exit 2.
    assert genotool_cli("failing", "train").exit_code == 2


def test_bad_option_is_a_usage_error(genotool_cli):
    res = genotool_cli("probe", "--no-such-option")
    assert res.exit_code == 2
    assert "No such option" in res.stdout + res.stderr


def test_version_and_subprocess_entry_point():
    res = run_genotool("--version")
    assert res.returncode == 0 and res.stdout.startswith("genotool ")
