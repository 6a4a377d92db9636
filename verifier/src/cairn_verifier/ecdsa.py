"""ECDSA signatures as raw ``r || s``, and their DER form.

TDX quotes, Intel's signed collateral JSON and the echo services carry an ECDSA signature raw
(IEEE P1363): ``r`` then ``s``, each a big-endian integer of the curve's size (32 bytes for P-256
and secp256k1). ``cryptography`` verifies, and X.509 carries, the DER ``ECDSA-Sig-Value``
(SEQUENCE of two INTEGERs, X9.62). This module is the one place that converts between the two.
(SEV-SNP reports and TPM structures hold ``r`` and ``s`` as separate integers of their own
layout; their parsers read them as integers.)
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)


def raw_scalars(raw: bytes) -> tuple[int, int]:
    """``(r, s)`` of a raw ``r || s`` signature (two big-endian halves of equal size);
    ``ValueError`` for an empty or odd-sized one."""
    if not raw or len(raw) % 2:
        raise ValueError(f"a raw ECDSA signature is r || s of equal sizes, not {len(raw)} bytes")
    half = len(raw) // 2
    return int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")


def raw_to_der(raw: bytes) -> bytes:
    """The DER form of a raw ``r || s`` signature (what ``cryptography`` verifies)."""
    return encode_dss_signature(*raw_scalars(raw))


def der_to_raw(der: bytes, size: int) -> bytes:
    """The raw ``r || s`` form, each ``size`` bytes, of a DER signature (what a signer writes
    into a TDX quote); ``OverflowError`` if ``r`` or ``s`` does not fit in ``size`` bytes."""
    r, s = decode_dss_signature(der)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")
