"""Fixtures of the zero-knowledge tests (helpers live in zk_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from zk_helpers import require_toolchain


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "zk_prove: a full prove + verify run with the insecure dev CRS (~1 min)"
    )


@pytest.fixture(scope="session")
def zk_toolchain() -> Path:
    """The circuits dir; the tests fail with `npm ci --prefix circuits` when it is not set up."""
    return require_toolchain()
