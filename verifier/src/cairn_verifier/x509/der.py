"""A small strict DER reader (X.690) for certificates, CRLs and vendor extensions.

Cairn reads AMD and Intel certificates with its own parser rather than depending on a
general X.509 loader: AMD VCEK/VLEK certificates carry serial number 0, which general loaders
have announced they will refuse, and vendor extensions (AMD TCB values, Intel SGX extensions)
need DER access anyway.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from ..errors import ParseError
from ..records import Record

# Universal tags (class universal, with the constructed bit where it applies).
BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
ENUMERATED = 0x0A
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
IA5_STRING = 0x16
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
SEQUENCE = 0x30
SET = 0x31


def context(number: int, *, constructed: bool = True) -> int:
    """The tag byte of a context-specific tag ``[number]``."""
    return 0x80 | (0x20 if constructed else 0) | number


class Tlv(Record):
    """One DER element: its tag, its content bytes and its full encoding."""

    tag: int
    content: bytes
    encoded: bytes

    __slots__ = ("content", "encoded", "tag")

    def __init__(self, tag: int, content: bytes, encoded: bytes) -> None:
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "content", content)
        object.__setattr__(self, "encoded", encoded)

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    def children(self) -> list[Tlv]:
        if not self.constructed:
            raise ParseError(f"DER tag 0x{self.tag:02x} is not constructed", component="der")
        return list(iter_tlvs(self.content))

    def expect(self, tag: int, what: str) -> Tlv:
        if self.tag != tag:
            raise ParseError(
                f"{what}: expected DER tag 0x{tag:02x}, found 0x{self.tag:02x}", component="der"
            )
        return self

    def as_int(self) -> int:
        self.expect(INTEGER, "integer")
        if not self.content:
            raise ParseError("empty DER INTEGER", component="der")
        return int.from_bytes(self.content, "big", signed=True)

    def as_oid(self) -> str:
        self.expect(OID, "object identifier")
        return decode_oid(self.content)

    def as_bit_string(self) -> bytes:
        self.expect(BIT_STRING, "bit string")
        if not self.content or self.content[0] != 0:
            raise ParseError("BIT STRING with unused bits is not supported", component="der")
        return self.content[1:]

    def as_string(self) -> str:
        if self.tag not in (UTF8_STRING, PRINTABLE_STRING, IA5_STRING):
            raise ParseError(f"DER tag 0x{self.tag:02x} is not a string", component="der")
        try:
            return self.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError("DER string is not valid UTF-8", component="der") from exc

    def as_time(self) -> datetime:
        """A UTCTime (``YYMMDDHHMMSSZ``) or GeneralizedTime (``YYYYMMDDHHMMSSZ``), exactly as DER
        writes them (X.690 11.7-11.8, RFC 5280 4.1.2.5): digits and ``Z``, no fractions."""
        if self.tag == UTC_TIME:
            year_digits = 2
        elif self.tag == GENERALIZED_TIME:
            year_digits = 4
        else:
            raise ParseError(f"DER tag 0x{self.tag:02x} is not a time", component="der")
        text = self.content
        if len(text) != year_digits + 11 or text[-1:] != b"Z" or not text[:-1].isdigit():
            raise ParseError(f"invalid DER time {text!r}", component="der")
        year = int(text[:year_digits])
        if year_digits == 2:  # RFC 5280: YY 50-99 is 19YY and 00-49 is 20YY
            year += 1900 if year >= 50 else 2000
        month, day, hour, minute, second = (
            int(text[i : i + 2]) for i in range(year_digits, year_digits + 10, 2)
        )
        try:
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError as exc:
            raise ParseError(f"invalid DER time {text!r}", component="der") from exc


def read_tlv(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """Read one element at ``offset``; return it and the offset just after it."""
    if offset + 2 > len(data):
        raise ParseError("truncated DER element", component="der", offset=offset)
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise ParseError("multi-byte DER tags are not supported", component="der", offset=offset)
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise ParseError("unsupported DER length encoding", component="der", offset=offset)
        if pos + count > len(data):
            raise ParseError("truncated DER length", component="der", offset=offset)
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise ParseError("non-minimal DER length", component="der", offset=offset)
        pos += count
    end = pos + length
    if end > len(data):
        raise ParseError(
            "DER element runs past the end of its container", component="der", offset=offset
        )
    return Tlv(tag, data[pos:end], data[offset:end]), end


def iter_tlvs(data: bytes) -> Iterator[Tlv]:
    """Iterate over consecutive elements that exactly fill ``data``."""
    offset = 0
    while offset < len(data):
        tlv, offset = read_tlv(data, offset)
        yield tlv


def parse_single(data: bytes, what: str = "DER") -> Tlv:
    """Parse ``data`` as exactly one element (no trailing bytes)."""
    tlv, end = read_tlv(data, 0)
    if end != len(data):
        raise ParseError(
            f"{what}: {len(data) - end} trailing bytes after the DER element", component="der"
        )
    return tlv


def decode_oid(content: bytes) -> str:
    if not content:
        raise ParseError("empty OBJECT IDENTIFIER", component="der")
    arcs: list[int] = []
    value = 0
    for i, byte in enumerate(content):
        if value == 0 and byte == 0x80:
            raise ParseError("non-minimal OBJECT IDENTIFIER arc", component="der")
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
        elif i == len(content) - 1:
            raise ParseError("truncated OBJECT IDENTIFIER", component="der")
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])
