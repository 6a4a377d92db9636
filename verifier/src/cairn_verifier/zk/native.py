"""Whether a native Barretenberg prover (``bb``) that matches the pinned bb.js runs here.

Proofs and verification keys are only interchangeable between the same Barretenberg version, so
a native ``bb`` is of use only if it is exactly the version bb.js is pinned to (0.82.2). npm's
bb.js 0.82.2 ships no native binary; the releases that do (2.x and later) need glibc >= 2.38 and
produce proofs for other verification keys. Cairn therefore proves and verifies with bb.js's
wasm; this module only reports whether a matching native ``bb`` is present (``$CAIRN_BB`` or
``bb`` on PATH), for the benchmarks and docs/zk.md. It never runs one for a proof.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Final

REQUIRED_VERSION: Final = "0.82.2"
ENV_VAR: Final = "CAIRN_BB"


@dataclass(frozen=True, slots=True)
class NativeBb:
    path: str | None
    version: str | None
    usable: bool
    reason: str


def _glibc() -> str:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") or "unknown libc"
    except (ValueError, OSError):
        return "unknown libc"


def detect() -> NativeBb:
    """Look for a native ``bb`` and say whether it could stand in for bb.js 0.82.2."""
    path = os.environ.get(ENV_VAR) or shutil.which("bb")
    if not path:
        return NativeBb(
            None,
            None,
            False,
            f"no native bb (${ENV_VAR} unset, none on PATH; bb.js {REQUIRED_VERSION} ships "
            f"none, later releases' bb needs glibc >= 2.38, this system has {_glibc()})",
        )
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return NativeBb(path, None, False, f"{path} does not run here: {exc}")
    match = re.search(r"\d+\.\d+\.\d+", done.stdout + done.stderr)
    version = match.group(0) if match else None
    if done.returncode != 0 or version is None:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return NativeBb(path, version, False, f"{path} does not run here: {detail[0][:200]}")
    if version != REQUIRED_VERSION:
        return NativeBb(
            path,
            version,
            False,
            f"{path} is bb {version}; only {REQUIRED_VERSION} makes proofs for the pinned keys",
        )
    return NativeBb(path, version, True, f"{path} is bb {version}")
