"""Service leaves and the service tree (docs/spec/service-tree.md, vectors/service-tree-v1.json)."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cairn_verifier.binding import poseidon2
from cairn_verifier.binding.services import (
    ServiceEntry,
    build_service_tree,
    pubkey_hash,
    public_key_coordinates,
    service_leaf,
    store_path_hash,
    validate_service_name,
)
from cairn_verifier.binding.smt import Proof, key_of, leaf_hash, leaf_value, verify_proof
from cairn_verifier.errors import MalformedInputError

VECTORS = Path(__file__).resolve().parents[3] / "docs" / "spec" / "vectors"
DOC: dict[str, Any] = json.loads((VECTORS / "service-tree-v1.json").read_text())
SERVICES = {s["name"]: s for s in DOC["services"]}

# The secp256k1 generator G (SEC 2, section 2.4.1): the public key of the secret scalar 1.
G_X = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
G_Y = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8
G_COMPRESSED = bytes.fromhex("02") + G_X.to_bytes(32, "big")
G_UNCOMPRESSED = b"\x04" + G_X.to_bytes(32, "big") + G_Y.to_bytes(32, "big")
NGINX = SERVICES["nginx"]["store_path"]


def _public_key(scalar: int, fmt: serialization.PublicFormat) -> bytes:
    key = ec.derive_private_key(scalar, ec.SECP256K1()).public_key()
    return key.public_bytes(serialization.Encoding.X962, fmt)


def _entry(doc: dict[str, Any]) -> ServiceEntry:
    return ServiceEntry(doc["name"], doc["store_path"], bytes.fromhex(doc["public_key"]))


# --- leaf parts ----------------------------------------------------------------------------------


def test_generator_coordinates_and_both_encodings() -> None:
    assert public_key_coordinates(G_COMPRESSED) == (G_X, G_Y)
    assert public_key_coordinates(G_UNCOMPRESSED) == (G_X, G_Y)
    assert pubkey_hash(G_COMPRESSED) == pubkey_hash(G_UNCOMPRESSED)


def test_pubkey_hash_splits_coordinates_into_128_bit_halves() -> None:
    halves = [G_X >> 128, G_X & (2**128 - 1), G_Y >> 128, G_Y & (2**128 - 1)]
    assert halves[0] == 0x79BE667EF9DCBBAC55A06295CE870B07
    assert halves[3] == 0xFD17B448A68554199C47D08FFB10D4B8
    assert pubkey_hash(G_COMPRESSED) == poseidon2.hash(halves)


@pytest.mark.parametrize("scalar", [2, 3, 0xC0FFEE, 2**255 - 19])
def test_compressed_and_uncompressed_keys_hash_alike(scalar: int) -> None:
    compressed = _public_key(scalar, serialization.PublicFormat.CompressedPoint)
    uncompressed = _public_key(scalar, serialization.PublicFormat.UncompressedPoint)
    assert pubkey_hash(compressed) == pubkey_hash(uncompressed)
    x, y = public_key_coordinates(uncompressed)
    assert uncompressed == b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def test_store_path_hash_is_the_first_31_bytes_of_sha256() -> None:
    digest = hashlib.sha256(NGINX.encode()).digest()
    value = store_path_hash(NGINX)
    assert value == int.from_bytes(digest[:31], "big")
    assert value < 2**248
    assert store_path_hash(NGINX + "x") != value


def test_store_path_hash_validates_the_path() -> None:
    with pytest.raises(MalformedInputError, match="service store path"):
        store_path_hash(NGINX + "/bin/nginx")


# --- committed vectors -------------------------------------------------------------------------


@pytest.mark.parametrize("doc", DOC["services"], ids=lambda s: s["name"])
def test_service_vectors_are_reproduced(doc: dict[str, Any]) -> None:
    entry = _entry(doc)
    fmt = (
        serialization.PublicFormat.CompressedPoint
        if len(entry.public_key) == 33
        else serialization.PublicFormat.UncompressedPoint
    )
    assert _public_key(doc["secret_scalar"], fmt) == entry.public_key
    x, y = public_key_coordinates(entry.public_key)
    assert (f"{x:064x}", f"{y:064x}") == (doc["x"], doc["y"])
    assert hashlib.sha256(doc["store_path"].encode()).hexdigest() == doc["store_path_sha256"]
    assert doc["store_path_hash"] == "00" + doc["store_path_sha256"][:62]
    assert store_path_hash(entry.store_path) == int(doc["store_path_hash"], 16)
    assert pubkey_hash(entry.public_key) == int(doc["pubkey_hash"], 16)
    key, value = service_leaf(entry)
    assert key == key_of(doc["name"]) == int(doc["key"], 16)
    assert value == int(doc["leaf_value"], 16)
    assert value == leaf_value(int(doc["store_path_hash"], 16), int(doc["pubkey_hash"], 16))
    assert leaf_hash(key, value) == int(doc["leaf_hash"], 16)


def test_vectors_cover_the_generator_and_both_encodings() -> None:
    assert SERVICES["nginx"]["secret_scalar"] == 1
    assert SERVICES["nginx"]["public_key"] == G_COMPRESSED.hex()
    assert {len(s["public_key"]) for s in DOC["services"]} == {66, 130}


@pytest.mark.parametrize("tree", DOC["trees"], ids=lambda t: t["name"])
def test_tree_vectors_are_reproduced(tree: dict[str, Any]) -> None:
    built = build_service_tree(_entry(SERVICES[name]) for name in tree["services"])
    assert f"{built.root:064x}" == tree["root"]
    assert len(built) == len(tree["services"])
    for case in tree["proofs"]:
        key = key_of(case["name"])
        assert f"{key:064x}" == case["key"]
        value = None if case["value"] is None else int(case["value"], 16)
        assert built.get(key) == value
        proof = Proof.from_dict(case["proof"])
        assert proof == built.prove(key)
        assert proof.to_bytes().hex() == case["proof_bytes"]
        assert Proof.from_bytes(bytes.fromhex(case["proof_bytes"])) == proof
        assert verify_proof(built.root, key, value, proof)


def test_tree_vectors_are_hand_checkable() -> None:
    trees = {t["name"]: t for t in DOC["trees"]}
    assert trees["empty"]["root"] == "00" * 32
    # A single leaf sits at the root: the root is that leaf's hash.
    assert trees["one-service"]["root"] == SERVICES["nginx"]["leaf_hash"]
    absent = [p for t in DOC["trees"] for p in t["proofs"] if p["value"] is None]
    assert absent, "vectors must include non-inclusion proofs"


# --- trees ---------------------------------------------------------------------------------------


def test_root_does_not_depend_on_service_order() -> None:
    entries = [_entry(s) for s in DOC["services"]]
    root = build_service_tree(entries).root
    for seed in range(3):
        shuffled = entries[:]
        random.Random(seed).shuffle(shuffled)
        assert build_service_tree(shuffled).root == root


def test_changing_any_part_of_a_service_changes_the_root() -> None:
    entries = [_entry(s) for s in DOC["services"]]
    root = build_service_tree(entries).root
    first = entries[0]
    variants = [
        ServiceEntry("nginx2", first.store_path, first.public_key),
        ServiceEntry(first.name, first.store_path.replace("1.26.2", "1.26.3"), first.public_key),
        ServiceEntry(
            first.name,
            first.store_path,
            _public_key(5, serialization.PublicFormat.CompressedPoint),
        ),
    ]
    for variant in variants:
        assert build_service_tree([variant, *entries[1:]]).root != root
    assert build_service_tree(entries[1:]).root != root


def test_duplicate_service_names_are_rejected() -> None:
    entry = _entry(DOC["services"][0])
    other = ServiceEntry(entry.name, DOC["services"][1]["store_path"], entry.public_key)
    with pytest.raises(MalformedInputError, match="more than once"):
        build_service_tree([entry, other])


def test_non_entries_are_rejected() -> None:
    with pytest.raises(MalformedInputError, match="ServiceEntry"):
        build_service_tree([("nginx", NGINX, G_COMPRESSED)])  # type: ignore[list-item]


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "0", "nginx", "my-svc_1.2", "a" * 64, "9lives"])
def test_valid_service_names(name: str) -> None:
    assert validate_service_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "A", "Nginx", "-x", ".x", "_x", "a" * 65, "a b", "caf\u00e9", "nginx\n", "a/b", 7, None],
)
def test_invalid_service_names(name: object) -> None:
    with pytest.raises(MalformedInputError, match="service name"):
        validate_service_name(name)
    with pytest.raises(MalformedInputError):
        ServiceEntry(name, NGINX, G_COMPRESSED)  # type: ignore[arg-type]


def _p256_point() -> bytes:
    key = ec.derive_private_key(1, ec.SECP256R1()).public_key()
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _compressed_x_not_on_curve() -> bytes:
    # The smallest x for which x**3 + 7 is not a square mod p: no point has that x.
    p = 2**256 - 2**32 - 977
    x = 1
    while pow(x**3 + 7, (p - 1) // 2, p) == 1:
        x += 1
    return b"\x02" + x.to_bytes(32, "big")


@pytest.mark.parametrize(
    "key",
    [
        b"",
        b"\x00",
        G_COMPRESSED[:32],
        G_UNCOMPRESSED[:64],
        G_UNCOMPRESSED[1:],
        b"\x04" + G_COMPRESSED[1:],
        b"\x05" + G_COMPRESSED[1:],
        b"\x02" + G_UNCOMPRESSED[1:],
        b"\x06" + G_UNCOMPRESSED[1:],  # hybrid encoding
        G_UNCOMPRESSED[:-1] + bytes([G_UNCOMPRESSED[-1] ^ 1]),  # y off the curve
        b"\x02" + (2**256 - 2**32 - 977).to_bytes(32, "big"),  # x = p
        _compressed_x_not_on_curve(),
        _p256_point(),
    ],
    ids=lambda k: f"{len(k)}B-{k[:1].hex()}",
)
def test_invalid_public_keys(key: bytes) -> None:
    with pytest.raises(MalformedInputError) as caught:
        pubkey_hash(key)
    assert caught.value.component == "service"
    with pytest.raises(MalformedInputError):
        ServiceEntry("nginx", NGINX, key)


def test_public_key_must_be_bytes() -> None:
    with pytest.raises(MalformedInputError, match="must be bytes"):
        pubkey_hash(G_COMPRESSED.hex())  # type: ignore[arg-type]


def test_entry_store_path_is_validated() -> None:
    with pytest.raises(MalformedInputError, match="service store path"):
        ServiceEntry("nginx", "/usr/sbin/nginx", G_COMPRESSED)
