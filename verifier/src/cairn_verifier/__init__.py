"""Cairn verifier: check confidential-VM attestation evidence and explain the outcome.

Importing the package loads nothing else (so that ``cairn`` starts without paying for the
pipelines a command does not run); ``__version__`` is looked up on first use.
"""

from __future__ import annotations

import os

DISTRIBUTION = "cairn-verifier"


def _metadata_version(path: str) -> str | None:
    """The ``Version:`` header of a distribution's METADATA file (None if unreadable)."""
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    break  # the headers end at the first blank line
                if line.startswith("Version:"):
                    return line.partition(":")[2].strip() or None
    except OSError:
        return None
    return None


def _installed_version() -> str:
    """The version of the installed distribution (verifier/pyproject.toml's, at build time).

    The fast way: the one ``*.dist-info`` of this distribution beside the package, as pip, uv
    and Nix install it. Otherwise (an editable install, several copies, the sources on a
    ``PYTHONPATH``) ``importlib.metadata``, which costs tens of milliseconds to import; without
    any installed distribution the version says so instead of guessing.
    """
    site = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    prefix = DISTRIBUTION.replace("-", "_") + "-"
    try:
        found = [n for n in os.listdir(site) if n.startswith(prefix) and n.endswith(".dist-info")]
    except OSError:
        found = []
    if len(found) == 1:
        version = _metadata_version(os.path.join(site, found[0], "METADATA"))
        if version is not None:
            return version
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(DISTRIBUTION)
    except PackageNotFoundError:  # pragma: no cover - only without an installed distribution
        return "0+unknown"


def __getattr__(name: str) -> str:
    if name == "__version__":
        value = _installed_version()
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
