"""Every file Cairn writes for the user: whole or not at all, never over a file without --force."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn_verifier.errors import ExitCode, UsageError
from cairn_verifier.output_files import check_output_path, write_output_file


def test_written_whole_and_never_replaced_without_force(tmp_path: Path) -> None:
    target = tmp_path / "proof.json"
    write_output_file(target, b"new", force=False, what="proof")
    assert target.read_bytes() == b"new"
    with pytest.raises(UsageError, match="already exists; not overwriting it") as info:
        write_output_file(target, b"newer", force=False, what="proof")
    assert info.value.exit_code == ExitCode.USAGE_OR_SETUP and "--force" in (info.value.hint or "")
    assert target.read_bytes() == b"new"
    write_output_file(target, b"newer", force=True, what="proof")
    assert target.read_bytes() == b"newer"
    assert [p.name for p in tmp_path.iterdir()] == ["proof.json"]  # no temporary left behind
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_file_that_appears_meanwhile_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "bundle.json"
    real_exists = Path.exists

    def racing_exists(path: Path) -> bool:  # the check passes, then someone creates the file
        found = real_exists(path)
        if path == target and not found:
            target.write_bytes(b"someone else's")
        return found

    monkeypatch.setattr(Path, "exists", racing_exists)
    with pytest.raises(UsageError, match="already exists"):
        write_output_file(target, b"ours", force=False, what="bundle")
    assert target.read_bytes() == b"someone else's"


def test_unwritable_places_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot write bundle"):
        write_output_file(tmp_path / "missing" / "b.json", b"x", force=False, what="bundle")
    with pytest.raises(UsageError, match="is a directory"):
        check_output_path(tmp_path, force=True)
    with pytest.raises(UsageError, match="not a writable directory"):
        check_output_path(tmp_path / "missing" / "b.json", force=False)
    (tmp_path / "kept").write_text("x")
    with pytest.raises(UsageError, match="already exists"):
        check_output_path(tmp_path / "kept", force=False)
    check_output_path(tmp_path / "kept", force=True)
