"""Cache keys: a SHA-256 over everything that goes into a build, and Nix-store-shaped names.

Files are hashed by content (path, executable bit, bytes), never by time stamps; in a git
checkout the set of files is what git tracks plus untracked files it does not ignore, so build
output inside the sources (``target/``, ``__pycache__``) never changes a key.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

NIX_BASE32 = "0123456789abcdfghijklmnpqrsvwxyz"
_IGNORED_PARTS = {"__pycache__", "target", ".pytest_cache", "node_modules", "build", "dist"}


def _git_files(root: Path, paths: Iterable[str]) -> list[str] | None:
    """Tracked and untracked-not-ignored files under ``paths`` (None when not a git checkout)."""
    try:
        done = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
                "--",
                *paths,
            ],
            capture_output=True,
            check=False,
            timeout=60,
        )
    except OSError:
        return None
    if done.returncode != 0:
        return None
    return sorted({name for name in done.stdout.decode().split("\0") if name})


def _walked_files(root: Path, paths: Iterable[str]) -> list[str]:
    found = []
    for path in paths:
        base = root / path
        candidates = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for candidate in candidates:
            relative = candidate.relative_to(root)
            if not _IGNORED_PARTS & set(relative.parts) and not relative.name.endswith(".pyc"):
                found.append(relative.as_posix())
    return sorted(set(found))


def source_files(root: Path, paths: Iterable[str]) -> list[str]:
    """The files under ``paths`` (relative to ``root``) that belong to the sources."""
    listed = list(paths)
    files = _git_files(root, listed)
    if files is None:
        files = _walked_files(root, listed)
    # git lists deleted-but-tracked files too; a key covers what is there.
    return [name for name in files if (root / name).is_file()]


def tree_digest(root: Path, paths: Iterable[str]) -> str:
    """SHA-256 (hex) over the names, executable bits and contents of the source files."""
    digest = hashlib.sha256()
    for name in source_files(root, paths):
        path = root / name
        executable = os.access(path, os.X_OK)
        digest.update(f"{name}\0{int(executable)}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def key(parts: dict[str, object]) -> str:
    """A cache key (hex SHA-256) over JSON-serialisable parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def store_path(name: str, key_hex: str) -> str:
    """``/nix/store/<32 characters of Nix's base32 alphabet>-<name>`` derived from a key.

    The agent attests Nix store paths, so the Debian image names what it attests that way. The
    hash part is the first 160 bits of ``key_hex`` (a content key of the inputs), written in
    Nix's alphabet; Nix did not compute it and cannot reproduce it.
    """
    raw = int(key_hex[:40], 16)
    chars = [NIX_BASE32[(raw >> (5 * i)) & 31] for i in range(32)]
    return f"/nix/store/{''.join(reversed(chars))}-{name}"
