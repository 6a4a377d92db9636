"""OCSP responses about NVIDIA certificates (RFC 6960), checked as of their own time.

NVIDIA's OCSP service answers for the device chain's CAs and for RIM signer chains with
delegated responders: a responder certificate issued by the CA of the certificate asked about,
with extendedKeyUsage id-kp-OCSPSigning, carried in the response. A response is accepted for a
certificate when it is a successful basic response whose single response names exactly that
certificate (CertID: hashes of the issuer's name and key, serial), and whose signature verifies
with the issuer's key or with such a responder's. Responder certificates live a short while, so
the responder's validity is checked at the response's own ``thisUpdate`` (a stored response
stays checkable after its responder expired); how old a response may be is the policy's
``ocsp_max_age_hours`` (:mod:`.verify`).

Responses are parsed with ``cryptography``; every certificate involved goes through Cairn's own
X.509 reader and signature checks.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from ..errors import CairnError, ChainError, ParseError
from ..timefmt import iso_time
from ..x509.cert import Certificate, parse_certificate
from ..x509.der import SEQUENCE, parse_single
from ..x509.usage import OID_OCSP_SIGNING, certificate_usage

COMPONENT: Final = "OCSP"
MAX_OCSP_BYTES: Final = 64 * 1024
_HASHES: Final = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384}


@dataclass(frozen=True)
class OcspStatus:
    """What a verified response says about one certificate."""

    status: str
    """``good``, ``revoked`` or ``unknown``."""
    this_update: datetime
    next_update: datetime | None
    produced_at: datetime
    responder: str
    revoked_at: datetime | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.status == "revoked":
            reason = f", reason {self.reason}" if self.reason else ""
            when = iso_time(self.revoked_at) if self.revoked_at else "?"
            return f"REVOKED since {when}{reason} (OCSP {iso_time(self.this_update)})"
        return f"{self.status} (OCSP by '{self.responder}', {iso_time(self.this_update)})"


def key_bits(cert: Certificate) -> bytes:
    """The subjectPublicKey BIT STRING contents: what OCSP CertIDs and key hashes hash."""
    parts = parse_single(cert.spki_der, "subjectPublicKeyInfo").expect(SEQUENCE, "SPKI")
    return parts.children()[1].as_bit_string()


def cert_id_key(cert: Certificate, issuer: Certificate) -> str:
    """How Cairn files an OCSP response: the SHA-384 CertID of ``cert`` under ``issuer``."""
    key_hash = hashlib.sha384(key_bits(issuer)).hexdigest()
    return f"sha384/{key_hash}/{cert.serial:x}"


def ocsp_request(cert: Certificate, issuer: Certificate) -> bytes:
    """A DER OCSP request for ``cert`` (SHA-384 CertID, no nonce: responses stay cacheable)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        x509.load_der_x509_certificate(cert.der),
        x509.load_der_x509_certificate(issuer.der),
        hashes.SHA384(),
    )
    return builder.build().public_bytes(Encoding.DER)


def get_url_path(request: bytes) -> str:
    """RFC 6960 appendix A.1: the base64 request, URL-encoded, as the GET path."""
    text = base64.b64encode(request).decode("ascii")
    return "/" + text.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def load_response(der: bytes) -> ocsp.OCSPResponse:
    """A successful basic OCSP response (ParseError for anything else)."""
    if not der or len(der) > MAX_OCSP_BYTES:
        raise ParseError(f"an OCSP response of {len(der)} bytes", component=COMPONENT)
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise ParseError(f"not a DER OCSP response ({exc})", component=COMPONENT) from None
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise ParseError(
            f"the OCSP responder answered {response.response_status.name}, not a status",
            component=COMPONENT,
        )
    return response


def _matches(single: ocsp.OCSPSingleResponse, cert: Certificate, issuer: Certificate) -> bool:
    digest = _HASHES.get(single.hash_algorithm.name)
    if digest is None:
        return False
    return (
        single.serial_number == cert.serial
        and single.issuer_name_hash == digest(issuer.subject.der).digest()
        and single.issuer_key_hash == digest(key_bits(issuer)).digest()
    )


def _responder(response: ocsp.OCSPResponse, issuer: Certificate) -> Certificate:
    """The key that must have signed: the issuer, or a delegated responder it certified."""
    name, key_hash = response.responder_name, response.responder_key_hash
    candidates = [issuer]
    for item in response.certificates:
        candidates.append(parse_certificate(item.public_bytes(Encoding.DER)))
    for candidate in candidates:
        named = (
            key_hash == hashlib.sha1(key_bits(candidate)).digest()
            if key_hash is not None
            else name is not None and name.public_bytes() == candidate.subject.der
        )
        if named:
            return candidate
    raise ChainError(
        "the OCSP response names a responder it does not carry and that is not the issuer",
        component=COMPONENT,
    )


def _check_delegate(responder: Certificate, issuer: Certificate, at: datetime) -> None:
    if responder.der == issuer.der:
        return
    responder.verify_signed_by(issuer)
    usage = certificate_usage(responder)
    if usage.extended_key_usage is None or OID_OCSP_SIGNING not in usage.extended_key_usage:
        raise ChainError(
            f"the OCSP responder '{responder.display_name}' is not authorised to sign OCSP "
            "responses (no extendedKeyUsage id-kp-OCSPSigning)",
            component=COMPONENT,
        )
    responder.check_validity(at, "OCSP responder")


def check_response(der: bytes, cert: Certificate, issuer: Certificate) -> OcspStatus:
    """Verify a stored or fetched response about ``cert`` (issued by ``issuer``).

    ParseError for a response that is not one; ChainError when it is not about this certificate
    or not signed by its issuer or the issuer's delegated responder valid at ``thisUpdate``.
    """
    response = load_response(der)
    try:
        singles = [s for s in response.responses if _matches(s, cert, issuer)]
        if len(singles) != 1:
            raise ChainError(
                f"the OCSP response is not about '{cert.display_name}' (serial {cert.serial:x}) "
                f"issued by '{issuer.display_name}'",
                component=COMPONENT,
                hint="the stored response belongs to another certificate",
            )
        single = singles[0]
        this_update = _utc(single.this_update_utc)
        produced_at = _utc(response.produced_at_utc)
        assert this_update is not None and produced_at is not None
        responder = _responder(response, issuer)
        _check_delegate(responder, issuer, this_update)
        key = responder.public_key()
        algorithm = response.signature_hash_algorithm
        if not isinstance(key, ec.EllipticCurvePublicKey) or algorithm is None:
            raise ChainError(
                "the OCSP response is not ECDSA-signed by an EC key", component=COMPONENT
            )
        try:
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))
        except InvalidSignature:
            raise ChainError(
                f"the OCSP response's signature does not verify with the key of "
                f"'{responder.display_name}'",
                component=COMPONENT,
                hint="the response was altered or forged: fetch it again",
            ) from None
        status = {
            ocsp.OCSPCertStatus.GOOD: "good",
            ocsp.OCSPCertStatus.REVOKED: "revoked",
        }.get(single.certificate_status, "unknown")
        reason = single.revocation_reason
        return OcspStatus(
            status=status,
            this_update=this_update,
            next_update=_utc(single.next_update_utc),
            produced_at=produced_at,
            responder=responder.display_name,
            revoked_at=_utc(single.revocation_time_utc),
            reason=None if reason is None else reason.name,
        )
    except CairnError:
        raise
    except ValueError as exc:  # cryptography refuses a field it cannot read
        raise ParseError(f"malformed OCSP response ({exc})", component=COMPONENT) from None
