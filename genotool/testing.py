"""Helpers for testing plugins in-process (also a pytest plugin via the ``pytest11`` entry point).

Fixtures:

* ``genotool_host`` - the plugin host; ``genotool_host.register(module, name=...)`` registers a
  plugin in-process and it is unregistered after the test.
* ``genotool_cli`` - a callable ``genotool_cli(*args, env=None)`` that runs the real CLI (with
  any in-process plugins) and returns a result with ``exit_code``, ``stdout``, ``stderr``.
  After a successful run of a verb that runs a model (one with ``--device``) it checks that the
  verb recorded the core's plan (:func:`check_plan_record`): in ``<output>/metadata.json``, in a
  JSON ``-o`` file or in the JSON object printed on stdout, with exactly the fields of
  :class:`genotool.probe.Plan`. ``genotool_cli(..., check_plan=False)`` skips the check.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def invoke(args: list[str], env: dict | None = None) -> CliResult:
    """Run ``genotool ARGS`` in-process through :func:`genotool.cli.main` and capture its output."""
    import contextlib
    import io
    import os

    from genotool import cli

    out, err = io.StringIO(), io.StringIO()
    old_env = {}
    for k, v in (env or {}).items():
        old_env[k] = os.environ.get(k)
        os.environ[k] = v
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main(args)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return CliResult(code, out.getvalue(), err.getvalue())



@pytest.fixture
def genotool_host():
    from genotool.plugins import get_host

    host = get_host()
    added: list[str] = []
    original = host.register

    def register(plugin, name, record=None):
        # An installed plugin is already loaded from its entry point: hand back its record
        # instead of registering it twice (and never unregister it afterwards).
        if host.pm.get_plugin(name) is not None or host.pm.is_registered(plugin):
            return host.records[name]
        added.append(name)
        return original(plugin, name=name, record=record)

    host.register = register  # type: ignore[method-assign]
    try:
        yield host
    finally:
        host.register = original  # type: ignore[method-assign]
        for name in added:
            host.unregister(name)


def plan_fields() -> set[str]:
    """The fields of the core's plan record (``Plan.to_dict()``)."""
    import dataclasses

    from genotool.probe import Plan

    return {f.name for f in dataclasses.fields(Plan)}


def check_plan_record(plan, where: str) -> None:
    """Fail unless ``plan`` is a record of the core's plan (``RunOptions.plan()`` -> ``to_dict()``)."""
    if not isinstance(plan, dict) or not plan:
        raise AssertionError(f"{where}: runs a model but recorded no plan (set run.plan = opts.plan(...))")
    want, got = plan_fields(), set(plan)
    if got != want:
        raise AssertionError(f"{where}: the plan record is not the core's (missing {sorted(want - got)}, "
                             f"extra {sorted(got - want)}); build it with RunOptions.plan and record plan.to_dict()")


def _command(args: list[str]):
    """(group, verb, click command) of a command line, or None when it names no plugin verb."""
    import typer

    from genotool.plugins import get_host

    words = [a for a in args if not a.startswith("-")]
    if len(words) < 2:
        return None
    rec = dict(get_host().groups()).get(words[0])
    if rec is None:
        return None
    command = typer.main.get_command(rec.app).commands.get(words[1]) if rec.app is not None else None
    return (words[0], words[1], command) if command is not None else None


def _option_value(args: list[str], names: tuple[str, ...]) -> str | None:
    for i, a in enumerate(args):
        key, eq, value = a.partition("=")
        if key in names:
            return value if eq else (args[i + 1] if i + 1 < len(args) else None)
    return None


def recorded_plan(args: list[str], result: CliResult):
    """The plan a verb recorded: ``<output>/metadata.json``'s, a JSON ``-o`` file's or the one in
    the JSON object on stdout; ``None`` when the verb wrote none of these."""
    import json
    from pathlib import Path

    out = _option_value(args, ("-o", "--output"))
    if out is not None and (Path(out) / "metadata.json").is_file():
        return json.loads((Path(out) / "metadata.json").read_text()).get("plan")
    for text in ([Path(out).read_text()] if out and Path(out).suffix == ".json" and Path(out).is_file() else []) + [
            result.stdout]:
        try:
            obj = json.loads(text)
        except (ValueError, TypeError):
            continue
        if isinstance(obj, dict) and "plan" in obj:
            return obj["plan"]
    return None


def check_verb_plan(args: list[str], result: CliResult) -> None:
    """After a successful run of a verb that runs a model (it has ``--device``): the plan it
    recorded, if it wrote a record, is the core's."""
    found = _command(args) if result.exit_code == 0 else None
    if found is None:
        return
    group, verb, command = found
    if not any("--device" in getattr(p, "opts", ()) for p in command.params):
        return
    plan = recorded_plan(args, result)
    if plan is not None:
        check_plan_record(plan, f"genotool {group} {verb}")


def run_cli(*args, env: dict | None = None, check_plan: bool = True) -> CliResult:
    """``genotool ARGS`` in-process (arguments may be paths), with the plan check of
    :func:`check_verb_plan`: what the ``genotool_cli`` fixture calls, usable in session fixtures."""
    args = [str(a) for a in args]
    result = invoke(args, env=env)
    if check_plan:
        check_verb_plan(args, result)
    return result


@pytest.fixture
def genotool_cli():
    return run_cli
