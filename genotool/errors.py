"""User-facing errors.

A :class:`UserError` is a mistake the user can fix (missing file, wrong format, bad option).
The CLI prints its message as one line on stderr and exits with code 2, without a traceback
(``genotool --debug ...`` shows it). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A problem with the user's input; the message must name the file or option at fault."""

    exit_code = 2

    def __init__(self, message: str):
        # One line: the CLI prints exactly this, so fold embedded newlines.
        super().__init__(" ".join(str(message).split()))


class MissingDependencyError(UserError):
    """An optional dependency needed by a command is not installed."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = ""):
        hint = f"pip install '{extra}'" if extra else f"pip install {package}"
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(f"{package} is not installed{what}; install it with: {hint}")


def require_file(path: str | Path, what: str = "input file") -> Path:
    """Return ``path`` as a Path or raise a UserError naming it if it is not a readable file."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{what} not found: {p}")
    if not p.is_file():
        raise UserError(f"{what} is not a file: {p}")
    return p


def require_dir(path: str | Path, what: str = "input folder") -> Path:
    p = Path(path)
    if not p.is_dir():
        raise UserError(f"{what} not found or not a folder: {p}")
    return p


def require_module(module: str, package: str | None = None, extra: str | None = None, purpose: str = ""):
    """Import and return ``module`` or raise MissingDependencyError (scvi-tools style)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(package or module, extra, purpose) from exc
