import pytest


@pytest.fixture
def fake_path(tmp_path):
    """Folder for fake installed distributions (put on PYTHONPATH of a subprocess)."""
    return tmp_path / "site"
