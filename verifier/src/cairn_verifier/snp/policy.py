"""The SEV-SNP section of a Cairn policy (``[snp]`` in a policy file)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Strict, field_validator

from ..errors import MalformedInputError
from ..policy import Byte, Flag, Hex32, Hex48, Hex64, PolicyModel, Uint32
from .product import ProductLine

_ABI = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})")


class MinimumTcb(PolicyModel):
    """Lowest acceptable security patch level per TCB component (unset = no minimum)."""

    fmc: Byte | None = None
    bootloader: Byte | None = None
    tee: Byte | None = None
    snp: Byte | None = None
    microcode: Byte | None = None

    def required(self) -> dict[str, int]:
        """The components with a minimum (read from the fields: ``model_dump`` is slow)."""
        values = ((name, getattr(self, name)) for name in type(self).model_fields)
        return {name: value for name, value in values if value is not None}


class SnpPolicy(PolicyModel):
    """What a relying party accepts from an SEV-SNP guest.

    Security-relevant defaults fail closed (debug and migration agents are rejected); what
    identifies a guest (measurement, REPORT_DATA, host data) is opt-in, reported as skipped
    when unset, and a pass then carries a warning saying what it does not prove.
    """

    measurements: tuple[Hex48, ...] = ()
    """Accepted launch measurements (any one); empty = not checked (reported as skipped)."""
    host_data: Hex32 | None = None
    report_data: Hex64 | None = None
    id_key_digests: tuple[Hex48, ...] = ()
    author_key_digests: tuple[Hex48, ...] = ()
    minimum_tcb: MinimumTcb = MinimumTcb()
    minimum_guest_svn: Uint32 | None = None
    allowed_vmpls: tuple[Annotated[int, Strict()], ...] = (0, 1, 2, 3)
    allow_debug: Flag = False
    allow_migration_agent: Flag = False
    allow_smt: Flag = True
    minimum_abi: tuple[Byte, Byte] | None = None
    """Lowest accepted guest-policy ABI as (major, minor)."""
    allowed_products: tuple[ProductLine, ...] = ()
    """Accepted product lines; empty = any product line AMD roots exist for."""
    allowed_signing_keys: tuple[Literal["vcek", "vlek"], ...] = ("vcek", "vlek")
    allowed_chip_ids: tuple[Hex64, ...] = ()
    require_crl: Flag = False
    """Fail (exit 5) when no CRL is available instead of reporting the revocation check skipped."""
    allow_collateral_without_crl: Flag = False
    """Accept a supplied collateral bundle that lacks the CRL (revocation skipped). By default
    such a bundle fails revocation (exit 5): whoever supplies the collateral must not be able to
    switch revocation off by leaving the CRL out. ``require_crl`` overrides this."""

    @field_validator("allowed_vmpls")
    @classmethod
    def _vmpl_range(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(v not in range(4) for v in value):
            raise ValueError("allowed_vmpls must list VMPLs between 0 and 3")
        return value

    @field_validator("minimum_abi", mode="before")
    @classmethod
    def _parse_abi(cls, value: object) -> object:
        if isinstance(value, str):
            match = _ABI.fullmatch(value)
            if match is None:
                raise ValueError("minimum_abi must look like '1.51' (or [1, 51])")
            return (int(match[1]), int(match[2]))
        return value

    @field_validator("allowed_products", mode="before")
    @classmethod
    def _parse_products(cls, value: object) -> object:
        if not isinstance(value, list | tuple):
            return value
        products: list[object] = []
        for item in value:
            if not isinstance(item, str | ProductLine):
                raise ValueError("allowed_products lists product names (strings)")
            try:
                products.append(ProductLine.parse(item))
            except MalformedInputError as error:
                raise ValueError(error.message) from None
        return tuple(products)
