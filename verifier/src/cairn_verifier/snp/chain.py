"""The AMD SEV-SNP certificate chain: each link, the chain as the pipeline checks it, revocation.

A VCEK must be signed by the ASK, a VLEK by the ASVK, the ASK/ASVK by the product line's ARK and
the ARK by itself; every AMD certificate is signed with RSASSA-PSS, SHA-384, MGF1-SHA-384, salt
length 48. :class:`AmdChain` lists the links in the order :mod:`cairn_verifier.snp.verify`
checks them (one named check each); validity windows are checked there too, and revocation
(:func:`check_revocation`) is the CRL of the ARK naming the ASK/ASVK.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..check_names import SnpCheck
from ..errors import ChainError, MalformedInputError
from ..records import Record
from ..timefmt import iso_time
from ..x509.cert import Certificate
from ..x509.crl import Crl
from .product import ProductLine
from .roles import COMPONENT, AmdCertRole, amd_cert_product, amd_cert_role, role_label
from .roots import pinned_intermediate


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


# ------------------------------------------------------------------------------- the chain


class ChainLink(Record):
    """One link of the chain: the named check it is, and how to verify it."""

    check: SnpCheck
    component: str
    verify: Callable[[], object]
    """Raises :class:`~cairn_verifier.errors.ChainError` when the link does not hold."""
    summary: str
    """What a pass means, for the check log."""

    __slots__ = ("check", "component", "summary", "verify")

    def __init__(
        self, check: SnpCheck, component: str, verify: Callable[[], object], summary: str
    ) -> None:
        object.__setattr__(self, "check", check)
        object.__setattr__(self, "component", component)
        object.__setattr__(self, "verify", verify)
        object.__setattr__(self, "summary", summary)


class AmdChain(Record):
    """A leaf's chain to an ARK: leaf -> ASK/ASVK (supplied, else AMD's pinned one) -> ARK."""

    product: ProductLine
    leaf: Certificate
    leaf_role: AmdCertRole
    intermediate: Certificate
    intermediate_source: str
    """``supplied`` or ``pinned``."""
    ark: Certificate

    __slots__ = ("ark", "intermediate", "intermediate_source", "leaf", "leaf_role", "product")

    def __init__(  # noqa: PLR0917
        self,
        product: ProductLine,
        leaf: Certificate,
        leaf_role: AmdCertRole,
        intermediate: Certificate,
        intermediate_source: str,
        ark: Certificate,
    ) -> None:
        object.__setattr__(self, "product", product)
        object.__setattr__(self, "leaf", leaf)
        object.__setattr__(self, "leaf_role", leaf_role)
        object.__setattr__(self, "intermediate", intermediate)
        object.__setattr__(self, "intermediate_source", intermediate_source)
        object.__setattr__(self, "ark", ark)

    @classmethod
    def assemble(
        cls,
        leaf: Certificate,
        leaf_role: AmdCertRole,
        product: ProductLine,
        *,
        intermediate: Certificate | None,
        ark: Certificate,
    ) -> AmdChain:
        """The chain for ``leaf``, taking AMD's pinned ASK/ASVK when none was supplied."""
        if intermediate is None:
            pinned = pinned_intermediate(product, leaf_role.issuer_role)
            return cls(product, leaf, leaf_role, pinned, "pinned", ark)
        return cls(product, leaf, leaf_role, intermediate, "supplied", ark)

    @property
    def intermediate_role(self) -> AmdCertRole:
        return self.leaf_role.issuer_role

    @property
    def certificates(self) -> list[Certificate]:
        """Leaf, intermediate, ARK."""
        return [self.leaf, self.intermediate, self.ark]

    def links(self) -> tuple[ChainLink, ...]:
        """ARK self-signed, ASK/ASVK signed by the ARK, leaf signed by the ASK/ASVK: in order."""
        product, ark, intermediate, leaf = self.product, self.ark, self.intermediate, self.leaf
        return (
            ChainLink(
                SnpCheck.ARK_SELF_SIGNATURE,
                AmdCertRole.ARK.value,
                lambda: verify_ark_self_signature(ark),
                f"ARK-{product.value} is self-signed (RSA-PSS SHA-384)",
            ),
            ChainLink(
                SnpCheck.INTERMEDIATE_SIGNATURE,
                self.intermediate_role.value,
                lambda: verify_intermediate(intermediate, ark, product),
                f"{self.intermediate_source} {intermediate.display_name} signed by the ARK",
            ),
            ChainLink(
                SnpCheck.LEAF_SIGNATURE,
                self.leaf_role.value,
                lambda: verify_leaf(leaf, intermediate),
                f"{leaf.display_name} signed by {intermediate.display_name}",
            ),
        )

    def verify(self) -> None:
        """Every link; :class:`~cairn_verifier.errors.ChainError` from the first that fails."""
        for link in self.links():
            link.verify()


# ------------------------------------------------------------------------------- revocation


class RevocationStatus(Record):
    """A successful revocation check: which CRL and which serial."""

    crl_number: int | None
    this_update: datetime
    next_update: datetime | None
    serial: int

    __slots__ = ("crl_number", "next_update", "serial", "this_update")

    def __init__(
        self,
        crl_number: int | None,
        this_update: datetime,
        next_update: datetime | None,
        serial: int,
    ) -> None:
        object.__setattr__(self, "crl_number", crl_number)
        object.__setattr__(self, "this_update", this_update)
        object.__setattr__(self, "next_update", next_update)
        object.__setattr__(self, "serial", serial)


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
    check_not_revoked(crl, intermediate, role_label(intermediate))
    return RevocationStatus(crl.crl_number, crl.this_update, crl.next_update, intermediate.serial)
