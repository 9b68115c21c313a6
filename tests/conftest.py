import pytest


@pytest.fixture
def fake_path(tmp_path):
    """Folder for fake installed distributions (put on PYTHONPATH of a subprocess)."""
    return tmp_path / "site"


@pytest.fixture
def hello(genotool_host):
    """The example plugin (examples/genotool-hello), registered in-process unless installed (from
    its source tree when it is not pip-installed yet, as its own tests do)."""
    import importlib.util
    import sys
    from pathlib import Path

    if importlib.util.find_spec("genotool_hello") is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "genotool-hello"))
    hello_plugin = pytest.importorskip("genotool_hello.plugin")
    rec = genotool_host.records.get("hello")
    if rec is None or rec.status != "ok":
        rec = genotool_host.register(hello_plugin, name="hello")
    assert rec.status == "ok", rec.reason
    return rec
