"""The NixOS configuration the Debian guest follows: cvm-qemu's Cairn modules, evaluated.

``tests/nix/eval/cvm-qemu-guest.nix`` evaluates the NixOS modules (nixos/modules, the cvm-qemu
configuration and the NixOS VM test's tamper unit) with the stub lib and prints their units,
users, udev rules, crypttab, file systems, agent settings and VM settings as JSON. That output
is committed as ``scripts/vm/nixos-cvm-qemu.json`` so that building the image needs no Nix;
``./dev vm -- nixos-eval --check`` (and tests/vm/test_nixos_parity.py) fail when it is stale,
``--write`` regenerates it. The same evaluation with ``cairn.luksTpm.keySource = "snp-derived"``
(the state key derived by the simulated AMD-SP) is ``nixos-cvm-qemu-snp-derived.json``: one
snapshot per key source in :data:`SNAPSHOTS`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

VM_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = VM_DIR.parents[1]
EVALUATION = REPO_ROOT / "tests" / "nix" / "eval" / "cvm-qemu-guest.nix"
SNAPSHOT = VM_DIR / "nixos-cvm-qemu.json"
SNAPSHOTS = {"tpm": SNAPSHOT, "snp-derived": VM_DIR / "nixos-cvm-qemu-snp-derived.json"}
"""The committed evaluation for each ``cairn.luksTpm.keySource`` the VM boots with."""
KEY_SOURCES = tuple(SNAPSHOTS)
# Never reach for a binary cache or the flake registry.
NIX_CONFIG = "substituters =\nbuild-users-group =\nflake-registry ="


class NixosEvalError(Exception):
    """The evaluation could not run or failed (message says why)."""


def load(key_source: str = "tpm") -> dict[str, Any]:
    """The committed evaluation for ``key_source``."""
    data: dict[str, Any] = json.loads(SNAPSHOTS[key_source].read_text(encoding="utf-8"))
    return data


def serialise(data: Any) -> str:
    """The committed form: sorted keys, two-space indent, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def evaluate(key_source: str = "tpm") -> dict[str, Any]:
    """Run the evaluation now (needs ``nix-instantiate``; no nixpkgs, no network)."""
    nix = shutil.which("nix-instantiate")
    if nix is None:
        raise NixosEvalError(
            "nix-instantiate not found: install Nix's evaluator (`./dev setup nix`, Debian "
            "package nix-bin); only regenerating the snapshot needs it, building the image does not"
        )
    done = subprocess.run(
        [nix, "--eval", "--strict", "--json", "--argstr", "keySource", key_source, str(EVALUATION)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO_ROOT,
        env={**os.environ, "NIX_CONFIG": NIX_CONFIG},
    )
    if done.returncode != 0:
        raise NixosEvalError(
            f"evaluating {EVALUATION.relative_to(REPO_ROOT)} failed:\n{done.stderr}"
        )
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def stale(key_source: str = "tpm") -> bool:
    """Whether the committed snapshot differs from a fresh evaluation."""
    snapshot = SNAPSHOTS[key_source]
    return snapshot.read_text(encoding="utf-8") != serialise(evaluate(key_source))


def write() -> None:
    """Regenerate every snapshot."""
    for key_source, snapshot in SNAPSHOTS.items():
        snapshot.write_text(serialise(evaluate(key_source)), encoding="utf-8")
