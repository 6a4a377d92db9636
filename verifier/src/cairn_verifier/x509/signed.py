"""The signed envelope certificates and CRLs share (RFC 5280 sections 4.1.1 and 5.1.1).

Both are ``SEQUENCE { tbs, signatureAlgorithm, signatureValue BIT STRING }``, whose ``tbs``
repeats the algorithm identifier, and both are trusted only once an issuer's key verifies the
signature over the exact ``tbs`` bytes. This module reads that envelope once for both
(:func:`parse_envelope`), decodes the algorithm identifier (:func:`parse_signature_algorithm`)
and verifies the signature (:func:`verify_signature`); :mod:`.cert` and :mod:`.crl` read only
what is inside their ``tbs``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ..errors import ChainError, ParseError
from ..memo import SuccessMemo
from ..records import Record
from .der import BIT_STRING, NULL, SEQUENCE, Tlv, context, parse_single

if TYPE_CHECKING:
    from .cert import Certificate

COMPONENT = "x509"

# Signature algorithm OIDs.
OID_RSASSA_PSS = "1.2.840.113549.1.1.10"
OID_MGF1 = "1.2.840.113549.1.1.8"
_RSA_PKCS1_OIDS = {
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
}
_ECDSA_OIDS = {
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}
_HASH_OIDS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def fail(message: str, field_name: str | None = None) -> ParseError:
    """A ParseError about an X.509 structure (certificate, CRL, or a part of one)."""
    return ParseError(message, component=COMPONENT, field=field_name)


def children(tlv: Tlv, tag: int, what: str) -> list[Tlv]:
    """The elements inside ``tlv`` after checking that it has ``tag``."""
    if tlv.tag != tag:
        raise fail(f"{what}: expected DER tag 0x{tag:02x}, found 0x{tlv.tag:02x}", what)
    return tlv.children()


@contextlib.contextmanager
def malformed(what: str, component: str) -> Iterator[None]:
    """Re-raise a ParseError from inside as "malformed ``what``: …" about ``component``."""
    try:
        yield
    except ParseError as exc:
        raise ParseError(
            f"malformed {what}: {exc.message}",
            component=component,
            field=exc.field,
            offset=exc.offset,
        ) from exc


# ------------------------------------------------------------- algorithm identifiers


class SignatureAlgorithm(Record):
    """A signature AlgorithmIdentifier with its parameters decoded.

    ``kind`` is "rsa-pss", "rsa-pkcs1v15", "ecdsa" or "unsupported". For RSA-PSS,
    ``hash``, ``mgf_hash`` and ``salt_length`` are the decoded RSASSA-PSS-params.
    """

    oid: str
    kind: str
    hash: str | None
    mgf_hash: str | None
    salt_length: int | None
    der: bytes

    __slots__ = ("der", "hash", "kind", "mgf_hash", "oid", "salt_length")

    def __init__(  # noqa: PLR0917
        self,
        oid: str,
        kind: str,
        hash: str | None,
        mgf_hash: str | None = None,
        salt_length: int | None = None,
        der: bytes = b"",
    ) -> None:
        object.__setattr__(self, "oid", oid)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "hash", hash)
        object.__setattr__(self, "mgf_hash", mgf_hash)
        object.__setattr__(self, "salt_length", salt_length)
        object.__setattr__(self, "der", der)

    @property
    def is_rsa_pss_sha384_salt48(self) -> bool:
        """Exactly what AMD uses: RSASSA-PSS, SHA-384, MGF1-SHA-384, salt length 48."""
        return (
            self.kind == "rsa-pss"
            and self.hash == "sha384"
            and self.mgf_hash == "sha384"
            and self.salt_length == 48
        )

    def __str__(self) -> str:
        if self.kind == "rsa-pss":
            return (
                f"RSASSA-PSS({_label(self.hash)}, MGF1-{_label(self.mgf_hash)}, "
                f"salt {self.salt_length})"
            )
        if self.kind == "rsa-pkcs1v15":
            return f"RSA-PKCS1v15-{_label(self.hash)}"
        if self.kind == "ecdsa":
            return f"ECDSA-{_label(self.hash)}"
        return f"unsupported algorithm {self.oid}"


def _label(hash_name: str | None) -> str:
    return hash_name.upper().replace("SHA", "SHA-") if hash_name else "?"


def parse_signature_algorithm(tlv: Tlv, what: str = "signatureAlgorithm") -> SignatureAlgorithm:
    parts = children(tlv, SEQUENCE, what)
    if not 1 <= len(parts) <= 2:
        raise fail(f"{what}: AlgorithmIdentifier must have 1 or 2 elements", what)
    oid = parts[0].as_oid()
    params = parts[1] if len(parts) == 2 else None
    if oid == OID_RSASSA_PSS:
        if params is None:
            raise fail(f"{what}: RSASSA-PSS requires parameters", what)
        hash_name, mgf_hash, salt = _parse_pss_params(params, what)
        return SignatureAlgorithm(oid, "rsa-pss", hash_name, mgf_hash, salt, tlv.encoded)
    if oid in _RSA_PKCS1_OIDS:
        if params is not None and (params.tag != NULL or params.content):
            raise fail(f"{what}: RSA PKCS#1 v1.5 parameters must be NULL or absent", what)
        return SignatureAlgorithm(oid, "rsa-pkcs1v15", _RSA_PKCS1_OIDS[oid], der=tlv.encoded)
    if oid in _ECDSA_OIDS:
        if params is not None:
            raise fail(f"{what}: ECDSA signature parameters must be absent", what)
        return SignatureAlgorithm(oid, "ecdsa", _ECDSA_OIDS[oid], der=tlv.encoded)
    return SignatureAlgorithm(oid, "unsupported", None, der=tlv.encoded)


def _parse_hash_algorithm(tlv: Tlv, what: str) -> str:
    parts = children(tlv, SEQUENCE, what)
    if not 1 <= len(parts) <= 2:
        raise fail(f"{what}: hash AlgorithmIdentifier must have 1 or 2 elements", what)
    if len(parts) == 2 and (parts[1].tag != NULL or parts[1].content):
        raise fail(f"{what}: hash algorithm parameters must be NULL or absent", what)
    oid = parts[0].as_oid()
    if oid not in _HASH_OIDS:
        raise fail(f"{what}: unsupported hash algorithm {oid}", what)
    return _HASH_OIDS[oid]


def _parse_pss_params(tlv: Tlv, what: str) -> tuple[str, str, int]:
    """RSASSA-PSS-params (RFC 4055), with the RFC defaults SHA-1 / MGF1-SHA-1 / 20."""
    hash_name, mgf_hash, salt, trailer = "sha1", "sha1", 20, 1
    last = -1
    for item in children(tlv, SEQUENCE, f"{what} RSASSA-PSS-params"):
        number = item.tag - context(0)
        if not 0 <= number <= 3 or number <= last:
            raise fail(f"{what}: unexpected element 0x{item.tag:02x} in RSASSA-PSS-params", what)
        last = number
        inner = item.children()
        if len(inner) != 1:
            raise fail(f"{what}: RSASSA-PSS-params [{number}] must hold one element", what)
        value = inner[0]
        if number == 0:
            hash_name = _parse_hash_algorithm(value, what)
        elif number == 1:
            mgf = children(value, SEQUENCE, what)
            if len(mgf) != 2 or mgf[0].as_oid() != OID_MGF1:
                raise fail(f"{what}: mask generation function must be MGF1", what)
            mgf_hash = _parse_hash_algorithm(mgf[1], what)
        elif number == 2:
            salt = _as_uint(value, f"{what} saltLength")
        else:
            trailer = _as_uint(value, f"{what} trailerField")
    if trailer != 1:
        raise fail(f"{what}: RSASSA-PSS trailerField must be 1", what)
    return hash_name, mgf_hash, salt


def _as_uint(tlv: Tlv, what: str) -> int:
    value = tlv.as_int()
    if value < 0:
        raise fail(f"{what}: negative value {value}", what)
    return value


# --------------------------------------------------------------------------- the envelope


class EnvelopeNames(Record):
    """What one kind of signed structure calls its parts, for its error messages: the ASN.1
    type (``outer``), its signed part (``tbs``), the document in words (``document``) and the
    message when the signed part's algorithm identifier is not the outer one."""

    outer: str
    tbs: str
    document: str
    algorithm_mismatch: str

    __slots__ = ("algorithm_mismatch", "document", "outer", "tbs")

    def __init__(self, outer: str, tbs: str, document: str, algorithm_mismatch: str) -> None:
        object.__setattr__(self, "outer", outer)
        object.__setattr__(self, "tbs", tbs)
        object.__setattr__(self, "document", document)
        object.__setattr__(self, "algorithm_mismatch", algorithm_mismatch)


