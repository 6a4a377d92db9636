"""NVIDIA reference integrity manifests (RIMs): signed SWID tags of golden measurements.

A RIM is an ISO/IEC 19770-2 SWID tag (``SoftwareIdentity``) whose ``Meta`` names the product
(``GH100``, ``GB100``, ``LS10``) and the firmware or driver version (``colloquialVersion``),
whose ``Payload`` lists one ``Resource`` per measurement index (``index``, ``active``,
``alternatives`` digests ``Hash0`` .. in the SHA-384 namespace, ``size``), and which carries an
enveloped XML signature (XML-DSig: canonicalisation and digest as its ``SignedInfo`` says,
ECDSA P-384/SHA-384) with the signer's chain in ``KeyInfo/X509Data``, signer first.

:func:`load_rim` reads a document strictly (no DTD, no entities, no network, bounded size); every
defect is a :class:`~cairn_verifier.errors.ParseError`. :func:`verify_rim_signature` checks the
signature with ``signxml`` against the signer's key and returns the content read from the
*signed* document, so nothing outside the signature's reach is ever used. Whether the signer
chains to NVIDIA's CoRIM root, at which time, is :mod:`.chain` and :mod:`.verify`'s business.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography import x509 as crypto_x509
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidSignature, SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

from ..errors import CairnError, ParseError, SignatureError
from ..x509.cert import Certificate, parse_certificate

COMPONENT: Final = "RIM"
MAX_RIM_BYTES: Final = 1024 * 1024
MAX_ALTERNATIVES: Final = 16
MAX_RESOURCES: Final = 255
SWID_NS: Final = "http://standards.iso.org/iso/19770/-2/2015/schema.xsd"
SHA384_NS: Final = "http://www.w3.org/2001/04/xmlenc#sha384"
DSIG_NS: Final = "http://www.w3.org/2000/09/xmldsig#"
_TRUE_FALSE: Final = {"True": True, "False": False, "true": True, "false": False}


@dataclass(frozen=True)
class RimMeasurement:
    """One reference measurement: RIM ``index`` i is the report's measurement block i + 1."""

    index: int
    active: bool
    size: int
    alternatives: tuple[bytes, ...]
    name: str


@dataclass(frozen=True)
class RimContent:
    """What a RIM states: product, edition, version and the measurements by index."""

    product: str
    edition: str
    colloquial_version: str
    tag_id: str
    measurements: tuple[RimMeasurement, ...]

    @property
    def active(self) -> dict[int, RimMeasurement]:
        return {m.index: m for m in self.measurements if m.active}


@dataclass(frozen=True)
class RimDocument:
    """A RIM as read: its exact bytes, content hash, signer chain and (unverified) content."""

    raw: bytes
    certificates: tuple[Certificate, ...]
    content: RimContent

    @property
    def sha384(self) -> str:
        """SHA-384 of the document bytes: how bundles and results name this exact RIM."""
        return hashlib.sha384(self.raw).hexdigest()

    @property
    def signer(self) -> Certificate:
        return self.certificates[0]


def _fail(message: str, field: str | None = None, hint: str | None = None) -> ParseError:
    return ParseError(message, component=COMPONENT, field=field, hint=hint)


