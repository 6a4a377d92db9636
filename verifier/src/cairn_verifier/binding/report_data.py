"""REPORT_DATA v1: the 64 bytes the agent asks the TEE to sign, recomputed by the verifier.

``REPORT_DATA = claims_digest (32 B) || 32 zero bytes`` (reserved for a channel-key digest in a
later version; a v1 verifier requires zeros). ``claims_digest = SHA-256(M)`` with ``M`` three
64-byte blocks of 32-byte fields::

    block 0: DOMAIN      || nonce
    block 1: system_hash || tree_root (field element, 32 bytes big-endian)
    block 2: gpu_digest  || ak_digest (each 32 zero bytes when absent)

SHA-256 padding adds a constant fourth block, so a circuit computes the digest with exactly four
``sha256_compression`` calls. See ``docs/spec/report-data-v1.md``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from ..errors import MalformedInputError
from .poseidon2 import P

REPORT_DATA_VERSION: Final = 1
DOMAIN: Final = b"cairn/report-data/v1".ljust(32, b"\0")
"""First field of the message: the ASCII tag right-padded with zero bytes to 32 bytes."""

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


def claims_message(inputs: ReportDataInputs) -> bytes:
    """The 192-byte message ``M`` (three 64-byte blocks) whose SHA-256 is the claims digest."""
    return b"".join(
        (
            DOMAIN,
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


def claims_digest(inputs: ReportDataInputs) -> bytes:
    """``SHA-256(claims_message(inputs))`` (32 bytes)."""
    return hashlib.sha256(claims_message(inputs)).digest()


def report_data_v1(inputs: ReportDataInputs) -> bytes:
    """The 64-byte REPORT_DATA: the claims digest followed by 32 reserved zero bytes."""
    return claims_digest(inputs) + bytes(REPORT_DATA_BYTES - FIELD_BYTES)


def explain_mismatch(report_data: bytes | bytearray, inputs: ReportDataInputs) -> list[str]:
    """Why ``report_data`` is not ``report_data_v1(inputs)``; an empty list when it is.

    A hash hides which claim differs, so this only says which half is wrong and shows both
    digests; callers compare individual claims against their other sources themselves.
    """
    if not isinstance(report_data, bytes | bytearray | memoryview):
        raise MalformedInputError("REPORT_DATA must be bytes", component=_COMPONENT)
    reported = bytes(report_data)
    if len(reported) != REPORT_DATA_BYTES:
        return [f"REPORT_DATA is {len(reported)} bytes, expected {REPORT_DATA_BYTES}"]
    problems = []
    reserved = reported[FIELD_BYTES:]
    if any(reserved):
        problems.append(
            "the reserved second half of REPORT_DATA (bytes 32-63) must be zero in v1, "
            f"reported {reserved.hex()}"
        )
    recomputed = claims_digest(inputs)
    if reported[:FIELD_BYTES] != recomputed:
        problems.append(
            f"the claims digest differs: recomputed {recomputed.hex()}, "
            f"reported {reported[:FIELD_BYTES].hex()}"
        )
    return problems
