"""The system hash: a digest of the NixOS system's store path (``/run/current-system``).

``system_hash = SHA-256(b"cairn/system/v1\\x00" || UTF-8 of the store path)``, where the store
path is the resolved target of ``/run/current-system`` without a trailing slash or newline, e.g.
``/nix/store/<32 chars of Nix base32>-nixos-system-<host>-<version>``. See
``docs/spec/system-hash.md`` for what this does and does not prove.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from ..errors import MalformedInputError

SYSTEM_HASH_DOMAIN: Final = b"cairn/system/v1\x00"
"""Prefix hashed before the store path (domain separation)."""

STORE_DIR: Final = "/nix/store/"
NIX_BASE32_ALPHABET: Final = "0123456789abcdfghijklmnpqrsvwxyz"
"""Nix's base32 digits: no e, o, t or u."""

STORE_HASH_CHARS: Final = 32
MAX_NAME_CHARS: Final = 211
"""Longest store path name Nix accepts (``StorePath::MaxPathLen``)."""

_COMPONENT: Final = "store-path"
_STORE_PATH: Final = re.compile(
    r"/nix/store/(?P<hash>[0-9a-df-np-sv-z]{32})-(?P<name>[A-Za-z0-9+\-._?=]{1,211})"
)


def validate_store_path(store_path: object, what: str = "store path") -> str:
    """Return ``store_path`` if it is a syntactically valid top-level Nix store path.

    ``/nix/store/`` + 32 Nix base32 digits + ``-`` + a name of 1-211 characters from
    ``[A-Za-z0-9+-._?=]`` that is not ``.`` or ``..`` and does not start with ``.-`` or ``..-``
    (Nix's own name rules). Paths inside a store object (``.../bin/x``), trailing slashes or
    newlines, and any other store directory are rejected with :class:`MalformedInputError`.
    """
    if not isinstance(store_path, str):
        raise MalformedInputError(
            f"{what} must be a string, got {type(store_path).__name__}", component=_COMPONENT
        )
    match = _STORE_PATH.fullmatch(store_path)
    if match is None:
        raise MalformedInputError(
            f"{what} {store_path!r:.120} is not a Nix store path "
            f"({STORE_DIR}<32 Nix base32 digits>-<name>)",
            component=_COMPONENT,
            hint=_hint(store_path),
        )
    name = match["name"]
    if name in {".", ".."} or name.startswith((".-", "..-")):
        raise MalformedInputError(
            f"{what} {store_path!r:.120} has a name Nix forbids ({name!r:.40})",
            component=_COMPONENT,
        )
    return store_path


def _hint(store_path: str) -> str:
    if store_path != store_path.rstrip("/\n\r "):
        return "strip the trailing slash, newline or space (use the output of `realpath`)"
    if not store_path.startswith(STORE_DIR):
        return "resolve the symlink first: `realpath /run/current-system`"
    rest = store_path[len(STORE_DIR) :]
    if "/" in rest:
        return "give the store object itself, not a path inside it"
    digest = rest[:STORE_HASH_CHARS]
    bad = sorted(set(digest) - set(NIX_BASE32_ALPHABET))
    if len(rest) <= STORE_HASH_CHARS or rest[STORE_HASH_CHARS] != "-":
        return "the hash part must be exactly 32 characters followed by '-' and a name"
    if bad:
        return f"the hash part contains characters outside Nix base32: {''.join(bad)!r}"
    return f"names are 1-{MAX_NAME_CHARS} characters from A-Z a-z 0-9 + - . _ ? ="


def system_hash(store_path: str) -> bytes:
    """``SHA-256(SYSTEM_HASH_DOMAIN || UTF-8(store_path))`` of a validated store path (32 B)."""
    path = validate_store_path(store_path, "system store path")
    return hashlib.sha256(SYSTEM_HASH_DOMAIN + path.encode("utf-8")).digest()
