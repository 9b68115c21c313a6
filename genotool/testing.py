"""Helpers for testing plugins in-process (also a pytest plugin via the ``pytest11`` entry point).

Fixtures:

* ``genotool_host`` - the plugin host; ``genotool_host.register(module, name=...)`` registers a
  plugin in-process and it is unregistered after the test.
* ``genotool_cli`` - a callable ``genotool_cli(*args, env=None)`` that runs the real CLI (with
  any in-process plugins) and returns a result with ``exit_code``, ``stdout``, ``stderr``.
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


@pytest.fixture
def genotool_cli():
    def run(*args: str, env: dict | None = None) -> CliResult:
        return invoke(list(args), env=env)
    return run
