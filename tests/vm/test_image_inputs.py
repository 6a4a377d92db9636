"""Cache keys of the guest image (scripts/vm/cairnvm/inputs.py and image.py).

A key must change when anything that goes into the image changes (content, executable bit, a new
file) and must not change for build output or time stamps; the Nix-store-shaped names the image
attests must be valid store paths.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from cairnvm import image, inputs

from cairn_verifier.binding.system_hash import validate_store_path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("print('a')\n")
    (root / "src" / "run.sh").write_text("#!/bin/sh\n")
    (root / ".gitignore").write_text("__pycache__/\ntarget/\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "."], check=True)
    return root


def test_content_and_executable_bit_change_the_key(repo: Path) -> None:
    before = inputs.tree_digest(repo, ["src"])
    assert inputs.tree_digest(repo, ["src"]) == before
    (repo / "src" / "a.py").write_text("print('b')\n")
    changed = inputs.tree_digest(repo, ["src"])
    assert changed != before
    (repo / "src" / "run.sh").chmod(0o755)
    assert inputs.tree_digest(repo, ["src"]) != changed


def test_a_new_untracked_file_changes_the_key(repo: Path) -> None:
    before = inputs.tree_digest(repo, ["src"])
    (repo / "src" / "new.py").write_text("")
    assert inputs.tree_digest(repo, ["src"]) != before


def test_ignored_build_output_and_time_stamps_do_not(repo: Path) -> None:
    before = inputs.tree_digest(repo, ["src"])
    (repo / "src" / "__pycache__").mkdir()
    (repo / "src" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (repo / "src" / "target").mkdir()
    (repo / "src" / "target" / "binary").write_bytes(b"\0")
    os.utime(repo / "src" / "a.py", (0, 0))
    assert inputs.tree_digest(repo, ["src"]) == before


def test_outside_git_the_same_files_count(repo: Path, tmp_path: Path) -> None:
    (repo / "src" / "__pycache__").mkdir()
    (repo / "src" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(repo), str(copy)], check=True)
    subprocess.run(["rm", "-rf", str(copy / ".git")], check=True)
    assert inputs.source_files(copy, ["src"]) == inputs.source_files(repo, ["src"])


def test_store_paths_are_valid_and_keyed() -> None:
    key = inputs.key({"a": 1})
    path = inputs.store_path("cairn-debian-vm-0.1.0", key)
    assert validate_store_path(path) == path
    assert path == inputs.store_path("cairn-debian-vm-0.1.0", key)
    assert path != inputs.store_path("cairn-debian-vm-0.1.0", inputs.key({"a": 2}))


def test_the_image_key_covers_what_goes_into_the_image() -> None:
    listed = set(image.IMAGE_SOURCES)
    needed = ("agent", "verifier", "requirements/agent.txt", "services/echo-cpp",
              "services/echo-rust", "scripts/guest", "scripts/vm/guest",
              "scripts/vm/nixos-cvm-qemu.json")  # fmt: skip
    for path in needed:
        assert path in listed
    for path in listed:
        assert (image.REPO_ROOT / path).exists(), path


def test_the_host_check_names_what_is_wrong(tmp_path: Path) -> None:
    ubuntu = tmp_path / "os-release"
    ubuntu.write_text('PRETTY_NAME="Ubuntu 24.04 LTS"\nVERSION_CODENAME=noble\n')
    with pytest.raises(
        image.StepError, match=r"this host is Ubuntu 24\.04 LTS.*build on Debian 12"
    ):
        image.check_host((3, 11), ubuntu)
    bookworm = tmp_path / "bookworm"
    bookworm.write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\n')
    with pytest.raises(image.StepError, match=r"this Python is 3\.12.*CAIRN_PYTHON"):
        image.check_host((3, 12), bookworm)
