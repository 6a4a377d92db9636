"""Shared fixtures: where the real test vectors live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("CAIRN_TESTDATA", REPO_ROOT.parent / "shared" / "testdata"))


@pytest.fixture(scope="session")
def testdata() -> Path:
    """Root of the shared real-hardware vectors (``../shared/testdata``)."""
    if not TESTDATA.is_dir():
        pytest.fail(f"test vectors not found at {TESTDATA}; set CAIRN_TESTDATA")
    return TESTDATA
