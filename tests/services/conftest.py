"""Fixtures of the echo-service tests (helpers live in echo_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from echo_helpers import build_binaries


@pytest.fixture(scope="session")
def binaries() -> dict[str, Path]:
    """Paths of the built service binaries (building them first unless a build is given)."""
    return build_binaries()
