"""Cairn attestation agent."""

from importlib.metadata import PackageNotFoundError, version

# The one version source is agent/pyproject.toml ([project] version), read from the installed
# distribution's metadata ("0+unknown" for sources imported without being installed).
try:
    __version__ = version("cairn-agent")
except PackageNotFoundError:  # pragma: no cover - only without an installed distribution
    __version__ = "0+unknown"
