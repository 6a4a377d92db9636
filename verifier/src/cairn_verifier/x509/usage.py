"""What a certificate may be used for: basic constraints, key usage and extended key usage.

RFC 5280 sections 4.2.1.3 (keyUsage), 4.2.1.9 (basicConstraints) and 4.2.1.12
(extKeyUsage), read from the raw extension values :class:`~.cert.Certificate` keeps. A chain
checker asks :func:`certificate_usage` whether an issuer is a CA allowed to sign certificates
and whether a signer may sign (documents, OCSP responses). A malformed extension is a
:class:`~cairn_verifier.errors.ParseError`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..errors import ParseError
from .cert import Certificate
from .der import BOOLEAN, INTEGER, SEQUENCE, Tlv, parse_single
from .signed import COMPONENT

OID_BASIC_CONSTRAINTS = "2.5.29.19"
OID_KEY_USAGE = "2.5.29.15"
OID_EXTENDED_KEY_USAGE = "2.5.29.37"
OID_OCSP_SIGNING = "1.3.6.1.5.5.7.3.9"

KEY_USAGE_BITS = (
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
)
"""RFC 5280 KeyUsage bit names, bit 0 first."""


@dataclass(frozen=True)
class CertificateUsage:
    """The usage extensions of one certificate; ``None`` where the extension is absent."""

    ca: bool
    """basicConstraints cA (False when the extension is absent, as RFC 5280 defines)."""
    path_length: int | None
    key_usage: frozenset[str] | None
    extended_key_usage: frozenset[str] | None

    def allows(self, usage: str) -> bool:
        """Whether keyUsage permits ``usage`` (an absent keyUsage permits everything)."""
        return self.key_usage is None or usage in self.key_usage


def _fail(cert: Certificate, message: str, field: str) -> ParseError:
    return ParseError(
        f"certificate '{cert.display_name}': {message}", component=COMPONENT, field=field
    )


def _basic_constraints(cert: Certificate, value: bytes) -> tuple[bool, int | None]:
    parts = parse_single(value, "basicConstraints").expect(SEQUENCE, "basicConstraints")
    items = parts.children()
    ca = False
    path_length = None
    if items and items[0].tag == BOOLEAN:
        flag = items.pop(0)
        if flag.content not in (b"\x00", b"\xff"):
            raise _fail(cert, "basicConstraints cA is not a DER BOOLEAN", "basicConstraints")
        ca = flag.content == b"\xff"
    if items and items[0].tag == INTEGER:
        path_length = items.pop(0).as_int()
        if path_length < 0:
            raise _fail(cert, "basicConstraints pathLenConstraint is negative", "basicConstraints")
    if items:
        raise _fail(cert, "basicConstraints has unexpected elements", "basicConstraints")
    return ca, path_length


def _named_bits(cert: Certificate, tlv: Tlv) -> frozenset[str]:
    """A DER BIT STRING of named bits (the unused-bits count may be non-zero here)."""
    if tlv.tag != 0x03 or not tlv.content or tlv.content[0] > 7:
        raise _fail(cert, "keyUsage is not a BIT STRING", "keyUsage")
    unused, body = tlv.content[0], tlv.content[1:]
    if not body and unused:
        raise _fail(cert, "keyUsage BIT STRING is empty but names unused bits", "keyUsage")
    if body and body[-1] & ((1 << unused) - 1):
        raise _fail(cert, "keyUsage BIT STRING has set bits among its unused bits", "keyUsage")
    names = set()
    for index in range(len(body) * 8 - unused):
        if body[index // 8] & (0x80 >> (index % 8)):
            names.add(KEY_USAGE_BITS[index] if index < len(KEY_USAGE_BITS) else f"bit{index}")
    return frozenset(names)


def _extended_key_usage(value: bytes) -> frozenset[str]:
    items = parse_single(value, "extKeyUsage").expect(SEQUENCE, "extKeyUsage").children()
    return frozenset(item.as_oid() for item in items)


def certificate_usage(cert: Certificate) -> CertificateUsage:
    """The basicConstraints, keyUsage and extKeyUsage of ``cert`` (ParseError if malformed).

    Certificates are immutable: each one's usage is read once (a warm verifier checks the same
    chains over and over)."""
    return _usage(cert)


@functools.lru_cache(maxsize=512)
def _usage(cert: Certificate) -> CertificateUsage:
    extensions = cert.extensions
    ca, path_length = False, None
    try:
        if OID_BASIC_CONSTRAINTS in extensions:
            ca, path_length = _basic_constraints(cert, extensions[OID_BASIC_CONSTRAINTS].value)
        key_usage = None
        if OID_KEY_USAGE in extensions:
            key_usage = _named_bits(cert, parse_single(extensions[OID_KEY_USAGE].value, "keyUsage"))
        eku = None
        if OID_EXTENDED_KEY_USAGE in extensions:
            eku = _extended_key_usage(extensions[OID_EXTENDED_KEY_USAGE].value)
    except ParseError as error:
        if error.message.startswith("certificate '"):
            raise
        raise _fail(cert, f"malformed usage extension: {error.message}", "extensions") from None
    return CertificateUsage(ca, path_length, key_usage, eku)
