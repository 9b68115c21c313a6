"""htslib's own stderr lines (``[E::fai_build_core] ...``, ``[W::vcf_parse] ...``) around our reads.

pysam and cyvcf2 each carry their own copy of htslib, each with its own log level. Where genotool
reads a file itself and turns a failure into one ``genotool: error:`` line, htslib's lines would
print before ours; :func:`quiet_htslib` turns every loaded copy's logging off for the block and
restores the previous levels after it.
"""

from __future__ import annotations

import ctypes
import sys
from contextlib import contextmanager

# Extension modules that carry an htslib and export its hts_get_log_level / hts_set_log_level.
HTSLIB_MODULES = ("pysam.libchtslib", "cyvcf2.cyvcf2")
HTS_LOG_OFF = 0
_handles: dict[str, object] = {}


def _loaded_htslibs() -> list:
    """ctypes handles of the htslib copies already imported in this process (none is imported here)."""
    libs = []
    for name in HTSLIB_MODULES:
        path = getattr(sys.modules.get(name), "__file__", None)
        if not path:
            continue
        if path not in _handles:
            try:
                lib = ctypes.CDLL(path)          # the module is loaded: this only returns its handle
                lib.hts_get_log_level.restype = ctypes.c_int
                lib.hts_set_log_level.argtypes = [ctypes.c_int]
            except (OSError, AttributeError):
                lib = None
            _handles[path] = lib
        if _handles[path] is not None:
            libs.append(_handles[path])
    return libs


@contextmanager
def quiet_htslib():
    """Silence htslib's logging in the block (import pysam / cyvcf2 before entering it)."""
    libs = _loaded_htslibs()
    old = [lib.hts_get_log_level() for lib in libs]
    for lib in libs:
        lib.hts_set_log_level(HTS_LOG_OFF)
    try:
        yield
    finally:
        for lib, level in zip(libs, old):
            lib.hts_set_log_level(level)
