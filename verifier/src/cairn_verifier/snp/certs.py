"""AMD SEV-SNP certificates: roles, VCEK/VLEK extensions, pinned roots and the AMD chain.

The chain is ARK (self-signed root, pinned by fingerprint) -> ASK (signs VCEKs) or ASVK (signs
VLEKs) -> VCEK/VLEK (signs attestation reports). Every AMD certificate is signed with
RSASSA-PSS, SHA-384, MGF1-SHA-384, salt length 48.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path

from ..errors import CairnError, ChainError, MalformedInputError, ParseError
from ..input_files import (
    DirectoryFile,
    list_input_directory,
    read_directory_files,
    read_input_file,
)
from ..timefmt import iso_time
from ..x509.cert import Certificate, looks_like_der, parse_certificate, pem_blocks
from ..x509.crl import Crl, parse_crl
from ..x509.der import IA5_STRING, INTEGER, OCTET_STRING, parse_single
from .product import ProductLine

COMPONENT = "amd-certs"
_AMD_OID = "1.3.6.1.4.1.3704.1"


class AmdCertRole(StrEnum):
    """The role of a certificate in AMD's SEV-SNP hierarchy."""

    ARK = "ARK"
    ASK = "ASK"
    ASVK = "ASVK"
    VCEK = "VCEK"
    VLEK = "VLEK"

    @property
    def is_leaf(self) -> bool:
        return self in (AmdCertRole.VCEK, AmdCertRole.VLEK)

    @property
    def issuer_role(self) -> AmdCertRole:
        """Which role signs certificates of this role."""
        return _ISSUER_ROLE[self]


_ISSUER_ROLE = {
    AmdCertRole.ARK: AmdCertRole.ARK,
    AmdCertRole.ASK: AmdCertRole.ARK,
    AmdCertRole.ASVK: AmdCertRole.ARK,
    AmdCertRole.VCEK: AmdCertRole.ASK,
    AmdCertRole.VLEK: AmdCertRole.ASVK,
}


def _split_cn(common_name: str | None) -> tuple[AmdCertRole, str | None] | None:
    """Role and product text from an AMD subject CN, or None if it is not an AMD SEV CN."""
    if not common_name:
        return None
    if common_name == "SEV-VCEK":
        return AmdCertRole.VCEK, None
    if common_name == "SEV-VLEK":
        return AmdCertRole.VLEK, None
    if common_name.startswith("ARK-"):
        return AmdCertRole.ARK, common_name[4:]
    if common_name.startswith("SEV-VLEK-"):
        return AmdCertRole.ASVK, common_name[9:]
    if common_name.startswith("SEV-"):
        return AmdCertRole.ASK, common_name[4:]
    return None


def amd_cert_role(cert: Certificate) -> AmdCertRole:
    """Classify a certificate by its subject CN; MalformedInputError if it is not AMD's."""
    split = _split_cn(cert.subject.common_name)
    if split is None:
        raise MalformedInputError(
            f"certificate '{cert.subject}' is not an AMD SEV certificate "
            "(expected CN ARK-<product>, SEV-<product>, SEV-VLEK-<product>, SEV-VCEK or SEV-VLEK)",
            component=COMPONENT,
        )
    return split[0]


def amd_cert_product(cert: Certificate) -> ProductLine | None:
    """The product line named by the subject CN (ARK/ASK/ASVK) or the issuer CN (VCEK/VLEK)."""
    role = amd_cert_role(cert)
    name = cert.issuer.common_name if role.is_leaf else cert.subject.common_name
    split = _split_cn(name)
    if split is None or split[1] is None:
        return None
    return ProductLine.parse(split[1])


# --------------------------------------------------------------------------- extensions