CERTIFICATE = EnvelopeNames(
    outer="Certificate",
    tbs="tbsCertificate",
    document="certificate",
    algorithm_mismatch="tbsCertificate.signature differs from Certificate.signatureAlgorithm",
)
CERTIFICATE_LIST = EnvelopeNames(
    outer="CertificateList",
    tbs="tbsCertList",
    document="CRL",
    algorithm_mismatch="tbsCertList.signature differs from signatureAlgorithm",
)


class SignedEnvelope(Record):
    """The outer SEQUENCE of a certificate or CRL, read but not yet verified: ``tbs``, the exact
    bytes the signature covers, and ``fields``, the elements inside it for the certificate or
    CRL parser."""

    tbs: bytes
    fields: tuple[Tlv, ...]
    algorithm: SignatureAlgorithm
    signature: bytes
    names: EnvelopeNames

    __slots__ = ("algorithm", "fields", "names", "signature", "tbs")

    def __init__(
        self,
        tbs: bytes,
        fields: tuple[Tlv, ...],
        algorithm: SignatureAlgorithm,
        signature: bytes,
        names: EnvelopeNames,
    ) -> None:
        object.__setattr__(self, "tbs", tbs)
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "signature", signature)
        object.__setattr__(self, "names", names)

    def check_inner_algorithm(self, inner: Tlv) -> None:
        """ParseError unless ``tbs``'s own algorithm identifier is the outer one, byte for byte."""
        if inner.encoded != self.algorithm.der:
            raise fail(self.names.algorithm_mismatch, "signature")


