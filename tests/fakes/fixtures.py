"""Pytest fixtures around the fake servers. Import the fixture into a test module to use it:

from fakes.fixtures import recorded_server  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .http_server import RecordedServer


@pytest.fixture
def recorded_server() -> Iterator[RecordedServer]:
    """A started :class:`RecordedServer` with no scripts; stopped after the test."""
    with RecordedServer() as server:
        yield server
