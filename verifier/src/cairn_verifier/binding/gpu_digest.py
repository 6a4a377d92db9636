"""GPU evidence binding v1 (``docs/spec/gpu-evidence-v1.md``): the SPDM nonce the agent asks the
GPUs for, and the ``gpu_digest`` REPORT_DATA commits to.

The GPUs answer ``gpu_nonce = SHA-256("cairn/gpu-nonce/v1" || nonce)``, so a GPU report made
for a Cairn bundle is never one made for the same nonce by another protocol. ``gpu_digest`` is
SHA-256 of a length-prefixed, ordered list of every device's report (the bytes exactly as the
bundle carries them and the verifier parses them, trailing bytes included) and its certificate
chain (DER, leaf first, as the device returned it)::

    M = "cairn/gpu-evidence/v1" || 00 || u32(n)
        || for each device: u32(len(report)) || report || u32(k) || for each cert: u32(len) || der

with ``u32`` big-endian. Every length is prefixed, so no two lists share a message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final, NamedTuple

from ..errors import MalformedInputError

VERSION: Final = 1
"""The binding's version: both domain strings below end in it (``cairn --version --verbose``)."""
NONCE_DOMAIN: Final = b"cairn/gpu-nonce/v1"
DIGEST_DOMAIN: Final = b"cairn/gpu-evidence/v1\0"
NONCE_BYTES: Final = 32
MAX_DEVICES: Final = 64
_U32_MAX: Final = 0xFFFFFFFF


class GpuDeviceBytes(NamedTuple):
    """One device as the digest sees it: its report and certificate chain (DER, leaf first)."""

    report: bytes
    certificates: tuple[bytes, ...]


def gpu_nonce(nonce: bytes) -> bytes:
    """The SPDM nonce the agent passes to every GPU and NVSwitch for the verifier's ``nonce``."""
    if len(nonce) != NONCE_BYTES:
        raise MalformedInputError(
            f"the verifier's nonce is {len(nonce)} bytes, expected {NONCE_BYTES}",
            component="gpu-evidence",
        )
    return hashlib.sha256(NONCE_DOMAIN + nonce).digest()


def _u32(value: int) -> bytes:
    if not 0 <= value <= _U32_MAX:
        raise MalformedInputError(
            f"a GPU evidence length of {value} does not fit 32 bits", component="gpu-evidence"
        )
    return value.to_bytes(4, "big")


def gpu_evidence_message(devices: Sequence[GpuDeviceBytes]) -> bytes:
    """The message :func:`gpu_digest` hashes (the spec's ``M``)."""
    if not 1 <= len(devices) <= MAX_DEVICES:
        raise MalformedInputError(
            f"GPU evidence lists {len(devices)} devices; a digest covers 1..{MAX_DEVICES}",
            component="gpu-evidence",
        )
    parts = [DIGEST_DOMAIN, _u32(len(devices))]
    for device in devices:
        parts += [_u32(len(device.report)), device.report, _u32(len(device.certificates))]
        for der in device.certificates:
            parts += [_u32(len(der)), der]
    return b"".join(parts)


def gpu_digest(devices: Sequence[GpuDeviceBytes]) -> bytes:
    """SHA-256 of :func:`gpu_evidence_message`: the ``gpu_digest`` of REPORT_DATA v1 and v2."""
    return hashlib.sha256(gpu_evidence_message(devices)).digest()
