"""Bounded reading of input files and directories (issue 11 item 4): every input has a cap,
a huge file in a directory is refused by its size without being read, directories are bounded."""

from __future__ import annotations

import os
import shutil
import tracemalloc
from pathlib import Path

import pytest

from cairn_verifier import input_files
from cairn_verifier.errors import MalformedInputError
from cairn_verifier.input_files import (
    MAX_DIRECTORY_ENTRIES,
    MAX_DIRECTORY_FILES,
    MAX_INPUT_BYTES,
    list_input_directory,
    read_directory_files,
    read_input_file,
    require_regular_file,
)
from cairn_verifier.snp.certs import load_cert_collection
from cairn_verifier.tdx.collateral import load_collateral_dir

MILAN = Path(__file__).resolve().parents[2] / "examples" / "snp" / "milan-v3-oak-containers"
HUNDRED_MB = 100 * 1024 * 1024


def _sparse(path: Path, size: int) -> Path:
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def test_dev_zero_is_read_only_up_to_the_cap() -> None:
    with pytest.raises(MalformedInputError, match="more than the limit of 1 KiB"):
        read_input_file(Path("/dev/zero"), "policy file", limit=1024)


def test_a_large_regular_file_is_refused_by_its_size(tmp_path: Path) -> None:
    big = _sparse(tmp_path / "big.bin", HUNDRED_MB)
    tracemalloc.start()
    try:
        with pytest.raises(MalformedInputError) as info:
            read_input_file(big, "report")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"is {HUNDRED_MB} bytes, more than the limit of 16 MiB" in info.value.message
    assert peak < 1024 * 1024  # refused by fstat, nothing read


def test_input_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(MalformedInputError, match="file not found"):
        read_input_file(tmp_path / "absent", "policy file")
    with pytest.raises(MalformedInputError, match="is a directory"):
        read_input_file(tmp_path, "policy file")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(MalformedInputError, match="is empty"):
        read_input_file(tmp_path / "empty", "report")
    assert read_input_file(tmp_path / "empty", "policy file", allow_empty=True) == b""


def test_a_100_mb_file_in_a_certs_directory_is_refused_without_reading_it(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    shutil.copytree(MILAN, certs)
    _sparse(certs / "huge.pem", HUNDRED_MB)
    tracemalloc.start()
    try:
        with pytest.raises(MalformedInputError) as info:
            load_cert_collection(certs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "huge.pem" in info.value.message
    assert f"{HUNDRED_MB} bytes, more than the limit of 16 MiB" in info.value.message
    assert peak < 4 * 1024 * 1024


def test_a_directory_is_read_for_a_bounded_total(tmp_path: Path) -> None:
    for index in range(3):
        (tmp_path / f"{index}.pem").write_bytes(b"x" * 1000)
    files = list_input_directory(tmp_path, "certificate")
    assert len(read_directory_files(files, "certificate", total_limit=3000)) == 3
    with pytest.raises(MalformedInputError, match="hold more than 2500 bytes together"):
        read_directory_files(files, "certificate", total_limit=2500)


def test_the_number_of_files_read_from_a_directory_is_bounded(tmp_path: Path) -> None:
    for index in range(MAX_DIRECTORY_FILES + 1):
        (tmp_path / f"{index:03}.pem").write_bytes(b"not a certificate")
    with pytest.raises(MalformedInputError, match=f"more than {MAX_DIRECTORY_FILES} files"):
        load_cert_collection(tmp_path)


def test_the_entries_looked_at_in_a_directory_are_bounded(tmp_path: Path) -> None:
    for index in range(MAX_DIRECTORY_ENTRIES + 1):
        (tmp_path / f"{index}.txt").touch()
    with pytest.raises(MalformedInputError, match=f"more than {MAX_DIRECTORY_ENTRIES} entries"):
        load_cert_collection(tmp_path)


def test_an_unreadable_certs_directory_is_malformed_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests may run as root, for whom chmod 000 changes nothing: make listing fail instead.
    def denied(path: object) -> object:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(input_files.os, "scandir", denied)
    with pytest.raises(MalformedInputError, match=r"cannot list certificate directory .*denied"):
        load_cert_collection(tmp_path)


def test_an_unreadable_pcs_directory_is_malformed_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(path: object) -> object:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(input_files.os, "scandir", denied)
    with pytest.raises(MalformedInputError, match=r"cannot list collateral directory .*denied"):
        load_collateral_dir(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads directories whatever their mode")
def test_a_mode_000_certs_directory_is_malformed_input(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        with pytest.raises(MalformedInputError, match="Permission denied"):
            load_cert_collection(locked)
    finally:
        locked.chmod(0o700)


def test_a_fifo_in_a_certs_directory_is_skipped_not_waited_on(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    shutil.copytree(MILAN, certs)
    os.mkfifo(certs / "zz-pipe.pem")  # opening it would block forever
    collection = load_cert_collection(certs)
    assert collection.vcek is not None


def test_a_huge_pcs_file_is_refused_by_its_size(tmp_path: Path) -> None:
    _sparse(tmp_path / "tcb_info.json", HUNDRED_MB)
    (tmp_path / "qe_identity.json").write_text("{}")
    with pytest.raises(MalformedInputError, match=r"tcb_info\.json is 104857600 bytes"):
        load_collateral_dir(tmp_path)


def test_tools_read_by_name_need_regular_bounded_files(tmp_path: Path) -> None:
    with pytest.raises(MalformedInputError, match="not a regular file"):
        require_regular_file(Path("/dev/zero"), "kernel", limit=MAX_INPUT_BYTES)
    big = _sparse(tmp_path / "kernel", 2048)
    with pytest.raises(MalformedInputError, match="2048 bytes, more than the limit of 1 KiB"):
        require_regular_file(big, "kernel", limit=1024)
    assert require_regular_file(big, "kernel", limit=4096) == 2048