@dataclass(frozen=True)
class AmdExtensions:
    """The AMD-specific extensions of a VCEK or VLEK (OID arc 1.3.6.1.4.1.3704.1)."""

    struct_version: int
    product_name: str
    bl_spl: int
    tee_spl: int
    snp_spl: int
    ucode_spl: int
    spl_4: int | None = None
    spl_5: int | None = None
    spl_6: int | None = None
    spl_7: int | None = None
    fmc_spl: int | None = None
    hwid: bytes | None = None
    csp_id: str | None = None

    @property
    def product(self) -> ProductLine:
        return ProductLine.parse(self.product_name)

    @classmethod
    def from_certificate(cls, cert: Certificate) -> AmdExtensions:
        """Decode the extensions; ParseError naming the extension when one is missing or bad.

        Certificates are immutable, so each distinct one is decoded once (keyed by its DER and
        parsed extensions).
        """
        return _decode_extensions(cert, tuple(cert.extensions.values()))

    @classmethod
    def _decode(cls, cert: Certificate) -> AmdExtensions:
        role = amd_cert_role(cert)
        if not role.is_leaf:
            raise ParseError(
                f"'{cert.display_name}' is an {role}: only VCEKs and VLEKs carry TCB extensions",
                component=COMPONENT,
            )
        product_name = _ia5(cert, "productName", f"{_AMD_OID}.2", required=True)
        assert product_name is not None
        try:
            product = ProductLine.parse(product_name)
        except MalformedInputError as exc:
            raise ParseError(exc.message, component=COMPONENT, field="productName") from exc
        fmc = _spl(cert, "fmcSPL", 9, required=product.has_fmc_tcb)
        hwid = _hwid(cert, product, required=role is AmdCertRole.VCEK)
        csp_id = _ia5(cert, "cspID", f"{_AMD_OID}.5", required=role is AmdCertRole.VLEK)
        return cls(
            struct_version=_integer(cert, "structVersion", f"{_AMD_OID}.1", required=True) or 0,
            product_name=product_name,
            bl_spl=_spl(cert, "blSPL", 1, required=True) or 0,
            tee_spl=_spl(cert, "teeSPL", 2, required=True) or 0,
            snp_spl=_spl(cert, "snpSPL", 3, required=True) or 0,
            ucode_spl=_spl(cert, "ucodeSPL", 8, required=True) or 0,
            spl_4=_spl(cert, "spl4", 4),
            spl_5=_spl(cert, "spl5", 5),
            spl_6=_spl(cert, "spl6", 6),
            spl_7=_spl(cert, "spl7", 7),
            fmc_spl=fmc,
            hwid=hwid,
            csp_id=csp_id,
        )

    def tcb_components(self) -> dict[str, int]:
        """The certificate's TCB with the names TcbVersion.components() uses."""
        parts: dict[str, int] = {}
        if self.product.has_fmc_tcb:
            assert self.fmc_spl is not None
            parts["fmc"] = self.fmc_spl
        parts["bootloader"] = self.bl_spl
        parts["tee"] = self.tee_spl
        parts["snp"] = self.snp_spl
        parts["microcode"] = self.ucode_spl
        return parts


@functools.lru_cache(maxsize=128)
def _decode_extensions(cert: Certificate, extensions: tuple[object, ...]) -> AmdExtensions:
    del extensions  # part of the cache key only
    return AmdExtensions._decode(cert)


def _extension_value(cert: Certificate, name: str, oid: str, required: bool) -> bytes | None:
    ext = cert.extensions.get(oid)
    if ext is None:
        if required:
            raise ParseError(
                f"'{cert.display_name}' lacks the {name} extension ({oid})",
                component=COMPONENT,
                field=name,
            )
        return None
    return ext.value


def _inner(cert: Certificate, name: str, value: bytes, tag: int) -> bytes:
    try:
        tlv = parse_single(value, name)
    except ParseError as exc:
        raise ParseError(
            f"'{cert.display_name}': {name} is not valid DER ({exc.message})",
            component=COMPONENT,
            field=name,
        ) from exc
    if tlv.tag != tag:
        raise ParseError(
            f"'{cert.display_name}': {name} has DER tag 0x{tlv.tag:02x}, expected 0x{tag:02x}",
            component=COMPONENT,
            field=name,
        )
    return tlv.content


