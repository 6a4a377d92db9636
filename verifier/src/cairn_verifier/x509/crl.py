"""X.509 certificate revocation lists (RFC 5280 section 5) read with Cairn's DER reader."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

from ..errors import ChainError, MalformedInputError, ParseError
from ..records import Record
from ..timefmt import iso_time
from .cert import (
    Certificate,
    Extension,
    Name,
    looks_like_der,
    parse_extensions,
    parse_name,
    parse_time,
    pem_blocks,
)
from .der import (
    ENUMERATED,
    GENERALIZED_TIME,
    INTEGER,
    SEQUENCE,
    UTC_TIME,
    Tlv,
    context,
)
from .der import parse_single as parse_single_tlv
from .signed import (
    CERTIFICATE_LIST,
    SignedDocument,
    children,
    malformed,
    parse_envelope,
)

COMPONENT = "crl"
OID_CRL_NUMBER = "2.5.29.20"
OID_REASON_CODE = "2.5.29.21"

# CRLReason (RFC 5280 section 5.3.1); 7 is unused.
REASONS = {
    0: "unspecified",
    1: "keyCompromise",
    2: "cACompromise",
    3: "affiliationChanged",
    4: "superseded",
    5: "cessationOfOperation",
    6: "certificateHold",
    8: "removeFromCRL",
    9: "privilegeWithdrawn",
    10: "aACompromise",
}


class RevokedCertificate(Record):
    """One CRL entry: serial, revocation time and the reason code's name if present."""

    serial: int
    revoked_at: datetime
    reason: str | None

    __slots__ = ("reason", "revoked_at", "serial")

    def __init__(self, serial: int, revoked_at: datetime, reason: str | None = None) -> None:
        object.__setattr__(self, "serial", serial)
        object.__setattr__(self, "revoked_at", revoked_at)
        object.__setattr__(self, "reason", reason)


@dataclass(frozen=True, eq=False)
class Crl(SignedDocument):
    """A parsed CRL. ``revoked`` maps serial number to its entry."""

    issuer: Name
    this_update: datetime
    next_update: datetime | None
    revoked: Mapping[int, RevokedCertificate]
    extensions: Mapping[str, Extension]

    def __repr__(self) -> str:
        return f"Crl(issuer={str(self.issuer)!r}, revoked={sorted(self.revoked)!r})"

    @property
    def crl_number(self) -> int | None:
        ext = self.extensions.get(OID_CRL_NUMBER)
        if ext is None:
            return None
        try:
            return parse_single_tlv(ext.value, "cRLNumber").as_int()
        except ParseError as exc:
            raise ParseError(f"malformed cRLNumber: {exc.message}", component=COMPONENT) from exc

    def is_revoked(self, serial: int) -> bool:
        return serial in self.revoked

    def verify_signed_by(self, issuer: Certificate) -> None:
        """Check the CRL issuer name and signature against ``issuer``; ChainError if wrong."""
        what = f"CRL issued by '{self.issuer.common_name or self.issuer}'"
        if not self.issuer.matches(issuer.subject):
            raise ChainError(
                f"{what} cannot be checked with '{issuer.display_name}': issuer names differ",
                component=COMPONENT,
                hint="use the CRL published for this certificate chain (same product line)",
            )
        try:
            self.verify_tbs_signature(issuer, what=what)
        except ChainError as exc:
            raise ChainError(exc.message, component=COMPONENT, hint=exc.hint) from exc

    def check_current(self, at: datetime) -> None:
        """ChainError if ``at`` is before thisUpdate or after nextUpdate."""
        if at.tzinfo is None:
            raise ValueError("a timezone-aware datetime is required")
        moment = at.astimezone(UTC)
        hint = "fetch a current CRL from the issuer (AMD KDS: /vcek/v1/<product>/crl)"
        if moment < self.this_update:
            raise ChainError(
                f"CRL is not yet valid: thisUpdate is {iso_time(self.this_update)}",
                component=COMPONENT,
                hint="check the verifier's clock or the time the evidence is verified at",
            )
        if self.next_update is not None and moment > self.next_update:
            raise ChainError(
                f"CRL is stale: its nextUpdate {iso_time(self.next_update)} has passed",
                component=COMPONENT,
                hint=hint,
            )


def parse_crl(der: bytes) -> Crl:
    """Parse one DER CRL; ParseError on anything malformed, including trailing bytes.

    Each distinct DER is parsed once (CRLs are immutable and re-read for every verification).
    """
    return _parse_crl_cached(bytes(der))


