"""Plugin discovery: broken plugins, disabling, command conflicts, in-process registration."""

from __future__ import annotations

import json
import types

import typer

from core_support import make_fake_dist, plugin_source, plugins_json, run_genotool
from genotool.hookspecs import hookimpl
from genotool.plugins import REQUIRED_VERBS


def test_builtin_plugins_listed_ok():
    rows = plugins_json(run_genotool("plugins", "--json"))
    for name in ("srsnv", "codec", "gencode"):
        if name not in rows:
            continue  # a plugin that is not installed is simply absent
        row = rows[name]
        assert row["status"] == "ok", row
        assert row["distribution"] == f"genotool-{name}"
        assert row["backend"] in ("torch", "jax")
        assert set(REQUIRED_VERBS) <= set(row["commands"])


def test_broken_plugin_reported_and_others_keep_working(fake_path):
    make_fake_dist(fake_path, "broken-dist", {
        "broken": "raise ImportError('needs libfoo 3')\n",
        "fine": plugin_source("fine"),
    })
    env = {"PYTHONPATH": str(fake_path)}
    rows = plugins_json(run_genotool("plugins", "--json", env=env))
    assert rows["broken"]["status"] == "error"
    assert "needs libfoo 3" in rows["broken"]["reason"]
    assert rows["fine"]["status"] == "ok"
    assert rows["fine"]["distribution"] == "broken-dist" and rows["fine"]["version"] == "9.9.9"
    ok = run_genotool("fine", "train", "-o", "x", env=env)
    assert ok.returncode == 0 and "train -> x" in ok.stdout
    table = run_genotool("plugins", env=env)
    assert table.returncode == 0 and "needs libfoo 3" in table.stdout


def test_disable_plugins_env(fake_path):
    make_fake_dist(fake_path, "two-dist", {"alpha": plugin_source("alpha"), "beta": plugin_source("beta")})
    env = {"PYTHONPATH": str(fake_path), "GENOTOOL_DISABLE_PLUGINS": "alpha, other"}
    rows = plugins_json(run_genotool("plugins", "--json", env=env))
    assert rows["alpha"]["status"] == "disabled"
    assert rows["beta"]["status"] == "ok"
    res = run_genotool("alpha", "train", env=env)
    assert res.returncode != 0


def test_second_plugin_claiming_a_command_is_rejected(fake_path):
    make_fake_dist(fake_path, "dup-dist", {"aaa": plugin_source("shared"), "bbb": plugin_source("shared")})
    rows = plugins_json(run_genotool("plugins", "--json", env={"PYTHONPATH": str(fake_path)}))
    assert rows["aaa"]["status"] == "ok"
    assert rows["bbb"]["status"] == "rejected"
    assert "already provided by plugin 'aaa'" in rows["bbb"]["reason"]


def test_plugin_missing_required_verbs_is_an_error(fake_path):
    src = '''
import typer
from genotool.hookspecs import hookimpl
app = typer.Typer()
@app.command()
def train():
    """Only train."""
@app.command()
def predict():
    """Only predict."""
@hookimpl
def register_commands(register):
    register("partial", app, summary="incomplete")
'''
    make_fake_dist(fake_path, "partial-dist", {"partial": src})
    rows = plugins_json(run_genotool("plugins", "--json", env={"PYTHONPATH": str(fake_path)}))
    assert rows["partial"]["status"] == "error"
    assert "preprocess" in rows["partial"]["reason"]


def test_reserved_command_name_rejected(fake_path):
    make_fake_dist(fake_path, "greedy-dist", {"greedy": plugin_source("probe")})
    rows = plugins_json(run_genotool("plugins", "--json", env={"PYTHONPATH": str(fake_path)}))
    assert rows["greedy"]["status"] == "rejected"
    assert "reserved" in rows["greedy"]["reason"]


def test_hook_register_commands_in_process(genotool_host, genotool_cli):
    """A plugin registered in-process (the fixture plugin authors use) gets a working command group."""
    app = typer.Typer()
    calls = []
    for verb in REQUIRED_VERBS:
        app.command(verb)(lambda verb=verb: calls.append(verb))
    plugin = types.ModuleType("inproc_plugin")
    plugin.register_commands = hookimpl(
        lambda register: register("inproc", app, summary="in-process plugin", backend="torch"))
    rec = genotool_host.register(plugin, name="inproc")
    assert rec.status == "ok", rec.reason
    res = genotool_cli("plugins", "--json")
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["inproc"]["backend"] == "torch"
    res = genotool_cli("inproc", "validate")
    assert res.exit_code == 0 and calls == ["validate"]


def test_hook_probe_report(genotool_host, genotool_cli):
    plugin = types.ModuleType("prober_plugin")
    plugin.probe_report = hookimpl(lambda report: {"fancy_kernel": report["cpu"]["cores"] > 0})
    genotool_host.register(plugin, name="prober")
    res = genotool_cli("probe", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["plugins"]["fancy_kernel"] is True
