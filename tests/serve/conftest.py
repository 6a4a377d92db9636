"""One private PostgreSQL server for every ``cairn serve`` test that needs one (started on first
use, each test module making its own databases on it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from serve_helpers import Postgres, running_postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with running_postgres() as server:
        yield server
