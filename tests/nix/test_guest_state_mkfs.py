"""scripts/guest/cairn-state-mkfs against file-backed volumes (the opened state volume's stand-in).

The step replaces fstab's x-systemd.makefs, which never runs on a new dm-crypt volume (systemd
marks such a device not ready until it carries a file system). Here: a blank volume gets ext4,
an ext4 volume is left byte for byte unchanged, anything else is refused unchanged. That the
mount then happens in a booted guest is shown by ``./dev vm`` (tests/vm, scripts/vm).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from guest_scripts import (
    GUEST_SCRIPTS,
    TEST_PBKDF,
    blank_volume,
    digest,
    must,
    probe,
    require_tools,
    run,
)

STATE_MKFS = GUEST_SCRIPTS / "cairn-state-mkfs"


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_tools("mkfs.ext4", "blkid")


def test_a_new_volume_gets_an_ext4_file_system(tmp_path: Path) -> None:
    volume = blank_volume(tmp_path / "state")
    done = run(STATE_MKFS, "--device", volume)
    assert done.returncode == 0, done.stderr
    fields = probe(volume)
    assert (fields["TYPE"], fields["LABEL"]) == ("ext4", "cairn-state"), fields
    assert "making an ext4 file system" in done.stderr


def test_an_existing_file_system_is_left_alone(tmp_path: Path) -> None:
    volume = blank_volume(tmp_path / "state")
    assert run(STATE_MKFS, "--device", volume).returncode == 0
    before = digest(volume)
    done = run(STATE_MKFS, "--device", volume)
    assert done.returncode == 0, done.stderr
    assert "nothing to do" in done.stderr
    assert digest(volume) == before


@pytest.mark.parametrize("kind", ["luks", "ext2"])
def test_anything_else_is_refused_and_left_untouched(tmp_path: Path, kind: str) -> None:
    volume = blank_volume(tmp_path / "state")
    if kind == "luks":
        require_tools("cryptsetup")
        key = tmp_path / "key"
        key.write_bytes(b"k" * 32)
        must("cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", *TEST_PBKDF,
             "--key-file", key, volume)  # fmt: skip
    else:
        must("mkfs.ext2", "-q", volume)
    before = digest(volume)
    done = run(STATE_MKFS, "--device", volume)
    assert done.returncode == 1
    assert "REFUSED" in done.stderr and "nothing was changed" in done.stderr
    assert digest(volume) == before


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        ([], 2, "--device is required"),
        (["--device"], 2, "--device needs a value"),
        (["--device", "relative"], 2, "must be an absolute path"),
        (["--device", "/nonexistent/cairn-state"], 1, "does not exist"),
        (["--bogus"], 2, "unknown argument"),
    ],
)
def test_usage_errors(arguments: list[str], code: int, message: str) -> None:
    done = run(STATE_MKFS, *arguments)
    assert done.returncode == code
    assert message in done.stderr
