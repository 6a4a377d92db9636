"""Every shell script of the repository passes shellcheck (all severities).

The guest scripts run as systemd units in the VMs, where a quoting bug costs a boot; the NixOS
packaging (writeShellApplication) runs shellcheck on them again at build time.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".git", ".nox", ".build", "node_modules"}


def shell_scripts() -> list[Path]:
    """Files whose first line is a bash shebang, outside tool and build directories."""
    found = []
    for path in sorted(REPO_ROOT.rglob("*")):
        relative = path.relative_to(REPO_ROOT)
        if any(part in SKIPPED_DIRS or part.startswith(".venv") for part in relative.parts):
            continue
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                first = handle.readline(64)
            if first.startswith(b"#!") and b"bash" in first:
                found.append(path)
    return found


def test_the_scripts_are_found() -> None:
    names = {p.relative_to(REPO_ROOT).as_posix() for p in shell_scripts()}
    assert {
        "dev",
        ".ci/run",
        "scripts/cairn-run-vm",
        "scripts/guest/cairn-state-init",
        "scripts/guest/cairn-state-mkfs",
        "scripts/guest/cairn-service-key",
        "scripts/guest/cairn-export-root",
    } <= names


@pytest.mark.parametrize(
    "script", shell_scripts(), ids=lambda p: p.relative_to(REPO_ROOT).as_posix()
)
def test_shellcheck(script: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed: `./dev setup guest` (apt-get install shellcheck)")
    done = subprocess.run(
        [shellcheck, "--shell=bash", "--external-sources", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=script.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_guest_scripts_are_executable() -> None:
    for script in (REPO_ROOT / "scripts" / "guest").iterdir():
        assert script.stat().st_mode & 0o111, f"{script} is not executable"
