"""Roles in AMD's SEV-SNP certificate hierarchy, told apart by subject common name.

ARK (self-signed root) -> ASK (signs VCEKs) or ASVK (signs VLEKs) -> VCEK/VLEK (signs reports).
AMD names them ``ARK-<product>``, ``SEV-<product>``, ``SEV-VLEK-<product>``, ``SEV-VCEK`` and
``SEV-VLEK``; the product line of a leaf is its issuer's.
"""

from __future__ import annotations

from enum import StrEnum

from ..errors import MalformedInputError
from ..x509.cert import Certificate
from .product import ProductLine

COMPONENT = "amd-certs"


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


def role_label(cert: Certificate) -> str:
    """The certificate's role name, or ``certificate`` when its CN is not an AMD SEV one."""
    split = _split_cn(cert.subject.common_name)
    return split[0].value if split else "certificate"
