"""Outputs that cannot be created or written (issue 27, D8) and staging folders a later run must
not trust blindly: one ``genotool: error:`` line naming the option, exit 2, nothing left behind."""

from __future__ import annotations

import errno
import json
import os
import types
from pathlib import Path

import pytest
import typer
from typer.main import get_command

from genotool.errors import UserError
from genotool.hookspecs import hookimpl
from genotool.outputs import atomic_file, run_output
from genotool.plugins import REQUIRED_VERBS, get_host

ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0


def _one_line(res, *words):
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("genotool: error: "), res.stderr
    for w in words:
        assert w in last, last


@pytest.fixture
def a_file(tmp_path):
    f = tmp_path / "plain.txt"
    f.write_text("not a folder\n")
    return f


# -- the core helpers ---------------------------------------------------------------------------

def test_run_output_below_a_regular_file(a_file):
    with pytest.raises(UserError, match=r"^--output: cannot create .*plain.txt/out: .*plain.txt is a file"):
        with run_output(a_file / "out", command="x"):
            pass
    assert a_file.read_text() == "not a folder\n"


def test_run_output_under_sys():
    if not Path("/sys").is_dir():
        pytest.skip("no /sys here")
    with pytest.raises(UserError, match=r"^--output: cannot create /sys/genotool-test/out"):
        with run_output("/sys/genotool-test/out", command="x"):
            pass