def _integer(cert: Certificate, name: str, oid: str, *, required: bool = False) -> int | None:
    value = _extension_value(cert, name, oid, required)
    if value is None:
        return None
    content = _inner(cert, name, value, INTEGER)
    if not content or (len(content) > 1 and content[0] == 0 and content[1] < 0x80):
        raise ParseError(
            f"'{cert.display_name}': {name} is not a minimal DER INTEGER",
            component=COMPONENT,
            field=name,
        )
    return int.from_bytes(content, "big", signed=True)


def _spl(cert: Certificate, name: str, number: int, *, required: bool = False) -> int | None:
    value = _integer(cert, name, f"{_AMD_OID}.3.{number}", required=required)
    if value is not None and not 0 <= value <= 0xFF:
        raise ParseError(
            f"'{cert.display_name}': {name} {value} is outside 0..255",
            component=COMPONENT,
            field=name,
        )
    return value


def _ia5(cert: Certificate, name: str, oid: str, *, required: bool = False) -> str | None:
    value = _extension_value(cert, name, oid, required)
    if value is None:
        return None
    content = _inner(cert, name, value, IA5_STRING)
    try:
        return content.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"'{cert.display_name}': {name} is not ASCII", component=COMPONENT, field=name
        ) from exc


def _hwid(cert: Certificate, product: ProductLine, *, required: bool) -> bytes | None:
    """hwID: raw bytes (64 on Milan/Genoa, 8 on Turin), or the same wrapped in an OCTET STRING."""
    value = _extension_value(cert, "hwID", f"{_AMD_OID}.4", required)
    if value is None:
        return None
    width = 8 if product.has_fmc_tcb else 64
    if len(value) == width:
        return value
    if len(value) == width + 2 and value[0] == OCTET_STRING and value[1] == width:
        return value[2:]
    raise ParseError(
        f"'{cert.display_name}': hwID has {len(value)} bytes, expected {width} for {product}",
        component=COMPONENT,
        field="hwID",
    )


# ----------------------------------------------------------------------------- pinned roots

# SHA-256 of the DER of AMD's certificates shipped in cairn_verifier/snp/roots.
PINNED_FINGERPRINTS: dict[tuple[ProductLine, AmdCertRole], str] = {
    (ProductLine.MILAN, AmdCertRole.ARK): (
        "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"
    ),
    (ProductLine.MILAN, AmdCertRole.ASK): (
        "67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b"
    ),
    (ProductLine.MILAN, AmdCertRole.ASVK): (
        "c5e081f59b7efab1fe2f8b505e159704e72f29cab7ef7cf628a05a42439082f5"
    ),
    (ProductLine.GENOA, AmdCertRole.ARK): (
        "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1"
    ),
    (ProductLine.GENOA, AmdCertRole.ASK): (
        "5464738c1546aed5f2cecf1dc98c5c960a92e8913238a61711bc90ec6e828521"
    ),
    (ProductLine.GENOA, AmdCertRole.ASVK): (
        "197e610743a917d6b9bb982a5a9226ccc0a15b611be0619e626aca9151457372"
    ),
    (ProductLine.TURIN, AmdCertRole.ARK): (
        "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a"
    ),
    (ProductLine.TURIN, AmdCertRole.ASK): (
        "5b77ef5fe7a7a004fd9032668fba9d0fda22f88c4442069a479636a6ae3b3185"
    ),
    (ProductLine.TURIN, AmdCertRole.ASVK): (
        "104e10a8bd060a3c20a434261a57d0588fd65a88915b4f65b08bdecaf8df1a3c"
    ),
}