def _parse_xml(raw: bytes) -> etree._Element:
    if len(raw) > MAX_RIM_BYTES:
        raise _fail(f"the RIM is {len(raw)} bytes, more than the {MAX_RIM_BYTES} allowed")
    try:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
        )
        root = etree.fromstring(raw, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise _fail(
            f"the RIM is not well-formed XML ({exc.msg})",
            hint="pass the RIM exactly as NVIDIA's RIM service returns it (the decoded 'rim' "
            "member)",
        ) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _fail("the RIM declares a DTD; NVIDIA RIMs have none and Cairn refuses them")
    return root


def _signer_chain(root: etree._Element) -> tuple[Certificate, ...]:
    signatures = root.findall(f"{{{DSIG_NS}}}Signature")
    if len(signatures) != 1:
        raise _fail(
            f"the RIM has {len(signatures)} enveloped ds:Signature elements; it must have one",
            "Signature",
        )
    data = signatures[0].findall(f"{{{DSIG_NS}}}KeyInfo/{{{DSIG_NS}}}X509Data")
    if len(data) != 1:
        raise _fail("the RIM signature has no single KeyInfo/X509Data", "X509Data")
    texts = [c.text or "" for c in data[0].findall(f"{{{DSIG_NS}}}X509Certificate")]
    if not texts:
        raise _fail("the RIM signature's X509Data holds no certificate", "X509Certificate")
    certificates = []
    for position, text in enumerate(texts):
        try:
            der = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise _fail(f"X509Certificate {position} is not base64", "X509Certificate") from None
        try:
            certificates.append(parse_certificate(der))
        except ParseError as error:
            raise _fail(
                f"X509Certificate {position} is not a DER certificate: {error.message}",
                "X509Certificate",
            ) from None
    return tuple(certificates)


def _attribute(element: etree._Element, name: str, what: str) -> str:
    value = element.get(name)
    if value is None or not value.strip():
        raise _fail(f"{what} has no {name} attribute", name)
    return value


def _integer(element: etree._Element, name: str, what: str, low: int, high: int) -> int:
    text = _attribute(element, name, what)
    if not text.isdigit() or not low <= int(text) <= high:
        raise _fail(f"{what} {name}={text!r:.40} is not an integer from {low} to {high}", name)
    return int(text)


def _measurement(element: etree._Element) -> RimMeasurement:
    what = "a RIM measurement"
    index = _integer(element, "index", what, 0, 253)
    what = f"RIM measurement {index}"
    active_text = _attribute(element, "active", what)
    if active_text not in _TRUE_FALSE:
        raise _fail(f"{what} active={active_text!r:.20} is not True or False", "active")
    count = _integer(element, "alternatives", what, 1, MAX_ALTERNATIVES)
    size = _integer(element, "size", what, 1, 1024)
    alternatives = []
    for number in range(count):
        text = element.get(f"{{{SHA384_NS}}}Hash{number}")
        if text is None:
            raise _fail(
                f"{what} lists {count} alternatives but has no Hash{number} in the SHA-384 "
                f"namespace ({SHA384_NS})",
                f"Hash{number}",
            )
        try:
            digest = bytes.fromhex(text)
        except ValueError:
            raise _fail(f"{what} Hash{number} is not hex", f"Hash{number}") from None
        if len(digest) != size:
            raise _fail(
                f"{what} Hash{number} is {len(digest)} bytes; its size says {size}",
                f"Hash{number}",
            )
        alternatives.append(digest)
    return RimMeasurement(
        index, _TRUE_FALSE[active_text], size, tuple(alternatives), element.get("name", "")
    )


def rim_content(root: etree._Element) -> RimContent:
    """The strict reading of a SWID tag's identity and measurements."""
    if root.tag != f"{{{SWID_NS}}}SoftwareIdentity":
        raise _fail(
            f"the document is a {etree.QName(root).localname!r:.60}, not an ISO 19770-2 "
            "SoftwareIdentity (SWID) tag",
            "SoftwareIdentity",
        )
    metas = root.findall(f"{{{SWID_NS}}}Meta")
    if len(metas) != 1:
        raise _fail(f"the RIM has {len(metas)} Meta elements; it must have one", "Meta")
    meta = metas[0]
    payloads = root.findall(f"{{{SWID_NS}}}Payload")
    if len(payloads) != 1:
        raise _fail(f"the RIM has {len(payloads)} Payload elements; it must have one", "Payload")
    resources = payloads[0].findall(f"{{{SWID_NS}}}Resource")
    if not resources or len(resources) > MAX_RESOURCES:
        raise _fail(f"the RIM payload holds {len(resources)} measurements", "Payload")
    measurements = []
    seen: set[int] = set()
    for resource in resources:
        if resource.get("type") != "Measurement":
            raise _fail("a RIM payload Resource is not of type Measurement", "Resource")
        measurement = _measurement(resource)
        if measurement.index in seen:
            raise _fail(f"RIM measurement index {measurement.index} appears twice", "index")
        seen.add(measurement.index)
        measurements.append(measurement)
    return RimContent(
        product=_attribute(meta, "product", "the RIM Meta"),
        edition=_attribute(meta, "edition", "the RIM Meta"),
        colloquial_version=_attribute(meta, "colloquialVersion", "the RIM Meta"),
        tag_id=_attribute(root, "tagId", "the RIM"),
        measurements=tuple(measurements),
    )


def load_rim(raw: bytes) -> RimDocument:
    """Read a RIM: well-formed, one enveloped signature with its chain, strict content."""
    data = bytes(raw)
    root = _parse_xml(data)
    certificates = _signer_chain(root)
    return RimDocument(data, certificates, rim_content(root))


def verify_rim_signature(document: RimDocument) -> RimContent:
    """The content of the signed document once the XML signature verifies with the signer's
    key (SignatureError otherwise). The signer's validity and chain are checked elsewhere, at
    the RIM's own reference time, so signxml is asked at a time inside the signer's window."""
    signer = document.signer
    try:
        signer_x509 = crypto_x509.load_der_x509_certificate(signer.der)
    except ValueError as exc:
        raise _fail(f"the RIM signer certificate cannot be loaded ({exc})") from None
    config = SignatureConfiguration(
        require_x509=True,
        signature_methods=frozenset({SignatureMethod.ECDSA_SHA384}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA384}),
        expect_references=1,
        verification_time=_inside(signer),
    )
    try:
        result = XMLVerifier().verify(document.raw, x509_cert=signer_x509, expect_config=config)
    except InvalidSignature as exc:  # also InvalidDigest and InvalidCertificate
        raise SignatureError(
            f"the RIM's XML signature does not verify: {exc}",
            component=COMPONENT,
            hint="the RIM was altered after NVIDIA signed it: fetch it again from NVIDIA's "
            "RIM service",
        ) from None
    except (SignXMLException, ValueError) as exc:  # InvalidInput is a ValueError
        raise _fail(f"the RIM's signature cannot be checked: {exc}") from None
    signed = result.signed_xml if not isinstance(result, list) else None
    if not isinstance(signed, etree._Element):
        raise _fail("the RIM's signature does not cover the document")
    try:
        content = rim_content(signed)
    except CairnError as error:
        raise SignatureError(
            f"the signed part of the RIM is not a complete SWID tag: {error.message}",
            component=COMPONENT,
        ) from None
    if content != document.content:
        raise SignatureError(
            "the RIM's signed content differs from the document's (a signature-wrapping attempt)",
            component=COMPONENT,
        )
    return content


def _inside(signer: Certificate) -> datetime:
    """A moment inside the signer's validity window."""
    return signer.not_before
