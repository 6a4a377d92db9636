"""An NVIDIA attestation report: the SPDM 1.1 GET_MEASUREMENTS request and its response.

NVIDIA's "attestation report" is the 37-byte request followed by the MEASUREMENTS response
(DMTF DSP0274 1.1.x, section 10.11), all integers little-endian::

    request   0  SPDMVersion 0x11 | 1 code 0xE0 | 2 Param1 (bit 0: signature requested)
              3  Param2 (measurement operation; 0xFF = all) | 4 Nonce (32) | 36 SlotIDParam
    response  37 SPDMVersion 0x11 | 38 code 0x60 | 39 Param1 | 40 Param2 (slot)
              41 NumberOfBlocks | 42 MeasurementRecordLength L (3) | 45 MeasurementRecord (L)
              45+L Nonce (32) | 77+L OpaqueLength O (2) | 79+L OpaqueData (O)
              79+L+O Signature (96: ECDSA P-384 r || s)

The signature covers bytes ``0 .. 79+L+O`` (request and response up to the signature) and sits
where the structure puts it, not at "the last 96 bytes": every length is read from the
structure, the measurement record must hold exactly ``NumberOfBlocks`` DMTF blocks filling
``L``, and bytes after the signature are neither signed nor read. Such trailing bytes must be
zero (one real capture carries one zero byte of buffer padding): they are reported, and any
non-zero trailing byte is malformed input, because nothing authenticates it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from ..binary import Reader
from ..errors import ParseError

COMPONENT: Final = "SPDM"
SPDM_VERSION_11: Final = 0x11
GET_MEASUREMENTS: Final = 0xE0
MEASUREMENTS: Final = 0x60
REQUEST_SIZE: Final = 37
NONCE_SIZE: Final = 32
SIGNATURE_SIZE: Final = 96
"""ECDSA P-384: r || s, 48 bytes each."""
MAX_OPAQUE_LENGTH: Final = 1024
"""SPDM 1.1: OpaqueLength shall not be greater than 1024 bytes."""
MEASURE_ALL: Final = 0xFF
DMTF_SPECIFICATION: Final = 0x01
"""MeasurementSpecification bit 0: the DMTF measurement layout."""
MIN_SIZE: Final = REQUEST_SIZE + 8 + NONCE_SIZE + 2 + SIGNATURE_SIZE


@dataclass(slots=True)
class MeasurementBlock:
    """One DMTF measurement block: its index (1-based), value type and value. Never changed
    once read; not ``frozen`` only because a report has 64 and frozen construction costs (and
    not a NamedTuple, whose ``index`` method the field would shadow)."""

    index: int
    value_type: int
    """DMTFSpecMeasurementValueType: bit 7 set = raw bit stream, else a digest; bits 0-6 the
    kind (0 immutable ROM, 1 mutable firmware, 2 hardware configuration, ...)."""
    value: bytes
    offset: int
    """Offset of the block in the report."""

    @property
    def is_digest(self) -> bool:
        return not self.value_type & 0x80


@dataclass(frozen=True)
class SpdmReport:
    """A parsed GET_MEASUREMENTS request and response; nothing in it is authenticated yet."""

    raw: bytes
    """Every byte handed in, trailing bytes included."""
    request_attributes: int
    operation: int
    nonce: bytes
    slot: int
    response_param1: int
    blocks: tuple[MeasurementBlock, ...]
    response_nonce: bytes
    opaque: bytes
    opaque_offset: int
    signature: bytes
    signature_offset: int
    """79 + L + O: where the signature starts."""

    @property
    def signed_bytes(self) -> bytes:
        """Request and response up to the signature: what the device signed."""
        return self.raw[: self.signature_offset]

    @property
    def verified_bytes(self) -> bytes:
        """The signed bytes and the signature (the report without trailing bytes)."""
        return self.raw[: self.signature_offset + SIGNATURE_SIZE]

    @property
    def trailing(self) -> bytes:
        """Bytes after the signature: not signed, never read (all zero, see module doc)."""
        return self.raw[self.signature_offset + SIGNATURE_SIZE :]

    @property
    def measurements(self) -> MappingProxyType[int, MeasurementBlock]:
        """The blocks by their (1-based) index."""
        return MappingProxyType({block.index: block for block in self.blocks})


def parse_spdm_report(data: bytes) -> SpdmReport:
    """Parse request and response by structure; ParseError (with field and offset) on any
    defect. Nothing is verified: the signature check (:mod:`.verify`) comes next.

    A well-formed report is read by :func:`_parse_well_formed` (one ``struct`` read of the fixed
    fields, then the blocks); anything it does not accept is read again field by field by
    :func:`_parse_checked`, which names the first defect. Both apply the same rules.
    """
    raw = bytes(data)
    return _parse_well_formed(raw) or _parse_checked(raw)


def _parse_well_formed(raw: bytes) -> SpdmReport | None:
    """The report if every rule of :func:`_parse_checked` holds, else None (never raises)."""
    size = len(raw)
    if size < _FIXED.size:
        return None
    (
        version,
        code,
        attributes,
        operation,
        nonce,
        slot_param,
        response_version,
        response_code,
        param1,
        slot,
        count,
        length_low,
        length_high,
    ) = _FIXED.unpack_from(raw)
    if (
        version != SPDM_VERSION_11
        or code != GET_MEASUREMENTS
        or not attributes & 0x01
        or slot_param & 0xF0
        or response_version != SPDM_VERSION_11
        or response_code != MEASUREMENTS
        or slot & 0x0F != slot_param
    ):
        return None
    record_end = _FIXED.size + (length_low | length_high << 16)
    opaque_offset = record_end + NONCE_SIZE + 2
    if opaque_offset > size:
        return None
    blocks = _blocks_well_formed(raw, _FIXED.size, record_end, count)
    if blocks is None:
        return None
    (opaque_length,) = _U16.unpack_from(raw, record_end + NONCE_SIZE)
    signature_offset = opaque_offset + opaque_length
    if opaque_length > MAX_OPAQUE_LENGTH or signature_offset + SIGNATURE_SIZE > size:
        return None
    if any(raw[signature_offset + SIGNATURE_SIZE :]):
        return None
    return SpdmReport(
        raw=raw,
        request_attributes=attributes,
        operation=operation,
        nonce=nonce,
        slot=slot_param,
        response_param1=param1,
        blocks=blocks,
        response_nonce=raw[record_end : record_end + NONCE_SIZE],
        opaque=raw[opaque_offset:signature_offset],
        opaque_offset=opaque_offset,
        signature=raw[signature_offset : signature_offset + SIGNATURE_SIZE],
        signature_offset=signature_offset,
    )


def _blocks_well_formed(
    data: bytes, offset: int, end: int, count: int
) -> tuple[MeasurementBlock, ...] | None:
    """The blocks if :func:`_blocks` would accept them, else None (never raises)."""
    unpack = _BLOCK_HEADER.unpack_from
    header = _BLOCK_HEADER.size
    blocks: list[MeasurementBlock] = []
    append = blocks.append
    for _ in range(count):
        if end - offset < header:
            return None
        index, spec, size, value_type, value_size = unpack(data, offset)
        if spec != DMTF_SPECIFICATION or value_size != size - 3 or size > end - offset - 4:
            return None
        value_start = offset + header
        append(
            MeasurementBlock(
                index, value_type, data[value_start : value_start + value_size], offset
            )
        )
        offset = value_start + value_size
    if offset != end:
        return None
    indices = {block.index for block in blocks}
    if len(indices) != count or not indices.isdisjoint(_RESERVED_INDICES):
        return None
    return tuple(blocks)


def _parse_checked(raw: bytes) -> SpdmReport:
    """Read the report field by field; ParseError naming the first defect."""
    reader = Reader(
        raw,
        "SPDM GET_MEASUREMENTS transcript",
        order="little",
        component=COMPONENT,
        truncated_hint="the attestation report is cut off: take the whole buffer NVML returned",
    )
    _expect(reader, SPDM_VERSION_11, "request SPDMVersion", "SPDM 1.1")
    _expect(reader, GET_MEASUREMENTS, "request RequestResponseCode", "GET_MEASUREMENTS (0xE0)")
    attributes = reader.u8("request Param1")
    if not attributes & 0x01:
        raise reader.error(
            "the request did not ask for a signature (Param1 bit 0 clear): the response is "
            "unsigned",
            "request Param1",
            offset=2,
        )
    operation = reader.u8("request Param2")
    nonce = reader.take(NONCE_SIZE, "request Nonce")
    slot_param = reader.u8("request SlotIDParam")
    if slot_param & 0xF0:
        raise reader.error("reserved bits of SlotIDParam are set", "request SlotIDParam", 36)
    _expect(reader, SPDM_VERSION_11, "response SPDMVersion", "SPDM 1.1")
    _expect(reader, MEASUREMENTS, "response RequestResponseCode", "MEASUREMENTS (0x60)")
    param1 = reader.u8("response Param1")
    slot = reader.u8("response Param2")
    if slot & 0x0F != slot_param:
        raise reader.error(
            f"the response names slot {slot & 0x0F}, the request asked slot {slot_param}",
            "response Param2",
            offset=40,
        )
    count = reader.u8("response NumberOfBlocks")
    record_length = reader.uint(3, "response MeasurementRecordLength")
    record = reader.sub(record_length, "response MeasurementRecord", "MeasurementRecord")
    blocks = _blocks(record, count)
    response_nonce = reader.take(NONCE_SIZE, "response Nonce")
    opaque_length = reader.u16("response OpaqueLength")
    if opaque_length > MAX_OPAQUE_LENGTH:
        raise reader.error(
            f"OpaqueLength {opaque_length} exceeds SPDM 1.1's limit of {MAX_OPAQUE_LENGTH}",
            "response OpaqueLength",
            offset=reader.offset - 2,
        )
    opaque_offset = reader.offset
    opaque = reader.take(opaque_length, "response OpaqueData")
    signature_offset = reader.offset
    signature = reader.take(SIGNATURE_SIZE, "response Signature")
    trailing = raw[reader.offset :]
    if any(trailing):
        raise reader.error(
            f"{len(trailing)} bytes follow the signature and some are not zero: they are not "
            "signed, and Cairn does not guess what they are",
            "trailing",
            hint="give the report exactly as NVML returned it (signature last; zero padding "
            "after it is tolerated)",
        )
    return SpdmReport(
        raw=raw,
        request_attributes=attributes,
        operation=operation,
        nonce=nonce,
        slot=slot_param,
        response_param1=param1,
        blocks=blocks,
        response_nonce=response_nonce,
        opaque=opaque,
        opaque_offset=opaque_offset,
        signature=signature,
        signature_offset=signature_offset,
    )


def _expect(reader: Reader, value: int, field: str, meaning: str) -> None:
    start = reader.offset
    found = reader.u8(field)
    if found != value:
        raise reader.error(
            f"{field} is 0x{found:02x}, expected 0x{value:02x} ({meaning})",
            field,
            offset=start,
            hint="this is not an NVIDIA GPU or NVSwitch attestation report (SPDM 1.1 "
            "GET_MEASUREMENTS request followed by its response)",
        )


def _blocks(record: Reader, count: int) -> tuple[MeasurementBlock, ...]:
    """``count`` DMTF measurement blocks that fill the record exactly, indices distinct.

    Read with ``struct`` on the record's bytes (a report has 64 blocks and is verified often);
    every bound is checked before the read it guards.
    """
    data, offset, end = record.data, record.offset, record.end
    blocks: list[MeasurementBlock] = []
    seen = set(_RESERVED_INDICES)
    for number in range(count):
        start = offset
        if end - offset < _BLOCK_HEADER.size:
            raise _record_error(
                f"measurement block {number} is cut off after {end - offset} bytes",
                _cut_field(number, end - offset),
                start,
            )
        index, spec, size, value_type, value_size = _BLOCK_HEADER.unpack_from(data, offset)
        if index in seen:  # ``seen`` starts with the two indices SPDM reserves
            why = "which SPDM reserves" if index in _RESERVED_INDICES else "given twice"
            raise _record_error(
                f"measurement block {number} has index {index}, {why}", "MeasurementRecord", start
            )
        seen.add(index)
        if spec != DMTF_SPECIFICATION:
            raise _record_error(
                f"measurement block {index} uses MeasurementSpecification 0x{spec:02x}; NVIDIA "
                "reports use the DMTF layout (0x01)",
                "MeasurementSpecification",
                start + 1,
            )
        if size > end - offset - 4:
            raise _record_error(
                f"measurement block {index} needs {size} bytes, only {end - offset - 4} left",
                f"measurement block {index}",
                start + 2,
            )
        if value_size != size - 3:
            raise _record_error(
                f"measurement block {index}: MeasurementSize {size} does not hold a value of "
                f"{value_size} bytes (3 + value)",
                f"measurement block {index} DMTFSpecMeasurementValueSize",
                start + 5,
            )
        value = data[offset + 7 : offset + 7 + value_size]
        blocks.append(MeasurementBlock(index, value_type, value, start))
        offset += 4 + size
    if offset != end:
        raise _record_error(
            f"MeasurementRecord holds {end - offset} bytes after its {count} blocks "
            "(NumberOfBlocks and MeasurementRecordLength disagree)",
            "MeasurementRecord",
            offset,
        )
    return tuple(blocks)


_FIXED: Final = struct.Struct("<BBBB32sBBBBBBHB")
"""Request (37 bytes) and the response up to its MeasurementRecord: the 3-byte
MeasurementRecordLength is read as its low 16 bits and its high byte."""
_U16: Final = struct.Struct("<H")
_RESERVED_INDICES: Final = frozenset({0x00, 0xFF})
_BLOCK_HEADER: Final = struct.Struct("<BBHBH")
"""Index, MeasurementSpecification, MeasurementSize; DMTF value type and value size."""


_HEADER_FIELDS: Final = (
    (1, "Index"),
    (2, "MeasurementSpecification"),
    (4, "MeasurementSize"),
    (5, "DMTFSpecMeasurementValueType"),
    (7, "DMTFSpecMeasurementValueSize"),
)
"""Each field of :data:`_BLOCK_HEADER` by the offset its last byte ends at."""


def _cut_field(number: int, available: int) -> str:
    """The first header field of block ``number`` that ``available`` bytes do not hold."""
    name = next(name for ends, name in _HEADER_FIELDS if ends > available)
    return f"measurement block {number} {name}"


def _record_error(message: str, field: str, offset: int) -> ParseError:
    return ParseError(message, component=COMPONENT, field=field, offset=offset)