@cache
def _pinned(product: ProductLine, role: AmdCertRole) -> Certificate:
    resource = resources.files("cairn_verifier.snp").joinpath(
        "roots", product.value.lower(), f"{role.value.lower()}.pem"
    )
    blocks = pem_blocks(resource.read_bytes(), "CERTIFICATE")
    if len(blocks) != 1:
        raise CairnError(f"pinned {role} for {product} is missing", component=COMPONENT)
    cert = parse_certificate(blocks[0])
    expected = PINNED_FINGERPRINTS[(product, role)]
    if cert.fingerprint_sha256.hex() != expected:
        raise CairnError(
            f"pinned {role} for {product} does not have fingerprint {expected}",
            component=COMPONENT,
            hint="the installation is corrupted: reinstall cairn-verifier",
        )
    return cert


def pinned_ark(product: ProductLine) -> Certificate:
    """AMD's ARK for ``product``, shipped with Cairn and checked against its fingerprint."""
    return _pinned(product, AmdCertRole.ARK)


def pinned_intermediate(product: ProductLine, role: AmdCertRole) -> Certificate:
    """AMD's ASK or ASVK for ``product`` (shipped with Cairn, fingerprint-checked)."""
    if role not in (AmdCertRole.ASK, AmdCertRole.ASVK):
        raise ValueError(f"{role} is not an intermediate role")
    return _pinned(product, role)


# --------------------------------------------------------------------------- chain links


def require_rsa_pss_sha384(cert: Certificate, role: str | None = None) -> None:
    """ChainError unless ``cert`` is signed with RSASSA-PSS SHA-384 / MGF1-SHA-384 / salt 48."""
    if not cert.signature_algorithm.is_rsa_pss_sha384_salt48:
        label = role or cert.display_name
        raise ChainError(
            f"{label} certificate '{cert.display_name}' is signed with "
            f"{cert.signature_algorithm}; AMD signs with RSASSA-PSS(SHA-384, MGF1-SHA-384, "
            "salt 48)",
            component=role or COMPONENT,
            hint="this certificate was not issued by AMD",
        )


def _role_in_chain(cert: Certificate, what: str) -> AmdCertRole:
    try:
        return amd_cert_role(cert)
    except MalformedInputError as exc:
        raise ChainError(f"{what}: {exc.message}", component=COMPONENT) from exc


def check_ark_pinned(ark: Certificate | None, product: ProductLine) -> Certificate:
    """The pinned ARK; a supplied ARK must be byte-identical to it (ChainError otherwise)."""
    pinned = pinned_ark(product)
    if ark is not None and ark.der != pinned.der:
        raise ChainError(
            f"ARK is not AMD's pinned ARK-{product} (supplied '{ark.display_name}' has "
            f"SHA-256 {ark.fingerprint_sha256.hex()}, expected {pinned.fingerprint_sha256.hex()})",
            component="ARK",
            hint="the chain does not lead to AMD: do not trust this evidence",
        )
    return pinned


def verify_ark_self_signature(ark: Certificate) -> None:
    require_rsa_pss_sha384(ark, "ARK")
    _link(ark, ark, "ARK")


def verify_intermediate(
    intermediate: Certificate, ark: Certificate, product: ProductLine
) -> AmdCertRole:
    """The ASK/ASVK must be for ``product`` and signed by the ARK; returns its role."""
    role = _role_in_chain(intermediate, "intermediate certificate")
    if role not in (AmdCertRole.ASK, AmdCertRole.ASVK):
        raise ChainError(
            f"'{intermediate.display_name}' is an {role}, not an ASK or ASVK",
            component=role,
            hint="supply the ASK (for a VCEK) or the ASVK (for a VLEK)",
        )
    try:
        its_product = amd_cert_product(intermediate)
    except MalformedInputError as exc:
        raise ChainError(exc.message, component=role) from exc
    if its_product is not product:
        raise ChainError(
            f"{role} '{intermediate.display_name}' belongs to {its_product}, not {product}",
            component=role,
            hint="supply the certificate chain of the product line that produced the report",
        )
    require_rsa_pss_sha384(intermediate, role)
    _link(intermediate, ark, role)
    return role


