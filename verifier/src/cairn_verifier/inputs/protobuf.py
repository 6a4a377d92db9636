"""A strict reader of the protobuf wire format (varints and length-delimited fields only).

Enough to take evidence out of Oak's ``oak.attestation.v1`` messages without a protobuf
runtime: every field is read with bounds checks, varints longer than 10 bytes, field number 0,
groups and fixed-width fields are errors, and the message must end exactly at its last field.
"""

from __future__ import annotations

from ..records import Record

VARINT = 0
LENGTH_DELIMITED = 2


class WireError(ValueError):
    """The bytes are not a protobuf message of the expected shape."""


class Field(Record):
    number: int
    wire_type: int
    value: int | bytes
    offset: int

    __slots__ = ("number", "offset", "value", "wire_type")

    def __init__(self, number: int, wire_type: int, value: int | bytes, offset: int) -> None:
        object.__setattr__(self, "number", number)
        object.__setattr__(self, "wire_type", wire_type)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "offset", offset)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if pos >= len(data):
            raise WireError(f"varint runs past the end at offset {pos}")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if value >= 1 << 64:
                raise WireError("varint larger than 64 bits")
            return value, pos
    raise WireError("varint longer than 10 bytes")


def read_message(data: bytes) -> list[Field]:
    """Every field of one message, in order; WireError unless ``data`` is exactly that."""
    fields: list[Field] = []
    pos = 0
    while pos < len(data):
        start = pos
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError(f"field number 0 at offset {start}")
        value: int | bytes
        if wire_type == VARINT:
            value, pos = _varint(data, pos)
        elif wire_type == LENGTH_DELIMITED:
            size, pos = _varint(data, pos)
            if size > len(data) - pos:
                raise WireError(
                    f"field {number} at offset {start} claims {size} bytes, {len(data) - pos} left"
                )
            value = data[pos : pos + size]
            pos += size
        else:
            raise WireError(f"field {number} at offset {start} has wire type {wire_type}")
        fields.append(Field(number, wire_type, value, start))
    return fields


def single(fields: list[Field], number: int, wire_type: int, what: str) -> Field | None:
    """The one field ``number`` (None if absent); WireError if repeated or mistyped."""
    found = [f for f in fields if f.number == number]
    if not found:
        return None
    if len(found) > 1:
        raise WireError(f"{what} (field {number}) appears {len(found)} times")
    if found[0].wire_type != wire_type:
        raise WireError(f"{what} (field {number}) has wire type {found[0].wire_type}")
    return found[0]


def only(fields: list[Field], allowed: set[int], what: str) -> None:
    """WireError if a field other than ``allowed`` is present."""
    extra = sorted({f.number for f in fields} - allowed)
    if extra:
        raise WireError(f"{what} has unknown field(s) {', '.join(map(str, extra))}")
