"""AMD's SEV-SNP roots and intermediates, shipped with Cairn and pinned by SHA-256.

For each product line: the ARK (self-signed root), the ASK (signs VCEKs) and the ASVK (signs
VLEKs), read from ``cairn_verifier/snp/roots`` and checked against :data:`PINNED_FINGERPRINTS`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ..errors import CairnError, ChainError
from ..x509.cert import Certificate, parse_certificate, pem_blocks
from .product import ProductLine
from .roles import COMPONENT, AmdCertRole

ROOTS_DIR = Path(__file__).with_name("roots")

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
    # Beside this module, not through importlib.resources (whose import costs every verify ~3 ms):
    # Cairn is installed as files, and the fingerprint below pins what is read either way.
    resource = ROOTS_DIR / product.value.lower() / f"{role.value.lower()}.pem"
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