@functools.lru_cache(maxsize=64)
def _parse_crl_cached(der: bytes) -> Crl:
    with malformed("CRL", COMPONENT):
        return _parse_crl(der)


def _fail(message: str, field_name: str) -> ParseError:
    return ParseError(message, component=COMPONENT, field=field_name)


def _parse_crl(der: bytes) -> Crl:
    envelope = parse_envelope(der, CERTIFICATE_LIST)
    items = list(envelope.fields)
    version = 0
    if items and items[0].tag == INTEGER:
        version = items.pop(0).as_int()
        if version != 1:  # only v2 may carry an explicit version
            raise _fail(f"unsupported CRL version {version}", "version")
    if len(items) < 3:
        raise _fail("tbsCertList is missing mandatory fields", "tbsCertList")
    inner_algorithm, issuer_tlv, this_update_tlv = items[:3]
    rest = items[3:]
    envelope.check_inner_algorithm(inner_algorithm)
    next_update = None
    if rest and rest[0].tag in (UTC_TIME, GENERALIZED_TIME):
        next_update = parse_time(rest.pop(0), "nextUpdate")
    revoked: Mapping[int, RevokedCertificate] = MappingProxyType({})
    if rest and rest[0].tag == SEQUENCE:
        revoked = _parse_revoked(rest.pop(0))
    extensions: Mapping[str, Extension] = MappingProxyType({})
    if rest and rest[0].tag == context(0):
        if version != 1:
            raise _fail("crlExtensions present in a v1 CRL", "crlExtensions")
        inner = rest.pop(0).children()
        if len(inner) != 1:
            raise _fail("crlExtensions must hold one SEQUENCE", "crlExtensions")
        extensions = parse_extensions(inner[0], "crlExtensions")
    if rest:
        raise _fail(f"unexpected element 0x{rest[0].tag:02x} in tbsCertList", "tbsCertList")

    return Crl(
        der=der,
        tbs=envelope.tbs,
        signature_algorithm=envelope.algorithm,
        signature=envelope.signature,
        issuer=parse_name(issuer_tlv, "issuer"),
        this_update=parse_time(this_update_tlv, "thisUpdate"),
        next_update=next_update,
        revoked=revoked,
        extensions=extensions,
    )


def _parse_revoked(tlv: Tlv) -> Mapping[int, RevokedCertificate]:
    entries: dict[int, RevokedCertificate] = {}
    for entry in children(tlv, SEQUENCE, "revokedCertificates"):
        parts = children(entry, SEQUENCE, "revokedCertificates")
        if len(parts) not in (2, 3):
            raise _fail("a revoked entry must have 2 or 3 elements", "revokedCertificates")
        if parts[0].tag != INTEGER:
            raise _fail("userCertificate is not an INTEGER", "revokedCertificates")
        serial = parts[0].as_int()
        revoked_at = parse_time(parts[1], "revocationDate")
        reason = None
        if len(parts) == 3:
            entry_extensions = parse_extensions(parts[2], "crlEntryExtensions")
            reason_ext = entry_extensions.get(OID_REASON_CODE)
            if reason_ext is not None:
                reason = _reason(reason_ext.value)
        if serial in entries:
            raise _fail(f"serial 0x{serial:x} is listed twice", "revokedCertificates")
        entries[serial] = RevokedCertificate(serial, revoked_at, reason)
    return MappingProxyType(entries)


def _reason(value: bytes) -> str:
    tlv = parse_single_tlv(value, "reasonCode")
    if tlv.tag != ENUMERATED or len(tlv.content) != 1:
        raise _fail("reasonCode must be a one-byte ENUMERATED", "reasonCode")
    code = tlv.content[0]
    if code not in REASONS:
        raise _fail(f"unknown CRL reason code {code}", "reasonCode")
    return REASONS[code]


def load_crl(data: bytes) -> Crl:
    """One CRL, DER or PEM ('BEGIN X509 CRL')."""
    if looks_like_der(data):
        return parse_crl(data)
    blocks = pem_blocks(data, "X509 CRL")
    if len(blocks) != 1:
        raise MalformedInputError(
            f"expected exactly one PEM 'X509 CRL' block, found {len(blocks)}",
            component=COMPONENT,
            hint="pass one CRL, DER or PEM (AMD KDS serves it as DER at /vcek/v1/<product>/crl)",
        )
    return parse_crl(blocks[0])
