"""The DER writer beside the reader (:mod:`.der`): the few X.690 encodings Cairn builds.

The verifier only reads DER. The agent's simulated platforms write the vendor extensions AMD
and Intel put into their certificates (AMD's VCEK TCB values, Intel's SGX extension), which
``cryptography`` carries as opaque bytes; they encode them here, with the reader's tag numbers,
so what they write is what :mod:`.der` reads.
"""

from __future__ import annotations

from .der import BOOLEAN, ENUMERATED, IA5_STRING, INTEGER, OCTET_STRING, OID, SEQUENCE


def tlv(tag: int, content: bytes) -> bytes:
    """One element: ``tag``, the definite length in its shortest form, ``content``."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def integer(value: int) -> bytes:
    """A non-negative INTEGER."""
    return tlv(INTEGER, _non_negative(value))


def enumerated(value: int) -> bytes:
    """A non-negative ENUMERATED (its content is an INTEGER's)."""
    return tlv(ENUMERATED, _non_negative(value))


def _non_negative(value: int) -> bytes:
    """The shortest two's-complement content of ``value`` >= 0 (a leading zero below 0x80)."""
    if value < 0:
        raise ValueError(f"only non-negative integers are encoded, not {value}")
    return value.to_bytes(value.bit_length() // 8 + 1, "big")


def boolean(value: bool) -> bytes:
    """TRUE is 0xFF in DER, FALSE 0x00."""
    return tlv(BOOLEAN, b"\xff" if value else b"\x00")


def octet_string(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def ia5_string(text: str) -> bytes:
    """An IA5String (ASCII)."""
    return tlv(IA5_STRING, text.encode("ascii"))


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER from its dotted form (base-128 arcs, the first two combined)."""
    arcs = [int(part) for part in dotted.split(".")]
    if len(arcs) < 2 or min(arcs) < 0 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40):
        raise ValueError(f"not an object identifier: {dotted!r}")
    return tlv(OID, b"".join(_base128(arc) for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]))


def _base128(value: int) -> bytes:
    """An OID arc: big-endian groups of 7 bits, the high bit set on all but the last."""
    groups = [value & 0x7F]
    while value > 0x7F:
        value >>= 7
        groups.append(0x80 | (value & 0x7F))
    return bytes(reversed(groups))


def sequence(*elements: bytes) -> bytes:
    """A SEQUENCE of already encoded elements, in order."""
    return tlv(SEQUENCE, b"".join(elements))