def parse_envelope(der: bytes, names: EnvelopeNames) -> SignedEnvelope:
    """Read ``SEQUENCE { tbs SEQUENCE, AlgorithmIdentifier, BIT STRING }`` filling ``der``."""
    outer = children(parse_single(der, names.document), SEQUENCE, names.outer)
    if len(outer) != 3:
        raise fail(f"{names.outer} must have 3 elements", names.outer)
    tbs_tlv, algorithm_tlv, signature_tlv = outer
    algorithm = parse_signature_algorithm(algorithm_tlv)
    if signature_tlv.tag != BIT_STRING:
        raise fail("signatureValue is not a BIT STRING", "signatureValue")
    signature = signature_tlv.as_bit_string()
    fields = children(tbs_tlv, SEQUENCE, names.tbs)
    return SignedEnvelope(tbs_tlv.encoded, tuple(fields), algorithm, signature, names)


@dataclass(frozen=True, eq=False)
class SignedDocument:
    """A parsed certificate or CRL: its exact DER, which is its identity (equality and hashing
    are by it), and what its issuer signed (``tbs``) with which algorithm."""

    der: bytes
    tbs: bytes
    signature_algorithm: SignatureAlgorithm
    signature: bytes

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and other.der == self.der

    def __hash__(self) -> int:
        return hash(self.der)

    def verify_tbs_signature(self, issuer: Certificate, *, what: str) -> None:
        """ChainError unless ``issuer``'s key verifies the signature over ``tbs``."""
        verify_signature(self.tbs, self.signature_algorithm, self.signature, issuer, what=what)


# ------------------------------------------------------------------------- verification


def verify_signature(
    tbs: bytes,
    algorithm: SignatureAlgorithm,
    signature: bytes,
    issuer: Certificate,
    *,
    what: str,
) -> None:
    """Verify ``signature`` over ``tbs`` with the issuer's key; ChainError on any failure.

    Successful verifications are remembered, keyed by the exact bytes involved, so a warm
    verifier does not re-check the same certificate chain for every report.
    """
    memo_key = (tbs, signature, algorithm.der, issuer.spki_der)
    if memo_key in _VERIFIED:
        return
    key = issuer.public_key()
    by = f"'{issuer.display_name}'"
    hash_factory = _HASHES.get(algorithm.hash or "")
    if algorithm.kind == "unsupported" or hash_factory is None:
        raise ChainError(
            f"{what}: signature algorithm {algorithm.oid} is not supported", component=COMPONENT
        )
    try:
        if algorithm.kind == "ecdsa":
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise _key_mismatch(what, algorithm, by)
            key.verify(signature, tbs, ec.ECDSA(hash_factory()))
        else:
            if not isinstance(key, rsa.RSAPublicKey):
                raise _key_mismatch(what, algorithm, by)
            key.verify(signature, tbs, _rsa_padding(algorithm), hash_factory())
    except InvalidSignature as exc:
        raise ChainError(
            f"{what}: {algorithm} signature does not verify under the key of {by}",
            component=COMPONENT,
            hint="the certificate was not issued by this issuer, or it was altered",
        ) from exc
    except ValueError as exc:  # e.g. salt length too large for the key
        raise ChainError(
            f"{what}: {algorithm} signature cannot be checked with the key of {by}: {exc}",
            component=COMPONENT,
        ) from exc
    _VERIFIED.add(memo_key)


_VERIFIED = SuccessMemo(maxsize=1024)


def _rsa_padding(algorithm: SignatureAlgorithm) -> padding.AsymmetricPadding:
    if algorithm.kind != "rsa-pss":
        return padding.PKCS1v15()
    assert algorithm.salt_length is not None
    mgf_factory = _HASHES[algorithm.mgf_hash or "sha1"]
    return padding.PSS(mgf=padding.MGF1(mgf_factory()), salt_length=algorithm.salt_length)


def _key_mismatch(what: str, algorithm: SignatureAlgorithm, by: str) -> ChainError:
    return ChainError(
        f"{what} is signed with {algorithm} but the key of {by} is of another type",
        component=COMPONENT,
    )