def verify_leaf(leaf: Certificate, intermediate: Certificate) -> AmdCertRole:
    """A VCEK must be signed by the ASK, a VLEK by the ASVK; returns the leaf's role."""
    role = _role_in_chain(leaf, "leaf certificate")
    if not role.is_leaf:
        raise ChainError(
            f"'{leaf.display_name}' is an {role}, not a VCEK or VLEK",
            component=role,
            hint="the report's signing certificate must be the VCEK or the VLEK",
        )
    intermediate_role = _role_in_chain(intermediate, "intermediate certificate")
    if intermediate_role is not role.issuer_role:
        raise ChainError(
            f"a {role} must be issued by the {role.issuer_role}, but the supplied intermediate "
            f"'{intermediate.display_name}' is the {intermediate_role}",
            component=role,
            hint=f"supply the {role.issuer_role} of this product line",
        )
    require_rsa_pss_sha384(leaf, role)
    _link(leaf, intermediate, role)
    return role


def _link(child: Certificate, issuer: Certificate, role: str) -> None:
    try:
        child.verify_signed_by(issuer)
    except ChainError as exc:
        raise ChainError(exc.message, component=role, hint=exc.hint) from exc


@dataclass(frozen=True)
class ChainVerification:
    """A verified AMD chain: which certificates were used and where they came from."""

    product: ProductLine
    leaf_role: AmdCertRole
    leaf: Certificate
    intermediate_role: AmdCertRole
    intermediate: Certificate
    intermediate_source: str  # "supplied" or "pinned"
    ark: Certificate
    ark_source: str  # "supplied" or "pinned"

    @property
    def certificates(self) -> dict[str, Certificate]:
        """Role name -> certificate, leaf first."""
        return {
            self.leaf_role.value: self.leaf,
            self.intermediate_role.value: self.intermediate,
            AmdCertRole.ARK.value: self.ark,
        }


def verify_amd_chain(
    leaf: Certificate,
    product: ProductLine,
    *,
    intermediate: Certificate | None,
    ark: Certificate | None,
) -> ChainVerification:
    """Verify leaf -> ASK/ASVK -> pinned ARK; ChainError for the first failing link.

    Missing intermediate/ARK are taken from the pinned copies. Validity windows and
    revocation are separate (:func:`check_validity_at`, :func:`check_revocation`).
    """
    root = check_ark_pinned(ark, product)
    verify_ark_self_signature(root)
    leaf_role = _role_in_chain(leaf, "leaf certificate")
    if not leaf_role.is_leaf:
        raise ChainError(
            f"'{leaf.display_name}' is an {leaf_role}, not a VCEK or VLEK", component=leaf_role
        )
    source = "supplied"
    if intermediate is None:
        intermediate = pinned_intermediate(product, leaf_role.issuer_role)
        source = "pinned"
    intermediate_role = verify_intermediate(intermediate, root, product)
    verify_leaf(leaf, intermediate)
    return ChainVerification(
        product=product,
        leaf_role=leaf_role,
        leaf=leaf,
        intermediate_role=intermediate_role,
        intermediate=intermediate,
        intermediate_source=source,
        ark=root,
        ark_source="pinned" if ark is None else "supplied",
    )


# ----------------------------------------------------------------------- validity, revocation


@dataclass(frozen=True)
class ValidityResult:
    """Whether one certificate is inside its validity window at the checked time."""

    role: str
    certificate: Certificate
    at: datetime
    error: ChainError | None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def summary(self) -> str:
        if self.error is not None:
            return self.error.message
        return f"{self.role} valid until {iso_time(self.certificate.not_after)}"


