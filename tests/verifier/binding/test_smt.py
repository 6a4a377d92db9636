"""Sparse Merkle service tree: exact shape and hashes, canonical roots, proofs, encodings."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cairn_verifier.binding import poseidon2
from cairn_verifier.binding.poseidon2 import P, hash2
from cairn_verifier.binding.smt import (
    KEY_DOMAIN_TAG,
    MAX_DEPTH,
    PROOF_VERSION,
    Proof,
    ProofKind,
    SparseMerkleTree,
    TreeDepthError,
    TreeKeyError,
    key_of,
    leaf_hash,
    leaf_value,
    verify_proof,
)
from cairn_verifier.errors import MalformedInputError, ParseError

FAST = settings(max_examples=20, deadline=None)

# Small keys share long path prefixes (deep trees, empty siblings); large ones look like hashes.
keys = st.one_of(st.integers(0, 63), st.integers(0, P - 1))
values = st.integers(0, P - 1)


def _distinct_paths(items: dict[int, int]) -> bool:
    """Real keys are Poseidon2 hashes; two sharing all MAX_DEPTH path bits is a TreeDepthError,
    tested on its own below, so generated trees keep their paths distinct."""
    return len({k & ((1 << 64) - 1) for k in items}) == len(items)


entries = st.dictionaries(keys, values, max_size=7).filter(_distinct_paths)
small_entries = st.dictionaries(keys, values, min_size=1, max_size=5).filter(_distinct_paths)


def _leaf(key: int, value: int) -> int:
    return poseidon2.hash([key, value, 1])


# --- keys and values -----------------------------------------------------------------------------


def test_key_of_follows_the_documented_packing() -> None:
    name = "nginx-" + "é" * 20  # 46 UTF-8 bytes: one full 31-byte chunk and one padded chunk
    raw = name.encode()
    chunks = [int.from_bytes(raw[:31], "big"), int.from_bytes(raw[31:].ljust(31, b"\0"), "big")]
    assert key_of(name) == poseidon2.hash([KEY_DOMAIN_TAG, 46, *chunks])
    assert int.from_bytes(b"cairn.smt.key.v1", "big") == KEY_DOMAIN_TAG


def test_key_of_separates_similar_names() -> None:
    names = ["a", "a\0", "b", "a" * 31, "a" * 31 + "\0", "a" * 32]
    assert len({key_of(n) for n in names}) == len(names)
    assert all(0 <= key_of(n) < P for n in names)


@pytest.mark.parametrize("bad", ["", "\udc80", b"nginx", None])
def test_key_of_rejects_bad_names(bad: object) -> None:
    with pytest.raises(MalformedInputError):
        key_of(bad)  # type: ignore[arg-type]


def test_leaf_value_and_leaf_hash() -> None:
    assert leaf_value(7, 9) == hash2(7, 9)
    assert leaf_hash(7, 9) == _leaf(7, 9)
    with pytest.raises(MalformedInputError):
        leaf_value(P, 1)


# --- exact shape ---------------------------------------------------------------------------------


def test_empty_tree() -> None:
    tree = SparseMerkleTree()
    assert tree.root == 0
    assert len(tree) == 0
    proof = tree.prove(5)
    assert proof == Proof(ProofKind.EXCLUSION_EMPTY, ())
    assert verify_proof(0, 5, None, proof)
    assert not verify_proof(0, 5, 1, proof)


def test_single_leaf_is_the_root() -> None:
    tree = SparseMerkleTree({6: 60})
    assert tree.root == _leaf(6, 60)
    assert tree.prove(6) == Proof(ProofKind.INCLUSION, ())
    assert tree.prove(7) == Proof(ProofKind.EXCLUSION_LEAF, (), (6, 60))


def test_leaves_sit_where_their_paths_diverge() -> None:
    # 0b0001 and 0b0011 share bit 0 (right at depth 0) and split at bit 1; 0b0100 goes left.
    tree = SparseMerkleTree({0b0001: 10, 0b0011: 30, 0b0100: 40})
    right = hash2(_leaf(0b0001, 10), _leaf(0b0011, 30))
    assert tree.root == hash2(_leaf(0b0100, 40), right)
    # 0b0101 shares bits 0..1 with 0b0001: the path ends in the leaf 0b0001 at depth 2.
    assert tree.prove(0b0101) == Proof(
        ProofKind.EXCLUSION_LEAF, (_leaf(0b0100, 40), _leaf(0b0011, 30)), (0b0001, 10)
    )
    # 0b0110: left at depth 0 ends in the leaf 0b0100.
    assert tree.prove(0b0110).kind is ProofKind.EXCLUSION_LEAF


def test_shared_prefix_produces_empty_siblings() -> None:
    # 0b000 and 0b100 agree on bits 0 and 1: two internal nodes with empty right children.
    tree = SparseMerkleTree({0b000: 1, 0b100: 2})
    assert tree.root == hash2(hash2(hash2(_leaf(0b000, 1), _leaf(0b100, 2)), 0), 0)
    proof = tree.prove(0b100)
    assert proof.siblings == (0, 0, _leaf(0b000, 1))
    assert verify_proof(tree.root, 0b100, 2, proof)
    # 0b010 leaves the path at depth 1 into an empty slot.
    absent = tree.prove(0b010)
    assert absent == Proof(ProofKind.EXCLUSION_EMPTY, (0, hash2(_leaf(0b000, 1), _leaf(0b100, 2))))
    assert verify_proof(tree.root, 0b010, None, absent)


def test_max_depth() -> None:
    base = 0x1234
    deep = SparseMerkleTree({base: 1, base + (1 << (MAX_DEPTH - 1)): 2})
    proof = deep.prove(base)
    assert proof.depth == MAX_DEPTH
    assert verify_proof(deep.root, base, 1, proof)
    assert verify_proof(deep.root, base, 1, Proof.from_bytes(proof.to_bytes()))

    too_deep = base + (1 << MAX_DEPTH)
    with pytest.raises(TreeDepthError):
        SparseMerkleTree({base: 1, too_deep: 2})
    tree = SparseMerkleTree({base: 1})
    root = tree.root
    with pytest.raises(TreeDepthError) as info:
        tree.insert(too_deep, 2)
    assert info.value.hint
    assert tree.root == root
    assert len(tree) == 1


# --- mutations -----------------------------------------------------------------------------------


def test_mutation_errors_leave_the_tree_unchanged() -> None:
    tree = SparseMerkleTree({1: 10, 2: 20})
    root = tree.root
    with pytest.raises(TreeKeyError, match="already"):
        tree.insert(1, 11)
    with pytest.raises(TreeKeyError, match="not in the tree"):
        tree.update(3, 30)
    with pytest.raises(TreeKeyError, match="not in the tree"):
        tree.delete(3)
    with pytest.raises(TreeKeyError, match="not in the tree"):
        tree.delete(5)  # shares bit 0 with key 1, ends in the leaf of key 1
    with pytest.raises(MalformedInputError):
        tree.insert(P, 1)
    with pytest.raises(MalformedInputError):
        tree.insert(3, -1)
    assert tree.root == root
    assert tree.items() == [(1, 10), (2, 20)]


def test_update_get_and_len() -> None:
    tree = SparseMerkleTree()
    tree.insert(1, 10)
    tree.insert(2, 20)
    tree.update(1, 11)
    assert tree.get(1) == 11
    assert tree.get(3) is None
    assert 2 in tree
    assert sorted(tree) == [1, 2]
    assert len(tree) == 2
    assert tree.root == SparseMerkleTree({1: 11, 2: 20}).root


@FAST
@given(entries, st.randoms(use_true_random=False))
def test_root_is_independent_of_insertion_order(items: dict[int, int], rng: random.Random) -> None:
    built = SparseMerkleTree(items)
    order = list(items.items())
    rng.shuffle(order)
    tree = SparseMerkleTree()
    for key, value in order:
        tree.insert(key, value)
    assert tree.root == built.root
    assert len(tree) == len(items)


@FAST
@given(entries, keys, values)
def test_insert_then_delete_restores_the_root(items: dict[int, int], key: int, value: int) -> None:
    items.pop(key, None)
    assume(_distinct_paths({**items, key: value}))
    tree = SparseMerkleTree(items)
    before = tree.root
    tree.insert(key, value)
    assert tree.root != before
    tree.delete(key)
    assert tree.root == before
    assert len(tree) == len(items)


@FAST
@given(entries, st.randoms(use_true_random=False))
def test_deletes_keep_the_tree_canonical(items: dict[int, int], rng: random.Random) -> None:
    tree = SparseMerkleTree(items)
    remaining = dict(items)
    order = list(items)
    rng.shuffle(order)
    for key in order[: len(order) // 2 + 1]:
        tree.delete(key)
        del remaining[key]
        assert tree.root == SparseMerkleTree(remaining).root


# --- proofs --------------------------------------------------------------------------------------


@FAST
@given(entries, st.lists(keys, max_size=3))
def test_every_key_has_a_verifying_proof(items: dict[int, int], probes: list[int]) -> None:
    tree = SparseMerkleTree(items)
    root = tree.root
    for key, value in items.items():
        proof = tree.prove(key)
        assert proof.kind is ProofKind.INCLUSION
        assert verify_proof(root, key, value, proof)
        assert not verify_proof(root, key, None, proof)
        assert not verify_proof(root, key, (value + 1) % P, proof)
    for key in probes:
        if key in items:
            continue
        proof = tree.prove(key)
        assert proof.kind is not ProofKind.INCLUSION
        assert verify_proof(root, key, None, proof)
        assert not verify_proof(root, key, 0, proof)


def _tampered(proof: Proof, key: int) -> list[Proof]:
    """Proofs that differ from ``proof`` in one respect."""
    out = []
    siblings = proof.siblings
    for i, sibling in enumerate(siblings):
        changed = (sibling + 1) % P
        out.append(
            dataclasses.replace(proof, siblings=(*siblings[:i], changed, *siblings[i + 1 :]))
        )
    if siblings:
        out.append(dataclasses.replace(proof, siblings=siblings[:-1]))
        out.append(dataclasses.replace(proof, siblings=siblings[1:]))
    if len(siblings) < MAX_DEPTH:
        out.append(dataclasses.replace(proof, siblings=(*siblings, 0)))
        out.append(dataclasses.replace(proof, siblings=(*siblings, 1)))
    if proof.aux is None:
        out.append(Proof(ProofKind.EXCLUSION_LEAF, siblings, (key, 0)))
    else:
        aux_key, aux_value = proof.aux
        out.append(dataclasses.replace(proof, aux=(aux_key, (aux_value + 1) % P)))
        other_key = aux_key ^ (1 << proof.depth)  # same path prefix, different leaf
        if other_key < P:
            out.append(dataclasses.replace(proof, aux=(other_key, aux_value)))
        out.append(dataclasses.replace(proof, aux=(key, aux_value)))
        out.append(Proof(ProofKind.EXCLUSION_EMPTY, siblings))
    if proof.kind is not ProofKind.EXCLUSION_EMPTY:
        out.append(Proof(ProofKind.EXCLUSION_EMPTY, siblings))
    return out


@FAST
@given(small_entries, keys)
def test_tampered_proofs_fail(items: dict[int, int], probe: int) -> None:
    tree = SparseMerkleTree(items)
    root = tree.root
    key, value = next(iter(items.items()))
    inclusion = tree.prove(key)
    for bad in _tampered(inclusion, key):
        assert not verify_proof(root, key, value, bad)
        assert not verify_proof(root, key, None, bad)
    assert not verify_proof(root, probe if probe != key else key ^ 1, value, inclusion)
    assert not verify_proof((root + 1) % P, key, value, inclusion)
    if probe not in items:
        exclusion = tree.prove(probe)
        for bad in _tampered(exclusion, probe):
            assert not verify_proof(root, probe, None, bad)


@FAST
@given(small_entries, keys, st.data())
def test_flipped_bits_in_the_encoding_never_verify(
    items: dict[int, int], probe: int, data: st.DataObject
) -> None:
    tree = SparseMerkleTree(items)
    key = probe if probe not in items else next(iter(items))
    value = items.get(key)
    proof = tree.prove(key)
    encoded = bytearray(proof.to_bytes())
    position = data.draw(st.integers(0, len(encoded) * 8 - 1))
    encoded[position // 8] ^= 1 << (position % 8)
    try:
        decoded = Proof.from_bytes(bytes(encoded))
    except ParseError:
        return
    assert decoded != proof
    assert not verify_proof(tree.root, key, value, decoded)
    assert not verify_proof(tree.root, key, None if value is not None else 0, decoded)


@FAST
@given(entries, keys)
def test_encodings_round_trip(items: dict[int, int], probe: int) -> None:
    tree = SparseMerkleTree(items)
    for key in [*items, probe]:
        proof = tree.prove(key)
        encoded = proof.to_bytes()
        assert Proof.from_bytes(encoded) == proof
        assert Proof.from_json(proof.to_json()) == proof
        assert len(encoded) == 3 + (proof.depth + 7) // 8 + 32 * sum(
            1 for s in proof.siblings if s
        ) + (64 if proof.aux else 0)


def test_binary_layout() -> None:
    proof = Proof(ProofKind.EXCLUSION_LEAF, (0, 5, 0, 0, 0, 0, 0, 0, 7), (9, 10))
    assert proof.to_bytes() == (
        bytes([PROOF_VERSION, 2, 9, 0b10, 0b1])
        + (5).to_bytes(32, "big")
        + (7).to_bytes(32, "big")
        + (9).to_bytes(32, "big")
        + (10).to_bytes(32, "big")
    )
    assert json.loads(proof.to_json()) == {
        "version": 1,
        "kind": "exclusion-leaf",
        "depth": 9,
        "bitmap": "0201",
        "siblings": [f"{5:064x}", f"{7:064x}"],
        "aux": {"key": f"{9:064x}", "value": f"{10:064x}"},
    }


def _field_bytes(value: int) -> bytes:
    return value.to_bytes(32, "big")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"", "header"),
        (bytes([1, 0]), "header"),
        (bytes([2, 0, 0]), "version"),
        (bytes([1, 3, 0]), "kind"),
        (bytes([1, 1, MAX_DEPTH + 1]) + bytes(9), "depth"),
        (bytes([1, 1, 2]), "bitmap"),
        (bytes([1, 1, 2, 0b100]), "bitmap"),
        (bytes([1, 1, 1, 1]) + bytes(31), "siblings[0]"),
        (bytes([1, 1, 1, 1]) + bytes(32), "siblings[0]"),
        (bytes([1, 1, 1, 1]) + _field_bytes(P), "siblings[0]"),
        (bytes([1, 1, 0, 0]), "trailer"),
        (bytes([1, 2, 0]) + _field_bytes(1), "aux.value"),
        (bytes([1, 2, 0]) + _field_bytes(P) + _field_bytes(1), "aux.key"),
    ],
)
def test_malformed_binary_proofs_are_rejected(data: bytes, field: str) -> None:
    with pytest.raises(ParseError) as info:
        Proof.from_bytes(data)
    assert info.value.field == field


GOOD_JSON = {
    "version": 1,
    "kind": "exclusion-empty",
    "depth": 2,
    "bitmap": "02",
    "siblings": [f"{0xAB:064x}"],
    "aux": None,
}


@pytest.mark.parametrize(
    "change",
    [
        {"version": 2},
        {"version": True},
        {"kind": "inclusion-ish"},
        {"depth": True},
        {"depth": MAX_DEPTH + 1},
        {"depth": 1},
        {"bitmap": "0"},
        {"bitmap": "06"},
        {"bitmap": "0A"},
        {"siblings": []},
        {"siblings": [f"{0xAB:064X}"]},
        {"siblings": [f"0x{0xAB:064x}"]},
        {"siblings": [f"0x{0xAB:062x}"]},
        {"siblings": ["05"]},
        {"siblings": [f"{0:064x}"]},
        {"siblings": [f"{P:064x}"]},
        {"siblings": [5]},
        {"aux": {"key": f"{1:064x}", "value": f"{1:064x}"}},
        {"kind": "exclusion-leaf"},
        {"extra": 1},
    ],
)
def test_malformed_json_proofs_are_rejected(change: dict[str, object]) -> None:
    assert Proof.from_json(json.dumps(GOOD_JSON)) == Proof(ProofKind.EXCLUSION_EMPTY, (0, 0xAB))
    with pytest.raises(ParseError):
        Proof.from_json(json.dumps({**GOOD_JSON, **change}))


@pytest.mark.parametrize(
    "text", ["", "[]", "null", '{"version": 1, "version": 1}', "{" * 100_000, b"\xff"]
)
def test_non_proof_json_is_rejected(text: str | bytes) -> None:
    with pytest.raises(ParseError):
        Proof.from_json(text)


def test_inconsistent_proof_objects_cannot_be_built() -> None:
    with pytest.raises(ParseError):
        Proof(ProofKind.INCLUSION, (), (1, 2))
    with pytest.raises(ParseError):
        Proof(ProofKind.EXCLUSION_LEAF, ())
    with pytest.raises(ParseError):
        Proof(ProofKind.INCLUSION, (P,))
    with pytest.raises(ParseError):
        Proof(ProofKind.INCLUSION, (1,) * (MAX_DEPTH + 1))
    with pytest.raises(ParseError):
        Proof(3, ())  # type: ignore[arg-type]


def test_non_canonical_path_is_rejected() -> None:
    # A leaf whose last sibling is empty would have been stored one level up: no canonical
    # tree yields this proof, even though it hashes consistently to the root computed here.
    root = hash2(hash2(_leaf(2, 1), 0), 0)
    proof = Proof(ProofKind.INCLUSION, (0, 0))
    assert not verify_proof(root, 2, 1, proof)


def test_verify_rejects_non_field_arguments() -> None:
    proof = Proof(ProofKind.EXCLUSION_EMPTY, ())
    for root, key, value in [(P, 1, None), (0, -1, None), (0, 1, P), (0, True, None)]:
        with pytest.raises(MalformedInputError):
            verify_proof(root, key, value, proof)
    with pytest.raises(MalformedInputError):
        verify_proof(0, 1, None, proof.to_bytes())  # type: ignore[arg-type]
    with pytest.raises(MalformedInputError):
        Proof.from_bytes("0100")  # type: ignore[arg-type]
