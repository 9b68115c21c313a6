"""Make the plugin importable from its source tree when it is not pip-installed yet.

`make test` runs these tests in a fresh clone where the example is only installed later (by
tests/test_example_plugin.py); plugin authors normally run them after `pip install -e .`.
"""

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("genotool_hello") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
