"""Chains to NVIDIA's pinned roots: a device's attestation chain and a RIM signer's chain.

Each certificate must be issued by the next one (issuer name and signature), and the last one
by the pinned root; the root a chain carries is never trusted: it must be the pinned root byte
for byte, or it is refused. Every issuer must be a CA (basicConstraints cA, keyUsage
keyCertSign, within its pathLenConstraint); the first certificate must not be a CA and must be
allowed to sign (keyUsage digitalSignature). A device chain has exactly four certificates below
the root — the device's FMC leaf, its BROM device CA, the provisioner ICA and the family's
identity CA — so no level can be skipped (:data:`DEVICE_RULES`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NamedTuple

from ..errors import ChainError, ParseError
from ..memo import SuccessMemo
from ..x509.cert import Certificate
from ..x509.usage import certificate_usage


@dataclass(frozen=True)
class ChainRules:
    """What one kind of NVIDIA chain must look like."""

    what: str
    """The chain in words, for messages (``device chain``)."""
    root_name: str
    levels: int | None
    """Exactly this many certificates below the root (None: 1 to :attr:`max_levels`)."""
    level_names: tuple[str, ...] = ()
    """What each level is, leaf first (for messages)."""
    max_levels: int = 6


DEVICE_RULES: Final = ChainRules(
    what="device chain",
    root_name="NVIDIA Device Identity CA",
    levels=4,
    level_names=("FMC leaf", "BROM device CA", "provisioner ICA", "identity CA"),
)
RIM_RULES: Final = ChainRules(
    what="RIM signer chain", root_name="NVIDIA CoRIM signing Root CA", levels=None
)


class Link(NamedTuple):
    """One certificate of the chain and its issuer; :attr:`verify` raises ChainError."""

    certificate: Certificate
    issuer: Certificate
    position: int
    rules: ChainRules
    verify: Callable[[], None]

    @property
    def label(self) -> str:
        return self.certificate.display_name


def split_root(
    supplied: list[Certificate], root: Certificate, rules: ChainRules
) -> list[Certificate]:
    """The certificates below the root: a trailing copy of the pinned root is dropped, any
    other self-issued certificate at the end is refused (ChainError), whatever it claims."""
    if not supplied:
        raise ChainError(
            f"the {rules.what} is empty",
            component=rules.what,
            hint="supply the certificate chain the device (or RIM) came with",
        )
    last = supplied[-1]
    if last.subject.der == last.issuer.der:
        if last.der != root.der:
            raise ChainError(
                f"the {rules.what} ends in '{last.display_name}' (SHA-256 "
                f"{last.fingerprint_sha256.hex()[:16]}…), which is not the pinned "
                f"{rules.root_name}",
                component=rules.what,
                hint="the chain does not lead to NVIDIA: do not trust this evidence",
            )
        return supplied[:-1]
    return supplied


def check_shape(certificates: list[Certificate], rules: ChainRules) -> None:
    """ChainError unless the chain has the number of levels ``rules`` require."""
    count = len(certificates)
    if rules.levels is not None and count != rules.levels:
        names = ", ".join(rules.level_names)
        found = ", ".join(f"'{c.display_name}'" for c in certificates) or "none"
        raise ChainError(
            f"the {rules.what} has {count} certificate(s) below the root ({found}); it must "
            f"have {rules.levels} ({names}): a level is missing or extra",
            component=rules.what,
            hint="supply the complete chain the device returned (NVML's certificate chain)",
        )
    if not 1 <= count <= rules.max_levels:
        raise ChainError(
            f"the {rules.what} has {count} certificates below the root (1 to "
            f"{rules.max_levels} allowed)",
            component=rules.what,
        )


def links(certificates: list[Certificate], root: Certificate, rules: ChainRules) -> list[Link]:
    """The links leaf-first: each certificate against its issuer (the next, or the root)."""
    issuers = [*certificates[1:], root]
    return [
        Link(
            cert,
            issuer,
            position,
            rules,
            _link_check(cert, issuer, position, rules),
        )
        for position, (cert, issuer) in enumerate(zip(certificates, issuers, strict=True))
    ]


_VERIFIED_LINKS = SuccessMemo(maxsize=1024)
"""Links that held, by the exact certificates, position and rules (all immutable)."""


def _link_check(
    cert: Certificate, issuer: Certificate, position: int, rules: ChainRules
) -> Callable[[], None]:
    def verify() -> None:
        key = (cert.der, issuer.der, position, rules)
        if key in _VERIFIED_LINKS:
            return
        _verify_link(cert, issuer, position, rules)
        _VERIFIED_LINKS.add(key)

    return verify


def _verify_link(cert: Certificate, issuer: Certificate, position: int, rules: ChainRules) -> None:
    what = rules.what
    name = f"'{cert.display_name}'"
    try:
        usage = certificate_usage(cert)
        issuer_usage = certificate_usage(issuer)
    except ParseError as error:
        raise ChainError(error.message, component=what) from None
    if position == 0:
        if usage.ca:
            raise ChainError(
                f"{name} is a CA certificate, not a signing leaf: the {what} lacks its "
                "first certificate",
                component=what,
                hint="the evidence must carry the leaf that signed it, first",
            )
        if not usage.allows("digitalSignature"):
            raise ChainError(
                f"{name} may not sign (keyUsage lacks digitalSignature)", component=what
            )
    if not issuer_usage.ca or not issuer_usage.allows("keyCertSign"):
        raise ChainError(
            f"{name} is issued by '{issuer.display_name}', which is not a CA allowed to "
            "sign certificates (basicConstraints cA and keyUsage keyCertSign)",
            component=what,
        )
    below = position  # the CA certificates between the leaf and ``issuer``
    if issuer_usage.path_length is not None and below > issuer_usage.path_length:
        raise ChainError(
            f"'{issuer.display_name}' allows {issuer_usage.path_length} CA(s) below it, "
            f"the {what} has {below}",
            component=what,
        )
    try:
        cert.verify_signed_by(issuer)
    except ChainError as error:
        raise ChainError(error.message, component=what, hint=error.hint) from None
