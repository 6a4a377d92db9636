"""X.509 certificates (RFC 5280) read with Cairn's own DER reader.

General X.509 loaders are avoided on purpose: AMD VCEK/VLEK certificates have serial number 0,
which ``cryptography`` has announced it will refuse. Only the public key is handed to
``cryptography`` (for signature verification).
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from ..errors import ChainError, MalformedInputError, ParseError
from ..records import Record
from ..timefmt import iso_time
from .der import (
    BIT_STRING,
    BOOLEAN,
    GENERALIZED_TIME,
    INTEGER,
    OCTET_STRING,
    SEQUENCE,
    SET,
    UTC_TIME,
    Tlv,
    context,
)
from .signed import (
    CERTIFICATE,
    COMPONENT,
    SignedDocument,
    children,
    malformed,
    parse_envelope,
)
from .signed import fail as _fail

# Attribute short names used when rendering a Name (RFC 4514 plus the usual extras).
_ATTRIBUTE_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
    "1.2.840.113549.1.9.1": "emailAddress",
}
OID_COMMON_NAME = "2.5.4.3"

# String types allowed in a Name and how to decode them.
_STRING_CODECS = {
    0x0C: "utf-8",  # UTF8String
    0x12: "ascii",  # NumericString
    0x13: "ascii",  # PrintableString
    0x14: "latin-1",  # TeletexString (treated as Latin-1, as common practice)
    0x16: "ascii",  # IA5String
    0x1A: "ascii",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}


# --------------------------------------------------------------------------- names


class Name(Record):
    """An X.501 distinguished name: its attributes in encoding order and its exact DER."""

    attributes: tuple[tuple[str, str], ...]
    der: bytes

    __slots__ = ("__dict__", "attributes", "der")  # __dict__: for the cached_property below

    def __init__(self, attributes: tuple[tuple[str, str], ...], der: bytes) -> None:
        object.__setattr__(self, "attributes", attributes)
        object.__setattr__(self, "der", der)

    @functools.cached_property
    def common_name(self) -> str | None:
        """The (last) commonName attribute, or None (computed once: a name never changes)."""
        values = [value for oid, value in self.attributes if oid == OID_COMMON_NAME]
        return values[-1] if values else None

    def get(self, oid: str) -> list[str]:
        return [value for attr_oid, value in self.attributes if attr_oid == oid]

    def matches(self, other: Name) -> bool:
        """Exact DER equality, or equality after RFC 5280 style case/space folding."""
        if self.der == other.der:
            return True
        return _fold(self.attributes) == _fold(other.attributes)

    def __str__(self) -> str:
        parts = [
            f"{_ATTRIBUTE_NAMES.get(oid, oid)}={_escape(value)}"
            for oid, value in reversed(self.attributes)
        ]
        return ",".join(parts)


def _fold(attributes: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((oid, " ".join(value.casefold().split())) for oid, value in attributes)


def _escape(value: str) -> str:
    escaped = re.sub(r'([,+"\\<>;=])', r"\\\1", value)
    if escaped.startswith((" ", "#")):
        escaped = "\\" + escaped
    if escaped.endswith(" ") and len(escaped) > 1:
        escaped = escaped[:-1] + "\\ "
    return escaped


def parse_name(tlv: Tlv, what: str) -> Name:
    """Parse an RDNSequence (multi-valued RDNs are flattened in order)."""
    attributes: list[tuple[str, str]] = []
    for rdn in children(tlv, SEQUENCE, what):
        members = children(rdn, SET, what)
        if not members:
            raise _fail(f"{what}: empty relative distinguished name", what)
        for member in members:
            parts = children(member, SEQUENCE, what)
            if len(parts) != 2:
                raise _fail(f"{what}: attribute must be (type, value)", what)
            attributes.append((parts[0].as_oid(), _decode_attribute_value(parts[1], what)))
    return Name(tuple(attributes), tlv.encoded)


def _decode_attribute_value(tlv: Tlv, what: str) -> str:
    codec = _STRING_CODECS.get(tlv.tag)
    if codec is None:
        # RFC 4514: values of unknown syntax are rendered as '#' + hex of their encoding.
        return "#" + tlv.encoded.hex()
    try:
        return tlv.content.decode(codec)
    except UnicodeDecodeError as exc:
        raise _fail(f"{what}: attribute value is not valid {codec}", what) from exc


def parse_time(tlv: Tlv, what: str) -> datetime:
    """UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), as RFC 5280 requires."""
    expected = {UTC_TIME: 13, GENERALIZED_TIME: 15}.get(tlv.tag)
    if expected is None:
        raise _fail(f"{what}: expected UTCTime or GeneralizedTime, found 0x{tlv.tag:02x}", what)
    text = tlv.content
    if len(text) != expected or text[-1:] != b"Z" or not text[:-1].isdigit():
        raise _fail(f"{what}: time {text!r} is not in the DER form ...Z", what)
    return tlv.as_time()


# --------------------------------------------------------------------------- extensions


class Extension(Record):
    """One X.509 extension: OID, criticality and the raw extnValue content."""

    oid: str
    critical: bool
    value: bytes

    __slots__ = ("critical", "oid", "value")

    def __init__(self, oid: str, critical: bool, value: bytes) -> None:
        object.__setattr__(self, "oid", oid)
        object.__setattr__(self, "critical", critical)
        object.__setattr__(self, "value", value)


def parse_extensions(tlv: Tlv, what: str) -> Mapping[str, Extension]:
    """Parse ``Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension``; duplicates are an error."""
    result: dict[str, Extension] = {}
    for item in children(tlv, SEQUENCE, what):
        parts = children(item, SEQUENCE, what)
        if len(parts) not in (2, 3):
            raise _fail(f"{what}: an extension must have 2 or 3 elements", what)
        oid = parts[0].as_oid()
        critical = False
        if len(parts) == 3:
            flag = parts[1]
            if flag.tag != BOOLEAN or flag.content not in (b"\x00", b"\xff"):
                raise _fail(f"{what}: extension {oid} has an invalid critical flag", what)
            critical = flag.content == b"\xff"
        value = parts[-1]
        if value.tag != OCTET_STRING:
            raise _fail(f"{what}: extension {oid} value is not an OCTET STRING", what)
        if oid in result:
            raise _fail(f"{what}: extension {oid} appears twice", what)
        result[oid] = Extension(oid, critical, value.content)
    return MappingProxyType(result)


# ------------------------------------------------------------------------ certificates


@dataclass(frozen=True, eq=False)
class Certificate(SignedDocument):
    """A parsed X.509 certificate. Equality and hashing are by the exact DER.

    ``version`` is the X.509 version number (1, 2 or 3); ``tbs`` the exact tbsCertificate
    bytes the signature covers.
    """

    version: int
    serial: int
    issuer: Name
    subject: Name
    not_before: datetime
    not_after: datetime
    spki_der: bytes
    extensions: Mapping[str, Extension] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Certificate(subject={str(self.subject)!r}, serial=0x{self.serial:x})"

    @property
    def fingerprint_sha256(self) -> bytes:
        """SHA-256 of the DER encoding (32 bytes; ``.hex()`` for display)."""
        return hashlib.sha256(self.der).digest()

    @property
    def display_name(self) -> str:
        return self.subject.common_name or str(self.subject)

    def public_key(self) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
        """The subject public key (RSA or EC), loaded with ``cryptography``."""
        try:
            key = _load_public_key(self.spki_der)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise ParseError(
                f"certificate '{self.display_name}': unusable public key ({exc})",
                component=COMPONENT,
                field="subjectPublicKeyInfo",
            ) from exc
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise ParseError(
                f"certificate '{self.display_name}': unsupported public key type "
                f"{type(key).__name__}",
                component=COMPONENT,
                field="subjectPublicKeyInfo",
            )
        return key

    def verify_signed_by(self, issuer: Certificate) -> None:
        """Check that ``issuer`` issued this certificate (name and signature); else ChainError."""
        what = f"certificate '{self.display_name}'"
        if not self.issuer.matches(issuer.subject):
            raise ChainError(
                f"{what} names issuer '{self.issuer}' but the supplied issuer is "
                f"'{issuer.subject}'",
                component=COMPONENT,
                hint="supply the certificate that actually issued it",
            )
        self.verify_tbs_signature(issuer, what=what)

    def is_valid_at(self, at: datetime) -> bool:
        moment = _aware(at)
        return self.not_before <= moment <= self.not_after

    def check_validity(self, at: datetime, role: str) -> None:
        """ChainError if ``at`` lies outside [not_before, not_after]."""
        moment = _aware(at)
        name = self.display_name
        if moment > self.not_after:
            raise ChainError(
                f"{role} certificate '{name}' expired on {iso_time(self.not_after)}",
                component=role,
                hint="obtain a current certificate (e.g. re-fetch it), or verify as of a time "
                "inside its validity window",
            )
        if moment < self.not_before:
            raise ChainError(
                f"{role} certificate '{name}' is not yet valid until {iso_time(self.not_before)}",
                component=role,
                hint="check the verifier's clock or the time the evidence is verified at",
            )


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("a timezone-aware datetime is required")
    return at.astimezone(UTC)


@functools.lru_cache(maxsize=256)
def _load_public_key(spki_der: bytes) -> object:
    """Public keys are immutable: load each distinct SubjectPublicKeyInfo once."""
    return load_der_public_key(spki_der)


def parse_certificate(der: bytes) -> Certificate:
    """Parse one DER certificate; ParseError on anything malformed, including trailing bytes.

    Certificates are immutable values: each distinct DER is parsed once (a warm verifier sees
    the same intermediates and collateral chains over and over).
    """
    return _parse_certificate_cached(bytes(der))


@functools.lru_cache(maxsize=512)
def _parse_certificate_cached(der: bytes) -> Certificate:
    with malformed("X.509 certificate", COMPONENT):
        return _parse_certificate(der)


def _parse_certificate(der: bytes) -> Certificate:
    envelope = parse_envelope(der, CERTIFICATE)
    items = list(envelope.fields)
    version = 0
    if items and items[0].tag == context(0):
        inner = items.pop(0).children()
        if len(inner) != 1:
            raise _fail("version must hold one INTEGER", "version")
        version = inner[0].as_int()
        if version not in (1, 2):  # v1 must be omitted in DER
            raise _fail(f"unsupported certificate version {version}", "version")
    if len(items) < 6:
        raise _fail("tbsCertificate is missing mandatory fields", "tbsCertificate")
    serial_tlv, inner_algorithm, issuer_tlv, validity_tlv, subject_tlv, spki_tlv = items[:6]
    if serial_tlv.tag != INTEGER:
        raise _fail("serialNumber is not an INTEGER", "serialNumber")
    serial = serial_tlv.as_int()
    envelope.check_inner_algorithm(inner_algorithm)
    validity = children(validity_tlv, SEQUENCE, "validity")
    if len(validity) != 2:
        raise _fail("validity must have notBefore and notAfter", "validity")
    spki_parts = children(spki_tlv, SEQUENCE, "subjectPublicKeyInfo")
    if len(spki_parts) != 2 or spki_parts[0].tag != SEQUENCE or spki_parts[1].tag != BIT_STRING:
        raise _fail("malformed subjectPublicKeyInfo", "subjectPublicKeyInfo")

    extensions: Mapping[str, Extension] = MappingProxyType({})
    last = 0
    optional_numbers = {
        context(1, constructed=False): 1,  # issuerUniqueID
        context(2, constructed=False): 2,  # subjectUniqueID
        context(3): 3,  # extensions
    }
    for optional in items[6:]:
        number = optional_numbers.get(optional.tag, 0)
        if not number:
            raise _fail(
                f"unexpected element 0x{optional.tag:02x} in tbsCertificate", "tbsCertificate"
            )
        if number <= last:
            raise _fail("tbsCertificate optional fields out of order", "tbsCertificate")
        last = number
        if number == 3:
            if version != 2:
                raise _fail("extensions present in a certificate that is not v3", "extensions")
            inner = optional.children()
            if len(inner) != 1:
                raise _fail("extensions must hold one SEQUENCE", "extensions")
            extensions = parse_extensions(inner[0], "extensions")
            if not extensions:
                raise _fail("extensions must not be empty", "extensions")

    return Certificate(
        der=der,
        tbs=envelope.tbs,
        version=version + 1,
        serial=serial,
        signature_algorithm=envelope.algorithm,
        signature=envelope.signature,
        issuer=parse_name(issuer_tlv, "issuer"),
        subject=parse_name(subject_tlv, "subject"),
        not_before=parse_time(validity[0], "notBefore"),
        not_after=parse_time(validity[1], "notAfter"),
        spki_der=spki_tlv.encoded,
        extensions=extensions,
    )


# --------------------------------------------------------------------------------- PEM

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)-----", re.DOTALL)


def pem_blocks(data: bytes, label: str) -> list[bytes]:
    """Decode every PEM block labelled ``label``; text between blocks and CRLF are tolerated."""
    blocks: list[bytes] = []
    wanted = label.encode("ascii")
    matches = list(_PEM_BLOCK.finditer(data))
    if len(matches) != data.count(b"-----BEGIN "):
        raise MalformedInputError(
            "PEM input has a BEGIN line without a matching END line (truncated?)",
            component=COMPONENT,
        )
    for match in matches:
        begin, body, end = match.groups()
        if begin != end:
            raise MalformedInputError(
                f"PEM block BEGIN {begin.decode()} ends with END {end.decode()}",
                component=COMPONENT,
            )
        if begin != wanted:
            continue
        compact = b"".join(body.split())
        try:
            blocks.append(binascii.a2b_base64(compact, strict_mode=True))
        except binascii.Error as exc:
            raise MalformedInputError(
                f"PEM {label} block has invalid base64: {exc}", component=COMPONENT
            ) from exc
    return blocks


def looks_like_der(data: bytes) -> bool:
    """DER certificates and CRLs start with a SEQUENCE tag; PEM starts with text."""
    return data[:1] == bytes([SEQUENCE])


def load_certificates(data: bytes) -> list[Certificate]:
    """One DER certificate, or every ``CERTIFICATE`` block of a PEM text."""
    return list(_load_certificates_cached(bytes(data)))


@functools.lru_cache(maxsize=128)
def _load_certificates_cached(data: bytes) -> tuple[Certificate, ...]:
    if looks_like_der(data):
        return (parse_certificate(data),)
    blocks = pem_blocks(data, "CERTIFICATE")
    if not blocks:
        raise MalformedInputError(
            "no certificate found: expected DER or PEM 'BEGIN CERTIFICATE' blocks",
            component=COMPONENT,
            hint="pass a PEM bundle or a DER certificate",
        )
    return tuple(parse_certificate(block) for block in blocks)
