"""Shared fixtures: where the real test vectors live."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

REPO_ROOT = Path(__file__).resolve().parents[1]
# Real-hardware vectors ship in the repository (tests/vectors/README.md); CAIRN_TESTDATA overrides.
TESTDATA = Path(os.environ.get("CAIRN_TESTDATA") or REPO_ROOT / "tests" / "vectors")


@pytest.fixture(scope="session")
def testdata() -> Path:
    """Root of the real-hardware vectors (``tests/vectors`` unless ``CAIRN_TESTDATA`` is set)."""
    if not TESTDATA.is_dir():
        pytest.fail(f"no test vectors at {TESTDATA} (CAIRN_TESTDATA: a copy of tests/vectors)")
    return TESTDATA


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the tests' collateral cache out of the user's home directory."""
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if previous is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = previous


# CI runs property tests with a fixed derandomised profile so a run is reproducible; locally
# hypothesis explores new examples every run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
