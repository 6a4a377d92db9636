"""Service leaves of the sparse Merkle service tree.

A service is a name, the store path of its package and its secp256k1 public key. Its leaf is
``key = smt.key_of(name)`` and ``value = smt.leaf_value(store_path_hash, pubkey_hash)`` with

* ``store_path_hash``: the first 31 bytes of ``SHA-256(UTF-8 store path)`` as a big-endian
  integer (below 2**248, so a field element);
* ``pubkey_hash``: ``poseidon2.hash([x_hi, x_lo, y_hi, y_lo])`` of the affine coordinates, each
  split into its high and low 128-bit halves (cheap to recompute in a circuit from the 32-byte
  x and y an ECDSA verifier takes).

See ``docs/spec/service-tree.md``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric import ec

from ..errors import MalformedInputError
from . import poseidon2
from .smt import SparseMerkleTree, key_of, leaf_value
from .system_hash import validate_store_path

SERVICE_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9._-]{0,63}$"
"""Service names: 1-64 characters, lowercase letters, digits, ``.``, ``_``, ``-``."""

STORE_PATH_HASH_BYTES: Final = 31
COMPRESSED_KEY_BYTES: Final = 33
UNCOMPRESSED_KEY_BYTES: Final = 65

_COMPONENT: Final = "service"
_NAME: Final = re.compile(SERVICE_NAME_PATTERN.removesuffix("$") + r"\Z")
_HALF_MASK: Final = (1 << 128) - 1


def validate_service_name(name: object) -> str:
    """Return ``name`` if it matches :data:`SERVICE_NAME_PATTERN`, else raise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise MalformedInputError(
            f"service name {name!r:.80} is invalid",
            component=_COMPONENT,
            hint="use 1-64 characters: a-z 0-9 . _ - starting with a letter or digit",
        )
    return name


def public_key_coordinates(public_key: bytes) -> tuple[int, int]:
    """Affine (x, y) of a SEC1 secp256k1 point: compressed (33 B) or uncompressed (65 B)."""
    if not isinstance(public_key, bytes | bytearray | memoryview):
        raise MalformedInputError("a public key must be bytes", component=_COMPONENT)
    raw = bytes(public_key)
    prefix_ok = (len(raw) == COMPRESSED_KEY_BYTES and raw[0] in (2, 3)) or (
        len(raw) == UNCOMPRESSED_KEY_BYTES and raw[0] == 4
    )
    if not prefix_ok:
        raise MalformedInputError(
            f"public key is not a SEC1 compressed (33 bytes, 02/03) or uncompressed "
            f"(65 bytes, 04) point: {len(raw)} bytes starting {raw[:1].hex() or 'with nothing'}",
            component=_COMPONENT,
        )
    try:
        point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), raw)
    except ValueError:
        raise MalformedInputError(
            "public key is not a point on secp256k1", component=_COMPONENT
        ) from None
    numbers = point.public_numbers()
    return numbers.x, numbers.y


def store_path_hash(store_path: str) -> int:
    """First 31 bytes of ``SHA-256(UTF-8 store path)`` as a big-endian integer."""
    path = validate_store_path(store_path, "service store path")
    digest = hashlib.sha256(path.encode("utf-8")).digest()
    return int.from_bytes(digest[:STORE_PATH_HASH_BYTES], "big")


def pubkey_hash(public_key: bytes) -> int:
    """``poseidon2.hash([x_hi, x_lo, y_hi, y_lo])`` of a secp256k1 public key (SEC1 bytes)."""
    x, y = public_key_coordinates(public_key)
    return poseidon2.hash([x >> 128, x & _HALF_MASK, y >> 128, y & _HALF_MASK])


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """One service of the VM; validated on construction."""

    name: str
    store_path: str
    public_key: bytes

    def __post_init__(self) -> None:
        validate_service_name(self.name)
        validate_store_path(self.store_path, "service store path")
        if not isinstance(self.public_key, bytes):
            raise MalformedInputError("a public key must be bytes", component=_COMPONENT)
        public_key_coordinates(self.public_key)


def service_leaf(entry: ServiceEntry) -> tuple[int, int]:
    """The (key, value) of ``entry`` in the service tree."""
    return key_of(entry.name), leaf_value(
        store_path_hash(entry.store_path), pubkey_hash(entry.public_key)
    )


def build_service_tree(entries: Iterable[ServiceEntry]) -> SparseMerkleTree:
    """The service tree of ``entries``; service names must be unique."""
    leaves: dict[int, int] = {}
    seen: set[str] = set()
    for entry in entries:
        if not isinstance(entry, ServiceEntry):
            raise MalformedInputError("services must be ServiceEntry values", component=_COMPONENT)
        if entry.name in seen:
            raise MalformedInputError(
                f"service name {entry.name!r} appears more than once", component=_COMPONENT
            )
        seen.add(entry.name)
        key, value = service_leaf(entry)
        leaves[key] = value
    return SparseMerkleTree(leaves)
