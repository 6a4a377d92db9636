"""Run the pure Nix evaluations of tests/nix/eval/ (no nixpkgs, no network) and parse their JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EVAL_DIR = REPO_ROOT / "tests" / "nix" / "eval"
# Never reach for a binary cache or the flake registry (these machines have no network).
NIX_CONFIG = "substituters =\nbuild-users-group =\nflake-registry ="


def nix_instantiate() -> str:
    found = shutil.which("nix-instantiate")
    if found is None:
        pytest.fail("nix-instantiate not found: install Nix (`./dev setup nix`)")
    return found


def evaluate(expression: str, *, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    """``nix-instantiate --eval --strict --json --expr EXPRESSION`` (exit status not checked)."""
    return subprocess.run(
        [nix_instantiate(), "--eval", "--strict", "--json", "--expr", expression],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
        env={**os.environ, "NIX_CONFIG": NIX_CONFIG},
    )


def evaluate_json(expression: str, *, cwd: Path = REPO_ROOT) -> Any:
    done = evaluate(expression, cwd=cwd)
    assert done.returncode == 0, f"evaluation failed:\n{done.stderr}"
    return json.loads(done.stdout)


def unwrap(value: Any) -> Any:
    """The value of a definition, with an mkOverride priority marker removed."""
    if isinstance(value, dict) and set(value) == {"_priority", "_value"}:
        return value["_value"]
    return value