@pytest.mark.skipif(ROOT_USER, reason="root writes into read-only folders")
def test_run_output_in_a_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(UserError, match=r"^--output: cannot create .*ro/out: .*not writable"):
            with run_output(ro / "out", command="x"):
                pass
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_cli_in_a_read_only_folder_as_another_user(tmp_path):
    """Root writes anywhere, so as root the read-only case runs as user nobody (setpriv)."""
    import shutil
    import subprocess
    import sys

    if not ROOT_USER or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv (the non-root case is the test above)")
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "genotool"]
    if subprocess.run([*as_nobody, "--version"], capture_output=True, timeout=60).returncode != 0:
        pytest.skip("user nobody cannot run this interpreter")
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="genotool-ro-", dir="/tmp"))    # pytest's tmp_path is root-only
    try:
        top.chmod(0o755)
        ro = top / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        res = subprocess.run([*as_nobody, "snp", "predict", "--vcf", "x.vcf", "-m", "m", "-o", str(ro / "out")],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 2, res.stderr
        assert res.stderr.strip().splitlines() == [f"genotool: error: --output: cannot create {ro}/out: {ro} is not "
                                                   "writable (Permission denied)"]
        assert list(ro.iterdir()) == []
        # a folder on the way that user nobody may not enter
        res = subprocess.run([*as_nobody, "snp", "predict", "--vcf", "x.vcf", "-m", "m", "-o", str(tmp_path / "o")],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 2 and res.stderr.startswith("genotool: error: --output: cannot create "), res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "Permission denied" in res.stderr
    finally:
        shutil.rmtree(top)


def test_atomic_file_below_a_regular_file(a_file):
    with pytest.raises(UserError, match=r"^cannot create .*plain.txt/x.json: .*plain.txt is a file"):
        with atomic_file(a_file / "x.json") as tmp:
            tmp.write_text("{}")


def test_check_writable_names_the_option(a_file, tmp_path):
    from genotool.outputs import check_writable

    check_writable(tmp_path / "new" / "deeper" / "out")       # creatable: fine, nothing made
    assert not (tmp_path / "new").exists()
    with pytest.raises(UserError, match=r"^--json: cannot create .*plain.txt/t.json"):
        check_writable(a_file / "t.json", "--json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"]   # the probe file is gone


def test_a_full_disk_inside_the_run_is_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(UserError, match=r"^--output: cannot write .*run.partial/big.npy: No space left"):
        with run_output(out, command="x") as run:
            (run.path / "a.txt").write_text("1")
            raise OSError(errno.ENOSPC, "No space left on device", str(run.path / "big.npy"))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# -- the CLI: every installed plugin's writing verbs --------------------------------------------

def _dummy(param) -> str:
    """A value of the right type for a required option (never read: the output check comes first)."""
    kind = getattr(getattr(param, "type_descriptor", None), "annotation", str)
    return {int: "1", float: "0.5"}.get(kind, "/nonexistent/genotool-input")


def _writing_verbs():
    """(plugin, verb, option, [required option arguments]) for every option a verb writes to."""
    for name, rec in get_host().groups():
        group = get_command(rec.app)
        for verb, cmd in sorted(group.commands.items()):
            outs = [p for p in cmd.params if {"--output", "--json"} & set(getattr(p, "opts", ()))]
            for p in outs:
                option = "--output" if "--output" in p.opts else "--json"
                required = []
                for q in cmd.params:
                    if q is not p and getattr(q, "required", False) and q.param_type_name == "option":
                        required += [q.opts[0], _dummy(q)]
                yield pytest.param(name, verb, option, required, id=f"{name}-{verb}-{option}")


WRITING_VERBS = list(_writing_verbs())
# /sys goes through the same check as a path below a file: one verb per plugin is enough there.
ONE_PER_PLUGIN = list({p.values[0]: p for p in reversed(WRITING_VERBS)}.values())


@pytest.mark.parametrize("plugin,verb,option,required", WRITING_VERBS)
def test_every_writing_verb_refuses_an_output_below_a_file(plugin, verb, option, required, a_file, genotool_cli):
    target = a_file / ("out.json" if option == "--json" else "out")
    res = genotool_cli(plugin, verb, *required, option, str(target))
    _one_line(res, option, "plain.txt")
    assert a_file.read_text() == "not a folder\n"


@pytest.mark.parametrize("plugin,verb,option,required", ONE_PER_PLUGIN)
def test_a_writing_verb_of_every_plugin_refuses_an_output_under_sys(plugin, verb, option, required, genotool_cli):
    if not Path("/sys").is_dir():
        pytest.skip("no /sys here")
    res = genotool_cli(plugin, verb, *required, option, "/sys/genotool-test/out")
    _one_line(res, option, "/sys")


def test_writing_verbs_were_found():
    assert len(WRITING_VERBS) >= 5 * len(list(get_host().groups()))


@pytest.fixture
def os_failing_plugin(genotool_host):
    app = typer.Typer()

    @app.command("train")
    def train(what: str = typer.Option("space", "--what")):
        if what == "space":
            raise OSError(errno.ENOSPC, "No space left on device", "/scratch/x.npy")
        if what == "denied":
            raise PermissionError(errno.EACCES, "Permission denied", "/data/in.vcf")
        raise OSError(errno.EIO, "Input/output error")   # not the user's: keeps its traceback

    for verb in REQUIRED_VERBS:
        if verb != "train":
            app.command(verb)(lambda: None)
    plugin = types.ModuleType("os_failing_plugin")
    plugin.register_commands = hookimpl(lambda register: register("osfail", app, summary="fails"))
    genotool_host.register(plugin, name="osfail")


def test_cli_turns_space_and_permission_errors_into_one_line(os_failing_plugin, genotool_cli):
    res = genotool_cli("osfail", "train", "--what", "space")
    _one_line(res, "/scratch/x.npy", "No space left on device")
    res = genotool_cli("osfail", "train", "--what", "denied")
    _one_line(res, "/data/in.vcf", "Permission denied")
    with pytest.raises(OSError):
        genotool_cli("osfail", "train", "--what", "io")


# -- staging folders: resumed only by the run that left them ------------------------------------

def _crash(out, **kw):
    with pytest.raises(RuntimeError):
        with run_output(out, command="demo train", **kw) as run:
            (run.path / "checkpoint").write_text("epoch 2")
            raise RuntimeError("killed")


def test_staging_is_resumed_only_with_the_same_inputs_and_parameters(tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("v1")
    out = tmp_path / "run"
    _crash(out, parameters={"lr": 0.1, "threads": 2}, inputs=[data])
    # the same command: resumed (threads only change speed)
    with pytest.raises(RuntimeError):
        with run_output(out, command="demo train", parameters={"lr": 0.1, "threads": 1}, inputs=[data]) as run:
            assert run.resumed and (run.path / "checkpoint").read_text() == "epoch 2"
            raise RuntimeError("killed again")
    # the input changed since: not trusted, started afresh
    data.write_text("v2, longer")
    with run_output(out, command="demo train", parameters={"lr": 0.1}, inputs=[data]) as run:
        assert not run.resumed and not (run.path / "checkpoint").exists()
    assert not any(p.name.startswith(".genotool") for p in out.iterdir())
    # another parameter: afresh too
    out2 = tmp_path / "run2"
    _crash(out2, parameters={"lr": 0.1}, inputs=[data])
    with run_output(out2, command="demo train", parameters={"lr": 0.2}, inputs=[data]) as run:
        assert not run.resumed and not (run.path / "checkpoint").exists()


def test_staging_without_a_stamp_is_not_trusted(tmp_path):
    staging = tmp_path / "run.partial"
    staging.mkdir()
    (staging / "scores.tsv").write_text("left by someone\n")
    with run_output(tmp_path / "run", command="demo train") as run:
        assert not run.resumed and not (run.path / "scores.tsv").exists()
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert meta["command"] == "demo train"