def check_validity_at(certs: Mapping[str, Certificate], at: datetime) -> list[ValidityResult]:
    """One result per certificate (role name -> certificate); never raises for expiry."""
    results = []
    for role, cert in certs.items():
        try:
            cert.check_validity(at, role)
            error = None
        except ChainError as exc:
            error = exc
            if role == AmdCertRole.VLEK.value and cert.not_after < at:
                error.hint = (
                    "VLEKs are valid for one year: use the current VLEK from the cloud "
                    "provider's extended report, or verify as of a time inside its window"
                )
        results.append(ValidityResult(role, cert, at, error))
    return results


@dataclass(frozen=True)
class RevocationStatus:
    """A successful revocation check: which CRL and which serial."""

    crl_number: int | None
    this_update: datetime
    next_update: datetime | None
    serial: int


def verify_crl_signature(crl: Crl, ark: Certificate) -> None:
    """The CRL must be issued and signed (RSA-PSS SHA-384) by the ARK."""
    if not crl.signature_algorithm.is_rsa_pss_sha384_salt48:
        raise ChainError(
            f"CRL is signed with {crl.signature_algorithm}; AMD signs with "
            "RSASSA-PSS(SHA-384, MGF1-SHA-384, salt 48)",
            component="crl",
            hint="use the CRL published by AMD KDS",
        )
    crl.verify_signed_by(ark)


def check_not_revoked(crl: Crl, cert: Certificate, role: str) -> None:
    entry = crl.revoked.get(cert.serial)
    if entry is not None:
        reason = f" (reason: {entry.reason})" if entry.reason else ""
        raise ChainError(
            f"{role} '{cert.display_name}' serial 0x{cert.serial:x} is revoked since "
            f"{iso_time(entry.revoked_at)}{reason}",
            component=role,
            hint="this certificate must not be trusted: use AMD's current chain",
        )


def check_revocation(
    crl: Crl, ark: Certificate, intermediate: Certificate, *, at: datetime
) -> RevocationStatus:
    """CRL signed by the ARK, current at ``at``, and the ASK/ASVK serial not revoked."""
    verify_crl_signature(crl, ark)
    crl.check_current(at)
    check_not_revoked(crl, intermediate, _role_label(intermediate))
    return RevocationStatus(crl.crl_number, crl.this_update, crl.next_update, intermediate.serial)


def _role_label(cert: Certificate) -> str:
    split = _split_cn(cert.subject.common_name)
    return split[0].value if split else "certificate"


# ---------------------------------------------------------------------------- collections

_CERT_SUFFIXES = {".pem", ".der", ".crt", ".cer", ".crl"}


