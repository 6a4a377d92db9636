"""Cairn verifier: check confidential-VM attestation evidence and explain the outcome."""

from importlib.metadata import PackageNotFoundError, version

# The one version source is verifier/pyproject.toml ([project] version); this reads it from the
# installed distribution's metadata. Importing the sources without installing them (a
# PYTHONPATH to verifier/src) has no metadata: the version then says so instead of guessing.
try:
    __version__ = version("cairn-verifier")
except PackageNotFoundError:  # pragma: no cover - only without an installed distribution
    __version__ = "0+unknown"
