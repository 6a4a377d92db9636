"""Running the EFI tools the reference-value tests compare with (objcopy, sbsign, sbverify,
systemd-measure). A module of its own, not conftest: ``from conftest import …`` names whichever
conftest module pytest imported first when several test directories are collected together."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: `apt-get install {package}` (./dev setup guest)")
    return found


def run(*args: str | Path) -> str:
    done = subprocess.run(
        [str(a) for a in args], check=True, capture_output=True, text=True, timeout=60
    )
    return done.stdout
