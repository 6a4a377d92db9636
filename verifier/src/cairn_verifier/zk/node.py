"""Run the Node driver (``circuits/driver/cairn-zk.mjs``) with a timeout and typed errors.

The driver compiles the Noir circuits with noir_wasm, executes them with noir_js and proves or
verifies with bb.js; it prints one JSON object on stdout and exits with a code this module maps
onto Cairn's errors.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..errors import (
    CollateralUnavailableError,
    MalformedInputError,
    SetupError,
    SignatureError,
)

COMPONENT: Final = "zk"
INSTALL_COMMAND: Final = "npm ci --prefix circuits"
REQUIRED_PACKAGES: Final = ("@noir-lang/noir_wasm", "@noir-lang/noir_js", "@aztec/bb.js")
DEFAULT_TIMEOUT: Final = 300.0

# Exit codes of cairn-zk.mjs (EXIT there).
EXIT_INVALID: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNSATISFIED: Final = 3
EXIT_INPUT: Final = 4
EXIT_CRS: Final = 5
EXIT_COMPILE: Final = 6


class ZkToolchainError(SetupError):
    """Node or the pinned npm packages are missing or broken (an environment problem, exit 64)."""


class ConstraintError(SignatureError):
    """The inputs do not satisfy the circuit: the statement to be proven is false."""


@dataclass(frozen=True, slots=True)
class DriverResult:
    """Parsed JSON output of a successful (or verify-invalid) driver run."""

    returncode: int
    output: dict[str, Any]


def circuits_dir() -> Path:
    """The ``circuits/`` directory: ``$CAIRN_CIRCUITS_DIR`` or the one beside the sources."""
    override = os.environ.get("CAIRN_CIRCUITS_DIR")
    if override:
        return Path(override)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "circuits" / "driver" / "cairn-zk.mjs"
        if candidate.is_file():
            return candidate.parent.parent
    raise ZkToolchainError(
        "cannot find the circuits/ directory (circuits/driver/cairn-zk.mjs)",
        component=COMPONENT,
        hint="run from a Cairn checkout or set CAIRN_CIRCUITS_DIR",
    )


def check_toolchain(circuits: Path | None = None) -> Path:
    """Return the circuits dir after checking that node and the npm packages are installed."""
    root = circuits_dir() if circuits is None else circuits
    if shutil.which("node") is None:
        raise ZkToolchainError(
            "node is not installed",
            component=COMPONENT,
            hint=f"install Node.js >= 18 (Debian: apt-get install nodejs npm), "
            f"then {INSTALL_COMMAND}",
        )
    missing = [p for p in REQUIRED_PACKAGES if not (root / "node_modules" / p).is_dir()]
    if missing:
        raise ZkToolchainError(
            f"npm packages missing under {root}/node_modules: {', '.join(missing)}",
            component=COMPONENT,
            hint=f"run `{INSTALL_COMMAND}` in the repository root",
        )
    return root


def run_driver(args: list[str], *, timeout: float = DEFAULT_TIMEOUT) -> DriverResult:
    """Run ``node cairn-zk.mjs ARGS``; typed error unless it succeeded (or verify said no)."""
    root = check_toolchain()
    command = ["node", str(root / "driver" / "cairn-zk.mjs"), *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ZkToolchainError(
            f"the zk driver did not finish within {timeout:.0f} s ({args[0]})",
            component=COMPONENT,
            hint="proving needs ~1 GB of memory and tens of seconds on 2 cores",
        ) from exc
    error = _parse_error(done.stderr)
    if done.returncode == 0 or (done.returncode == EXIT_INVALID and args[:1] == ["verify"]):
        lines = done.stdout.strip().splitlines()
        try:
            output = json.loads(lines[-1]) if lines else None
        except ValueError:
            output = None
        if not isinstance(output, dict):
            raise ZkToolchainError(
                f"the zk driver printed no JSON result: {done.stdout[-300:]!r}", component=COMPONENT
            )
        return DriverResult(done.returncode, output)
    message = error or done.stderr.strip()[-500:] or f"exit code {done.returncode}"
    if done.returncode == EXIT_UNSATISFIED:
        raise ConstraintError(
            f"the inputs do not satisfy the membership circuit: {message}", component=COMPONENT
        )
    if done.returncode == EXIT_CRS:
        raise CollateralUnavailableError(message, component=COMPONENT)
    if done.returncode in (EXIT_INPUT, EXIT_USAGE):
        raise MalformedInputError(message, component=COMPONENT)
    raise ZkToolchainError(message, component=COMPONENT)


def _parse_error(stderr: str) -> str | None:
    for line in reversed(stderr.strip().splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        message = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(message, str):
            return message
    return None
