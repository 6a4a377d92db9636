"""Poseidon2 (BN254, barretenberg parameters): constants, known vectors, and the fast path
against a literal re-statement of the specification.

poseidon2_vectors.json was produced once by hand with the npm package @zkpassport/poseidon2@0.6.2
(``poseidon2Hash`` and ``permute``) on random field elements mixed with 0, 1 and P-1; its
``source`` and ``produced_by`` fields say how.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_verifier.binding import poseidon2
from cairn_verifier.binding.poseidon2 import P, hash2, permute
from cairn_verifier.binding.poseidon2_constants import DIAG, RC
from cairn_verifier.errors import MalformedInputError

VECTORS = json.loads((Path(__file__).parent / "poseidon2_vectors.json").read_text())
BN254_R = 21888242871839275222246405745257275088548364400416034343698204186575808495617

field = st.integers(min_value=0, max_value=P - 1)


def _ints(values: list[str]) -> list[int]:
    return [int(v, 16) for v in values]


# --- constants -----------------------------------------------------------------------------------


def test_modulus_is_bn254_scalar_field() -> None:
    assert P == BN254_R


def test_constant_fingerprints_from_toolchain_notes() -> None:
    assert RC[0][0] == 0x19B849F69450B06848DA1D39BD5E4A4302BB86744EDC26238B0878E269ED23E5
    assert DIAG[0] == 0x10DC6E9C006EA38B04B1E03B4BD9490C0D03F98929CA1D7FB56821FD19D3B6E7


def test_constant_table_digest_matches_npm_package() -> None:
    # SHA-256 over DIAG then RC (row by row), 32-byte big-endian each, computed from the npm
    # package's constants.js when the table was converted.
    values = [*DIAG, *(c for row in RC for c in row)]
    digest = hashlib.sha256(b"".join(v.to_bytes(32, "big") for v in values)).hexdigest()
    assert digest == "8fa1a4b1fecf0dde4dd12c6ee38beafff847c50886e88915bab7787082aab40d"


def test_constant_table_shape() -> None:
    assert len(DIAG) == 4
    assert len(RC) == 64
    assert all(len(row) == 4 for row in RC)
    assert all(0 <= c < P for row in RC for c in row)
    assert all(0 <= d < P for d in DIAG)
    # Partial rounds (4..59) carry a constant in lane 0 only.
    assert all(row[1:] == (0, 0, 0) and row[0] for row in RC[4:60])
    assert all(all(row) for row in (*RC[:4], *RC[60:]))


# --- known answers -------------------------------------------------------------------------------


def test_hash2_known_answers() -> None:
    assert hash2(0, 0) == 0x0B63A53787021A4A962A452C2921B3663AFF1FFD8D5510540F8E659E782956F1
    assert hash2(1, 2) == 0x038682AA1CB5AE4E0A3F13DA432A95C77C5C111F6F030FAF9CAD641CE1ED7383


@pytest.mark.parametrize("vector", VECTORS["hash"], ids=lambda v: f"len{len(v['inputs'])}")
def test_hash_matches_npm_vectors(vector: dict[str, Any]) -> None:
    assert poseidon2.hash(_ints(vector["inputs"])) == int(vector["output"], 16)


def test_vector_file_covers_sponge_lengths() -> None:
    lengths = {len(v["inputs"]) for v in VECTORS["hash"]}
    assert len(VECTORS["hash"]) == 20
    assert {0, 1, 2, 3, 4, 6, 7, 16} <= lengths


@pytest.mark.parametrize("vector", VECTORS["permute"])
def test_permute_matches_npm_vectors(vector: dict[str, list[str]]) -> None:
    assert permute(_ints(vector["input"])) == _ints(vector["output"])


# --- the fast path against the specification, stated literally --------------------------------

M4 = ((5, 7, 1, 3), (4, 6, 1, 1), (1, 3, 5, 7), (1, 1, 4, 6))


def _matmul(matrix: tuple[tuple[int, ...], ...], state: list[int]) -> list[int]:
    return [sum(m * s for m, s in zip(row, state, strict=True)) % P for row in matrix]


def _reference_permute(state: list[int]) -> list[int]:
    internal = tuple(tuple((DIAG[i] + 1) % P if i == j else 1 for j in range(4)) for i in range(4))
    state = _matmul(M4, state)
    for r in range(64):
        if 4 <= r < 60:
            state[0] = pow(state[0] + RC[r][0], 5, P)
            state = _matmul(internal, state)
        else:
            state = [pow(s + c, 5, P) for s, c in zip(state, RC[r], strict=True)]
            state = _matmul(M4, state)
    return state


def _reference_hash(inputs: list[int]) -> int:
    state = [0, 0, 0, len(inputs) << 64]
    chunks = [inputs[i : i + 3] for i in range(0, len(inputs), 3)] or [[]]
    for chunk in chunks:
        for lane, value in enumerate(chunk):
            state[lane] = (state[lane] + value) % P
        state = _reference_permute(state)
    return state[0]


@settings(max_examples=15, deadline=None)
@given(st.lists(field, min_size=4, max_size=4))
def test_permute_matches_reference(state: list[int]) -> None:
    assert permute(state) == _reference_permute(list(state))


@settings(max_examples=15, deadline=None)
@given(st.lists(field, max_size=7))
def test_hash_matches_reference_sponge(inputs: list[int]) -> None:
    assert poseidon2.hash(inputs) == _reference_hash(inputs)


@settings(max_examples=15, deadline=None)
@given(field, field)
def test_hash2_is_hash_of_two(a: int, b: int) -> None:
    assert hash2(a, b) == poseidon2.hash([a, b])


def test_permute_does_not_modify_its_argument() -> None:
    state = [1, 2, 3, 4]
    permute(state)
    assert state == [1, 2, 3, 4]


def test_length_is_part_of_the_hash() -> None:
    # Zero padding of the last chunk is disambiguated by the length IV.
    assert poseidon2.hash([5]) != poseidon2.hash([5, 0])
    assert poseidon2.hash([]) != poseidon2.hash([0])


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [P, -1, P + 5, True, 1.0, "1", None])
def test_non_field_elements_are_rejected(bad: object) -> None:
    with pytest.raises(MalformedInputError, match="field element"):
        hash2(bad, 0)  # type: ignore[arg-type]
    with pytest.raises(MalformedInputError, match="field element"):
        hash2(0, bad)  # type: ignore[arg-type]
    with pytest.raises(MalformedInputError, match="field element"):
        poseidon2.hash([1, 2, bad])  # type: ignore[list-item]
    with pytest.raises(MalformedInputError, match="field element"):
        permute([0, bad, 0, 0])  # type: ignore[list-item]


@pytest.mark.parametrize("size", [0, 3, 5])
def test_permute_needs_four_lanes(size: int) -> None:
    with pytest.raises(MalformedInputError, match="4 lanes") as info:
        permute([0] * size)
    assert info.value.component == "poseidon2"


# --- backends ------------------------------------------------------------------------------------


def test_pure_python_backend_matches_vectors() -> None:
    permute4 = poseidon2.make_permute4(int)
    for vector in VECTORS["permute"]:
        assert list(permute4(*_ints(vector["input"]))) == _ints(vector["output"])
    assert poseidon2.BACKEND in {"python", "gmpy2"}


def test_gmpy2_backend_matches_vectors() -> None:
    gmpy2 = pytest.importorskip("gmpy2")  # optional accelerator, absent in CI
    permute4 = poseidon2.make_permute4(gmpy2.mpz)
    for vector in VECTORS["permute"]:
        output = permute4(*_ints(vector["input"]))
        assert all(type(v) is int for v in output)
        assert list(output) == _ints(vector["output"])
