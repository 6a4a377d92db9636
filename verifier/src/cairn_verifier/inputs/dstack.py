"""dstack's SCALE-encoded attestation (``dstack-attest``: ``VersionedAttestation``).

Legacy wire format (SCALE, parity-scale-codec): byte 0 is the ``VersionedAttestation`` variant
(0 = V0), byte 1 the ``AttestationQuote`` variant — 0 ``DstackTdx(TdxQuote)``, 1
``DstackGcpTdx(DstackGcpTdxQuote)`` (whose first field is a ``TdxQuote``), 2
``DstackNitroEnclave``, 3 ``DstackAmdSevSnp(SnpQuote)`` — and the variant's first field is the
evidence as a ``Vec<u8>``: a SCALE compact length, then the bytes (``TdxQuote.quote``,
``SnpQuote.report``). For a 1184-byte SEV-SNP report the compact length is ``81 12``, so the
report starts at offset 4. What follows (certificate blobs, mr_config, event logs, the
app's report_data and config) changes between dstack versions and is not read: only the report
or quote, which carries its own signature, is used. dstack's newer msgpack (V1) encoding is
not read.
"""

from __future__ import annotations

from ..records import Record

VARIANTS = {
    0: "DstackTdx",
    1: "DstackGcpTdx",
    2: "DstackNitroEnclave",
    3: "DstackAmdSevSnp",
}
SNP_VARIANT = 3
TDX_VARIANTS = (0, 1)


class DstackEvidence(Record):
    variant: int
    payload: bytes
    offset: int
    trailing: int

    __slots__ = ("offset", "payload", "trailing", "variant")

    def __init__(self, variant: int, payload: bytes, offset: int, trailing: int) -> None:
        object.__setattr__(self, "variant", variant)
        object.__setattr__(self, "payload", payload)
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "trailing", trailing)

    @property
    def variant_name(self) -> str:
        return VARIANTS.get(self.variant, f"unknown variant {self.variant}")


class ScaleError(ValueError):
    """The bytes are not the expected SCALE structure."""


def compact_length(data: bytes, pos: int) -> tuple[int, int]:
    """Decode a SCALE compact integer at ``pos``; return (value, position after it)."""
    if pos >= len(data):
        raise ScaleError("compact length runs past the end")
    mode = data[pos] & 0b11
    if mode == 0:
        return data[pos] >> 2, pos + 1
    width = {1: 2, 2: 4}.get(mode)
    if width is None:
        raise ScaleError("compact length in big-integer mode (larger than 2^30 bytes)")
    if pos + width > len(data):
        raise ScaleError("compact length runs past the end")
    return int.from_bytes(data[pos : pos + width], "little") >> 2, pos + width


def looks_like_dstack(data: bytes) -> bool:
    """Byte 0 is the V0 tag and byte 1 a known quote variant (the detector's precondition)."""
    return len(data) >= 2 and data[0] == 0 and data[1] in VARIANTS


def read_dstack(data: bytes) -> DstackEvidence:
    """The evidence bytes of a legacy V0 dstack attestation; ScaleError if malformed."""
    if not looks_like_dstack(data):
        raise ScaleError("not a dstack V0 attestation")
    length, pos = compact_length(data, 2)
    if length > len(data) - pos:
        raise ScaleError(
            f"the {VARIANTS[data[1]]} evidence claims {length} bytes, only {len(data) - pos} follow"
        )
    return DstackEvidence(data[1], data[pos : pos + length], pos, len(data) - pos - length)
