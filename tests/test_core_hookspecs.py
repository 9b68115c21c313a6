"""Meta-tests (datasette style): every hook spec is tested and documented."""

from __future__ import annotations

import inspect
from pathlib import Path

from genotool import hookspecs

ROOT = Path(__file__).resolve().parents[1]


def _hook_names():
    return [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(fn, "genotool_spec")]


def test_every_hook_has_a_test():
    source = (ROOT / "tests" / "test_core_plugins.py").read_text()
    for name in _hook_names():
        assert f"def test_hook_{name}" in source, f"no test_hook_{name} in tests/test_core_plugins.py"


def test_every_hook_is_documented():
    doc = (ROOT / "docs" / "plugins.md").read_text()
    for name in _hook_names():
        assert f"`{name}" in doc, f"hook {name} is not documented in docs/plugins.md"


def test_there_are_hooks():
    assert set(_hook_names()) >= {"register_commands", "probe_report"}
