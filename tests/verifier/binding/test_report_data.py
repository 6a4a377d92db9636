"""REPORT_DATA v1: exact bytes, committed vectors, binding of every field, reserved half."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_verifier.binding.poseidon2 import P
from cairn_verifier.binding.report_data import (
    DOMAIN,
    PADDING_BLOCK,
    ReportDataInputs,
    claims_digest,
    claims_message,
    explain_mismatch,
    report_data_v1,
    sha256_blocks,
)
from cairn_verifier.errors import MalformedInputError

VECTORS = Path(__file__).resolve().parents[3] / "docs" / "spec" / "vectors"
FAST = settings(max_examples=30, deadline=None)


def _load() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((VECTORS / "report-data-v1.json").read_text())
    return doc


def _inputs(doc: dict[str, Any]) -> ReportDataInputs:
    def opt(value: str | None) -> bytes | None:
        return None if value is None else bytes.fromhex(value)

    return ReportDataInputs(
        nonce=bytes.fromhex(doc["nonce"]),
        system_hash=bytes.fromhex(doc["system_hash"]),
        tree_root=int(doc["tree_root"], 16),
        gpu_digest=opt(doc["gpu_digest"]),
        ak_digest=opt(doc["ak_digest"]),
    )


SAMPLE = ReportDataInputs(
    nonce=bytes(range(32, 64)),
    system_hash=bytes(range(64, 96)),
    tree_root=int.from_bytes(bytes(range(32)), "big"),
    gpu_digest=bytes(range(96, 128)),
    ak_digest=bytes(range(128, 160)),
)


# --- exact bytes ---------------------------------------------------------------------------------


def test_domain_and_padding_block_are_the_documented_bytes() -> None:
    assert b"cairn/report-data/v1" + bytes(12) == DOMAIN
    assert len(PADDING_BLOCK) == 64
    assert PADDING_BLOCK[0] == 0x80
    assert PADDING_BLOCK[1:56] == bytes(55)
    assert int.from_bytes(PADDING_BLOCK[56:], "big") == 1536
    doc = _load()
    assert doc["domain"] == DOMAIN.hex()
    assert doc["padding_block"] == PADDING_BLOCK.hex()


def test_message_layout_field_by_field() -> None:
    message = claims_message(SAMPLE)
    assert len(message) == 192
    assert message[0:32] == DOMAIN
    assert message[32:64] == SAMPLE.nonce
    assert message[64:96] == SAMPLE.system_hash
    assert message[96:128] == bytes(range(32))  # the tree root, big-endian
    assert message[128:160] == SAMPLE.gpu_digest
    assert message[160:192] == SAMPLE.ak_digest
    assert message[32:] == bytes(range(32, 96)) + bytes(range(32)) + bytes(range(96, 160))


def test_absent_gpu_and_tpm_are_zero_fields() -> None:
    inputs = dataclasses.replace(SAMPLE, gpu_digest=None, ak_digest=None)
    assert claims_message(inputs)[128:] == bytes(64)


def test_report_data_is_digest_then_reserved_zeros() -> None:
    data = report_data_v1(SAMPLE)
    assert len(data) == 64
    assert data[:32] == hashlib.sha256(claims_message(SAMPLE)).digest() == claims_digest(SAMPLE)
    assert data[32:] == bytes(32)


@pytest.mark.parametrize("vector", _load()["vectors"], ids=lambda v: v["name"])
def test_committed_vectors_are_reproduced(vector: dict[str, Any]) -> None:
    inputs = _inputs(vector["inputs"])
    assert claims_message(inputs).hex() == vector["message"]
    assert claims_digest(inputs).hex() == vector["claims_digest"]
    assert report_data_v1(inputs).hex() == vector["report_data"]
    assert explain_mismatch(bytes.fromhex(vector["report_data"]), inputs) == []


def test_vectors_include_the_all_zero_case() -> None:
    zero = next(v for v in _load()["vectors"] if v["name"] == "all-zero")
    assert zero["message"] == (DOMAIN + bytes(160)).hex()
    assert zero["claims_digest"] == hashlib.sha256(DOMAIN + bytes(160)).hexdigest()


# --- four sha256_compression calls ------------------------------------------------------------


def _icbrt(n: int) -> int:
    """Integer cube root (floor) by Newton's method."""
    x = 1 << ((n.bit_length() + 2) // 3)
    while True:
        y = (2 * x + n // (x * x)) // 3
        if y >= x:
            return x
        x = y


_PRIMES = [n for n in range(2, 312) if all(n % d for d in range(2, math.isqrt(n) + 1))][:64]
# FIPS 180-4 4.2.2 / 5.3.3: the first 32 bits of the fractional parts of the cube roots of the
# first 64 primes, and of the square roots of the first 8 primes.
_K = [_icbrt(p << 96) & 0xFFFFFFFF for p in _PRIMES]
_IV = [math.isqrt(p << 64) & 0xFFFFFFFF for p in _PRIMES[:8]]


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & 0xFFFFFFFF


def _compress(state: list[int], block: bytes) -> list[int]:
    """FIPS 180-4 SHA-256 compression of one 64-byte block (what Noir's sha256_compression does)."""
    w = list(struct.unpack(">16I", block))
    for i in range(16, 64):
        s0 = _rotr(w[i - 15], 7) ^ _rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
        s1 = _rotr(w[i - 2], 17) ^ _rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
        w.append((w[i - 16] + s0 + w[i - 7] + s1) & 0xFFFFFFFF)
    a, b, c, d, e, f, g, h = state
    for i in range(64):
        t1 = h + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + _K[i] + w[i]
        t2 = (_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))
        a, b, c, d, e, f, g, h = (t1 + t2) & 0xFFFFFFFF, a, b, c, (d + t1) & 0xFFFFFFFF, e, f, g
    return [(x + y) & 0xFFFFFFFF for x, y in zip(state, [a, b, c, d, e, f, g, h], strict=True)]


def test_derived_sha256_constants() -> None:
    assert _K[0] == 0x428A2F98
    assert _K[63] == 0xC67178F2
    assert _IV[0] == 0x6A09E667
    assert _IV[7] == 0x5BE0CD19


@pytest.mark.parametrize("vector", _load()["vectors"], ids=lambda v: v["name"])
def test_four_compressions_from_the_iv_give_the_claims_digest(vector: dict[str, Any]) -> None:
    inputs = _inputs(vector["inputs"])
    blocks = sha256_blocks(inputs)
    assert [len(b) for b in blocks] == [64, 64, 64, 64]
    assert b"".join(blocks[:3]) == claims_message(inputs)
    assert blocks[3] == PADDING_BLOCK
    state = list(_IV)
    for block in blocks:
        state = _compress(state, block)
    assert struct.pack(">8I", *state).hex() == vector["claims_digest"]


# --- every field is bound ----------------------------------------------------------------------


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


CHANGES = {
    "nonce first byte": dataclasses.replace(SAMPLE, nonce=_flip(SAMPLE.nonce, 0)),
    "nonce last byte": dataclasses.replace(SAMPLE, nonce=_flip(SAMPLE.nonce, 31)),
    "system hash": dataclasses.replace(SAMPLE, system_hash=_flip(SAMPLE.system_hash, 17)),
    "tree root": dataclasses.replace(SAMPLE, tree_root=SAMPLE.tree_root + 1),
    "gpu digest": dataclasses.replace(SAMPLE, gpu_digest=_flip(bytes(range(96, 128)), 5)),
    "gpu absent": dataclasses.replace(SAMPLE, gpu_digest=None),
    "ak digest": dataclasses.replace(SAMPLE, ak_digest=_flip(bytes(range(128, 160)), 31)),
    "ak absent": dataclasses.replace(SAMPLE, ak_digest=None),
    "gpu and ak swapped": dataclasses.replace(
        SAMPLE, gpu_digest=SAMPLE.ak_digest, ak_digest=SAMPLE.gpu_digest
    ),
    "nonce and system swapped": dataclasses.replace(
        SAMPLE, nonce=SAMPLE.system_hash, system_hash=SAMPLE.nonce
    ),
}


@pytest.mark.parametrize("changed", list(CHANGES.values()), ids=list(CHANGES))
def test_every_field_change_changes_the_digest(changed: ReportDataInputs) -> None:
    assert claims_digest(changed) != claims_digest(SAMPLE)
    problems = explain_mismatch(report_data_v1(SAMPLE), changed)
    assert problems == [
        f"the claims digest differs: recomputed {claims_digest(changed).hex()}, "
        f"reported {claims_digest(SAMPLE).hex()}"
    ]


digests = st.binary(min_size=32, max_size=32)
optional = st.one_of(st.none(), digests.filter(any))


@FAST
@given(nonce=digests, system=digests, root=st.integers(0, P - 1), gpu=optional, ak=optional)
def test_message_encodes_the_fields_in_order(
    nonce: bytes, system: bytes, root: int, gpu: bytes | None, ak: bytes | None
) -> None:
    inputs = ReportDataInputs(nonce, system, root, gpu, ak)
    message = claims_message(inputs)
    fields = [message[i : i + 32] for i in range(0, 192, 32)]
    assert fields == [
        DOMAIN,
        nonce,
        system,
        root.to_bytes(32, "big"),
        gpu or bytes(32),
        ak or bytes(32),
    ]
    assert report_data_v1(inputs) == hashlib.sha256(message).digest() + bytes(32)


# --- the reserved half and mismatch explanations ----------------------------------------------


def test_explain_mismatch_accepts_the_exact_report_data() -> None:
    assert explain_mismatch(report_data_v1(SAMPLE), SAMPLE) == []
    assert explain_mismatch(bytearray(report_data_v1(SAMPLE)), SAMPLE) == []


def test_non_zero_reserved_half_is_reported_even_when_the_digest_matches() -> None:
    data = claims_digest(SAMPLE) + bytes(31) + b"\x01"
    problems = explain_mismatch(data, SAMPLE)
    assert len(problems) == 1
    assert "reserved second half" in problems[0]
    assert problems[0].endswith("00" * 31 + "01")


def test_both_problems_are_reported() -> None:
    data = bytes(32) + b"\xff" * 32
    problems = explain_mismatch(data, SAMPLE)
    assert len(problems) == 2
    assert "reserved" in problems[0]
    assert problems[1] == (
        f"the claims digest differs: recomputed {claims_digest(SAMPLE).hex()}, "
        f"reported {bytes(32).hex()}"
    )


@pytest.mark.parametrize("size", [0, 32, 63, 65])
def test_wrong_report_data_size_is_reported(size: int) -> None:
    assert explain_mismatch(bytes(size), SAMPLE) == [f"REPORT_DATA is {size} bytes, expected 64"]


def test_report_data_that_is_not_bytes_is_malformed() -> None:
    with pytest.raises(MalformedInputError):
        explain_mismatch(report_data_v1(SAMPLE).hex(), SAMPLE)  # type: ignore[arg-type]


# --- input validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("nonce", bytes(31), "nonce must be 32 bytes, got 31 bytes"),
        ("nonce", bytes(33), "nonce must be 32 bytes"),
        ("nonce", "00" * 32, "nonce must be 32 bytes, got str"),
        ("nonce", None, "nonce must be 32 bytes"),
        ("system_hash", bytearray(32), "system hash must be 32 bytes"),
        ("tree_root", P, "tree root is not a BN254 field element"),
        ("tree_root", -1, "tree root is not a BN254 field element"),
        ("tree_root", True, "tree root is not a BN254 field element"),
        ("tree_root", bytes(32), "tree root is not a BN254 field element"),
        ("gpu_digest", bytes(32), "encoding of 'absent'"),
        ("gpu_digest", bytes(20), "GPU digest must be 32 bytes"),
        ("ak_digest", bytes(32), "encoding of 'absent'"),
        ("ak_digest", b"", "TPM attestation key digest must be 32 bytes"),
    ],
)
def test_invalid_inputs_are_malformed(field: str, value: object, message: str) -> None:
    with pytest.raises(MalformedInputError, match=message) as caught:
        dataclasses.replace(SAMPLE, **{field: value})  # type: ignore[arg-type]
    assert caught.value.component == "report-data"


def test_largest_field_element_is_accepted() -> None:
    inputs = dataclasses.replace(SAMPLE, tree_root=P - 1)
    assert claims_message(inputs)[96:128] == (P - 1).to_bytes(32, "big")
