"""scripts/cairn-run-vm (`nix run .#run-vm`): one named state directory holds the root disk, the
state volume and the swtpm state, so the TPM-sealed volume survives from one run to the next.

qemu-vm.nix's start script keeps the root disk at $NIX_DISK_IMAGE and the swtpm state in
$NIX_SWTPM_DIR, but creates the empty disks (our LUKS state volume, empty0.qcow2) in $TMPDIR,
a fresh temporary directory per run unless USE_TMPDIR=1 and TMPDIR are set (nixpkgs
nixos/modules/virtualisation/qemu-vm.nix, startVM). The VM itself cannot run here (no nixpkgs);
a stand-in start script records what the real one would be given.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from guest_scripts import REPO_ROOT, run

RUN_VM = REPO_ROOT / "scripts" / "cairn-run-vm"
RECORDED = ("NIX_DISK_IMAGE", "NIX_SWTPM_DIR", "TMPDIR", "USE_TMPDIR")


@pytest.fixture
def runner(tmp_path: Path) -> Path:
    """A stand-in for run-<name>-vm that records its environment, directory and arguments."""
    script = tmp_path / "run-cairn-cvm-qemu-vm"
    record = tmp_path / "record"
    lines = "\n".join(f'echo "{name}=${{{name}:-}}"' for name in RECORDED)
    script.write_text(
        f'#!/usr/bin/env bash\n{{\n{lines}\necho "PWD=$PWD"\necho "ARGS=$*"\n}} > {record}\n'
    )
    script.chmod(0o755)
    return script


def recorded(runner: Path) -> dict[str, str]:
    text = (runner.parent / "record").read_text()
    return dict(line.split("=", 1) for line in text.splitlines())


def run_vm(runner: Path, *args: str | Path, cwd: Path):
    env = {**os.environ, "CAIRN_VM_RUNNER": str(runner)}
    env.pop("CAIRN_VM_STATE", None)
    return run(RUN_VM, *args, env=env, cwd=cwd)


def test_everything_lives_in_one_state_directory(runner: Path, tmp_path: Path) -> None:
    state = tmp_path / "vm"
    done = run_vm(runner, "--state", state, "--", "-m", "4096", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    seen = recorded(runner)
    assert seen["NIX_DISK_IMAGE"] == f"{state}/root.qcow2"
    assert seen["NIX_SWTPM_DIR"] == f"{state}/swtpm"
    assert (seen["TMPDIR"], seen["USE_TMPDIR"]) == (str(state), "1")
    assert seen["ARGS"] == "-m 4096"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert "http://127.0.0.1:8080" in done.stderr
    assert f"{state}/xchg/simulated-root.pem" in done.stderr
    assert "first boot creates the TPM-sealed state volume" in done.stderr


def test_the_default_state_directory_and_a_second_run(runner: Path, tmp_path: Path) -> None:
    first = run_vm(runner, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    state = tmp_path / "cairn-vm-state"
    assert recorded(runner)["TMPDIR"] == str(state)
    (state / "root.qcow2").write_bytes(b"disk")
    (state / "xchg").mkdir()
    stale = state / "xchg" / "simulated-root.pem"
    stale.write_text("from the last boot")
    second = run_vm(runner, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "kept from an earlier run" in second.stderr
    assert not stale.exists(), "a root from an earlier boot would be mistaken for this boot's"
    assert (state / "root.qcow2").read_bytes() == b"disk"


def test_without_the_runner_it_explains(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CAIRN_VM_RUNNER"}
    done = run(RUN_VM, env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert "nix run .#run-vm" in done.stderr


def test_qemu_arguments_go_after_a_double_dash(runner: Path, tmp_path: Path) -> None:
    done = run_vm(runner, "-m", "4096", cwd=tmp_path)
    assert done.returncode == 2
    assert "QEMU arguments go after --" in done.stderr
