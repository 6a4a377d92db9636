"""REPORT_DATA v1 and v2: the 64 bytes the agent asks the TEE to sign, recomputed by the verifier.

v1 (``docs/spec/report-data-v1.md``): ``REPORT_DATA = claims_digest (32 B) || 32 zero bytes``.
``claims_digest = SHA-256(M)`` with ``M`` three 64-byte blocks of 32-byte fields::

    block 0: DOMAIN      || nonce
    block 1: system_hash || tree_root (field element, 32 bytes big-endian)
    block 2: gpu_digest  || ak_digest (each 32 zero bytes when absent)

v2 (``docs/spec/report-data-v2.md``) commits to the same claims twice:
``REPORT_DATA = claims_digest_v2 (32 B) || claims_commitment (32 B)``, where the digest is the v1
formula with the domain ``cairn/report-data/v2`` and the commitment is a Poseidon2 hash of the
claims as BN254 field elements (each 32-byte claim split into two 128-bit halves). Verifiers
without a circuit recompute the SHA-256 half as before; a zero-knowledge proof opens the
Poseidon2 half, which costs four permutations in a circuit instead of four SHA-256 compressions.
A verifier recomputes and compares both halves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from ..errors import MalformedInputError
from . import poseidon2
from .poseidon2 import P

REPORT_DATA_VERSION: Final = 2
"""The version the agent produces."""

REPORT_DATA_VERSIONS: Final = (1, 2)
"""The versions a verifier accepts."""

DOMAIN: Final = b"cairn/report-data/v1".ljust(32, b"\0")
"""First field of the v1 message: the ASCII tag right-padded with zero bytes to 32 bytes."""

DOMAIN_V2: Final = b"cairn/report-data/v2".ljust(32, b"\0")
"""First field of the v2 message (same layout as v1, another tag)."""

COMMITMENT_TAG: Final = int.from_bytes(b"cairn/report-data/v2", "big")
"""First input of the v2 Poseidon2 commitment: the 20-byte ASCII tag as a big-endian integer."""

HALF_BITS: Final = 128

FIELD_BYTES: Final = 32
MESSAGE_BYTES: Final = 192
REPORT_DATA_BYTES: Final = 64
ABSENT: Final = bytes(FIELD_BYTES)
"""Encoding of a missing GPU or TPM digest (hence a present digest may not be all zero)."""

PADDING_BLOCK: Final = b"\x80" + bytes(55) + (8 * MESSAGE_BYTES).to_bytes(8, "big")
"""The fourth SHA-256 block: 0x80, 55 zero bytes, the message length in bits (1536)."""

_COMPONENT: Final = "report-data"


def _digest32(value: object, what: str, *, optional: bool) -> bytes | None:
    if value is None and optional:
        return None
    if not isinstance(value, bytes) or len(value) != FIELD_BYTES:
        size = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise MalformedInputError(
            f"{what} must be {FIELD_BYTES} bytes, got {size}", component=_COMPONENT
        )
    if optional and value == ABSENT:
        raise MalformedInputError(
            f"{what} of 32 zero bytes is the encoding of 'absent'",
            component=_COMPONENT,
            hint="pass None when there is no such evidence",
        )
    return value


@dataclass(frozen=True, slots=True)
class ReportDataInputs:
    """Everything REPORT_DATA v1 commits to.

    ``nonce``: the verifier's 32-byte challenge; ``system_hash``: see ``system_hash.py``;
    ``tree_root``: the service tree root (a BN254 field element); ``gpu_digest``: digest of the
    GPU evidence or None; ``ak_digest``: SHA-256 of the TPM attestation key's TPMT_PUBLIC or None.
    """

    nonce: bytes
    system_hash: bytes
    tree_root: int
    gpu_digest: bytes | None = None
    ak_digest: bytes | None = None

    def __post_init__(self) -> None:
        _digest32(self.nonce, "nonce", optional=False)
        _digest32(self.system_hash, "system hash", optional=False)
        if type(self.tree_root) is not int or not 0 <= self.tree_root < P:
            raise MalformedInputError(
                f"tree root is not a BN254 field element (an int in [0, P)): "
                f"{self.tree_root!r:.80}",
                component=_COMPONENT,
            )
        _digest32(self.gpu_digest, "GPU digest", optional=True)
        _digest32(self.ak_digest, "TPM attestation key digest", optional=True)


def _domain(version: int) -> bytes:
    if type(version) is int and version == 1:
        return DOMAIN
    if type(version) is int and version == 2:
        return DOMAIN_V2
    raise MalformedInputError(
        f"REPORT_DATA version {version!r} is not one of {REPORT_DATA_VERSIONS}",
        component=_COMPONENT,
    )


def claims_message(inputs: ReportDataInputs, version: int = 1) -> bytes:
    """The 192-byte message ``M`` (three 64-byte blocks) whose SHA-256 is the claims digest."""
    return b"".join(
        (
            _domain(version),
            inputs.nonce,
            inputs.system_hash,
            inputs.tree_root.to_bytes(FIELD_BYTES, "big"),
            inputs.gpu_digest or ABSENT,
            inputs.ak_digest or ABSENT,
        )
    )


def sha256_blocks(inputs: ReportDataInputs) -> list[bytes]:
    """The four padded 64-byte SHA-256 blocks a circuit compresses, in order."""
    message = claims_message(inputs)
    return [message[i : i + 64] for i in range(0, MESSAGE_BYTES, 64)] + [PADDING_BLOCK]


def claims_digest(inputs: ReportDataInputs, version: int = 1) -> bytes:
    """``SHA-256(claims_message(inputs, version))`` (32 bytes)."""
    return hashlib.sha256(claims_message(inputs, version)).digest()


def split_128(value: bytes) -> tuple[int, int]:
    """The high and low 128-bit halves of a 32-byte big-endian value."""
    return int.from_bytes(value[:16], "big"), int.from_bytes(value[16:], "big")


def commitment_inputs(inputs: ReportDataInputs) -> list[int]:
    """The ten field elements the v2 commitment hashes, in order (absent digests are 0, 0)."""
    return [
        COMMITMENT_TAG,
        *split_128(inputs.nonce),
        *split_128(inputs.system_hash),
        inputs.tree_root,
        *split_128(inputs.gpu_digest or ABSENT),
        *split_128(inputs.ak_digest or ABSENT),
    ]


def claims_commitment(inputs: ReportDataInputs) -> int:
    """The v2 Poseidon2 claims commitment, a BN254 field element."""
    return poseidon2.hash(commitment_inputs(inputs))


def report_data_v1(inputs: ReportDataInputs) -> bytes:
    """The 64-byte REPORT_DATA v1: the claims digest followed by 32 reserved zero bytes."""
    return claims_digest(inputs) + bytes(REPORT_DATA_BYTES - FIELD_BYTES)


def report_data_v2(inputs: ReportDataInputs) -> bytes:
    """The 64-byte REPORT_DATA v2: the v2 claims digest, then the claims commitment (32 B BE)."""
    return claims_digest(inputs, 2) + claims_commitment(inputs).to_bytes(FIELD_BYTES, "big")


def report_data(inputs: ReportDataInputs, version: int) -> bytes:
    """REPORT_DATA of the given version (1 or 2); MalformedInputError for any other."""
    _domain(version)
    return report_data_v1(inputs) if version == 1 else report_data_v2(inputs)


def explain_mismatch(
    report_data: bytes | bytearray, inputs: ReportDataInputs, version: int = 1
) -> list[str]:
    """Why ``report_data`` is not REPORT_DATA ``version`` of ``inputs``; empty when it is.

    A hash hides which claim differs, so this only says which half is wrong and shows both
    values; callers compare individual claims against their other sources themselves.
    """
    if not isinstance(report_data, bytes | bytearray | memoryview):
        raise MalformedInputError("REPORT_DATA must be bytes", component=_COMPONENT)
    _domain(version)
    reported = bytes(report_data)
    if len(reported) != REPORT_DATA_BYTES:
        return [f"REPORT_DATA is {len(reported)} bytes, expected {REPORT_DATA_BYTES}"]
    problems = []
    second = reported[FIELD_BYTES:]
    if version == 1 and any(second):
        problems.append(
            "the reserved second half of REPORT_DATA (bytes 32-63) must be zero in v1, "
            f"reported {second.hex()}"
        )
    if version == 2:
        commitment = claims_commitment(inputs).to_bytes(FIELD_BYTES, "big")
        if second != commitment:
            problems.append(
                f"the claims commitment (bytes 32-63) differs: recomputed {commitment.hex()}, "
                f"reported {second.hex()}"
            )
    recomputed = claims_digest(inputs, version)
    if reported[:FIELD_BYTES] != recomputed:
        problems.append(
            f"the claims digest differs: recomputed {recomputed.hex()}, "
            f"reported {reported[:FIELD_BYTES].hex()}"
        )
    return problems
