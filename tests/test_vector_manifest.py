"""The in-repository real-hardware vectors are exactly the bytes their provenance describes."""

from __future__ import annotations

import hashlib
from pathlib import Path

VECTORS = Path(__file__).resolve().parent / "vectors"
MANIFEST = VECTORS / "SHA256SUMS"
NOT_DATA = {"SHA256SUMS", ".gitattributes"}


def _manifest() -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in MANIFEST.read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        assert len(digest) == 64, line
        assert name not in entries, f"{name} is listed twice"
        entries[name] = digest
    return entries


def _data_files() -> set[str]:
    return {
        path.relative_to(VECTORS).as_posix()
        for path in VECTORS.rglob("*")
        if path.is_file() and path.name not in NOT_DATA and path.suffix != ".md"
    }


def test_every_vector_is_listed_and_every_listed_vector_exists() -> None:
    listed = set(_manifest())
    present = _data_files()
    assert sorted(present - listed) == [], "unlisted in SHA256SUMS (see tests/vectors/README.md)"
    assert sorted(listed - present) == [], "files listed in SHA256SUMS but absent"
    assert len(listed) > 200


def test_every_vector_has_its_recorded_sha256() -> None:
    changed = [
        name
        for name, digest in _manifest().items()
        if hashlib.sha256((VECTORS / name).read_bytes()).hexdigest() != digest
    ]
    assert changed == []


def test_each_vendor_folder_has_its_provenance_and_keeps_line_endings() -> None:
    for vendor in ("snp", "tdx", "gpu"):
        folder = VECTORS / vendor
        assert (folder / "PROVENANCE.md").is_file()
        attributes = (folder / ".gitattributes").read_text(encoding="utf-8")
        assert "* -text" in attributes


def test_crlf_vectors_kept_their_line_endings() -> None:
    """Turin chains are CRLF as AMD KDS serves them; rewriting them would break signatures."""
    crlf = [name for name in _manifest() if b"\r\n" in (VECTORS / name).read_bytes()]
    assert any("turin" in name.lower() for name in crlf)
