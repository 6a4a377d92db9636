"""The ``[evidence]`` section of a Cairn policy: what the claims in an evidence bundle must say."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from ..policy import Flag, Hex32, HexAny, PolicyModel, Text
from ..tpm.structures import HASHES_BY_NAME

PCR_COUNT = 24
"""PCRs 0-23: the PCRs of a TCG PC Client TPM, the ones a TPM quote selects."""
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def _bank(name: str) -> str:
    if name not in HASHES_BY_NAME:
        known = ", ".join(HASHES_BY_NAME)
        raise ValueError(f"unknown PCR bank {name!r:.40}; known banks: {known}")
    return name


def _pcr_index(value: object) -> int:
    """A PCR index: an integer or (TOML and JSON keys are strings) its decimal digits."""
    if isinstance(value, str) and _DECIMAL.fullmatch(value) and len(value) <= 2:
        value = int(value)
    if type(value) is not int or not 0 <= value < PCR_COUNT:
        raise ValueError(f"PCR index must be 0-{PCR_COUNT - 1}, got {value!r:.40}")
    return value


PcrBank = Annotated[Text, AfterValidator(_bank)]
"""A TPM hash bank by its tpm2-tools name (``sha1``, ``sha256``, ``sha384``, ...)."""
PcrIndex = Annotated[int, BeforeValidator(_pcr_index)]


class ServiceRule(PolicyModel):
    """Constraints on one named service; empty lists mean "any"."""

    store_paths: tuple[Text, ...] = ()
    public_keys: tuple[HexAny, ...] = ()


class EvidencePolicy(PolicyModel):
    """Claims a relying party accepts. TEE checks come from the ``[snp]``/``[tdx]`` sections."""

    system_store_paths: tuple[Text, ...] = ()
    """Accepted NixOS system store paths (any one); empty = not checked."""
    system_hashes: tuple[Hex32, ...] = ()
    """Accepted system hashes (any one); empty = not checked."""
    required_services: tuple[Text, ...] = ()
    """Services that must be present in the attested tree."""
    services: dict[Text, ServiceRule] = Field(default_factory=dict)
    """Allowed services with their accepted store paths / public keys."""
    allow_unlisted_services: Flag = False
    """When ``services`` is non-empty, whether services it does not list are acceptable."""
    pcrs: dict[PcrBank, dict[PcrIndex, HexAny]] = Field(default_factory=dict)
    """Expected PCR values per bank, e.g. ``{"sha256": {"7": "…"}}``; each value is a digest of
    the bank's size."""
    require_tpm: Flag = True
    """Reject evidence without a TPM quote (the TPM binds the boot chain to the TEE report)."""

    @field_validator("pcrs")
    @classmethod
    def _digest_sizes(cls, value: dict[str, dict[int, bytes]]) -> dict[str, dict[int, bytes]]:
        for bank, pins in value.items():
            size = HASHES_BY_NAME[bank].size
            for index, digest in pins.items():
                if len(digest) != size:
                    raise ValueError(
                        f"{bank}.{index} is {len(digest)} bytes; a {bank} PCR holds {size} bytes "
                        f"({2 * size} hex digits)"
                    )
        return value
