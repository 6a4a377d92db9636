"""Sparse Merkle tree of a VM's services, hashed with Poseidon2 (BN254), iden3-style compact.

Shape. Keys and values are BN254 field elements. The path of a key is its bits from the least
significant upward: bit ``i`` chooses the child at depth ``i`` (0 = left, 1 = right). A leaf sits
at the shallowest depth where its path diverges from every other key's, so the tree has no
single-leaf subtrees and its shape, hence its root, depends only on the set of entries.

Hashes. ``empty = 0``; ``leaf = hash([key, value, 1])`` (the trailing 1, and the sponge's
length IV, separate leaves from internal nodes); ``internal = hash2(left, right)``.

Depth. Leaves sit at depth at most ``MAX_DEPTH`` = 64, which a circuit verifying membership
must support. Keys are hashes, so two of ``n`` keys share their low 64 bits with probability
about ``n**2 / 2**65`` (3e-8 for a million services); inserting a key that would need a deeper
leaf raises :class:`TreeDepthError` rather than silently truncating paths.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from ..documents import unique_members
from ..errors import MalformedInputError, ParseError
from . import poseidon2
from .poseidon2 import P, hash2

MAX_DEPTH: Final = 64
"""Deepest level a leaf may occupy (the number of path bits a proof may use)."""

KEY_DOMAIN_TAG: Final = int.from_bytes(b"cairn.smt.key.v1", "big")
"""First hash input of :func:`key_of`, separating service-name keys from other hashes."""

KEY_CHUNK_BYTES: Final = 31
"""Bytes of the service name packed into each field element by :func:`key_of`."""

_COMPONENT: Final = "service-tree"


class TreeKeyError(MalformedInputError):
    """An operation needs a key to be present (or absent) and it is not."""


class TreeDepthError(MalformedInputError):
    """A key shares its low ``MAX_DEPTH`` bits with a key already in the tree."""


def _field(value: object, what: str) -> int:
    if type(value) is not int or not 0 <= value < P:
        raise MalformedInputError(
            f"{what} is not a BN254 field element (an int in [0, P)): {value!r:.80}",
            component=_COMPONENT,
        )
    return value


def key_of(name: str) -> int:
    """Tree key of a service name.

    ``hash([KEY_DOMAIN_TAG, len(b), c_0, ..., c_{k-1}])`` where ``b`` is the UTF-8 encoding of
    ``name`` and ``c_j`` is ``b[31j : 31j + 31]``, right-padded with zero bytes to 31 bytes, read
    as a big-endian integer (so every chunk is below 2**248 < P; the byte length keeps names
    that differ only in trailing NUL bytes apart).
    """
    if not isinstance(name, str) or not name:
        raise MalformedInputError("a service name must be a non-empty string", component=_COMPONENT)
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedInputError(
            f"service name is not valid Unicode text: {exc.reason}", component=_COMPONENT
        ) from exc
    chunks = [
        int.from_bytes(raw[i : i + KEY_CHUNK_BYTES].ljust(KEY_CHUNK_BYTES, b"\0"), "big")
        for i in range(0, len(raw), KEY_CHUNK_BYTES)
    ]
    return poseidon2.hash([KEY_DOMAIN_TAG, len(raw), *chunks])


def leaf_value(store_path_hash: int, pubkey_hash: int) -> int:
    """Value stored for a service: ``hash([store_path_hash, pubkey_hash])``, both field elements."""
    return poseidon2.hash(
        [_field(store_path_hash, "store path hash"), _field(pubkey_hash, "public key hash")]
    )


def leaf_hash(key: int, value: int) -> int:
    """Hash of a leaf node: ``hash([key, value, 1])``."""
    return poseidon2.hash([key, value, 1])


def path_bit(key: int, depth: int) -> int:
    """Which child (0 left, 1 right) the path of ``key`` takes at ``depth``."""
    return (key >> depth) & 1


class _Leaf:
    __slots__ = ("hash", "key", "value")
    key: int
    value: int
    hash: int

    def __init__(self, key: int, value: int) -> None:
        self.key = key
        self.value = value
        self.hash = leaf_hash(key, value)


class _Internal:
    __slots__ = ("hash", "left", "right")
    left: _Node
    right: _Node
    hash: int

    def __init__(self, left: _Node, right: _Node) -> None:
        self.left = left
        self.right = right
        self.hash = hash2(0 if left is None else left.hash, 0 if right is None else right.hash)


_Node = _Leaf | _Internal | None


def _node_hash(node: _Node) -> int:
    return 0 if node is None else node.hash


def _join(bit: int, child: _Node, other: _Node) -> _Internal:
    """Internal node with ``child`` on side ``bit`` and ``other`` on the opposite side."""
    return _Internal(other, child) if bit else _Internal(child, other)


def _split(old: _Leaf, new: _Leaf, depth: int) -> _Internal:
    """Smallest subtree at ``depth`` holding two leaves whose paths agree up to ``depth``."""
    if depth >= MAX_DEPTH:
        raise TreeDepthError(
            f"key {new.key:#x} shares its low {MAX_DEPTH} bits with key {old.key:#x}",
            component=_COMPONENT,
            hint="service keys must be hashes (key_of); two distinct names colliding here is "
            "practically impossible, so check how the keys were derived",
        )
    old_bit, new_bit = path_bit(old.key, depth), path_bit(new.key, depth)
    if old_bit != new_bit:
        return _join(new_bit, new, old)
    return _join(new_bit, _split(old, new, depth + 1), None)


def _insert(node: _Node, leaf: _Leaf, depth: int) -> _Node:
    if node is None:
        return leaf
    if isinstance(node, _Leaf):
        if node.key == leaf.key:
            raise TreeKeyError(f"key {leaf.key:#x} is already in the tree", component=_COMPONENT)
        return _split(node, leaf, depth)
    if path_bit(leaf.key, depth):
        return _Internal(node.left, _insert(node.right, leaf, depth + 1))
    return _Internal(_insert(node.left, leaf, depth + 1), node.right)


def _replace(node: _Node, leaf: _Leaf, depth: int) -> _Node:
    if isinstance(node, _Internal):
        if path_bit(leaf.key, depth):
            return _Internal(node.left, _replace(node.right, leaf, depth + 1))
        return _Internal(_replace(node.left, leaf, depth + 1), node.right)
    if node is None or node.key != leaf.key:
        raise TreeKeyError(f"key {leaf.key:#x} is not in the tree", component=_COMPONENT)
    return leaf


def _delete(node: _Node, key: int, depth: int) -> _Node:
    if isinstance(node, _Internal):
        bit = path_bit(key, depth)
        child, other = (node.right, node.left) if bit else (node.left, node.right)
        child = _delete(child, key, depth + 1)
        # Keep the tree canonical: a subtree left with a single leaf is that leaf.
        if child is None and isinstance(other, _Leaf):
            return other
        if other is None and isinstance(child, _Leaf):
            return child
        return _join(bit, child, other)
    if node is None or node.key != key:
        raise TreeKeyError(f"key {key:#x} is not in the tree", component=_COMPONENT)
    return None


def _build(leaves: list[_Leaf], depth: int) -> _Node:
    """Canonical subtree of ``leaves`` (all sharing their path up to ``depth``)."""
    if not leaves:
        return None
    if len(leaves) == 1:
        return leaves[0]
    if depth >= MAX_DEPTH:
        raise TreeDepthError(
            f"keys {leaves[0].key:#x} and {leaves[1].key:#x} share their low {MAX_DEPTH} bits",
            component=_COMPONENT,
        )
    left = [leaf for leaf in leaves if not path_bit(leaf.key, depth)]
    right = [leaf for leaf in leaves if path_bit(leaf.key, depth)]
    return _Internal(_build(left, depth + 1), _build(right, depth + 1))


class SparseMerkleTree:
    """Mutable sparse Merkle tree; every mutation costs O(depth) Poseidon2 hashes."""

    def __init__(self, entries: Mapping[int, int] | None = None) -> None:
        """Build the tree of ``entries`` (key -> value) in one pass (one hash per node)."""
        self._values: dict[int, int] = {}
        self._root: _Node = None
        if entries:
            leaves = [
                _Leaf(_field(key, "key"), _field(value, "value")) for key, value in entries.items()
            ]
            self._root = _build(leaves, 0)
            self._values = {leaf.key: leaf.value for leaf in leaves}

    @property
    def root(self) -> int:
        """Root hash (0 for the empty tree)."""
        return _node_hash(self._root)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[int]:
        return iter(self._values)

    def get(self, key: int) -> int | None:
        """Value stored under ``key``, or None."""
        return self._values.get(key)

    def items(self) -> list[tuple[int, int]]:
        """All (key, value) entries, in insertion order."""
        return list(self._values.items())

    def insert(self, key: int, value: int) -> None:
        """Add a new entry; :class:`TreeKeyError` if ``key`` is present."""
        leaf = _Leaf(_field(key, "key"), _field(value, "value"))
        self._root = _insert(self._root, leaf, 0)
        self._values[key] = value

    def update(self, key: int, value: int) -> None:
        """Change the value of an existing entry; :class:`TreeKeyError` if ``key`` is absent."""
        leaf = _Leaf(_field(key, "key"), _field(value, "value"))
        self._root = _replace(self._root, leaf, 0)
        self._values[key] = value

    def delete(self, key: int) -> None:
        """Remove an entry; :class:`TreeKeyError` if ``key`` is absent."""
        self._root = _delete(self._root, _field(key, "key"), 0)
        del self._values[key]

    def prove(self, key: int) -> Proof:
        """Inclusion proof if ``key`` is present, otherwise a non-inclusion proof."""
        _field(key, "key")
        siblings: list[int] = []
        node = self._root
        depth = 0
        while isinstance(node, _Internal):
            if path_bit(key, depth):
                siblings.append(_node_hash(node.left))
                node = node.right
            else:
                siblings.append(_node_hash(node.right))
                node = node.left
            depth += 1
        if node is None:
            return Proof(ProofKind.EXCLUSION_EMPTY, tuple(siblings))
        if node.key == key:
            return Proof(ProofKind.INCLUSION, tuple(siblings))
        return Proof(ProofKind.EXCLUSION_LEAF, tuple(siblings), (node.key, node.value))


# --- Proofs -------------------------------------------------------------------------------------

PROOF_VERSION: Final = 1
"""Version byte / ``"version"`` field of the proof encodings."""

_PROOF_COMPONENT: Final = "service-tree proof"
_FIELD_BYTES: Final = 32


class ProofKind(IntEnum):
    """What the path of a proof ends in."""

    INCLUSION = 0
    """The leaf of the proven key itself (the verifier supplies its key and value)."""
    EXCLUSION_EMPTY = 1
    """An empty slot: no key with this path prefix exists."""
    EXCLUSION_LEAF = 2
    """The leaf of another key with the same path prefix (``Proof.aux``)."""


_KIND_NAMES: Final = {
    ProofKind.INCLUSION: "inclusion",
    ProofKind.EXCLUSION_EMPTY: "exclusion-empty",
    ProofKind.EXCLUSION_LEAF: "exclusion-leaf",
}
_KINDS_BY_NAME: Final = {name: kind for kind, name in _KIND_NAMES.items()}
_JSON_FIELDS: Final = frozenset({"version", "kind", "depth", "bitmap", "siblings", "aux"})


def _proof_error(message: str, field: str, offset: int | None = None) -> ParseError:
    return ParseError(message, component=_PROOF_COMPONENT, field=field, offset=offset)


@dataclass(frozen=True, slots=True)
class Proof:
    """A path from the root to the slot of a key.

    ``siblings[i]`` is the hash of the node beside the path at depth ``i + 1`` (the child of the
    depth-``i`` node that the key's path does not take); ``len(siblings)`` is the depth of the
    slot. ``aux`` is the (key, value) of the leaf found there for ``EXCLUSION_LEAF`` and None
    otherwise.

    Binary encoding (version 1), all integers big-endian::

        u8 version = 1 | u8 kind | u8 depth | bitmap: ceil(depth / 8) bytes, bit i of the path
        is bit (i % 8) of byte i // 8, set iff siblings[i] != 0 | the non-zero siblings, 32 bytes
        each, in path order | EXCLUSION_LEAF only: aux key, aux value (32 bytes each)

    The JSON form carries the same fields: ``version``, ``kind`` (``inclusion``,
    ``exclusion-empty``, ``exclusion-leaf``), ``depth``, ``bitmap`` (lowercase hex of the bitmap
    bytes), ``siblings`` (the non-zero ones) and ``aux`` (``{"key", "value"}`` or null); field
    elements are ``0x`` followed by 64 lowercase hex digits. Decoding accepts only the canonical
    encoding and raises :class:`ParseError` otherwise.
    """

    kind: ProofKind
    siblings: tuple[int, ...]
    aux: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, ProofKind):
            raise _proof_error(f"unknown proof kind {self.kind!r}", "kind")
        if not isinstance(self.siblings, tuple) or len(self.siblings) > MAX_DEPTH:
            raise _proof_error(f"siblings must be a tuple of at most {MAX_DEPTH}", "siblings")
        for sibling in self.siblings:
            if type(sibling) is not int or not 0 <= sibling < P:
                raise _proof_error("a sibling is not a BN254 field element", "siblings")
        if (self.aux is None) != (self.kind is not ProofKind.EXCLUSION_LEAF):
            raise _proof_error("aux leaf must be given exactly for exclusion-leaf proofs", "aux")
        if self.aux is not None and not (
            isinstance(self.aux, tuple)
            and len(self.aux) == 2
            and all(type(v) is int and 0 <= v < P for v in self.aux)
        ):
            raise _proof_error("aux must be a (key, value) pair of field elements", "aux")

    @property
    def depth(self) -> int:
        """Depth of the slot the path ends in."""
        return len(self.siblings)

    def _bitmap(self) -> bytes:
        bits = sum(1 << i for i, sibling in enumerate(self.siblings) if sibling)
        return bits.to_bytes((self.depth + 7) // 8, "little")

    def to_bytes(self) -> bytes:
        """Compact binary encoding (see the class docstring)."""
        parts = [bytes([PROOF_VERSION, self.kind, self.depth]), self._bitmap()]
        parts += [s.to_bytes(_FIELD_BYTES, "big") for s in self.siblings if s]
        if self.aux is not None:
            parts += [v.to_bytes(_FIELD_BYTES, "big") for v in self.aux]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Proof:
        """Decode :meth:`to_bytes` output; :class:`ParseError` on anything else."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MalformedInputError("a proof must be bytes", component=_PROOF_COMPONENT)
        data = bytes(data)
        if len(data) < 3:
            raise _proof_error(f"proof truncated: {len(data)} bytes", "header", 0)
        version, kind_byte, depth = data[0], data[1], data[2]
        if version != PROOF_VERSION:
            raise _proof_error(f"unsupported proof version {version}", "version", 0)
        kind = _kind_from_byte(kind_byte)
        if depth > MAX_DEPTH:
            raise _proof_error(f"depth {depth} exceeds {MAX_DEPTH}", "depth", 2)
        offset = 3
        bitmap_len = (depth + 7) // 8
        bitmap_bytes = data[offset : offset + bitmap_len]
        if len(bitmap_bytes) != bitmap_len:
            raise _proof_error("proof truncated in the bitmap", "bitmap", offset)
        bitmap = int.from_bytes(bitmap_bytes, "little")
        if bitmap >> depth:
            raise _proof_error("bitmap has bits set beyond the depth", "bitmap", offset)
        offset += bitmap_len
        siblings: list[int] = []
        for i in range(depth):
            if not (bitmap >> i) & 1:
                siblings.append(0)
                continue
            siblings.append(_read_field(data, offset, f"siblings[{i}]", nonzero=True))
            offset += _FIELD_BYTES
        aux = None
        if kind is ProofKind.EXCLUSION_LEAF:
            aux = (
                _read_field(data, offset, "aux.key"),
                _read_field(data, offset + _FIELD_BYTES, "aux.value"),
            )
            offset += 2 * _FIELD_BYTES
        if offset != len(data):
            raise _proof_error(f"{len(data) - offset} trailing bytes", "trailer", offset)
        return cls(kind, tuple(siblings), aux)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready dictionary (see the class docstring)."""
        return {
            "version": PROOF_VERSION,
            "kind": _KIND_NAMES[self.kind],
            "depth": self.depth,
            "bitmap": self._bitmap().hex(),
            "siblings": [_hex32(s) for s in self.siblings if s],
            "aux": None
            if self.aux is None
            else {"key": _hex32(self.aux[0]), "value": _hex32(self.aux[1])},
        }

    def to_json(self) -> str:
        """Compact JSON text of :meth:`as_dict`."""
        return json.dumps(self.as_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, obj: object) -> Proof:
        """Decode :meth:`as_dict` output; :class:`ParseError` on anything else."""
        if not isinstance(obj, dict) or set(obj) != _JSON_FIELDS:
            raise _proof_error(f"a proof is an object with fields {sorted(_JSON_FIELDS)}", "proof")
        if obj["version"] != PROOF_VERSION or type(obj["version"]) is not int:
            raise _proof_error(f"unsupported proof version {obj['version']!r:.40}", "version")
        kind = _KINDS_BY_NAME.get(obj["kind"]) if isinstance(obj["kind"], str) else None
        if kind is None:
            raise _proof_error(f"unknown proof kind {obj['kind']!r:.40}", "kind")
        depth = obj["depth"]
        if type(depth) is not int or not 0 <= depth <= MAX_DEPTH:
            raise _proof_error(f"depth must be an integer in [0, {MAX_DEPTH}]", "depth")
        bitmap_hex = obj["bitmap"]
        if (
            not isinstance(bitmap_hex, str)
            or len(bitmap_hex) != 2 * ((depth + 7) // 8)
            or bitmap_hex.strip("0123456789abcdef")
        ):
            raise _proof_error("bitmap must be lowercase hex of ceil(depth/8) bytes", "bitmap")
        bitmap = int.from_bytes(bytes.fromhex(bitmap_hex), "little")
        if bitmap >> depth:
            raise _proof_error("bitmap has bits set beyond the depth", "bitmap")
        listed = obj["siblings"]
        if not isinstance(listed, list) or len(listed) != bitmap.bit_count():
            raise _proof_error("siblings must list one value per bitmap bit set", "siblings")
        values = iter(listed)
        siblings = tuple(
            _parse_hex32(next(values), f"siblings[{i}]", nonzero=True) if (bitmap >> i) & 1 else 0
            for i in range(depth)
        )
        aux_obj = obj["aux"]
        aux = None
        if kind is ProofKind.EXCLUSION_LEAF:
            if not isinstance(aux_obj, dict) or set(aux_obj) != {"key", "value"}:
                raise _proof_error("aux must be an object with fields key and value", "aux")
            aux = (
                _parse_hex32(aux_obj["key"], "aux.key"),
                _parse_hex32(aux_obj["value"], "aux.value"),
            )
        elif aux_obj is not None:
            raise _proof_error(f"aux must be null for {_KIND_NAMES[kind]} proofs", "aux")
        return cls(kind, siblings, aux)

    @classmethod
    def from_json(cls, text: str | bytes) -> Proof:
        """Decode :meth:`to_json` output; :class:`ParseError` on anything else."""
        try:
            obj = json.loads(text, object_pairs_hook=unique_members)
        except (ValueError, TypeError, RecursionError) as exc:
            raise _proof_error(f"proof is not valid JSON: {exc}", "proof") from exc
        return cls.from_dict(obj)


def _kind_from_byte(value: int) -> ProofKind:
    try:
        return ProofKind(value)
    except ValueError:
        raise _proof_error(f"unknown proof kind {value}", "kind", 1) from None


def _read_field(data: bytes, offset: int, field: str, *, nonzero: bool = False) -> int:
    raw = data[offset : offset + _FIELD_BYTES]
    if len(raw) != _FIELD_BYTES:
        raise _proof_error("proof truncated", field, offset)
    value = int.from_bytes(raw, "big")
    if value >= P:
        raise _proof_error("value is not a BN254 field element (>= P)", field, offset)
    if nonzero and not value:
        raise _proof_error("a sibling marked non-zero in the bitmap is zero", field, offset)
    return value


def _hex32(value: int) -> str:
    """A field element as 64 lowercase hex digits, without ``0x`` (like every Cairn hex value)."""
    return f"{value:064x}"


def _parse_hex32(text: object, field: str, *, nonzero: bool = False) -> int:
    if not isinstance(text, str) or len(text) != 64 or text.strip("0123456789abcdef"):
        raise _proof_error("expected 64 lowercase hex digits (no 0x)", field)
    value = int(text, 16)
    if value >= P:
        raise _proof_error("value is not a BN254 field element (>= P)", field)
    if nonzero and not value:
        raise _proof_error("a sibling marked non-zero in the bitmap is zero", field)
    return value


def _low_bits_equal(a: int, b: int, count: int) -> bool:
    return not (a ^ b) & ((1 << count) - 1)


def verify_proof(root: int, key: int, value: int | None, proof: Proof) -> bool:
    """Whether ``proof`` shows that ``key`` maps to ``value`` (None: is absent) under ``root``.

    Besides recomputing the root, rejects proofs no canonical tree produces: a path whose last
    sibling is empty, an inclusion proof used for absence (or the reverse), and an aux leaf that
    is the key itself or does not share the key's path. A ``root``, ``key`` or ``value`` that is
    not a field element is a caller error: :class:`MalformedInputError`.
    """
    _field(root, "root")
    _field(key, "key")
    if value is not None:
        _field(value, "value")
    if not isinstance(proof, Proof):
        raise MalformedInputError("proof must be a Proof", component=_PROOF_COMPONENT)
    depth = proof.depth
    siblings = proof.siblings
    if depth > MAX_DEPTH or (depth and not siblings[-1]):
        return False
    if proof.kind is ProofKind.INCLUSION:
        if value is None:
            return False
        node = leaf_hash(key, value)
    elif value is not None:
        return False
    elif proof.kind is ProofKind.EXCLUSION_EMPTY:
        node = 0
    else:
        if proof.aux is None:
            return False
        aux_key, aux_value = proof.aux
        if aux_key == key or not _low_bits_equal(aux_key, key, depth):
            return False
        node = leaf_hash(aux_key, aux_value)
    for i in range(depth - 1, -1, -1):
        node = hash2(siblings[i], node) if path_bit(key, i) else hash2(node, siblings[i])
    return node == root