@dataclass
class CertCollection:
    """The AMD certificates (and optionally a CRL) a user supplied, sorted by role."""

    ark: Certificate | None = None
    ask: Certificate | None = None
    asvk: Certificate | None = None
    vcek: Certificate | None = None
    vlek: Certificate | None = None
    crl: Crl | None = None

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "input") -> CertCollection:
        collection = cls()
        collection.add_bytes(data, source=source)
        return collection

    @classmethod
    def from_certificates(cls, certs: list[Certificate]) -> CertCollection:
        collection = cls()
        for cert in certs:
            collection.add(cert)
        return collection

    def get(self, role: AmdCertRole) -> Certificate | None:
        cert: Certificate | None = getattr(self, role.value.lower())
        return cert

    def __len__(self) -> int:
        return sum(self.get(role) is not None for role in AmdCertRole)

    def add(self, cert: Certificate, *, source: str | None = None) -> AmdCertRole:
        """File ``cert`` under its role; MalformedInputError on a conflicting certificate."""
        where = f"{source}: " if source else ""
        try:
            role = amd_cert_role(cert)
            product = amd_cert_product(cert)
        except MalformedInputError as exc:
            raise MalformedInputError(where + exc.message, component=COMPONENT) from exc
        existing = self.get(role)
        if existing is not None and existing.der != cert.der:
            raise MalformedInputError(
                f"{where}two different certificates claim the {role} role "
                f"('{existing.display_name}' sha256 {existing.fingerprint_sha256.hex()[:16]}… and "
                f"'{cert.display_name}' sha256 {cert.fingerprint_sha256.hex()[:16]}…)",
                component=COMPONENT,
                hint="supply one certificate per role",
            )
        current = self.product
        if product is not None and current is not None and product is not current:
            raise MalformedInputError(
                f"{where}{role} '{cert.display_name}' is for {product}, but the other "
                f"certificates are for {current}",
                component=COMPONENT,
                hint="do not mix certificates of different product lines",
            )
        setattr(self, role.value.lower(), cert)
        return role

    def add_crl(self, crl: Crl, *, source: str | None = None) -> None:
        if self.crl is not None and self.crl.der != crl.der:
            where = f"{source}: " if source else ""
            raise MalformedInputError(f"{where}more than one CRL supplied", component=COMPONENT)
        self.crl = crl

    def add_bytes(self, data: bytes, *, source: str = "input") -> int:
        """Add the certificates (and CRL) in a DER blob or PEM text; returns how many."""
        try:
            if looks_like_der(data):
                try:
                    certs = [parse_certificate(data)]
                    crls: list[Crl] = []
                except ParseError as cert_error:
                    try:
                        crls = [parse_crl(data)]
                        certs = []
                    except ParseError:
                        raise cert_error from None
            else:
                certs = [parse_certificate(b) for b in pem_blocks(data, "CERTIFICATE")]
                crls = [parse_crl(b) for b in pem_blocks(data, "X509 CRL")]
        except MalformedInputError as exc:
            exc.message = f"{source}: {exc.message}"
            raise
        if not certs and not crls:
            raise MalformedInputError(
                f"{source}: no certificate found (expected DER or PEM 'BEGIN CERTIFICATE')",
                component=COMPONENT,
            )
        for cert in certs:
            self.add(cert, source=source)
        for crl in crls:
            self.add_crl(crl, source=source)
        return len(certs) + len(crls)

    @property
    def product(self) -> ProductLine | None:
        """The product line the certificates name (CNs, else the leaf's productName)."""
        for role in AmdCertRole:
            cert = self.get(role)
            if cert is not None:
                product = amd_cert_product(cert)
                if product is not None:
                    return product
        for leaf in (self.vcek, self.vlek):
            if leaf is not None and f"{_AMD_OID}.2" in leaf.extensions:
                try:
                    return AmdExtensions.from_certificate(leaf).product
                except MalformedInputError:
                    return None
        return None


def load_cert_collection(path: Path) -> CertCollection:
    """Load a PEM bundle / DER file, or a directory of *.pem/*.der/*.crt/*.cer (snpguest).

    Reading is bounded (:mod:`cairn_verifier.input_files`): a file larger than the input limit
    is refused by its size, and a directory is read for a bounded number of files and bytes.
    """
    what = "certificate"
    if not path.exists():
        raise MalformedInputError(f"{path}: no such file or directory", component=COMPONENT)
    if path.is_dir():
        files = list_input_directory(
            path,
            what,
            accept=lambda name: Path(name).suffix.lower() in _CERT_SUFFIXES,
            component=COMPONENT,
        )
        if not files:
            raise MalformedInputError(
                f"{path}: no *.pem, *.der, *.crt, *.cer or *.crl files in this directory",
                component=COMPONENT,
                hint="point --certs at the directory `snpguest certificates` wrote, or a file",
            )
        contents = read_directory_files(files, what, component=COMPONENT)
    else:
        contents = [DirectoryFile(path, read_input_file(path, what, component=COMPONENT))]
    collection = CertCollection()
    for content in contents:
        collection.add_bytes(content.data, source=str(content.path))
    if len(collection) == 0:
        raise MalformedInputError(f"{path}: no certificates found", component=COMPONENT)
    return collection
