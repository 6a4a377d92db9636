"""The ``[snp]`` policy a verification without a policy file uses, as plain values.

:class:`~.policy.SnpPolicy` (pydantic) validates policy files; its defaults are these, field for
field (``tests/verifier/test_default_policies.py`` keeps the two equal). ``cairn verify snp``
without ``--policy`` reads this instead, so that it need not import pydantic to start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias

from .product import ProductLine

if TYPE_CHECKING:
    from .policy import SnpPolicy


@dataclass(frozen=True, slots=True)
class DefaultMinimumTcb:
    """``MinimumTcb()``: no minimum for any TCB component."""

    fmc: int | None = None
    bootloader: int | None = None
    tee: int | None = None
    snp: int | None = None
    microcode: int | None = None

    def required(self) -> dict[str, int]:
        return {}


@dataclass(frozen=True, slots=True)
class DefaultSnpPolicy:
    """``SnpPolicy()``: fail-closed defaults, nothing about a particular guest pinned."""

    measurements: tuple[bytes, ...] = ()
    host_data: bytes | None = None
    report_data: bytes | None = None
    id_key_digests: tuple[bytes, ...] = ()
    author_key_digests: tuple[bytes, ...] = ()
    minimum_tcb: DefaultMinimumTcb = field(default_factory=DefaultMinimumTcb)
    minimum_guest_svn: int | None = None
    allowed_vmpls: tuple[int, ...] = (0, 1, 2, 3)
    allow_debug: bool = False
    allow_migration_agent: bool = False
    allow_smt: bool = True
    minimum_abi: tuple[int, int] | None = None
    allowed_products: tuple[ProductLine, ...] = ()
    allowed_signing_keys: tuple[Literal["vcek", "vlek"], ...] = ("vcek", "vlek")
    allowed_chip_ids: tuple[bytes, ...] = ()
    require_crl: bool = False
    allow_collateral_without_crl: bool = False


AnySnpPolicy: TypeAlias = "SnpPolicy | DefaultSnpPolicy"
"""What the SEV-SNP pipeline reads a policy from: a validated policy file, or the defaults."""
